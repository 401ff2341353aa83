"""gateway/aiohttp_endpoint.py: a burst of frames on the HTTP port's sockets does not hold the event loop."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

from hubbub.fanout.connection import Connection, Handshake, Refusal
from hubbub.gateway.aiohttp_endpoint import FRAMES_PER_TURN, socket_endpoint
from hubbub.gateway.router import GatewayLimits, SocketRouter
from hubbub.hosts import Site
from hubbub.settings import Settings
from tests.fakes import TIMEOUT

BURST = 5000
LIMITS = GatewayLimits(send_buffer_bytes=65536, max_frame_bytes=4096, max_connections_per_ip=0, allowed_origins=None)


def masked_text_frame(text: str) -> bytes:
    """A client text frame; its mask key is zero, so the payload is sent as it is (RFC 6455 §5.3)."""
    payload = text.encode("utf-8")
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


class TurnCounting:
    """A ``SocketHandler`` that notes, for each frame, how many loop turns had passed when it came."""

    def __init__(self) -> None:
        self.turns = 0
        self.seen_at: list[int] = []
        self.all_seen = asyncio.Event()

    def accept(self, handshake: Handshake) -> Refusal | None:
        return None

    async def authorize(self, handshake: Handshake) -> Refusal | None:
        return None

    def opened(self, connection: Connection) -> None:
        pass

    def received(self, connection: Connection, text: str) -> None:
        self.seen_at.append(self.turns)
        if len(self.seen_at) == BURST:
            self.all_seen.set()

    def closed(self, connection: Connection) -> None:
        pass

    async def count_turns(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.turns += 1


def longest_run_in_one_turn(seen_at: list[int]) -> int:
    longest = run = 0
    previous = None
    for turn in seen_at:
        run = run + 1 if turn == previous else 1
        previous = turn
        longest = max(longest, run)
    return longest


async def test_a_burst_of_small_frames_lets_the_loop_turn_between_handfuls() -> None:
    handler = TurnCounting()
    router = SocketRouter([("/", handler)], LIMITS, Site(Settings(port=8080)))
    app = web.Application()
    app.router.add_get("/", socket_endpoint(router))
    async with TestServer(app, host="127.0.0.1") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        ticker = asyncio.create_task(handler.count_turns())
        try:
            writer.write(b"".join(masked_text_frame(f"frame {n}") for n in range(BURST)))  # one burst, ~70 KB
            await asyncio.wait_for(handler.all_seen.wait(), TIMEOUT)
        finally:
            ticker.cancel()
            writer.close()
    assert len(handler.seen_at) == BURST
    # The handler task gives way after FRAMES_PER_TURN frames; a frame the writer task's wake-up
    # or aiohttp's own bookkeeping lands beside may add one more to a run.
    assert longest_run_in_one_turn(handler.seen_at) <= FRAMES_PER_TURN + 1, longest_run_in_one_turn(handler.seen_at)
