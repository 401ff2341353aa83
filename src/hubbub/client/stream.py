"""A room's live events, exactly once and in order, across any number of dropped sockets.

How it holds (shared/DESIGN.md: the log's ids are global and increasing, and no id
becomes visible after a larger one was delivered):

1. The stream remembers the id of the last event it handed out.
2. Each (re)connection asks ``POST /ws-auth`` for a fresh socket URL and opens it
   with ``?l=0``: every client sends some ``l``; 0 asks for no replay, so the socket
   carries what is logged from its opening on. (The server could replay from the
   last id, but only up to its replay budget, after which it closes the socket and
   says where to resume; polling is paced by this client, one bounded page a request.)
3. With the socket open, it reads the log's last id (``POST /chats/{room}/events``)
   and polls ``POST /events`` with ``r<room>=<last id>`` until its cursor reaches
   that id. Everything logged before the socket opened is in those pages;
   everything after arrives on the socket.
4. Any record whose id is not above the last one handed out is a repeat and is
   dropped; records within one batch are ordered by id.

It reads the socket only when the consumer asks for the next event, so nothing
piles up on this side: a consumer that falls far behind is cut off by the server
(slow consumer) and the stream resumes from its last id. Buffers hold at most one
frame or one poll page.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from hubbub.client.errors import ClientClosed, UnexpectedAnswer
from hubbub.client.events import Event, RoomEvent, from_record
from hubbub.core.ids import RoomId
from hubbub.dialects.sechat.reading import parse_frame, parse_socket_url
from hubbub.errors import InvalidFkey, NotAllowed, NotFound, NotLoggedIn, RemoteError

if TYPE_CHECKING:
    from hubbub.client.client import Room

__all__ = ["EventStream", "backoff_delay"]

log = logging.getLogger("hubbub.client.stream")

MAX_GAP_PAGES: Final = 1000  # poll pages per connection; beyond that a new connection's catch-up goes on
BACKOFF_INITIAL: Final = 0.1  # seconds before the first reconnect attempt
BACKOFF_MAX: Final = 30.0  # seconds: the longest wait between attempts
HEALTHY_SECONDS: Final = 30.0  # a socket open this long was a working connection, even if the room was quiet

# Refusals that another attempt cannot cure: the session ended, or the room is gone or closed to us.
FATAL: Final = (NotLoggedIn, InvalidFkey, NotFound, NotAllowed)


class _CatchUpUnfinished(Exception):
    """The catch-up used its page budget before reaching the socket's start: reconnect and go on."""


def backoff_delay(attempt: int, *, initial: float = BACKOFF_INITIAL, maximum: float = BACKOFF_MAX) -> float:
    """Exponential back-off with jitter, so many clients dropped together do not return together."""
    delay: float = min(maximum, initial * 2**attempt)
    return delay * random.uniform(0.5, 1.0)


class EventStream:
    """Async iterator over a room's events; get one from ``Room.events()``.

    ``last_event_id`` is the id of the last event handed out: save it to resume a
    later run with ``room.events(since=...)``. ``connections`` counts the sockets
    opened so far.
    """

    def __init__(self, room: Room, *, since: int, idle_timeout: float, max_attempts: int | None = None) -> None:
        self.room = room
        self.last_event_id = since
        self.idle_timeout = idle_timeout
        self.max_attempts = max_attempts  # consecutive failed connection attempts; None: keep trying
        self.connections = 0
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._generator: AsyncGenerator[Event, None] | None = None
        self._closed = False
        self._stepping = False  # a task is inside __anext__

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._closed:
            if self._generator is not None:  # aclose() came while another task was inside
                await self._generator.aclose()
                self._generator = None
            raise StopAsyncIteration
        if self._generator is None:
            self._generator = self._run()
        self._stepping = True
        try:
            return await self._generator.__anext__()
        except asyncio.CancelledError:
            # The cancelled generator closed its socket and is finished; the next call starts
            # over after last_event_id, so a timeout around one step neither ends nor skips.
            self._generator = None
            raise
        finally:
            self._stepping = False

    async def aclose(self) -> None:
        """Close the socket and end the iteration (also when another task is waiting in it)."""
        self._closed = True
        if self._stepping:
            # Another task is inside __anext__: closing the socket ends its wait, and _run,
            # seeing the stream closed, returns instead of reconnecting (or that task's
            # next call closes the generator).
            if self._socket is not None:
                await self._socket.close()
            return
        generator, self._generator = self._generator, None
        if generator is not None:
            await generator.aclose()

    async def reconnect(self) -> None:
        """Drop the current socket; the stream opens a new one and resumes where it was."""
        if self._socket is not None:
            await self._socket.close()

    def _accept(self, records: Iterable[Mapping[str, Any]]) -> list[Event]:
        """New events of this room from one batch, in id order; repeats and other rooms dropped."""
        fresh: list[Event] = []
        newest = self.last_event_id
        for event in sorted((from_record(r) for r in records), key=lambda e: e.id):
            if event.id <= newest:
                continue  # handed out before, or twice in this batch
            # Pings and replies travel under every room their target is in, on the socket
            # and in POST /events alike; each room's stream keeps only its own room's.
            if isinstance(event, RoomEvent) and event.room_id != self.room.id:
                continue
            fresh.append(event)
            newest = event.id
        return fresh

    def _delivered(self, event: Event) -> None:
        self.last_event_id = event.id
        self.room.cursor = max(self.room.cursor, event.id)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        """A new socket; None when the stream was closed meanwhile (it is closed again at once)."""
        client = self.room.client
        body = await client.post_form("/ws-auth", {"roomid": self.room.id}, action="read")
        try:
            url = parse_socket_url(body)
        except ValueError:
            raise UnexpectedAnswer(200, body) from None
        if self._closed:
            return None
        separator = "&" if "?" in url else "?"
        socket = await client.session.ws_connect(
            f"{url}{separator}l=0",  # no replay: the catch-up reads the log (module docstring, 2.)
            origin=client.base_url,  # Stack Exchange refuses sockets without a chat Origin
            autoping=True,
            max_msg_size=4 * 1024 * 1024,
        )
        if self._closed:
            await socket.close()
            return None
        return socket

    async def _gap(self) -> AsyncGenerator[list[Event], None]:
        """Pages of ``POST /events`` from the last id up to where the log stood once the socket was open."""
        client = self.room.client
        # Read after the socket opened, so it is at least the socket's starting point; polling
        # on to a moving end instead would never hand over to the socket under steady traffic.
        ceiling = await client.log_position(self.room.id)
        cursor = self.last_event_id
        for _ in range(MAX_GAP_PAGES):
            if cursor >= ceiling or self._closed:
                return
            body = await client.post_form("/events", {f"r{self.room.id}": cursor}, action="read")
            try:
                part = parse_frame(body).get(RoomId(self.room.id))
            except ValueError:
                raise UnexpectedAnswer(200, body) from None  # the caller reconnects and polls again
            if part is None or part.cursor is None or part.cursor <= cursor:
                return
            yield self._accept(part.records)
            cursor = part.cursor
        if cursor < ceiling:
            # Handing over to the socket now would skip (cursor, ceiling]; the next connection
            # resumes from the last event handed out instead.
            raise _CatchUpUnfinished(f"caught up to {cursor} of {ceiling}")

    async def _run(self) -> AsyncGenerator[Event, None]:
        failures = 0
        while not self._closed:
            try:
                socket = await self._connect()
            except FATAL:
                raise
            except ClientClosed:
                return  # the client was closed under the stream, which ends with it
            except (aiohttp.ClientError, OSError, TimeoutError, RemoteError, ValueError) as error:
                if self._closed:
                    return  # closing the stream (or its client) cut this attempt short
                failures += 1
                if self.max_attempts is not None and failures >= self.max_attempts:
                    raise
                log.warning("room %s: cannot open the event socket (%s); retrying", self.room.id, error)
                await self.room.client.sleep(backoff_delay(failures))
                continue
            if socket is None:
                return
            self._socket = socket
            self.connections += 1
            delivered, opened_at = 0, time.monotonic()
            try:
                async for page in self._gap():
                    for event in page:
                        self._delivered(event)
                        delivered += 1
                        yield event
                async for event in self._live(self._socket):
                    self._delivered(event)
                    delivered += 1
                    yield event
            except FATAL:
                raise
            except ClientClosed:
                return
            except (aiohttp.ClientError, OSError, TimeoutError, RemoteError, _CatchUpUnfinished) as error:
                log.info("room %s: event socket lost (%s); resuming after %s", self.room.id, error, self.last_event_id)
            finally:
                await self._socket.close()
                self._socket = None
            if self._closed:
                return
            # A socket that carried something, or lived a while, was a success; one that died at
            # once, empty, counts as a failure, so a server that accepts and drops is not hammered.
            lasted = time.monotonic() - opened_at >= HEALTHY_SECONDS
            failures = 0 if delivered or lasted else failures + 1
            await self.room.client.sleep(backoff_delay(failures))

    async def _live(self, socket: aiohttp.ClientWebSocketResponse) -> AsyncGenerator[Event, None]:
        """Events from the socket until it closes or stays silent for ``idle_timeout``."""
        while True:
            async with asyncio.timeout(self.idle_timeout):
                message = await socket.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                return  # closed, closing or an error: the caller reconnects
            try:
                rooms = parse_frame(message.data)
            except ValueError:
                log.warning("room %s: ignoring a frame that is not a JSON object", self.room.id)
                continue
            part = rooms.get(RoomId(self.room.id))
            if part is not None and part.records:
                for event in self._accept(part.records):
                    yield event
