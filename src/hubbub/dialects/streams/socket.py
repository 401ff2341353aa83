"""The streams socket: ``GET /ws/<stream id>?token=<token>`` (or the session cookie), streams.md §B.2-B.5.

Before the upgrade: no token or cookie, a token nobody has, a stream that does not exist
or that the user may not read all get the same HTTP 403 ``Not authorized`` (on the
gateway port from the in-memory ``StreamDirectory``; on the HTTP port, and again on both
once the socket is open, from the store). Then:

- frames from the client (``codec.parse_client_frame``): ``status`` is answered with the
  viewer's status frame, ``text``/``emote`` go to ``service.stream_chat`` (local lines
  and ``/msg`` are events; lines for a network go to its bridge), ``writer`` is answered
  with ``writerresult`` to the asking user's sockets only on success, ``viewcount`` with
  one ``viewcountresult`` per live account whose count is known. Invalid JSON, unknown
  types and lines the rules refuse are ignored, and the socket stays open (§B.9);
- live frames come from ``fanout.streams`` (encoded once per event);
- after ``streams_ping_interval`` seconds without any inbound frame the server pings
  (payload ``ping``), and closes 1001 after ``streams_max_missed_pings`` unanswered;
- resuming: chat frames carry ``event_id``; a client that reconnects with
  ``?since=<last event_id>`` first gets every chat frame it missed (its stream's lines and
  its own ``/msg``s, in order, each once), then live frames (``fanout.handover``).

Access taken away later (share removed, stream deleted, token reset, logged out) closes
the socket with 4403 ``Not authorized`` as soon as this node's hub delivers the change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from hubbub import metrics
from hubbub.core.events import EventType
from hubbub.core.ids import EventId, RoomId
from hubbub.core.models import User
from hubbub.core.streams import ChatLevel, is_access_token
from hubbub.core.visibility import AccessChange, AccessChangeKind
from hubbub.dialects.sechat.http import SESSION_COOKIE
from hubbub.dialects.streams import codec
from hubbub.dialects.streams.codec import AccountInfo, ClientFrame
from hubbub.dialects.streams.delivery import StreamsRenderer, replay_missed
from hubbub.dialects.streams.directory import StreamDirectory
from hubbub.errors import RemoteError
from hubbub.fanout.access import AccessWatch
from hubbub.fanout.connection import (
    AUTHORIZED,
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_TRY_AGAIN,
    Connection,
    Handshake,
    Refusal,
)
from hubbub.fanout.handover import REACH_TIMEOUT_SECONDS, Handover
from hubbub.fanout.hub import Hub
from hubbub.fanout.sequencer import Batch
from hubbub.fanout.streams import StreamFanout, StreamSubscriber
from hubbub.service.accounts import session_key
from hubbub.service.service import Service
from hubbub.store.base import ReadTx

__all__ = ["StreamSockets", "StreamsRenderer"]

log = logging.getLogger("hubbub.streams")

_GRANT: Final = "streams_grant"
_OPENED_AT: Final = "streams_opened_at"
_REFUSED: Final = Refusal(403, codec.NOT_AUTHORIZED, {"Content-Type": "text/plain"})
MAX_WAITING: Final = 8  # client frames waiting to be handled per socket (in order); more are dropped


@dataclass(frozen=True, slots=True)
class _Grant:
    user: User
    stream_id: int
    room_id: RoomId
    position: EventId  # the log position the checks saw
    token: str | None  # opened with ?token= (a reset closes it)
    session: str | None  # opened with the session cookie (logging out closes it)
    own_accounts: tuple[AccountInfo, ...]


class StreamSockets:
    """The socket handler (``gateway.router.SocketHandler``), a hub ``Fanout`` (the directory, token
    resets) and an ``AccessListener`` (sessions that end)."""

    def __init__(self, *, service: Service, hub: Hub, fanout: StreamFanout, access: AccessWatch) -> None:
        self._service = service
        self._hub = hub
        self._fanout = fanout
        self._access = access
        access.add_listener(self)
        self.directory = StreamDirectory()
        self._subscribers: dict[Connection, StreamSubscriber] = {}
        # Each socket's frames, handled one after another in the order sent (also while it is set up).
        # A socket has an inbox and a worker only while it has frames to handle: an idle socket's
        # queue and waiting task would cost it about 4 KiB (half of all it holds otherwise).
        self._inbox: dict[Connection, deque[ClientFrame]] = {}
        self._workers: dict[Connection, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._open_gauge = metrics.CONNECTIONS.labels(dialect="streams")

    @property
    def open_sockets(self) -> int:
        return len(self._subscribers)

    async def load(self) -> None:
        """Fill the directory (after the hub started: what it delivers meanwhile is applied after)."""
        position = await self._service.context.store.read(self.directory.load)
        self.directory.loaded_at(position)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # upgrade

    def accept(self, handshake: Handshake) -> Refusal | None:
        stream_id = codec.parse_socket_path(handshake.path)
        if stream_id is None:
            return Refusal(404, "Not Found")
        token = handshake.query.get("token")
        if token is not None:
            if not is_access_token(token):
                return _REFUSED
            if self.directory.loaded:
                user_id = self.directory.user_for(token)
                if user_id is None or self.directory.chat_level(stream_id, user_id) is ChatLevel.NONE:
                    return _REFUSED
            return None
        if not handshake.cookies.get(SESSION_COOKIE):
            return _REFUSED
        return None  # a session cookie: only the store can say (authorize)

    async def authorize(self, handshake: Handshake) -> Refusal | None:
        stream_id = codec.parse_socket_path(handshake.path)
        if stream_id is None:
            return Refusal(404, "Not Found")
        store = self._service.context.store
        position = await store.read(lambda tx: tx.last_event_id())
        token = handshake.query.get("token")
        session: str | None = None
        user: User | None = None
        if token is not None:
            user = await self._service.stream_tokens.user_by_token(token)
        else:
            signed = await self._service.accounts.signed_in(handshake.cookies.get(SESSION_COOKIE, ""))
            if signed is not None:
                user, session = signed.user, session_key(signed.session)
        if user is None:
            return _REFUSED
        found = await self._service.stream_chat.access(user.id, stream_id)
        if found is None:
            return _REFUSED
        stream, user, _ = found
        user_id = user.id

        def own(tx: ReadTx) -> tuple[AccountInfo, ...]:
            return tuple(AccountInfo(a.id, a.name, a.network, a.http_url) for a in tx.network_accounts(user_id))

        handshake.extra[_GRANT] = _Grant(
            user=user,
            stream_id=stream.id,
            room_id=stream.room_id,
            position=position,
            token=token,
            session=session,
            own_accounts=await store.read(own),
        )
        return None

    # lifecycle

    def opened(self, connection: Connection) -> None:
        self._open_gauge.inc()
        # Live for this socket starts here: what is logged before it joins the fan-out is replayed.
        connection.handshake.extra[_OPENED_AT] = self._hub.last_event_id
        self._spawn(self._attach_or_close(connection))

    async def _attach_or_close(self, connection: Connection) -> None:
        try:
            await self._attach(connection)
        except Exception:
            log.exception("setting up a streams socket for %s failed", connection.remote)
            connection.close(CLOSE_INTERNAL_ERROR, "the server could not set up this socket; reconnect")

    async def _attach(self, connection: Connection) -> None:
        handshake = connection.handshake
        if not handshake.extra.get(AUTHORIZED):
            refusal = await self.authorize(handshake)
            if refusal is not None:
                connection.close(CLOSE_FORBIDDEN, refusal.reason)
                return
        grant = handshake.extra.get(_GRANT)
        assert isinstance(grant, _Grant)
        opened_at = handshake.extra[_OPENED_AT]
        assert isinstance(opened_at, int)
        since = codec.parse_since(handshake.query.get("since"))
        if since is None:
            since = EventId(opened_at)
        elif not await self._hub.reached(since, REACH_TIMEOUT_SECONDS):
            connection.close(CLOSE_TRY_AGAIN, "the server is catching up; try again")
            return
        if connection.closed:
            return
        settings = self._service.settings
        subscriber = StreamSubscriber(
            connection,
            grant.user.id,
            grant.user.name,
            grant.stream_id,
            grant.room_id,
            audience=grant.own_accounts,
            handover=Handover(max_bytes=settings.ws_send_buffer_bytes),
        )
        registered = False

        def subscribe() -> None:
            nonlocal registered
            registered = self._register(subscriber, grant)

        live_from = self._hub.join(subscribe)
        if not registered:
            return
        assert subscriber.handover is not None
        subscriber.handover.live_from = live_from
        settings = self._service.settings
        budget = min(settings.streams_replay_max_bytes, settings.ws_send_buffer_bytes // 2)
        reached = await replay_missed(self._service.context.store, subscriber, since, live_from, budget)
        if connection.closed:
            return
        if reached < live_from:
            connection.close(CLOSE_TRY_AGAIN, f"replay limit reached; reconnect with since={reached}")
            return
        subscriber.go_live()
        handshake.extra.pop(_OPENED_AT, None)
        connection.settled()  # the grant is all a live socket needs from here on

    def _register(self, subscriber: StreamSubscriber, grant: _Grant) -> bool:
        """Join the fan-out unless a change delivered since the checks took the stream away. Inside ``Hub.join``."""
        connection = subscriber.connection
        changes = self._access.changes(after=grant.position, user_id=grant.user.id)
        if changes is None:
            connection.close(CLOSE_TRY_AGAIN, "access changed while the socket opened; reconnect")
            return False
        lost = any(
            (change.room_id == grant.room_id and change.kind is AccessChangeKind.ACCESS)
            or (grant.session is not None and change.ends_session(grant.user.id, grant.session))
            for change in changes
        )
        directory = self.directory
        if directory.loaded and (
            directory.chat_level(grant.stream_id, grant.user.id) is ChatLevel.NONE
            or (grant.token is not None and not directory.token_is_current(grant.user.id, grant.token))
        ):
            lost = True
        if lost:
            connection.close(CLOSE_FORBIDDEN, codec.NOT_AUTHORIZED)
            return False
        if connection.closed:
            return False
        self._subscribers[connection] = subscriber
        self._fanout.add(subscriber)
        self._start_work(subscriber)  # frames the client sent while the socket was set up
        return True

    def closed(self, connection: Connection) -> None:
        self._inbox.pop(connection, None)
        worker = self._workers.pop(connection, None)
        if worker is not None:
            worker.cancel()
        self._open_gauge.dec()
        subscriber = self._subscribers.pop(connection, None)
        if subscriber is not None:
            self._fanout.remove(subscriber)

    # client frames

    def received(self, connection: Connection, text: str) -> None:
        frame = codec.parse_client_frame(text)
        if frame is None:
            log.debug("ignoring a frame from %s that is no known streams message", connection.remote)
            return
        if connection.closed:
            return
        inbox = self._inbox.get(connection)
        if inbox is None:
            inbox = self._inbox[connection] = deque()
        elif len(inbox) >= MAX_WAITING:
            log.debug("dropping a %s frame from %s: %d are waiting", frame.type, connection.remote, MAX_WAITING)
            return
        # Kept while the socket is still set up too: the bundled client sends {"type":"status"} at once.
        inbox.append(frame)
        subscriber = self._subscribers.get(connection)
        if subscriber is not None:
            self._start_work(subscriber)

    def _start_work(self, subscriber: StreamSubscriber) -> None:
        connection = subscriber.connection
        if connection not in self._workers and self._inbox.get(connection):
            self._workers[connection] = asyncio.create_task(self._work(subscriber))

    async def _work(self, subscriber: StreamSubscriber) -> None:
        """Handle the socket's waiting frames one at a time, so that its lines are posted in the order sent."""
        connection = subscriber.connection
        try:
            while not connection.closed and (inbox := self._inbox.get(connection)):
                frame = inbox.popleft()
                try:
                    await self._dispatch(subscriber, frame)
                except RemoteError as error:
                    log.debug("a %s frame from %s was refused: %s", frame.type, connection.remote, error)
                except Exception:
                    log.exception("handling a %s frame from %s failed", frame.type, connection.remote)
        finally:
            # Nothing left (or the socket closed): the next frame starts a new worker.
            if self._workers.get(connection) is asyncio.current_task():
                del self._workers[connection]
            inbox = self._inbox.get(connection)
            if inbox is not None and not inbox:
                del self._inbox[connection]

    async def _dispatch(self, subscriber: StreamSubscriber, frame: ClientFrame) -> None:
        chat = self._service.stream_chat
        user_id, stream_id = subscriber.user_id, subscriber.stream_id
        if frame.type == "status":
            view = await chat.status(user_id, stream_id)
            if view is not None:
                subscriber.connection.send(
                    codec.status_frame(
                        user_name=view.user.name,
                        state=view.stream.state,
                        chat_level=view.chat_level,
                        attached=[
                            AccountInfo(a.id, a.name, a.network, a.http_url, ready=chat.bridge_ready(stream_id, a.id))
                            for a in view.attached
                        ],
                        own_others=[AccountInfo(a.id, a.name, a.network, a.http_url) for a in view.own_others],
                    )
                )
        elif frame.type in ("text", "emote"):
            request = await chat.say(user_id, stream_id, frame.fields)
            if request is not None and not chat.write(request):
                log.debug("no writer for account %d on stream %d: line dropped", request.account.id, stream_id)
        elif frame.type == "writer":
            result = await chat.request_writer(user_id, stream_id, frame.fields)
            if result is not None:
                data = codec.writerresult_frame(*result)
                for other in self._fanout.subscribers_of(user_id):
                    other.connection.send(data)
        elif frame.type == "viewcount":
            view = await chat.status(user_id, stream_id)
            if view is not None and view.stream.state.live:
                for account in view.attached:
                    count = view.viewcounts.get(account.id)
                    if count is not None:
                        subscriber.connection.send(codec.viewcountresult_frame(stream_id, account.id, count))

    # hub Fanout and AccessListener

    def deliver(self, batch: Batch) -> int:
        self.directory.deliver(batch)
        for event in batch:
            if event.type is EventType.ACCESS_TOKEN_RESET and event.target_user_id is not None:
                for subscriber in self._fanout.subscribers_of(event.target_user_id):
                    grant = subscriber.connection.handshake.extra.get(_GRANT)
                    if isinstance(grant, _Grant) and grant.token is not None:
                        subscriber.connection.close(CLOSE_FORBIDDEN, codec.NOT_AUTHORIZED)
                        self._drop(subscriber)
        return 0

    def access_changed(self, change: AccessChange) -> None:
        if change.user_id is None or change.kind not in (
            AccessChangeKind.SESSION_ENDED,
            AccessChangeKind.SESSIONS_REVOKED,
        ):
            return
        for subscriber in self._fanout.subscribers_of(change.user_id):
            grant = subscriber.connection.handshake.extra.get(_GRANT)
            if (
                isinstance(grant, _Grant)
                and grant.session is not None
                and change.ends_session(change.user_id, grant.session)
            ):
                subscriber.connection.close(CLOSE_FORBIDDEN, codec.NOT_AUTHORIZED)
                self._drop(subscriber)

    def _drop(self, subscriber: StreamSubscriber) -> None:
        self._fanout.remove(subscriber)

    # keep-alive

    def send_pings(self, now: float | None = None) -> int:
        """Ping every socket silent for ``streams_ping_interval``; close those that let too many pass."""
        settings = self._service.settings
        interval, limit = settings.streams_ping_interval, settings.streams_max_missed_pings
        now = time.monotonic() if now is None else now
        sent = 0
        for subscriber in list(self._subscribers.values()):
            connection = subscriber.connection
            inbound = connection.last_inbound
            if inbound > subscriber.last_ping:
                subscriber.pings_unanswered = 0
            if now - inbound < interval or now - subscriber.last_ping < interval:
                continue
            if subscriber.pings_unanswered >= limit:
                connection.close(CLOSE_GOING_AWAY, "no answer to pings")
                continue
            connection.ping(codec.PING_PAYLOAD)
            subscriber.last_ping = now
            subscriber.pings_unanswered += 1
            sent += 1
        return sent

    async def run_pings(self) -> None:
        interval = self._service.settings.streams_ping_interval
        while True:
            await asyncio.sleep(max(0.05, interval / 4))
            self.send_pings()

    async def stop(self) -> None:
        for task in [*self._tasks, *self._workers.values()]:
            task.cancel()
