"""The same websocket endpoints on the HTTP port, through aiohttp, for clients that derive
the socket URL from the page URL (and for deployments with one public port).

aiohttp's writer is asynchronous, so each connection here has a small writer task
and a byte-bounded outbox; over the bound the connection is closed with 1008
"slow consumer", exactly like the gateway port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from hubbub.fanout.connection import CLOSE_POLICY, CLOSE_TRY_AGAIN, Handshake
from hubbub.gateway.router import SocketHandler, SocketRouter, collect_headers

__all__ = ["AiohttpConnection", "socket_endpoint"]


class AiohttpConnection:
    def __init__(
        self,
        socket: web.WebSocketResponse,
        handshake: Handshake,
        remote: str,
        limit: int,
        transport: asyncio.Transport | None,
    ) -> None:
        self._socket = socket
        self._transport = transport
        self._handshake = handshake
        self._remote = remote
        self._limit = limit
        self._outbox: deque[bytes] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._closed = False
        self._close_frame: tuple[int, str] | None = None
        self._writer = asyncio.create_task(self._write())

    @property
    def handshake(self) -> Handshake:
        return self._handshake

    @property
    def remote(self) -> str:
        return self._remote

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes) -> None:
        if self._closed:
            return
        if self._queued + len(data) > self._limit:
            self._outbox.clear()
            self._queued = 0
            self.close(CLOSE_POLICY, "slow consumer")
            return
        self._outbox.append(data)
        self._queued += len(data)
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_frame = (code, reason)
        if code == CLOSE_POLICY:
            # The writer may be stuck waiting for a peer that does not read: drop the connection.
            self._writer.cancel()
            if self._transport is not None:
                self._transport.abort()
            return
        self._wakeup.set()

    async def _write(self) -> None:
        socket = self._socket
        while True:
            while self._outbox:
                data = self._outbox.popleft()
                self._queued -= len(data)
                if self._close_frame is not None and self._close_frame[0] == CLOSE_POLICY:
                    break
                await socket.send_frame(data, WSMsgType.TEXT)
            if self._close_frame is not None:
                code, reason = self._close_frame
                await socket.close(code=code, message=reason.encode("utf-8"))
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def finish(self) -> None:
        self._closed = True
        self._wakeup.set()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._writer


def socket_endpoint(router: SocketRouter) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler that serves any websocket upgrade the router knows."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        headers = collect_headers(request.headers.items())
        handshake = router.handshake(request.path_qs, headers, secure=request.secure)
        handler, refusal = router.accept(handshake)
        if refusal is None and handler is not None:
            refusal = await router.authorize(handler, handshake)
        if refusal is not None or handler is None:
            status, reason = (refusal.status, refusal.reason) if refusal is not None else (404, "Not Found")
            return web.Response(status=status, text=reason)
        remote = router.client_address(request.remote, handshake)
        socket = web.WebSocketResponse(max_msg_size=router.limits.max_frame_bytes, compress=False, autoping=True)
        await socket.prepare(request)
        if not router.admit(remote):
            await socket.close(code=CLOSE_TRY_AGAIN, message=b"too many connections from your address")
            return socket
        if request.transport is not None:
            router.limits.tune(request.transport.get_extra_info("socket"))
        connection = AiohttpConnection(socket, handshake, remote, router.limits.send_buffer_bytes, request.transport)
        try:
            await _serve(handler, connection, socket)
        finally:
            router.release(remote)
        return socket

    return endpoint


async def _serve(handler: SocketHandler, connection: AiohttpConnection, socket: web.WebSocketResponse) -> None:
    handler.opened(connection)
    try:
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                handler.received(connection, message.data)
            elif message.type is WSMsgType.BINARY:
                connection.close(1003, "text frames only")
    finally:
        await connection.finish()
        handler.closed(connection)
