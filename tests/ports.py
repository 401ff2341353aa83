"""Loopback ports for the servers a test starts as separate programs (nginx, redis-server, IRC servers, nodes).

A port from ``bind(port 0)`` comes from the kernel's ephemeral range, the range every outgoing
connection's local port is also taken from. Such a port is free when the test asks, but between
then and the server's own ``bind`` (seconds, while a cluster's nodes start) any client connection
on the machine may be given it: CI saw nginx fail with "Address already in use" that way. The
kernel never hands out a port below the ephemeral range by itself, so ``free_port`` picks one there
at random and checks that it is free: only another test picking the same port in the same moment
can collide.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Final

_LOWEST: Final = 10_000  # under this are well-known and registered services' usual ports
_DEFAULT_EPHEMERAL_START: Final = 32_768


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_START


def free_port() -> int:
    """A loopback TCP port that is free now and that the kernel will not give to a connection meanwhile."""
    end = _ephemeral_start()
    choose = random.SystemRandom()
    for _ in range(200):
        port = choose.randrange(_LOWEST, end) if end > _LOWEST + 1000 else 0
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # in use (or lingering after a close): try another
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError(f"no free loopback port found between {_LOWEST} and {end}")
