"""The websocket gateway on its own port, served by picows (the only user of that library).

picows delivers frames by callback and writes straight into the transport, so a
connection costs no task of its own. Each connection's unsent bytes are bounded
by the transport's high-water mark: when picows reports ``pause_writing`` the
peer is not keeping up, and it is closed with 1008 "slow consumer" rather than
buffered without limit. The close frame goes out behind what is queued (the
transport takes it over its high-water mark), so a client that reads again sees
the 1008; one that never does is cut after ``close_timeout``.

picows checks masking and framing; hubbub adds what it leaves to the listener:
reserved bits are refused (no extension is ever negotiated), and pings are
answered here, after that check, rather than by picows's auto-pong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from multidict import CIMultiDict
from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]  # not re-exported; see _protocol

from hubbub.fanout.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    Handshake,
    Refusal,
    settled_handshake,
)
from hubbub.gateway.closing import answer_to_close
from hubbub.gateway.listener import ConnectionBudget, Listener
from hubbub.gateway.router import SocketHandler, SocketRouter, collect_headers

__all__ = ["PicowsConnection", "PicowsGateway"]

log = logging.getLogger("hubbub.gateway")

_NO_HEADERS: CIMultiDict[str] = CIMultiDict()  # shared by every settled connection; never written to
_CLOSE_INVALID_TEXT = 1007
_CLOSE_UNSUPPORTED = 1003


class PicowsConnection(WSListener):
    """One accepted socket: a picows listener and a ``hubbub.fanout.connection.Connection``."""

    __slots__ = (
        "_admitted",
        "_closed",
        "_cut",
        "_fragments",
        "_gateway",
        "_handler",
        "_handshake",
        "_last_inbound",
        "_remote",
        "_transport",
    )

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
        self._cut: asyncio.TimerHandle | None = None
        self._last_inbound = time.monotonic()

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

    def ping(self, payload: bytes) -> None:
        if not self._closed and self._transport is not None:
            self._transport.send_ping(payload)

    @property
    def last_inbound(self) -> float:
        return self._last_inbound

    def settled(self) -> None:
        self._handshake = settled_handshake(self._handshake)
        transport = self._transport
        if transport is not None:
            # picows keeps the upgrade request and its answer for the connection's life; their
            # headers are read only while the upgrade is made.
            transport.request.headers = _NO_HEADERS
            transport.response.headers = _NO_HEADERS

    def close(self, code: int, reason: str) -> None:
        if self._closed or self._transport is None:
            self._closed = True
            return
        self._closed = True
        transport = self._transport
        transport.send_close(WSCloseCode(code), reason.encode("utf-8"))
        # What was queued goes out first, then the close frame; a peer that does not take it
        # in time (a slow consumer may never read again) is cut.
        transport.disconnect(graceful=True)
        loop = asyncio.get_running_loop()
        self._cut = loop.call_later(self._gateway.router.limits.close_timeout, transport.disconnect, False)
        # The dialect forgets the connection now, not when its last bytes are gone; not from
        # inside close(), which fan-out calls while it walks its subscribers.
        loop.call_soon(self._forget)

    def _forget(self) -> None:
        """The dialect, the address count and the gateway let go of this connection (once)."""
        if self._admitted:
            self._admitted = False
            self._gateway.connections.discard(self)
            self._gateway.router.release(self._remote)
            self._handler.closed(self)

    # picows callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self._gateway._connected(self)
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
        self._last_inbound = time.monotonic()
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            # RFC 6455 §5.2: nonzero reserved bits need an extension that defines them; none is offered.
            self.close(CLOSE_PROTOCOL_ERROR, "reserved bits set without a negotiated extension")
            return
        if kind is WSMsgType.PING:
            if not self._closed:
                transport.send_pong(frame.get_payload_as_bytes())
        elif kind is WSMsgType.TEXT or kind is WSMsgType.CONTINUATION:
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
        if self._closed:
            return  # closing: what the peer still sends is not read
        if frame.msg_type is WSMsgType.CONTINUATION and self._fragments is None:
            self.close(CLOSE_PROTOCOL_ERROR, "continuation without a start")
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
        if self._cut is not None:
            self._cut.cancel()
            self._cut = None
        self._forget()
        self._gateway._disconnected(self)

    def pause_writing(self) -> None:
        if not self._closed:
            log.info("closing a slow consumer at %s", self._remote)
            self.close(CLOSE_POLICY, "slow consumer")


class PicowsGateway:
    """Listens on the websocket port and hands each accepted socket to its dialect's handler.

    Sockets are accepted by ``gateway.listener`` within the process's connection budget and
    handed to picows's protocol (``loop.connect_accepted_socket``); picows's own accept path
    (aiofastnet by default) spins at the descriptor limit.
    """

    def __init__(self, router: SocketRouter, budget: ConnectionBudget) -> None:
        self.router = router
        self.connections: set[PicowsConnection] = set()  # open, admitted websockets
        self._budget = budget
        self._accepted: Listener | None = None
        self._live: set[PicowsConnection] = set()  # every websocket until picows says it is gone
        self._all_gone = asyncio.Event()
        self._all_gone.set()
        # An adapter, not the logger: given a Logger, picows makes a child Logger for every
        # connection (named after its descriptor) and keeps it for the connection's life.
        self._picows_log = logging.LoggerAdapter(logging.getLogger("picows.gateway"))

    def _upgrade(self, request: WSUpgradeRequest) -> PicowsConnection | WSUpgradeResponseWithListener:
        headers = collect_headers(request.headers.items())
        handshake = self.router.handshake(request.path.decode("latin-1"), headers)
        handler, refusal = self.router.accept(handshake)
        if refusal is not None or handler is None:
            refusal = refusal or Refusal(404, "Not Found")
            response = WSUpgradeResponse.create_error_response(
                refusal.status, refusal.reason.encode("utf-8"), dict(refusal.headers)
            )
            return WSUpgradeResponseWithListener(response, None)
        return PicowsConnection(self, handler, handshake)

    def _protocol(self) -> asyncio.BaseProtocol:
        """The protocol ``ws_create_server`` would give each accepted socket, with the same arguments.

        picows has no public way to serve a socket accepted elsewhere; ``picows.api`` builds
        its server protocol exactly so (picows 2.3). The keywords make a changed signature
        fail loudly, at the first connection of any test.
        """
        protocol: asyncio.BaseProtocol = WSProtocol(
            host_port=None,
            ws_path=None,
            is_client_side=False,
            ws_listener_factory=self._upgrade,
            logger=self._picows_log,
            disconnect_on_exception=True,
            websocket_handshake_timeout=10,
            enable_auto_ping=False,
            auto_ping_idle_timeout=20,
            auto_ping_reply_timeout=20,
            auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
            enable_auto_pong=False,  # on_ws_frame answers pings, once it has checked the frame
            max_frame_size=self.router.limits.max_frame_bytes,
            extra_headers=None,
            read_buffer_init_size=1024,
        )
        return protocol

    def _connected(self, connection: PicowsConnection) -> None:
        self._live.add(connection)
        self._all_gone.clear()

    def _disconnected(self, connection: PicowsConnection) -> None:
        self._live.discard(connection)
        if not self._live:
            self._all_gone.set()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._accepted = await self._budget.serve(self._protocol, host, port, name="gateway")
        return int(self._accepted.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting, close every websocket with 1001, give the closes ``close_timeout``, then cut."""
        accepted, self._accepted = self._accepted, None
        if accepted is None:
            return
        accepted.close()
        for connection in list(self.connections):
            connection.close(CLOSE_GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.router.limits.close_timeout):
                await self._all_gone.wait()
        accepted.abort_clients()  # stragglers, and sockets that never finished their handshake
        await accepted.wait_closed()
