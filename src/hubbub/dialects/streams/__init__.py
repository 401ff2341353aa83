"""The streams dialect: multistreamer's websocket and JSON API (docs/dialects/streams.md)."""
