"""Links between a stream's chat and other networks: one module per network (docs/bridges.md).

``base`` holds the small protocol every network implements (``Bridge``) and the
runner that drives it (connect, read, write, reconnect with backoff, report ready);
``manager`` starts a bridge for each account of a stream while the stream is live and
is the stream chat's ``Writers``; ``hubbub`` is the first network: a room of another
hubbub server (or of Stack Exchange chat), spoken to through hubbub's own SDK.
Bridges read and write through ``service`` like any other transport.
"""
