"""RFC 6455 §5.1 for aiohttp's websockets: a client frame that is not masked closes the connection.

"The server MUST close the connection upon receiving a frame that is not masked."
aiohttp's frame reader accepts such frames and has no option or hook to refuse them
(picows, on the gateway port, does refuse them). ``MaskCheck`` goes between the
transport and aiohttp's protocol once a websocket is open: it follows the frame
boundaries in the client's bytes just far enough to read each frame's MASK bit and
length (the parsing proper stays aiohttp's), passes every byte through unchanged,
and at the first unmasked frame passes nothing more and calls ``on_unmasked``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["MaskCheck"]

_MASKED = 0x80
_LENGTH = 0x7F
_MASK_KEY_BYTES = 4


class MaskCheck(asyncio.Protocol):
    """Forwards a websocket's inbound bytes to ``inner`` while every client frame is masked."""

    def __init__(self, inner: asyncio.BaseProtocol) -> None:
        self._inner = inner
        self._receive: Callable[[bytes], None] = getattr(inner, "data_received")  # noqa: B009 - BaseProtocol
        self._header = bytearray()
        self._header_size = 2  # bytes of the current frame header needed: 2, 4 or 10
        self._payload_left = 0  # mask key and payload bytes of the current frame still to pass
        self._unmasked = False
        self._on_unmasked: Callable[[], None] | None = None

    @property
    def unmasked(self) -> bool:
        """Whether an unmasked frame arrived (nothing after it was passed on)."""
        return self._unmasked

    def on_unmasked(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` at the first unmasked frame (at once if it has arrived already)."""
        self._on_unmasked = callback
        if self._unmasked:
            callback()

    def data_received(self, data: bytes) -> None:
        if self._unmasked:
            return
        good = self._scan(data)
        if good:
            self._receive(data if good == len(data) else data[:good])
        if self._unmasked and self._on_unmasked is not None:
            self._on_unmasked()

    def _scan(self, data: bytes) -> int:
        """Follow frames through ``data``; how many of its bytes precede the first unmasked frame."""
        position, end = 0, len(data)
        frame_start = 0
        while position < end:
            if self._payload_left:
                step = min(self._payload_left, end - position)
                self._payload_left -= step
                position += step
                continue
            if not self._header:
                frame_start = position
            take = min(self._header_size - len(self._header), end - position)
            self._header += data[position : position + take]
            position += take
            if len(self._header) < self._header_size:
                break
            if self._header_size == 2:
                if not self._header[1] & _MASKED:
                    self._unmasked = True
                    return frame_start
                length = self._header[1] & _LENGTH
                if length == 126:
                    self._header_size = 4
                    continue
                if length == 127:
                    self._header_size = 10
                    continue
            else:
                length = int.from_bytes(self._header[2:], "big")
            self._payload_left = _MASK_KEY_BYTES + length
            self._header.clear()
            self._header_size = 2
        return end

    # Everything else is the inner protocol's.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        eof_received: Callable[[], bool | None] | None = getattr(self._inner, "eof_received", None)
        return None if eof_received is None else eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
