"""Fan-out for connections that follow a user's rooms (the sechat event socket).

Each subscriber is one socket of one user and carries every room the user is in.
For a batch, room events are rendered once per room and audience class (plain,
10k reputation, moderator; they differ only when a batch holds flags 9/12) and
the same bytes go to every socket in the room. Events aimed at one user (pings,
replies) go to that user's sockets under each of their rooms, as Stack Exchange
does, in a frame rendered for them. Entering and leaving rooms (events 3 and 4)
update which rooms a user's sockets carry.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.models import User
from hubbub.core.rules import FLAG_VIEW_REPUTATION
from hubbub.core.visibility import EVERY_ROOM, Audience, audience_of, file_view, in_view, may_see
from hubbub.fanout.connection import CLOSE_TRY_AGAIN, Connection
from hubbub.fanout.handover import Handover
from hubbub.fanout.sequencer import Batch

__all__ = ["RoomFanout", "RoomRenderer", "RoomSubscriber"]

K = TypeVar("K", RoomId, UserId)
_PLAIN_AUDIENCES = frozenset({Audience.ROOM, Audience.TARGET})


class RoomRenderer(Protocol):
    """A dialect's wire format for room frames."""

    def render(self, rooms: Mapping[RoomId, Sequence[Event]], cursor: EventId) -> bytes:
        """One frame carrying these rooms' events (a room may have none) and the log cursor."""
        ...

    def carries(self, event: Event) -> bool:
        """Whether this dialect sends ``event`` at all."""
        ...


@dataclass(eq=False, slots=True)
class RoomSubscriber:
    connection: Connection
    user: User
    # Replaced, never changed in place: the socket shares its grant's set instead of copying it,
    # and a view taken from it stays as it was.
    rooms: frozenset[RoomId] = frozenset()
    # When this socket was last written to other than by a room's plain frame, which
    # ``RoomFanout`` notes per room instead: ``RoomFanout.last_sent`` has both.
    last_sent: float = field(default_factory=time.monotonic)
    # While the socket replays history, live frames wait here (``fanout.handover``); None once live.
    handover: Handover | None = None

    def send(self, data: bytes, last_id: EventId, now: float | None = None) -> None:
        """Write a frame, or hold it while the socket replays history; ``now`` saves a clock read per socket."""
        if self.handover is not None:
            if not self.handover.hold(last_id, data):
                self.connection.close(CLOSE_TRY_AGAIN, "too much activity while catching up")
            return
        self.connection.send(data)
        self.last_sent = time.monotonic() if now is None else now

    def go_live(self) -> None:
        """End the replay: send the frames held meanwhile, then write live frames as they come."""
        handover, self.handover = self.handover, None
        if handover is None or self.connection.closed:
            return
        for data in handover.release():
            self.connection.send(data)
        self.last_sent = time.monotonic()

    def audience_class(self) -> int:
        if self.user.is_moderator:
            return 2
        return 1 if self.user.reputation >= FLAG_VIEW_REPUTATION else 0


@dataclass(frozen=True, slots=True)
class _PlainTargets:
    """A room's sockets laid out for the plain path: the live ones' connections in a flat tuple.

    Walking a thousand subscribers to reach their connections costs a cache miss or two each
    when the room is quiet between posts; a tuple of connections costs none of that (about a
    tenth of a paced delivery's time, ``bench/fanout.py``). Subscribers still replaying history
    when it was made go through ``RoomSubscriber.send``, which also does the right thing for one
    that has gone live since.
    """

    live: tuple[Connection, ...]
    replaying: tuple[RoomSubscriber, ...]

    @classmethod
    def of(cls, subs: set[RoomSubscriber]) -> _PlainTargets:
        return cls(
            live=tuple(sub.connection for sub in subs if sub.handover is None),
            replaying=tuple(sub for sub in subs if sub.handover is not None),
        )


class RoomFanout:
    def __init__(self, renderer: RoomRenderer) -> None:
        self._renderer = renderer
        self._by_room: dict[RoomId, set[RoomSubscriber]] = {}
        self._by_user: dict[UserId, set[RoomSubscriber]] = {}
        # Made at a room's next plain delivery; dropped whenever the room's subscribers change.
        self._plain: dict[RoomId, _PlainTargets] = {}
        # When a room's plain frame last went to all its sockets, which then need no keep-alive:
        # that path does not touch each subscriber to note it (``last_sent``).
        self._room_sent: dict[RoomId, float] = {}

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._by_user.values())

    def room_subscribers(self, room_id: RoomId) -> int:
        return len(self._by_room.get(room_id, ()))

    def last_sent(self, subscriber: RoomSubscriber) -> float:
        """When ``subscriber``'s socket was last written to (``time.monotonic()``), by any path."""
        room_sent = self._room_sent
        rooms_sent = max((room_sent.get(room_id, 0.0) for room_id in subscriber.rooms), default=0.0)
        return max(subscriber.last_sent, rooms_sent)

    def all_subscribers(self) -> list[RoomSubscriber]:
        return [sub for subs in self._by_user.values() for sub in subs]

    def subscribers_of(self, user_id: UserId) -> list[RoomSubscriber]:
        return list(self._by_user.get(user_id, ()))

    # One socket at a time, for access changes that reached the hub while it was being set up
    # (``fanout.access.AccessWatch.changes``); live ones are applied by ``deliver``.

    def follow(self, subscriber: RoomSubscriber, room_id: RoomId) -> None:
        """``subscriber`` carries ``room_id`` from now on."""
        subscriber.rooms = subscriber.rooms | {room_id}
        self._into_room(room_id, subscriber)

    def unfollow(self, subscriber: RoomSubscriber, room_id: RoomId) -> None:
        """``subscriber`` stops carrying ``room_id`` now."""
        subscriber.rooms = subscriber.rooms - {room_id}
        self._out_of_room(room_id, subscriber)

    def add(self, subscriber: RoomSubscriber) -> None:
        self._by_user.setdefault(subscriber.user.id, set()).add(subscriber)
        for room_id in subscriber.rooms:
            self._into_room(room_id, subscriber)

    def remove(self, subscriber: RoomSubscriber) -> None:
        for room_id in subscriber.rooms:
            self._out_of_room(room_id, subscriber)
        self._discard(self._by_user, subscriber.user.id, subscriber)

    # Every change to a room's subscribers goes through these two, so its plain targets stay true.

    def _into_room(self, room_id: RoomId, subscriber: RoomSubscriber) -> None:
        self._by_room.setdefault(room_id, set()).add(subscriber)
        self._plain.pop(room_id, None)

    def _out_of_room(self, room_id: RoomId, subscriber: RoomSubscriber) -> None:
        self._discard(self._by_room, room_id, subscriber)
        self._plain.pop(room_id, None)
        if room_id not in self._by_room:
            self._room_sent.pop(room_id, None)

    @staticmethod
    def _discard(index: dict[K, set[RoomSubscriber]], key: K, subscriber: RoomSubscriber) -> None:
        subs = index.get(key)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del index[key]

    def _enter(self, user_id: UserId, room_id: RoomId) -> None:
        for sub in self._by_user.get(user_id, ()):
            self.follow(sub, room_id)

    def _leave(self, user_id: UserId, room_id: RoomId) -> None:
        for sub in list(self._by_user.get(user_id, ())):
            self.unfollow(sub, room_id)

    def deliver(self, batch: Batch) -> int:
        events = [e for e in batch if self._renderer.carries(e)]
        if not events:
            return 0
        cursor = EventId(batch[-1].id)
        room_events: dict[RoomId, list[Event]] = {}
        targeted: dict[UserId, list[Event]] = {}
        for event in events:
            if audience_of(event) is Audience.TARGET:
                if event.target_user_id is not None:
                    targeted.setdefault(event.target_user_id, []).append(event)
            elif event.room_id is not None:
                room_events.setdefault(event.room_id, []).append(event)
            if event.type is EventType.USER_ENTERED and event.user_id is not None and event.room_id is not None:
                self._enter(event.user_id, event.room_id)
        # Anything but plain room events and targeted ones needs a per-audience frame.
        restricted = any(audience_of(e) not in _PLAIN_AUDIENCES for e in events)
        now = time.monotonic()
        writes = 0
        for room_id, in_room in room_events.items():
            subs = self._by_room.get(room_id)
            if not subs:
                continue
            if restricted or targeted:
                writes += self._deliver_mixed(room_id, in_room, subs, targeted, restricted, cursor, now)
            else:
                data = self._renderer.render({room_id: in_room}, cursor)
                writes += self._deliver_plain(room_id, data, subs, cursor, now)
        for user_id in targeted:
            for sub in self._by_user.get(user_id, ()):
                # The target's own view of the batch: a ping or reply under every room they are in
                # (core.visibility.file_view, the rule the replay and POST /events follow too).
                view = [e for e in events if in_view(e, sub.user, sub.rooms, readable=EVERY_ROOM)]
                parts = file_view(view, sub.user, sub.rooms)
                if parts:
                    sub.send(self._renderer.render(parts, cursor), cursor, now)
                    writes += 1
        for event in events:
            if event.type is EventType.USER_LEFT and event.user_id is not None and event.room_id is not None:
                self._leave(event.user_id, event.room_id)
        return writes

    def _deliver_plain(
        self, room_id: RoomId, data: bytes, subs: set[RoomSubscriber], cursor: EventId, now: float
    ) -> int:
        """The common case (no pings, no flags): one frame, the same bytes to every socket in the room."""
        targets = self._plain.get(room_id)
        if targets is None:
            targets = self._plain[room_id] = _PlainTargets.of(subs)
        for connection in targets.live:
            connection.send(data)
        for sub in targets.replaying:
            sub.send(data, cursor, now)
        self._room_sent[room_id] = now
        return len(subs)

    def _deliver_mixed(
        self,
        room_id: RoomId,
        in_room: list[Event],
        subs: set[RoomSubscriber],
        targeted: Mapping[UserId, list[Event]],
        restricted: bool,
        cursor: EventId,
        now: float,
    ) -> int:
        """Frames per audience class; a ping's or reply's target is skipped (it gets a frame of its own)."""
        cache: dict[int, bytes] = {}
        writes = 0
        for sub in subs:
            if sub.user.id in targeted:
                continue
            key = sub.audience_class() if restricted else 0
            data = cache.get(key)
            if data is None:
                visible = [e for e in in_room if may_see(e, sub.user, can_read_room=True)]
                data = cache[key] = self._renderer.render({room_id: visible}, cursor)
            sub.send(data, cursor, now)
            writes += 1
        return writes
