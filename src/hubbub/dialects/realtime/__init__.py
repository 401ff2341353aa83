"""The realtime dialect: Stack Exchange's qa.sockets topic feed (shared/protocol/realtime.md)."""
