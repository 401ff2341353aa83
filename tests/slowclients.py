"""Slow HTTP clients for tests: raw connections that send nothing, half a head, or a byte at a time.

Used against the HTTP port's time limits (web/server.py, issue 8 item 12), in-process and
against ``hubbub serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from tests.fakes import TIMEOUT

__all__ = ["DRIPPED_HEAD", "PARTIAL_HEAD", "PROBE_ADDRESS", "Probe", "bound", "cut_off", "form_post", "is_408"]

PROBE_ADDRESS = "127.0.0.2"  # loopback too, so a per-address cap it meets never touches 127.0.0.1


def bound(setting: float) -> float:
    """A generous upper bound for something the server does ``setting`` seconds after its cause."""
    return 10 * setting + TIMEOUT


@dataclass
class Probe:
    """A raw connection to the HTTP port, from ``PROBE_ADDRESS``."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: bytearray = field(default_factory=bytearray)
    # The server closed while this side was still sending, so its kernel answered with a reset,
    # which may discard an answer not read yet (a drip's 408 among them).
    reset: bool = False

    @classmethod
    async def open(cls, port: int, source: str = PROBE_ADDRESS) -> Probe:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        return cls(reader, writer)

    async def closed(self, within: float) -> bytes:
        """Everything the server sent until it closed the connection; fails if it is still open after ``within``."""
        async with asyncio.timeout(within):
            while chunk := await self._read():
                self.received += chunk
        return bytes(self.received)

    async def drip(self, data: bytes, every: float, within: float) -> bytes:
        """Send ``data`` one byte per ``every`` seconds until the server closes the connection."""
        async with asyncio.timeout(within):
            for byte in data:
                self.writer.write(bytes([byte]))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(every):  # the pace of the attack, not a synchronisation
                        chunk = await self._read()
                        if not chunk:
                            return bytes(self.received)
                        self.received += chunk
                        return await self.closed(within)
        raise AssertionError("the server took all of the data and kept the connection")

    async def _read(self) -> bytes:
        try:
            return await self.reader.read(65536)
        except ConnectionError:
            self.reset = True
            return b""

    def close(self) -> None:
        self.writer.close()


PARTIAL_HEAD = b"GET /rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n"
DRIPPED_HEAD = b"GET /rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096


def is_408(answer: bytes) -> bool:
    return answer.startswith(b"HTTP/1.1 408 ")


def cut_off(probe: Probe, answer: bytes) -> bool:
    """Answered 408 and closed, or closed while the probe was still sending (the 408 lost to the reset)."""
    return is_408(answer) or (probe.reset and answer == b"")


def form_post(path: str, length: int, content_type: str = "application/x-www-form-urlencoded") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
