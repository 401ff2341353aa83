"""hubbub: a self-hosted real-time chat and live-feed server."""

__version__ = "0.1.0"
