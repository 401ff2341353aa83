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
from hubbub.core.visibility import is_personal
from hubbub.dialects.sechat.codec import RoomFrame, frame, parse_replay_cursor, parse_socket_path
from hubbub.fanout.connection import CLOSE_POLICY, Connection, Handshake, Refusal
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
        """Load the user and their rooms, replay from ``?l=`` when it is an event id, then go live."""
        extra = connection.handshake.extra
        user_id, room_id = extra["user_id"], extra["room_id"]
        assert isinstance(user_id, int) and isinstance(room_id, int)
        queries = self._service.queries
        user = await queries.user(UserId(user_id))
        if user is None:
            connection.close(CLOSE_POLICY, "unknown user")
            return
        rooms = set(await queries.rooms_of(user.id)) | {RoomId(room_id)}
        opened_at = extra["opened_at"]
        assert isinstance(opened_at, int)
        cursor = parse_replay_cursor(connection.handshake.query.get("l"), self._hub.last_event_id)
        if cursor is None:
            cursor = EventId(opened_at)
        subscriber = RoomSubscriber(connection, user, rooms, held=[])
        if connection.closed:
            return
        self._subscribers[connection] = subscriber
        self._fanout.add(subscriber)
        if self._hub.last_event_id <= cursor:
            subscriber.release(cursor)  # nothing happened while the socket was being set up
            return
        limit = self._service.settings.poll_max_events
        answer, last = await queries.events_since(user, {room: cursor for room in rooms}, limit=limit)
        # At most poll_max_events per room are replayed; a client that was away longer polls /events.
        # Each room's answer is the user's view of it (core.visibility): their pings and replies
        # from every room are in it, filed as live frames file them.
        found = {room: list(result.events) for room, result in answer.items() if result.events}
        # A ping from a room the user is not in goes under that room too, as live frames do. Newer
        # ones than ``last`` are in the frames held meanwhile, so they are left to those.
        for event in await queries.personal_events_since(user, cursor, limit=limit):
            if is_personal(event, user) and event.id <= last and event.room_id not in answer:
                assert event.room_id is not None
                found.setdefault(event.room_id, []).append(event)
        if found and not connection.closed:
            connection.send(self._renderer.render(found, last))
        subscriber.release(last)

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
            if subscriber.held is not None or now - subscriber.last_sent < idle_seconds:
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
