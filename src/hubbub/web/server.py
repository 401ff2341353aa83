"""The HTTP port's connections: time limits for slow clients and a cap per client address.

aiohttp closes a keep-alive connection that stays idle (``keepalive_timeout``), but nothing
bounds how long a request *head* may take to arrive, nor how slowly a body may trickle in, nor
how many connections one address may hold. A client that sends nothing, or half a head, or one
byte every few seconds (slowloris) kept its connection, and a descriptor, for as long as it
liked. This module adds, per connection:

- **head timeout** (``http_head_timeout``): a new connection must begin its request within
  that time, and a request head, once its first byte is in, must be complete within that time
  too. A connection that sent part of a head is then answered ``408`` and closed; one that sent
  nothing is just closed (browsers open spare connections and may never use them).
- **body rate** (``http_body_timeout``, ``http_body_min_rate``): once the head is in, a body
  still arriving must have delivered ``(t - http_body_timeout) * http_body_min_rate`` bytes by
  ``t`` seconds after the head. When it falls behind, reading it fails with ``SlowRequest``
  (the dialect answers ``408``) and the connection closes once that answer is written.
- **keep-alive idle** (``http_keepalive_timeout``): aiohttp's own ``keepalive_timeout``.
- **connections per address** (``http_max_connections_per_ip``; IPv6 counted per /64, where
  one host's addresses live): one more is answered ``503`` and closed before it is read.

Once a request's head and body are in, nothing here limits how long its handler runs, so
websocket upgrades on this port and long-polls live as long as they need to.

The seam is aiohttp's own: ``GuardedSite`` is a ``web.BaseSite`` whose listening socket builds a
``GuardedRequestHandler`` (a ``web.RequestHandler``) for each connection, and it wraps the
server's request handler so each connection learns when a request's head is complete (its
handler starts) and when the request is done.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hubbub.core.addresses import AddressCounts
from hubbub.errors import SlowRequest
from hubbub.web.client_errors import ServerLog
from hubbub.web.port_limits import HttpLimits, admit, plain_response

if TYPE_CHECKING:
    from hubbub.web.poll_connections import PollPort

__all__ = ["Accept", "GuardedRequestHandler", "GuardedSite"]

log = logging.getLogger("hubbub.http")

_RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
# Listens on (host, port) and hands each accepted connection a protocol from the factory.
Accept = Callable[[Callable[[], asyncio.BaseProtocol], str, int], Awaitable[asyncio.AbstractServer]]


class GuardedRequestHandler(web.RequestHandler):
    """aiohttp's connection protocol, plus the head timeout, the body rate and the address cap."""

    __slots__ = (
        "_address",
        "_body_started",
        "_body_timer",
        "_counts",
        "_current",
        "_guard_loop",
        "_head_done",
        "_head_tail",
        "_head_timer",
        "_in_head",
        "_in_request",
        "_limits",
    )

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        limits: HttpLimits,
        counts: AddressCounts,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, loop=loop, keepalive_timeout=limits.keepalive_timeout, **kwargs)
        self._guard_loop = loop
        self._limits = limits
        self._counts = counts
        self._address: str | None = None
        self._in_request = False
        self._in_head = False  # bytes of the next head have arrived
        self._head_done = False  # ... and its blank line too: the handler is about to start
        self._head_tail = b""  # the last bytes of a head so far, to find a blank line split across reads
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_started = 0.0
        self._current: web.BaseRequest | None = None

    # the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        admitted, key = admit(transport, self._limits, self._counts)
        if admitted:  # else refused before aiohttp starts: nothing is read, parsed or kept for it
            self.adopt(transport, key)

    def adopt(self, transport: asyncio.BaseTransport, address: str | None) -> None:
        """Serve a connection admitted already (``address`` counted; this handler releases it)."""
        self._address = address
        super().connection_made(transport)
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        if not self._in_request and not self._head_done:
            self._watch_head(data)
        super().data_received(data)

    def _watch_head(self, data: bytes) -> None:
        if not self._in_head:
            # Empty lines before a request line are allowed (RFC 9112 §2.2) and begin nothing.
            data = data.lstrip(b"\r\n")
            if not data:
                return
            # The first byte of a head: the whole head now has its own time, from here.
            self._in_head = True
            self._restart_head_timer()
        # The blank line ends the head. Seeing it here, and not only once the handler starts,
        # keeps the clock from cutting a head that is complete but waiting to be handled.
        window = self._head_tail + data
        if b"\r\n\r\n" in window:
            self._head_done = True
            self._cancel_head_timer()
        else:
            self._head_tail = window[-3:]

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_timers()
        if self._address is not None:
            self._counts.release(self._address)
            self._address = None
        self._current = None
        super().connection_lost(exc)

    # requests (told by GuardedSite's wrapper around the server's request handler)

    def request_started(self, request: web.BaseRequest) -> None:
        """The head is in: no head clock; a body still arriving is held to the minimum rate."""
        self._in_request = True
        self._cancel_head_timer()
        if self._limits.body_min_rate > 0 and not request.content.is_eof():
            self._current = request
            self._body_started = self._guard_loop.time()
            self._body_timer = self._guard_loop.call_at(
                self._body_started + self._limits.body_timeout, self._check_body
            )

    def request_finished(self) -> None:
        # Idle now: aiohttp's keep-alive clock runs until the first byte of the next head.
        self._in_request = False
        self._in_head = self._head_done = False
        self._head_tail = b""
        self._current = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    # timers

    def _start_head_timer(self) -> None:
        if self._limits.head_timeout > 0:
            self._head_timer = self._guard_loop.call_later(self._limits.head_timeout, self._head_timed_out)

    def _restart_head_timer(self) -> None:
        self._cancel_head_timer()
        self._start_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_request or self._head_done or self.transport is None:
            return
        if self._in_head:
            seconds = f"{self._limits.head_timeout:g}"
            self.transport.write(
                plain_response("408 Request Timeout", f"The request head did not arrive within {seconds} seconds")
            )
        log.debug("closing a connection whose request head took over %gs", self._limits.head_timeout)
        self.force_close()

    def _check_body(self) -> None:
        self._body_timer = None
        request = self._current
        if request is None:
            return
        content = request.content
        if content.is_eof() or content.exception() is not None:
            return
        limits = self._limits
        now = self._guard_loop.time()
        owed = (now - self._body_started - limits.body_timeout) * limits.body_min_rate
        received = content.total_bytes
        if received < owed:
            content.set_exception(
                SlowRequest(
                    f"The request body arrived too slowly: {received} bytes in {now - self._body_started:.0f} "
                    f"seconds; at least {limits.body_min_rate:g} bytes per second are needed"
                )
            )
            return
        # The earliest moment the body could fall behind, if nothing more arrives until then.
        due = self._body_started + limits.body_timeout + (received + 1) / limits.body_min_rate
        self._body_timer = self._guard_loop.call_at(max(due, now), self._check_body)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None


def _tracking(handler: _RequestHandler) -> _RequestHandler:
    """Wrap the server's request handler so the connection learns when each request starts and ends."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        if not isinstance(protocol, GuardedRequestHandler):
            return await handler(request)
        protocol.request_started(request)
        try:
            return await handler(request)
        finally:
            protocol.request_finished()

    handle.__wrapped__ = handler  # type: ignore[attr-defined]
    return handle


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are ``GuardedRequestHandler``s sharing one ``AddressCounts``."""

    __slots__ = ("_accept", "_bound_port", "_counts", "_host", "_limits", "_polls", "_port", "_reuse_address")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        limits: HttpLimits,
        reuse_address: bool = True,
        accept: Accept | None = None,
        polls: PollPort | None = None,
    ) -> None:
        """``accept`` listens and accepts for the site (the process's connection budget, in
        ``hubbub serve``); by default the event loop does (``loop.create_server``). With
        ``polls``, connections start as ``web.poll_connections.PollConnection``s (comet long
        polls answered below aiohttp) and are handed to aiohttp at their first other request."""
        super().__init__(runner)
        self._host, self._port = host, port
        self._limits = limits
        self._counts = AddressCounts(limits.max_connections_per_address)
        self._reuse_address = reuse_address
        self._accept = accept
        self._polls = polls
        self._bound_port: int | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        return self._port if self._bound_port is None else self._bound_port

    @property
    def counts(self) -> AddressCounts:
        return self._counts

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        # RequestHandler takes the server's request handler when it is built; ours is built
        # below, after this (public) attribute is wrapped, so every request is tracked.
        if not hasattr(server.request_handler, "__wrapped__"):
            server.request_handler = _tracking(server.request_handler)
        loop = asyncio.get_running_loop()

        # access_log=None: hubbub logs no line per request (as the runner is told too). ServerLog:
        # a malformed request is the client's doing, one line without a traceback.
        options: dict[str, Any] = {"access_log": None, "logger": ServerLog()}

        def guarded() -> GuardedRequestHandler:
            return GuardedRequestHandler(server, loop=loop, limits=self._limits, counts=self._counts, **options)

        def handover(transport: asyncio.Transport, address: str | None) -> asyncio.Protocol:
            handler = guarded()
            handler.adopt(transport, address)
            return handler

        polls = self._polls

        def connection() -> asyncio.Protocol:
            if polls is None:
                return guarded()
            return polls.connection(self._limits, self._counts, handover)

        listening: asyncio.AbstractServer
        if self._accept is not None:
            listening = await self._accept(connection, self._host, self._port)
        else:
            listening = await loop.create_server(
                connection, self._host, self._port, backlog=self._backlog, reuse_address=self._reuse_address
            )
        self._server = listening
        # asyncio.Server and hubbub's Listener have their sockets; AbstractServer does not declare them.
        sockets: Sequence[socket.socket] = getattr(listening, "sockets", ())
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        # Connections still serving polls are unknown to aiohttp's server: close them here, or a
        # held poll would keep the listener (and the shutdown) waiting for its hold to end.
        if self._polls is not None:
            self._polls.close_all()
        await super().stop()
