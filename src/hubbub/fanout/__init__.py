"""Live delivery: the hub that turns committed events into bytes on open connections."""
