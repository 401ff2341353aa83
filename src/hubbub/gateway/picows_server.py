"""The websocket gateway on its own port, served by picows (the only user of that library).

picows delivers frames by callback and writes straight into the transport, so a
connection costs no task of its own. Each connection's unsent bytes are bounded
by the transport's high-water mark: when picows reports ``pause_writing`` the
peer is not keeping up, and it is disconnected with 1008 "slow consumer" rather
than buffered without limit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from hubbub.fanout.connection import CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_TRY_AGAIN, Handshake
from hubbub.gateway.closing import answer_to_close
from hubbub.gateway.router import SocketHandler, SocketRouter, collect_headers

__all__ = ["PicowsConnection", "PicowsGateway"]

log = logging.getLogger("hubbub.gateway")

_CLOSE_INVALID_TEXT = 1007
_CLOSE_UNSUPPORTED = 1003


class PicowsConnection(WSListener):
    """One accepted socket: a picows listener and a ``hubbub.fanout.connection.Connection``."""

    def __init__(self, gateway: PicowsGateway, handler: SocketHandler, handshake: Handshake) -> None:
        super().__init__()
        self._gateway = gateway
        self._handler = handler
        self._handshake = handshake
        self._transport: WSTransport | None = None
        self._remote = "unknown"
        self._closed = False
        self._admitted = False
        self._fragments: list[bytes] | None = None

    # Connection

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
        if not self._closed and self._transport is not None:
            self._transport.send(WSMsgType.TEXT, data)

    def close(self, code: int, reason: str) -> None:
        if self._closed or self._transport is None:
            self._closed = True
            return
        self._closed = True
        self._transport.send_close(WSCloseCode(code), reason.encode("utf-8"))
        # A slow consumer's backlog is dropped; anyone else gets what was queued, then the close.
        self._transport.disconnect(graceful=code != CLOSE_POLICY)

    # picows callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        peer: Any = transport.underlying_transport.get_extra_info("peername")
        router = self._gateway.router
        self._remote = router.client_address(str(peer[0]) if peer else None, self._handshake)
        if not router.admit(self._remote):
            self.close(CLOSE_TRY_AGAIN, "too many connections from your address")
            return
        self._admitted = True
        self._gateway.connections.add(self)
        transport.underlying_transport.set_write_buffer_limits(high=router.limits.send_buffer_bytes)
        router.limits.tune(transport.underlying_transport.get_extra_info("socket"))
        self._handler.opened(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.CONTINUATION:
            self._text_frame(frame)
        elif kind is WSMsgType.CLOSE:
            if not self._closed:
                self._closed = True
                # Never echo picows's NO_INFO (0) for an empty Close: answer a code a peer may receive.
                transport.send_close(WSCloseCode(answer_to_close(frame.get_payload_as_bytes())))
                transport.disconnect()
        elif kind is WSMsgType.BINARY:
            self.close(_CLOSE_UNSUPPORTED, "text frames only")

    def _text_frame(self, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CONTINUATION and self._fragments is None:
            self.close(1002, "continuation without a start")
            return
        if self._fragments is None and frame.fin:
            payload = frame.get_payload_as_bytes()
        else:
            fragments = self._fragments if self._fragments is not None else []
            fragments.append(frame.get_payload_as_bytes())
            if sum(len(part) for part in fragments) > self._gateway.router.limits.max_frame_bytes:
                self.close(CLOSE_TOO_BIG, "message too big")
                return
            if not frame.fin:
                self._fragments = fragments
                return
            payload, self._fragments = b"".join(fragments), None
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self.close(_CLOSE_INVALID_TEXT, "text frames must be UTF-8")
            return
        self._handler.received(self, text)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._closed = True
        if self._admitted:
            self._admitted = False
            self._gateway.connections.discard(self)
            self._gateway.router.release(self._remote)
            self._handler.closed(self)

    def pause_writing(self) -> None:
        if not self._closed:
            log.info("closing a slow consumer at %s", self._remote)
            self.close(CLOSE_POLICY, "slow consumer")


class PicowsGateway:
    """Listens on the websocket port and hands each accepted socket to its dialect's handler."""

    def __init__(self, router: SocketRouter) -> None:
        self.router = router
        self.connections: set[PicowsConnection] = set()
        self._server: asyncio.Server | None = None

    def _listener(self, request: WSUpgradeRequest) -> PicowsConnection | WSUpgradeResponseWithListener:
        headers = collect_headers(request.headers.items())
        handshake = self.router.handshake(request.path.decode("latin-1"), headers)
        handler, refusal = self.router.accept(handshake)
        if refusal is not None or handler is None:
            status, reason = (refusal.status, refusal.reason) if refusal is not None else (404, "Not Found")
            response = WSUpgradeResponse.create_error_response(status, reason.encode("utf-8"))
            return WSUpgradeResponseWithListener(response, None)
        return PicowsConnection(self, handler, handshake)

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await ws_create_server(
            self._listener,
            host,
            port,
            max_frame_size=self.router.limits.max_frame_bytes,
            websocket_handshake_timeout=10,
            enable_auto_pong=True,
            read_buffer_init_size=1024,
            logger_name="gateway",
        )
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self.connections):
            connection.close(CLOSE_GOING_AWAY, "server shutting down")
        await self._server.wait_closed()
        self._server = None
