"""The realtime dialect's endpoints: the topic socket on ``/``, and the HTTP publish API.

Socket (realtime.md §A.7): bare-text subscribe/unsubscribe, silence for unknown
or unauthorised topics, ``{"action","data"}`` frames, a heartbeat every
``realtime_hb_interval`` seconds, and clients that stayed silent for a whole
interval closed with 1001. ``<uid>-topbar``/``<uid>-inbox`` reach only a socket
signed in as that user (session cookie on the upgrade, or ``?token=`` from
``POST /realtime/auth``, which opens one socket, once), and only while the session
that signed it in lives: logging out or a password change signs the socket out at
once (``fanout.access``). ``<room>-room-activity`` only covers rooms anyone may
read.

HTTP: ``POST /api/v1/publish`` (``Authorization: Bearer <token>``, JSON
``{"topic", "data"}``) -> ``{"subscribers": n}``; ``POST /realtime/auth`` gives a
signed-in page or bot its ``?token=``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from hubbub import metrics
from hubbub.core.events import Event, EventType
from hubbub.core.ids import RoomId
from hubbub.core.visibility import AccessChange, AccessChangeKind
from hubbub.dialects.realtime.codec import (
    MAX_TOPIC_CHARS,
    Heartbeat,
    TopicItem,
    Unsubscribe,
    activity_topic_room,
    frame,
    heartbeat_frame,
    parse_command,
    parse_publish,
    room_activity_topic,
    topic_items,
)
from hubbub.dialects.realtime.open_rooms import OpenRooms
from hubbub.dialects.sechat.codec import Reply, json_reply
from hubbub.dialects.sechat.http import (
    SERVICE,
    SESSION_COOKIE,
    check_fkey,
    handles,
    read_body,
    read_form,
    require_user,
)
from hubbub.dialects.sechat.routes import websocket_base
from hubbub.errors import BadRequest, BodyTooLarge, NotAllowed, NotLoggedIn, SlowRequest
from hubbub.fanout.access import AccessWatch
from hubbub.fanout.connection import (
    AUTHORIZED,
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_TRY_AGAIN,
    Connection,
    Handshake,
    Refusal,
)
from hubbub.fanout.hub import Hub
from hubbub.fanout.sequencer import Batch
from hubbub.fanout.topics import TopicFanout, TopicSubscriber
from hubbub.service.service import Service
from hubbub.service.socket_tokens import SocketGrant, SocketUrlToken, refused_url

__all__ = ["HUB", "RealtimeRenderer", "RealtimeSockets", "realtime_routes"]

log = logging.getLogger("hubbub.realtime")

HUB: Final = web.AppKey("hub", Hub)
PUBLISH_WAIT_SECONDS: Final = 5.0
# Handshake.extra keys: the ?token= read at the upgrade, and who the socket signs in as.
_TOKEN: Final = "realtime_token"
_GRANT: Final = "realtime_grant"


class RealtimeRenderer:
    """``fanout.topics.TopicRenderer`` for this dialect."""

    def items(self, event: Event) -> Sequence[TopicItem]:
        return topic_items(event)

    def frame(self, topic: str, payload: str) -> bytes:
        return frame(topic, payload)


@dataclass(eq=False, slots=True)
class _Socket:
    """What the feed keeps per open socket."""

    subscriber: TopicSubscriber
    # Topics subscribed to, or waiting for their room's openness; bounded by realtime_max_topics.
    wanted: set[str] = field(default_factory=set)
    told_full: bool = False  # the first subscribe over realtime_max_topics was logged


class RealtimeSockets:
    """The topic socket (``gateway.router.SocketHandler``); also a hub ``Fanout`` for rooms' access changes,
    and an ``AccessListener`` for sessions that end.

    Every frame costs a bounded amount of work, and a room-activity subscribe costs no
    store read of its own: ``OpenRooms`` answers from memory or from one batched read
    shared by every socket waiting for that room.
    """

    def __init__(self, *, service: Service, fanout: TopicFanout, access: AccessWatch) -> None:
        self._service = service
        self._fanout = fanout
        self._access = access
        self._open_gauge = metrics.CONNECTIONS.labels(dialect="realtime")
        self._sockets: dict[Connection, _Socket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._open_rooms = OpenRooms(
            service.queries.rooms_open_to_everyone,
            self._room_resolved,
            capacity=service.settings.realtime_known_rooms,
        )
        # Subscribers whose activity subscribe waits for the room's openness.
        self._waiting: dict[RoomId, set[TopicSubscriber]] = {}
        access.add_listener(self)

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    @property
    def open_rooms(self) -> OpenRooms:
        return self._open_rooms

    @property
    def idle(self) -> bool:
        """Nothing is in flight: no sign-in and no room lookup."""
        return not self._tasks and not self._waiting and not self._open_rooms.busy

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def accept(self, handshake: Handshake) -> Refusal | None:
        token = handshake.query.get("token")
        if token is None:
            return None
        tokens = self._service.socket_tokens
        claims = tokens.read(token, None)
        if (
            claims is None
            or self._access.revoked(claims.user_id, None, claims.session, after=claims.issued_after)
            or not tokens.first_opening(claims)
        ):
            return Refusal(403, refused_url(None))
        handshake.extra[_TOKEN] = claims
        return None

    async def authorize(self, handshake: Handshake) -> Refusal | None:
        """Open the ``?token=`` in the store (once, whichever node), or look the session cookie up."""
        claims = handshake.extra.get(_TOKEN)
        tokens = self._service.socket_tokens
        if isinstance(claims, SocketUrlToken):
            try:
                handshake.extra[_GRANT] = await tokens.claim(claims)
            except NotAllowed as error:
                return Refusal(403, str(error))
            return None
        cookie = handshake.cookies.get(SESSION_COOKIE)
        if cookie:
            grant = await tokens.sign_in(cookie, self._service.accounts.signed_in)
            if grant is not None:
                handshake.extra[_GRANT] = grant
        return None

    def opened(self, connection: Connection) -> None:
        self._open_gauge.inc()
        subscriber = TopicSubscriber(connection)
        self._sockets[connection] = _Socket(subscriber)
        self._fanout.add(subscriber)
        if connection.handshake.extra.get(AUTHORIZED):
            self._sign_in(subscriber)
        else:
            self._spawn(self._authorize_late(subscriber))

    async def _authorize_late(self, subscriber: TopicSubscriber) -> None:
        """The gateway port answered the upgrade before the store could be asked: ask now."""
        connection = subscriber.connection
        refusal = await self.authorize(connection.handshake)
        if refusal is not None:
            connection.close(CLOSE_FORBIDDEN, refusal.reason)
        elif not connection.closed:
            self._sign_in(subscriber)

    def _sign_in(self, subscriber: TopicSubscriber) -> None:
        """Sign the socket in as its grant's user, unless an access change since the grant ended its session."""
        connection = subscriber.connection
        extra = connection.handshake.extra
        grant = extra.get(_GRANT)
        by_token = extra.pop(_TOKEN, None) is not None
        connection.settled()  # the grant (or none: a visitor) is all a live socket needs from here on
        if not isinstance(grant, SocketGrant):
            return  # a visitor
        changes = self._access.changes(after=grant.position, user_id=grant.user.id)
        if changes is None:
            connection.close(CLOSE_TRY_AGAIN, "Access changed while the socket opened; connect again")
        elif any(change.ends_session(grant.user.id, grant.session) for change in changes):
            if by_token:
                connection.close(CLOSE_FORBIDDEN, refused_url(None))
            # A cookie whose session just ended signs nothing in: the socket stays a visitor's.
        else:
            subscriber.user_id = grant.user.id

    def access_changed(self, change: AccessChange) -> None:
        """``fanout.access.AccessListener``: sign out the sockets of a session that ended.

        They stay open for the topics anyone may follow; ``<uid>-topbar``/``<uid>-inbox``
        reach only signed-in sockets, so those stop at once.
        """
        if change.kind not in (AccessChangeKind.SESSION_ENDED, AccessChangeKind.SESSIONS_REVOKED):
            return
        for socket in self._sockets.values():
            subscriber = socket.subscriber
            grant = subscriber.connection.handshake.extra.get(_GRANT)
            if (
                subscriber.user_id is not None
                and isinstance(grant, SocketGrant)
                and change.user_id is not None
                and change.ends_session(grant.user.id, grant.session)
            ):
                subscriber.user_id = None

    def received(self, connection: Connection, text: str) -> None:
        socket = self._sockets.get(connection)
        if socket is None:
            return
        subscriber = socket.subscriber
        subscriber.last_inbound = time.monotonic()
        command = parse_command(text)
        if isinstance(command, Heartbeat):
            return
        wanted = socket.wanted
        topic = command.topic
        if isinstance(command, Unsubscribe):
            if topic in wanted:
                wanted.discard(topic)
                self._fanout.unsubscribe(subscriber, topic)
                room_id = activity_topic_room(topic)
                if room_id is not None:
                    self._stop_waiting(room_id, subscriber)
            return
        if topic in wanted:
            return
        if len(topic) > MAX_TOPIC_CHARS:
            # Nothing that long is built in or publishable, so it could never deliver; holding
            # it would let one socket keep realtime_max_topics * ws_max_frame_bytes of text.
            return
        if len(wanted) >= self._service.settings.realtime_max_topics:
            if not socket.told_full:  # once per socket: a client repeating it must not fill the log
                socket.told_full = True
                log.info(
                    "a socket at %s holds %d topics; ignoring its further subscribes",
                    connection.remote,
                    len(wanted),
                )
            return
        wanted.add(topic)
        room_id = activity_topic_room(topic)
        if room_id is None:
            self._fanout.subscribe(subscriber, topic)
            return
        is_open = self._open_rooms.known(room_id)
        if is_open is None:
            self._wait_for(room_id, subscriber)
        elif is_open:
            self._fanout.subscribe(subscriber, topic)
        else:
            wanted.discard(topic)  # refused: asking again (once the room is public) must try again

    def _wait_for(self, room_id: RoomId, subscriber: TopicSubscriber) -> None:
        self._waiting.setdefault(room_id, set()).add(subscriber)
        self._open_rooms.request(room_id)

    def _stop_waiting(self, room_id: RoomId, subscriber: TopicSubscriber) -> None:
        waiting = self._waiting.get(room_id)
        if waiting is None:
            return
        waiting.discard(subscriber)
        if not waiting:
            del self._waiting[room_id]
            self._open_rooms.withdraw(room_id)

    def _room_resolved(self, room_id: RoomId, is_open: bool) -> None:
        topic = room_activity_topic(room_id)
        for subscriber in self._waiting.pop(room_id, ()):
            socket = self._sockets.get(subscriber.connection)
            if socket is None or topic not in socket.wanted:
                continue  # unsubscribed, or closed, meanwhile
            if is_open and not subscriber.connection.closed:
                self._fanout.subscribe(subscriber, topic)
            else:
                socket.wanted.discard(topic)

    def closed(self, connection: Connection) -> None:
        socket = self._sockets.pop(connection, None)
        if socket is None:
            return
        self._open_gauge.dec()
        for topic in socket.wanted:
            room_id = activity_topic_room(topic)
            if room_id is not None:
                self._stop_waiting(room_id, socket.subscriber)
        self._fanout.remove(socket.subscriber)

    # Fanout: a room whose access changed stops feeding its activity topic at once, and resumes
    # for the same subscribers only if the room is still open to everyone. An answer read while
    # the change was on its way is read again (OpenRooms.forget), so none predates it.

    def deliver(self, batch: Batch) -> int:
        for event in batch:
            if event.type is EventType.ACCESS_LEVEL_CHANGED and event.target_user_id is None and event.room_id:
                self._open_rooms.forget(event.room_id)
                topic = room_activity_topic(event.room_id)
                for subscriber in self._fanout.topic_subscribers(topic):
                    self._fanout.unsubscribe(subscriber, topic)
                    self._wait_for(event.room_id, subscriber)
        return 0

    # heartbeats

    def beat(self, previous_beat: float) -> int:
        """Send the heartbeat to everyone; first close those silent since ``previous_beat``."""
        settings = self._service.settings
        data = heartbeat_frame(settings.realtime_hb_data)
        sent = 0
        for subscriber in self._fanout.all_subscribers():
            silent = subscriber.last_inbound < previous_beat and subscriber.connected_at < previous_beat
            if settings.realtime_close_silent and silent:
                subscriber.connection.close(CLOSE_GOING_AWAY, "no heartbeat answer")
                continue
            subscriber.connection.send(data)
            sent += 1
        return sent

    async def run_heartbeat(self) -> None:
        interval = self._service.settings.realtime_hb_interval
        previous = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            self.beat(previous)
            previous = now

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._open_rooms.stop()


def _error(status: int, message: str) -> web.Response:
    response = web.json_response({"error": message}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hubbub"'
    return response


async def publish(request: web.Request) -> web.Response:
    """``POST /api/v1/publish``: put ``data`` into ``topic``; answers how many sockets it reached."""
    service = request.app[SERVICE]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise NotLoggedIn("Send Authorization: Bearer <token>")
        await service.tokens.verify(token.strip(), "publish")
    except NotLoggedIn as error:
        return _error(401, str(error))
    settings = service.settings
    try:
        body = await read_body(request, settings.publish_max_bytes)
        published = parse_publish(body, max_depth=settings.publish_max_depth)
    except BodyTooLarge as error:
        return _error(413, str(error))
    except SlowRequest as error:
        return _error(408, str(error))
    except BadRequest as error:
        return _error(400, str(error))
    event = await service.feeds.publish(published.topic, published.payload)
    reached = await request.app[HUB].delivered(event.id, PUBLISH_WAIT_SECONDS)
    return web.json_response({"subscribers": reached or 0})


@handles("other")
async def realtime_auth(request: web.Request) -> Reply:
    """``POST /realtime/auth`` (fkey): a ``?token=`` that signs one realtime socket in as this user, once."""
    service = request.app[SERVICE]
    form = await read_form(request)
    me = require_user(request)
    check_fkey(request, form)
    token = await service.socket_tokens.issue(me, None)
    return json_reply({"token": token, "url": f"{websocket_base(request)}/?token={token}"})


def realtime_routes() -> list[web.RouteDef]:
    return [web.post("/api/v1/publish", publish), web.post("/realtime/auth", realtime_auth)]
