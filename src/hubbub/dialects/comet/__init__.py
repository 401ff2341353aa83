"""The comet dialect: 2008 Facebook Chat long poll, send and buddy list (shared/protocol/comet.md)."""
