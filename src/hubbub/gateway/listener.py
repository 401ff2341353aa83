"""Accepting connections on both ports within one budget below the process's descriptor limit.

Every open connection holds a file descriptor, and so do the database, the logs and the
files being sent. At the limit (``RLIMIT_NOFILE``) ``accept()`` fails with EMFILE; an event
loop that keeps the listening socket registered is woken again at once, forever (picows's
default transport, aiofastnet, did exactly that, with a traceback each time). So hubbub
accepts by itself, on both ports (the HTTP port's aiohttp server and the gateway's picows
one are handed the accepted sockets):

- ``ConnectionBudget`` counts the connections of both ports together. At the budget every
  listener stops reading its listening socket (new connections wait in the kernel's
  backlog, the process spends nothing on them) and resumes when a connection closes.
- A listener that still meets EMFILE/ENFILE/ENOBUFS/ENOMEM (descriptors used by something
  else) stops for ``ACCEPT_RETRY_SECONDS`` and says so once; it never spins.

The default budget is the soft descriptor limit minus a reserve (``default_budget``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

__all__ = [
    "ACCEPT_RETRY_SECONDS",
    "ConnectionBudget",
    "Listener",
    "default_budget",
    "listening_sockets",
]

log = logging.getLogger("hubbub.listener")

ACCEPT_RETRY_SECONDS: Final = 1.0  # after running out of descriptors anyway (asyncio waits as long)
ACCEPTS_PER_WAKEUP: Final = 64  # connections taken from one listening socket per loop pass
LISTEN_BACKLOG: Final = 511  # what the kernel may hold for us (capped by net.core.somaxconn)
# Descriptors kept free for everything but client connections: SQLite (a file, its WAL and
# shared memory per thread), logs, the listening sockets, the event loop's own, files being
# sent, a cluster's database and bus connections.
RESERVED_DESCRIPTORS: Final = 64
RESERVED_SHARE: Final = 8  # ... or an eighth of the limit, whichever is more
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_UNLIMITED: Final = 1 << 20


def default_budget(soft_limit: int | None = None) -> int:
    """Connections to allow when ``max_connections`` is 0: the descriptor limit minus the reserve."""
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit == resource.RLIM_INFINITY or soft_limit > _UNLIMITED:
        soft_limit = _UNLIMITED
    reserve = max(RESERVED_DESCRIPTORS, soft_limit // RESERVED_SHARE)
    return max(1, soft_limit - reserve)


class ConnectionBudget:
    """How many client connections the process holds, on every port together, and the most it may."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._open = 0
        self._paused: list[Listener] = []
        self._full_reported = False
        # Said once while the count hovers at the limit; said again after it fell well below.
        self._report_again_below = self.limit - max(1, self.limit // 10)

    @property
    def open(self) -> int:
        return self._open

    def take(self) -> bool:
        """Count one more connection; False (counting nothing) when the budget is spent."""
        if self._open >= self.limit:
            if not self._full_reported:
                self._full_reported = True
                log.warning(
                    "%d connections are open, the most allowed (max_connections): "
                    "not accepting new ones until some close",
                    self._open,
                )
            return False
        self._open += 1
        return True

    def give_back(self) -> None:
        self._open -= 1
        if self._open < self._report_again_below:
            self._full_reported = False
        if self._open < self.limit:
            paused, self._paused = self._paused, []
            for listener in paused:
                listener.resume()

    def wait_for_room(self, listener: Listener) -> None:
        if listener not in self._paused:
            self._paused.append(listener)

    async def serve(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], host: str, port: int, *, name: str
    ) -> Listener:
        """Listen on ``host`` and ``port`` and accept, within this budget, for ``protocol_factory``.

        Raises:
            OSError: The address cannot be resolved or bound.
        """
        listener = Listener(await listening_sockets(host, port), protocol_factory, self, name=name)
        listener.resume()
        return listener


class _Counting:
    """What both counting wrappers do: stand for a connection's place in the budget (the
    listener's while it counts them) and give it back when the transport is lost, passing every
    other call on to the protocol inside.

    Slotted, and passing each call on: an idle connection keeps its wrapper for its whole life,
    so it holds three references and nothing else (handing the transport the inner protocol's
    bound methods instead saved a call per read but cost five method objects per connection;
    a separate object for the budget place was one more, for the garbage collector, per
    connection).
    """

    __slots__ = ("_listener", "inner", "transport")

    def __init__(self, inner: asyncio.BaseProtocol, listener: Listener) -> None:
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None
        self._listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.inner.connection_lost(exc)
        finally:
            self._listener._lost(cast(_Counted, self))

    def eof_received(self) -> bool | None:
        return cast(asyncio.Protocol, self.inner).eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _CountedProtocol(_Counting, asyncio.Protocol):
    """A counted connection whose protocol is handed the bytes read (aiohttp's)."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        cast(asyncio.Protocol, self.inner).data_received(data)


class _CountedBufferedProtocol(_Counting, asyncio.BufferedProtocol):
    """A counted connection whose protocol reads into its own buffer (picows)."""

    __slots__ = ()

    def get_buffer(self, sizehint: int) -> Any:
        return cast(asyncio.BufferedProtocol, self.inner).get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        cast(asyncio.BufferedProtocol, self.inner).buffer_updated(nbytes)


_Counted = _CountedProtocol | _CountedBufferedProtocol


def _counted(inner: asyncio.BaseProtocol, listener: Listener) -> _Counted:
    if isinstance(inner, asyncio.BufferedProtocol):
        return _CountedBufferedProtocol(inner, listener)
    return _CountedProtocol(inner, listener)


async def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for ``host`` (every address it resolves to) and ``port``.

    Raises:
        OSError: The address cannot be resolved or bound.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:
                raise OSError(error.errno, f"cannot listen on {address!r}: {error.strerror}") from None
            if port == 0 and len(sockets) == 1:
                port = sock.getsockname()[1]  # every address on the same free port
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Listener(asyncio.AbstractServer):
    """Accepts on some listening sockets while the budget allows; each connection goes to ``protocol_factory``.

    Quacks like the ``asyncio.Server`` that ``loop.create_server`` returns (aiohttp's sites
    and runner use ``close``, ``sockets`` and ``wait_closed``).
    """

    def __init__(
        self,
        sockets: Sequence[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        budget: ConnectionBudget,
        *,
        name: str,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sockets = list(sockets)
        self._factory = protocol_factory
        self._budget = budget
        self._name = name
        self._reading = False
        self._closed = False
        self._retry: asyncio.TimerHandle | None = None
        self._short_reported = False  # running out of descriptors is said once until an accept works
        self._connecting: set[asyncio.Task[Any]] = set()
        self._counted: set[_Counted] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    @property
    def connections(self) -> int:
        """Connections this listener accepted that are still open."""
        return len(self._connecting) + len(self._counted)

    @property
    def accepting(self) -> bool:
        """Whether the listening sockets are being read (not closed, the budget not spent, no retry pending)."""
        return self._reading

    # asyncio.AbstractServer

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return not self._closed

    async def start_serving(self) -> None:
        self.resume()

    async def serve_forever(self) -> None:
        self.resume()
        await asyncio.Future()

    def close(self) -> None:
        """Stop accepting and close the listening sockets; open connections are left alone."""
        if self._closed:
            return
        self._closed = True
        self._stop_reading()
        if self._retry is not None:
            self._retry.cancel()
        for sock in self._sockets:
            sock.close()

    def close_clients(self) -> None:
        for protocol in list(self._counted):
            if protocol.transport is not None:
                protocol.transport.close()

    def abort_clients(self) -> None:
        for protocol in list(self._counted):
            transport = protocol.transport
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            elif transport is not None:
                transport.close()
        for task in list(self._connecting):
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until every connection this listener accepted is gone."""
        await self._idle.wait()

    # accepting

    def resume(self) -> None:
        """Read the listening sockets again (the budget has room, or the retry delay is over)."""
        self._retry = None
        if self._closed or self._reading:
            return
        self._reading = True
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            for sock in self._sockets:
                self._loop.remove_reader(sock.fileno())

    def _accept(self, listening: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            if not self._budget.take():
                self._stop_reading()
                self._budget.wait_for_room(self)
                return
            try:
                connection, _ = listening.accept()
            except (BlockingIOError, InterruptedError):
                self._budget.give_back()
                return
            except ConnectionAbortedError:
                self._budget.give_back()
                continue
            except OSError as error:
                self._budget.give_back()
                self._pause_after(error)
                return
            self._short_reported = False
            self._serve(connection)

    def _pause_after(self, error: OSError) -> None:
        """An accept failed for want of resources (or for a reason nobody expects): wait, then retry."""
        self._stop_reading()
        if error.errno in _OUT_OF_RESOURCES:
            if not self._short_reported:
                self._short_reported = True
                log.warning(
                    "cannot accept on the %s port: %s (%d connections open); trying again every %.0f s",
                    self._name,
                    error.strerror,
                    self._budget.open,
                    ACCEPT_RETRY_SECONDS,
                )
        else:
            log.error("accepting on the %s port failed: %s", self._name, error)
        self._retry = self._loop.call_later(ACCEPT_RETRY_SECONDS, self.resume)

    # A connection's place in the budget belongs to its setup (from the accept until the loop asks
    # for the protocol), then to its wrapper while ``_counted`` holds it: given back exactly once.

    def _serve(self, connection: socket.socket) -> None:
        self._idle.clear()
        try:
            connection.setblocking(False)
            if connection.family in (socket.AF_INET, socket.AF_INET6):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the peer is gone already
            connection.close()
            self._done()
            return
        made: list[_Counted] = []  # the wrapper, once the loop asked for it (only for the setup)
        task = self._loop.create_task(
            self._loop.connect_accepted_socket(lambda: self._wrap(made), connection),
            name=f"hubbub-accept-{self._name}",
        )
        self._connecting.add(task)
        task.add_done_callback(lambda done: self._connected(done, connection, made))

    def _wrap(self, made: list[_Counted]) -> _Counted:
        protocol = _counted(self._factory(), self)
        made.append(protocol)
        self._counted.add(protocol)
        return protocol

    def _connected(self, task: asyncio.Task[Any], connection: socket.socket, made: list[_Counted]) -> None:
        self._connecting.discard(task)
        failed = task.cancelled() or task.exception() is not None
        if failed:
            # No transport took the socket over (or it was lost while being set up).
            connection.close()
            if made:
                self._lost(made[0])
            else:
                self._done()
        elif not self._connecting and not self._counted:
            self._idle.set()  # (set up, and already lost)

    def _lost(self, protocol: _Counted) -> None:
        if protocol in self._counted:  # not given back yet
            self._counted.discard(protocol)
            self._done()

    def _done(self) -> None:
        self._budget.give_back()
        if not self._connecting and not self._counted:
            self._idle.set()
