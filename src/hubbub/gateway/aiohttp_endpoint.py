"""The same websocket endpoints on the HTTP port, through aiohttp, for clients that derive
the socket URL from the page URL (and for deployments with one public port).

aiohttp's writer is asynchronous, so each connection here has a small writer task
and a byte-bounded outbox; over the bound the connection is closed with 1008
"slow consumer", exactly like the gateway port: the backlog nobody reads is
dropped, and the close frame is written behind what aiohttp already holds, so a
client that reads again sees the 1008; one that never does is cut after
``close_timeout``. ``MaskCheck`` adds the masking rule aiohttp does not enforce.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import WSMsgType, web

from hubbub.fanout.connection import (
    CLOSE_POLICY,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TRY_AGAIN,
    Handshake,
    Refusal,
    settled_handshake,
)
from hubbub.gateway.mask_check import MaskCheck
from hubbub.gateway.router import SocketHandler, SocketRouter, collect_headers

__all__ = ["FRAMES_PER_TURN", "AiohttpConnection", "socket_endpoint"]

# Frames one socket may have handled before it lets the loop serve others.
FRAMES_PER_TURN: Final = 64


class AiohttpConnection:
    def __init__(
        self,
        socket: web.WebSocketResponse,
        handshake: Handshake,
        remote: str,
        router: SocketRouter,
        handler: SocketHandler,
        transport: asyncio.Transport | None,
    ) -> None:
        self._socket = socket
        self._transport = transport
        self._handshake = handshake
        self._remote = remote
        self._router = router
        self._handler = handler
        self._limit = router.limits.send_buffer_bytes
        self._close_timeout = router.limits.close_timeout
        self._open = True  # the dialect and the address count still hold this connection
        self._outbox: deque[bytes] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._closed = False
        self._close_frame: tuple[int, str] | None = None
        self._writer = asyncio.create_task(self._write())
        self._closer: asyncio.Task[None] | None = None
        self._ping: bytes | None = None
        self.touched = time.monotonic()

    @property
    def handshake(self) -> Handshake:
        return self._handshake

    @property
    def remote(self) -> str:
        return self._remote

    def settled(self) -> None:
        self._handshake = settled_handshake(self._handshake)

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes) -> None:
        if self._closed:
            return
        if self._queued + len(data) > self._limit:
            self.close(CLOSE_POLICY, "slow consumer")
            return
        self._outbox.append(data)
        self._queued += len(data)
        self._wakeup.set()

    def ping(self, payload: bytes) -> None:
        if not self._closed:
            self._ping = payload
            self._wakeup.set()

    @property
    def last_inbound(self) -> float:
        return self.touched

    def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_frame = (code, reason)
        # The dialect forgets the connection now, not when its last bytes are gone; not from
        # inside close(), which fan-out calls while it walks its subscribers.
        asyncio.get_running_loop().call_soon(self.forget)
        if code == CLOSE_POLICY:
            # Nobody reads the backlog, and the writer may be waiting for the peer to drain:
            # drop both, and write the close frame now.
            self._outbox.clear()
            self._queued = 0
            self._writer.cancel()
            self._closer = asyncio.create_task(self._close_socket(code, reason))
            return
        self._wakeup.set()

    def opened(self) -> None:
        self._handler.opened(self)

    def forget(self) -> None:
        """The dialect and the address count let go of this connection (once)."""
        if self._open:
            self._open = False
            self._router.release(self._remote)
            self._handler.closed(self)

    async def _write(self) -> None:
        socket = self._socket
        while True:
            while self._outbox:
                data = self._outbox.popleft()
                self._queued -= len(data)
                await socket.send_frame(data, WSMsgType.TEXT)
            if self._ping is not None and self._close_frame is None:
                payload, self._ping = self._ping, None
                await socket.ping(payload)
            if self._close_frame is not None:
                await self._close_socket(*self._close_frame)
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _close_socket(self, code: int, reason: str) -> None:
        """Send the close frame and finish aiohttp's closing handshake, or cut the connection."""
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._socket.close(code=code, message=reason.encode("utf-8"))
        except TimeoutError:
            if self._transport is not None:
                self._transport.abort()

    async def finish(self) -> None:
        """The socket's receiving side has ended: stop writing (a close under way may finish)."""
        self._closed = True
        self._wakeup.set()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._writer
        if self._closer is not None:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._closer
        self.forget()


def socket_endpoint(router: SocketRouter) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler that serves any websocket upgrade the router knows."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        headers = collect_headers(request.headers.items())
        handshake = router.handshake(request.path_qs, headers, secure=request.secure)
        handler, refusal = router.accept(handshake)
        if refusal is None and handler is not None:
            refusal = await router.authorize(handler, handshake)
        if refusal is not None or handler is None:
            refusal = refusal or Refusal(404, "Not Found")
            return web.Response(status=refusal.status, text=refusal.reason, headers=refusal.headers)
        remote = router.client_address(request.remote, handshake)
        # Pings are answered here (not by aiohttp) so that a pong counts as the peer being there.
        socket = web.WebSocketResponse(max_msg_size=router.limits.max_frame_bytes, compress=False, autoping=False)
        await socket.prepare(request)
        if not router.admit(remote):
            await socket.close(code=CLOSE_TRY_AGAIN, message=b"too many connections from your address")
            return socket
        transport = request.transport
        check: MaskCheck | None = None
        if transport is not None:
            router.limits.tune(transport.get_extra_info("socket"))
            check = MaskCheck(transport.get_protocol())
            transport.set_protocol(check)
        connection = AiohttpConnection(socket, handshake, remote, router, handler, transport)
        if check is not None:
            check.on_unmasked(lambda: connection.close(CLOSE_PROTOCOL_ERROR, "frames from a client must be masked"))
        await _serve(handler, connection, socket)
        return socket

    return endpoint


async def _serve(handler: SocketHandler, connection: AiohttpConnection, socket: web.WebSocketResponse) -> None:
    connection.opened()
    unbroken = 0
    try:
        async for message in socket:
            # aiohttp hands over every frame it has already parsed without giving the loop a turn:
            # a burst of small frames would otherwise hold every other client for as long as it lasts.
            unbroken += 1
            if unbroken >= FRAMES_PER_TURN:
                unbroken = 0
                await asyncio.sleep(0)
            connection.touched = time.monotonic()
            if connection.closed:
                continue  # closing: what the peer still sends is not read
            if message.type is WSMsgType.PING:
                await socket.pong(message.data)
            elif message.type is WSMsgType.TEXT:
                handler.received(connection, message.data)
            elif message.type is WSMsgType.BINARY:
                connection.close(1003, "text frames only")
    finally:
        await connection.finish()
