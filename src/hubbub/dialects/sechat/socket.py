"""The sechat event socket: ``GET /events/<room>/<token>`` (sechat.md §5).

The token from ``/ws-auth`` names the user and the room, so the upgrade needs no
cookie and any Origin is accepted (unless the operator sets an allowlist). One
socket carries every room its user is in. Frames are
``{"r<room>": {"e": [...], "t": <last event id>, "d": <n>}}``; an idle socket gets
``{"r<room>": {"t": <id>, "d": 0}}`` at least every ``sechat_keepalive`` seconds
so that no client's idle watchdog fires (sechat.md §5.6). Clients send nothing;
text they send is ignored (the gateway closes a socket that sends binary frames, 1003).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from hubbub.core.events import CHAT_EVENT_TYPES, Event
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.visibility import file_view
from hubbub.dialects.sechat.codec import RoomFrame, frame, parse_replay_cursor, parse_socket_path
from hubbub.fanout.connection import CLOSE_POLICY, CLOSE_TRY_AGAIN, Connection, Handshake, Refusal
from hubbub.fanout.handover import REACH_TIMEOUT_SECONDS, Handover, ReplayPage, replay
from hubbub.fanout.hub import Hub
from hubbub.fanout.rooms import RoomFanout, RoomSubscriber
from hubbub.service.service import Service

__all__ = ["SechatRenderer", "SechatSockets"]

log = logging.getLogger("hubbub.sechat")


class SechatRenderer:
    """Stack Exchange's room frames (``fanout.rooms.RoomRenderer``)."""

    def render(self, rooms: Mapping[RoomId, Sequence[Event]], cursor: EventId) -> bytes:
        return frame({room_id: RoomFrame(events, cursor) for room_id, events in rooms.items()})

    def carries(self, event: Event) -> bool:
        return event.type in CHAT_EVENT_TYPES


class SechatSockets:
    """The socket handler (``gateway.router.SocketHandler``) for the sechat dialect."""

    def __init__(self, *, service: Service, hub: Hub, fanout: RoomFanout) -> None:
        self._service = service
        self._hub = hub
        self._fanout = fanout
        self._subscribers: dict[Connection, RoomSubscriber] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._renderer = SechatRenderer()

    @property
    def open_sockets(self) -> int:
        return len(self._subscribers)

    def accept(self, handshake: Handshake) -> Refusal | None:
        parsed = parse_socket_path(handshake.path)
        if parsed is None:
            return Refusal(404, "Not Found")
        room_id, token = parsed
        user_id = self._service.accounts.check_socket_token(token, room_id)
        if user_id is None:
            return Refusal(403, "This socket URL is invalid or has expired; ask /ws-auth for a new one")
        handshake.extra.update(user_id=user_id, room_id=room_id)
        return None

    def opened(self, connection: Connection) -> None:
        # Where "live" begins for this socket: anything logged after this point and
        # before the subscription is registered is filled from the log in _attach.
        connection.handshake.extra["opened_at"] = self._hub.last_event_id
        task = asyncio.create_task(self._attach(connection))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _attach(self, connection: Connection) -> None:
        """Load the user and their rooms, replay from ``?l=`` (or from the upgrade) up to the live cursor, go live.

        The hand-over is ``fanout.handover``'s: the subscriber joins the hub at a known id,
        the replay covers exactly the events up to it, and live frames cover the rest.
        """
        extra = connection.handshake.extra
        user_id, room_id = extra["user_id"], extra["room_id"]
        assert isinstance(user_id, int) and isinstance(room_id, int)
        queries = self._service.queries
        settings = self._service.settings
        user = await queries.user(UserId(user_id))
        if user is None:
            connection.close(CLOSE_POLICY, "unknown user")
            return
        rooms = set(await queries.rooms_of(user.id)) | {RoomId(room_id)}
        opened_at = extra["opened_at"]
        assert isinstance(opened_at, int)
        requested = connection.handshake.query.get("l")
        since = None if requested is None else parse_replay_cursor(requested, await queries.last_event_id())
        if since is None:
            since = EventId(opened_at)
        # A client may have seen events (by polling) that the hub has not pushed yet; live
        # delivery must not start before them, or they would come twice.
        if not await self._hub.reached(since, REACH_TIMEOUT_SECONDS):
            connection.close(CLOSE_TRY_AGAIN, "the server is catching up; try again")
            return
        if connection.closed:
            return
        handover = Handover(max_bytes=settings.ws_send_buffer_bytes)
        subscriber = RoomSubscriber(connection, user, rooms, handover=handover)
        self._subscribers[connection] = subscriber
        handover.live_from = live_from = self._hub.join(lambda: self._fanout.add(subscriber))
        view = frozenset(rooms)

        async def read(after: EventId, through: EventId) -> ReplayPage:
            page = await queries.view_after(user, view, after, through=through, limit=settings.poll_max_events)
            return ReplayPage(page.events, page.cursor)

        def encode(events: Sequence[Event], cursor: EventId) -> bytes:
            return self._renderer.render(file_view(events, user, view), cursor)

        reached = await replay(
            since=since,
            through=live_from,
            read=read,
            encode=encode,
            send=connection.send,
            # Sent at once, so a replay alone must never make a reading client a slow consumer.
            max_bytes=min(settings.sechat_replay_max_bytes, settings.ws_send_buffer_bytes // 2),
            closed=lambda: connection.closed,
        )
        if connection.closed:
            return
        if reached < live_from:
            # Going live now would skip (reached, live_from]: tell the client where to resume instead.
            connection.close(CLOSE_TRY_AGAIN, f"replay limit reached; reconnect with l={reached}")
            return
        subscriber.go_live()

    def received(self, connection: Connection, text: str) -> None:
        """Stack Exchange's event socket has no client messages; anything sent is ignored."""

    def closed(self, connection: Connection) -> None:
        subscriber = self._subscribers.pop(connection, None)
        if subscriber is not None:
            self._fanout.remove(subscriber)

    def send_keepalives(self, idle_seconds: float) -> int:
        """Send ``{"r<room>": {"t": <id>, "d": 0}}`` to every socket idle for ``idle_seconds``."""
        now = time.monotonic()
        cursor = self._hub.last_event_id
        cache: dict[frozenset[RoomId], bytes] = {}
        sent = 0
        for subscriber in list(self._subscribers.values()):
            if subscriber.handover is not None or now - subscriber.last_sent < idle_seconds:
                continue
            rooms = frozenset(subscriber.rooms)
            data = cache.get(rooms)
            if data is None:
                data = cache[rooms] = self._renderer.render({room: () for room in sorted(rooms)}, cursor)
            subscriber.send(data, cursor)
            sent += 1
        return sent

    async def run_keepalive(self) -> None:
        """Forever: every quarter interval, keep-alive the sockets idle for three quarters of it."""
        interval = self._service.settings.sechat_keepalive
        while True:
            await asyncio.sleep(interval / 4)
            self.send_keepalives(interval * 3 / 4)

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
