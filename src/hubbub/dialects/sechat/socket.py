"""The sechat event socket: ``GET /events/<room>/<token>`` (sechat.md §5).

The token from ``/ws-auth`` names the user and the room, so the upgrade needs no
cookie and any Origin is accepted (unless the operator sets an allowlist). A URL
opens one socket, once (``service.socket_tokens``), and only while its user may
still read its room. One socket carries every room its user is in and may read;
access changes delivered later (leaving or losing a room, logging out, a password
change) re-filter or close it at once (``fanout.access``). Frames are
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
from dataclasses import replace
from typing import Final

from hubbub import metrics
from hubbub.core.direct import Activity
from hubbub.core.events import CHAT_EVENT_TYPES, Event
from hubbub.core.ids import EventId, RoomId
from hubbub.core.visibility import AccessChange, AccessChangeKind, file_view
from hubbub.dialects.sechat.codec import RoomFrame, frame, parse_replay_cursor, parse_socket_path
from hubbub.errors import NotAllowed
from hubbub.fanout.access import AccessWatch
from hubbub.fanout.connection import (
    AUTHORIZED,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_TRY_AGAIN,
    Connection,
    Handshake,
    Refusal,
)
from hubbub.fanout.handover import REACH_TIMEOUT_SECONDS, Handover, ReplayPage, replay
from hubbub.fanout.hub import Hub
from hubbub.fanout.rooms import RoomFanout, RoomSubscriber
from hubbub.service.service import Service
from hubbub.service.socket_tokens import SocketGrant, SocketUrlToken, refused_url

__all__ = ["SechatRenderer", "SechatSockets"]

log = logging.getLogger("hubbub.sechat")

# Handshake.extra keys: the token read at the upgrade, and what opening it granted.
_TOKEN: Final = "socket_token"
_GRANT: Final = "socket_grant"
# What a live socket's grant keeps of its rooms (the subscriber follows them): one set for all.
_NO_ROOMS: Final[frozenset[RoomId]] = frozenset()
SESSION_ENDED_REASON: Final = "This login session has ended; log in again and ask /ws-auth for a new URL"
_SESSION_KINDS: Final = frozenset({AccessChangeKind.SESSION_ENDED, AccessChangeKind.SESSIONS_REVOKED})


class SechatRenderer:
    """Stack Exchange's room frames (``fanout.rooms.RoomRenderer``)."""

    def render(self, rooms: Mapping[RoomId, Sequence[Event]], cursor: EventId) -> bytes:
        return frame({room_id: RoomFrame(events, cursor) for room_id, events in rooms.items()})

    def carries(self, event: Event) -> bool:
        return event.type in CHAT_EVENT_TYPES


class SechatSockets:
    """The socket handler (``gateway.router.SocketHandler``) for the sechat dialect."""

    def __init__(self, *, service: Service, hub: Hub, fanout: RoomFanout, access: AccessWatch) -> None:
        self._service = service
        self._hub = hub
        self._fanout = fanout
        self._access = access
        access.add_listener(self)
        self._open_gauge = metrics.CONNECTIONS.labels(dialect="sechat")
        self._subscribers: dict[Connection, RoomSubscriber] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._renderer = SechatRenderer()

    @property
    def open_sockets(self) -> int:
        return len(self._subscribers)

    def accept(self, handshake: Handshake) -> Refusal | None:
        """A well-signed token for this room, not revoked by a change this node delivered, not opened here yet."""
        parsed = parse_socket_path(handshake.path)
        if parsed is None:
            return Refusal(404, "Not Found")
        room_id, token = parsed
        tokens = self._service.socket_tokens
        claims = tokens.read(token, RoomId(room_id))
        if (
            claims is None
            or self._access.revoked(claims.user_id, claims.room_id, claims.session, after=claims.issued_after)
            or not tokens.first_opening(claims)
        ):
            return Refusal(403, refused_url(RoomId(room_id)))
        handshake.extra[_TOKEN] = claims
        return None

    async def authorize(self, handshake: Handshake) -> Refusal | None:
        """Open the URL in the store: once, whichever node, and only while its room is readable."""
        claims = handshake.extra.get(_TOKEN)
        assert isinstance(claims, SocketUrlToken)
        try:
            handshake.extra[_GRANT] = await self._service.socket_tokens.claim(claims)
        except NotAllowed as error:
            return Refusal(403, str(error))
        return None

    async def _grant(self, connection: Connection) -> SocketGrant | None:
        """What opening the URL granted; on the gateway port the store is asked only now."""
        extra = connection.handshake.extra
        if not extra.get(AUTHORIZED):
            refusal = await self.authorize(connection.handshake)
            if refusal is not None:
                connection.close(CLOSE_FORBIDDEN, refusal.reason)
                return None
        grant = extra.get(_GRANT)
        assert isinstance(grant, SocketGrant)
        return grant

    def _register(self, subscriber: RoomSubscriber, grant: SocketGrant) -> bool:
        """Join the fan-out, first applying the access changes delivered since the grant was checked.

        False (and the socket closed) if one of them ended its session, or if this node
        no longer remembers back to the grant's position. Runs inside ``Hub.join``.
        """
        connection, user_id = subscriber.connection, grant.user.id
        changes = self._access.changes(after=grant.position, user_id=user_id)
        if changes is None:
            connection.close(CLOSE_TRY_AGAIN, "Access changed while the socket opened; ask /ws-auth for a new URL")
            return False
        if any(change.ends_session(user_id, grant.session) for change in changes):
            connection.close(CLOSE_FORBIDDEN, SESSION_ENDED_REASON)
            return False
        self._subscribers[connection] = subscriber
        self._fanout.add(subscriber)
        for change in changes:
            if change.room_id is None:
                continue
            if change.kind is AccessChangeKind.ENTERED:
                self._fanout.follow(subscriber, change.room_id)
            elif change.kind is AccessChangeKind.LEFT:
                self._fanout.unfollow(subscriber, change.room_id)
        return True

    def access_changed(self, change: AccessChange) -> None:
        """``fanout.access.AccessListener``: close the sockets of a session that ended.

        Rooms left or lost need nothing here: ``RoomFanout`` drops them on the leave (4).
        """
        if change.user_id is None or change.kind not in _SESSION_KINDS:
            return
        for subscriber in self._fanout.subscribers_of(change.user_id):
            grant = subscriber.connection.handshake.extra.get(_GRANT)
            if isinstance(grant, SocketGrant) and change.ends_session(change.user_id, grant.session):
                subscriber.connection.close(CLOSE_FORBIDDEN, SESSION_ENDED_REASON)

    def opened(self, connection: Connection) -> None:
        self._open_gauge.inc()
        # Where "live" begins for this socket: anything logged after this point and
        # before the subscription is registered is filled from the log in _attach.
        connection.handshake.extra["opened_at"] = self._hub.last_event_id
        task = asyncio.create_task(self._attach_or_close(connection))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _attach_or_close(self, connection: Connection) -> None:
        """``_attach``, closing the socket if it fails: a socket left half set up would hold live
        frames until its hand-over bound closed it, and the failure would go unseen."""
        try:
            await self._attach(connection)
        except Exception:
            log.exception("setting up an event socket for %s failed", connection.remote)
            connection.close(CLOSE_INTERNAL_ERROR, "the server could not set up this socket; reconnect")
            self.closed(connection)

    async def _attach(self, connection: Connection) -> None:
        """Open the URL (its user and readable rooms), replay from ``?l=`` (or from the upgrade) up to the
        live cursor, go live.

        The hand-over is ``fanout.handover``'s: the subscriber joins the hub at a known id,
        the replay covers exactly the events up to it, and live frames cover the rest.
        """
        extra = connection.handshake.extra
        grant = await self._grant(connection)
        if grant is None:
            return
        queries = self._service.queries
        settings = self._service.settings
        user = grant.user
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
        subscriber = RoomSubscriber(connection, user, grant.rooms, handover=handover)
        registered = False

        def subscribe() -> None:
            nonlocal registered
            registered = self._register(subscriber, grant)

        handover.live_from = live_from = self._hub.join(subscribe)
        if not registered:
            return
        view = subscriber.rooms  # as it stood when the socket joined

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
        extra.pop(_TOKEN, None)
        extra.pop("opened_at", None)
        # The subscriber keeps the rooms (and follows their changes); the grant, the session.
        extra[_GRANT] = replace(grant, rooms=_NO_ROOMS)
        connection.settled()  # the grant is all a live socket needs from here on
        try:
            await self._service.presence.touch(user.id, Activity.SEEN, wait=False)
        except Exception:  # presence is best effort here; the keep-alive round reports again
            log.exception("could not record presence")

    def received(self, connection: Connection, text: str) -> None:
        """Stack Exchange's event socket has no client messages; anything sent is ignored."""

    def closed(self, connection: Connection) -> None:
        self._open_gauge.dec()
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
            if subscriber.handover is not None or now - self._fanout.last_sent(subscriber) < idle_seconds:
                continue
            rooms = subscriber.rooms
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
            await self.report_presence()

    async def report_presence(self) -> None:
        """An open event socket is a sighting of its user (presence is computed in core from it)."""
        presence = self._service.presence
        for user_id in {subscriber.user.id for subscriber in self._subscribers.values()}:
            try:
                await presence.touch(user_id, Activity.SEEN, wait=False)
            except Exception:  # the store may be away for a moment; the next round reports again
                log.exception("could not record presence")
                return

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
