"""One IRC client's TCP connection: bytes to the codec, commands to the gateway in order, bounded both ways.

- Writing never waits: a peer whose unsent bytes pass ``irc_send_buffer_bytes`` (it stopped
  reading) is dropped at once, so no client can hold memory or slow anyone else.
- Reading stops while ``irc_queued_commands`` commands wait to be carried out (TCP then
  pushes back on the flooder), and resumes as the queue drains: a flood of JOINs or NICKs
  costs its sender time, never the server memory.
- The commands of one connection run one after another, in the order they came.
- Commands that need the service draw from a token bucket (``irc_command_burst``, then
  ``irc_commands_per_second``); a client that floods past it is closed with
  ``ERROR :Closing link: Excess Flood``, as IRC servers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, cast

from hubbub.core.ids import RoomId
from hubbub.core.models import User
from hubbub.dialects.irc.codec import Command, IrcSession, Login, Quit
from hubbub.dialects.irc.names import fold

__all__ = ["IrcConnection", "Joined"]

LINGER_SECONDS: Final = 2.0  # a closed connection's peer has this long to close its side

log = logging.getLogger("hubbub.irc")


@dataclass(eq=False, slots=True)
class Joined:
    """A channel a connection is in."""

    name: str
    room_id: RoomId
    stream_id: int | None
    entered_here: bool = False  # this JOIN put the user in the room: leaving on QUIT is theirs to undo
    held: list[bytes] | None = field(default_factory=list)  # live lines while the JOIN is answered
    held_bytes: int = 0


class IrcConnection(asyncio.Protocol):
    def __init__(
        self,
        session: IrcSession,
        *,
        run: Callable[[IrcConnection, Command], Awaitable[None]],
        opened: Callable[[IrcConnection], bool],
        lost: Callable[[IrcConnection], None],
        send_limit: int,
        queue_limit: int,
        burst: int = 100,
        per_second: float = 10.0,
        socket_send_buffer: int = 0,
    ) -> None:
        self.session = session
        self.user: User | None = None
        self.channels: dict[str, Joined] = {}  # folded name -> channel
        self.rooms: dict[RoomId, Joined] = {}  # the same channels by room
        self.awaiting_echo: dict[RoomId, int] = {}  # own lines posted here, not to be sent back
        self.remote = "?"
        self.opened_at = time.monotonic()
        self.last_inbound = self.opened_at
        self.last_ping = 0.0
        self.closed = False
        self._gone = False
        self._run = run
        self._opened = opened
        self._lost = lost
        self._send_limit = send_limit
        self._queue_limit = queue_limit
        self._burst = float(max(1, burst))
        self._per_second = per_second
        self._tokens = self._burst
        self._socket_send_buffer = socket_send_buffer
        self._queue: deque[Command] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._paused = False
        self._transport: asyncio.Transport | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        transport = self._transport
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        # Write-buffer pausing is not used: sending never waits, the byte limit below decides.
        transport.set_write_buffer_limits(high=self._send_limit * 4)
        sock = transport.get_extra_info("socket")
        if self._socket_send_buffer > 0 and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._socket_send_buffer)
        if not self._opened(self):
            self.closed = True
            transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self.last_inbound) * self._per_second)
        self.last_inbound = now
        commands = self.session.receive_data(data)
        self.flush()
        for command in commands:
            if not isinstance(command, (Login, Quit)):
                self._tokens -= 1
                if self._tokens < 0:
                    log.info("closing IRC client %s: excess flood", self.remote)
                    self._queue.clear()
                    self.session.error("Excess Flood")
                    self.flush()
                    self.close()
                    return
            self._queue.append(command)
        if self._queue and self._worker is None:
            self._worker = asyncio.create_task(self._drain(), name="hubbub-irc-connection")
        if len(self._queue) >= self._queue_limit and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        if self.session.closing and not self._queue:
            self.close()

    def eof_received(self) -> bool | None:
        self.closed = True  # the peer is gone (or answered our close): the transport closes after its last write
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._gone_now()

    def _gone_now(self) -> None:
        """The client is gone for the gateway (its channels, its rooms): once, at close or loss."""
        if self._gone:
            return
        self._gone = self.closed = True
        self._queue.clear()
        if self._worker is not None and self._worker is not asyncio.current_task():
            self._worker.cancel()
        self._lost(self)

    def add_channel(self, joined: Joined) -> None:
        self.channels[fold(joined.name)] = joined
        self.rooms[joined.room_id] = joined

    def drop_channel(self, joined: Joined) -> None:
        if self.channels.get(fold(joined.name)) is joined:
            del self.channels[fold(joined.name)]
        if self.rooms.get(joined.room_id) is joined:
            del self.rooms[joined.room_id]

    def deliver(self, joined: Joined, data: bytes) -> None:
        """A live line for ``joined``: written now, or held while its JOIN is being answered."""
        if joined.held is None:
            self.send(data)
            return
        joined.held.append(data)
        joined.held_bytes += len(data)
        if joined.held_bytes > self._send_limit:
            self.abort()

    def release(self, joined: Joined) -> None:
        """The JOIN is answered: the lines held meanwhile go out, then live ones as they come."""
        held, joined.held = joined.held, None
        for data in held or ():
            self.send(data)

    # the command queue

    async def _drain(self) -> None:
        try:
            while self._queue and not self.closed:
                command = self._queue.popleft()
                if self._paused and len(self._queue) < self._queue_limit // 2 and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                try:
                    await self._run(self, command)
                except Exception:
                    log.exception("an IRC %s from %s failed", type(command).__name__, self.remote)
                    self.session.notice("The server could not carry out that command")
                self.flush()
                if isinstance(command, Quit):
                    break
        finally:
            self._worker = None
        if self.session.closing:
            self.close()
        elif self._queue and not self.closed:  # came in while the last command finished
            self._worker = asyncio.create_task(self._drain(), name="hubbub-irc-connection")

    def push_front(self, commands: list[Command]) -> None:
        """Commands to run next, before what is queued (the lines held while a login was checked)."""
        self._queue.extendleft(reversed(commands))

    # writing

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.send(data)

    def send(self, data: bytes) -> None:
        """Write now; a peer that lets more than the limit pile up is dropped (it stopped reading)."""
        transport = self._transport
        if self.closed or transport is None:
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._send_limit:
            log.info("dropping IRC client %s: %d bytes unsent", self.remote, transport.get_write_buffer_size())
            self.abort()

    def close(self) -> None:
        """Send what is queued, then end the connection.

        The write side is shut first (FIN after the last line) and what the peer still sends is
        read and dropped until it closes too, or ``LINGER_SECONDS`` pass: closing with unread
        input would make the kernel reset the connection and lose the ``ERROR`` line.
        """
        transport = self._transport
        if transport is None or self.closed:
            return
        self._gone_now()
        try:
            if transport.can_write_eof():
                transport.write_eof()
                transport.resume_reading()
                asyncio.get_running_loop().call_later(LINGER_SECONDS, self.abort)
            else:
                transport.close()
        except OSError:  # the peer is already gone
            self.abort()

    def abort(self) -> None:
        transport = self._transport
        self.closed = True
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()
