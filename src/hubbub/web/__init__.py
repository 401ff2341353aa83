"""The HTTP application: the sechat dialect's routes, the pages, static files."""
