"""Fan-out for stream sockets (the streams dialect's ``/ws/<id>``): one socket follows one stream.

Frames are rendered once per event and written to every socket the event reaches, the
same bytes to each (shared/DESIGN.md, "encode once, send many"):

- a stream's chat line or viewer count, or a message posted in its room: every socket on
  the stream's room;
- a ``/msg``: every socket of its sender and of its recipient, on any stream;
- a stream change (``STREAM_CHANGED``, ``STREAM_DELETED``): the renderer first says
  whether each socket keeps the stream (a share taken away, a deleted stream: the socket
  is closed at once, before any later event could reach it); a socket that keeps it gets
  the personal frame (``status`` on going live or offline) rendered once per audience key.

While a socket replays what it missed, its live frames wait in its ``Handover``.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Final, Protocol

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.fanout.connection import CLOSE_FORBIDDEN, CLOSE_TRY_AGAIN, Connection
from hubbub.fanout.handover import Handover
from hubbub.fanout.sequencer import Batch

__all__ = ["StreamFanout", "StreamRenderer", "StreamSubscriber"]

_SHARED: Final = frozenset({EventType.STREAM_CHAT, EventType.STREAM_VIEWCOUNT, EventType.MESSAGE_POSTED})
_CHANGES: Final = frozenset({EventType.STREAM_CHANGED, EventType.STREAM_DELETED})


@dataclass(eq=False, slots=True)
class StreamSubscriber:
    connection: Connection
    user_id: UserId
    user_name: str
    stream_id: int
    room_id: RoomId
    audience: Hashable = ()  # what else its personal frames depend on (the viewer's own accounts)
    handover: Handover | None = None
    opened_at: float = field(default_factory=time.monotonic)
    pings_unanswered: int = 0
    last_ping: float = 0.0

    def send(self, data: bytes, last_id: EventId) -> None:
        if self.handover is not None:
            if not self.handover.hold(last_id, data):
                self.connection.close(CLOSE_TRY_AGAIN, "too much activity while catching up")
            return
        self.connection.send(data)

    def go_live(self) -> None:
        handover, self.handover = self.handover, None
        if handover is None or self.connection.closed:
            return
        for data in handover.release():
            self.connection.send(data)


class StreamRenderer(Protocol):
    def shared(self, event: Event, stream_id: int | None) -> bytes | None:
        """The one frame of a chat line, a room message or a viewer count (None: not for sockets).

        ``stream_id`` is the stream of the event's room (None for a ``/msg``, which has no room)."""
        ...

    def keeps(self, event: Event, subscriber: StreamSubscriber) -> bool:
        """Whether the subscriber may still read its stream after this change."""
        ...

    def personal(self, event: Event, subscriber: StreamSubscriber) -> bytes | None:
        """The subscriber's own frame for this change (None: none)."""
        ...


class StreamFanout:
    def __init__(self, renderer: StreamRenderer) -> None:
        self._renderer = renderer
        self._by_room: dict[RoomId, set[StreamSubscriber]] = {}
        self._by_user: dict[UserId, set[StreamSubscriber]] = {}

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._by_user.values())

    def all_subscribers(self) -> list[StreamSubscriber]:
        return [sub for subs in self._by_user.values() for sub in subs]

    def subscribers_of(self, user_id: UserId) -> list[StreamSubscriber]:
        return list(self._by_user.get(user_id, ()))

    def room_subscribers(self, room_id: RoomId) -> list[StreamSubscriber]:
        return list(self._by_room.get(room_id, ()))

    def add(self, subscriber: StreamSubscriber) -> None:
        self._by_room.setdefault(subscriber.room_id, set()).add(subscriber)
        self._by_user.setdefault(subscriber.user_id, set()).add(subscriber)

    def remove(self, subscriber: StreamSubscriber) -> None:
        in_room = self._by_room.get(subscriber.room_id)
        if in_room is not None:
            in_room.discard(subscriber)
            if not in_room:
                del self._by_room[subscriber.room_id]
        of_user = self._by_user.get(subscriber.user_id)
        if of_user is not None:
            of_user.discard(subscriber)
            if not of_user:
                del self._by_user[subscriber.user_id]

    def deliver(self, batch: Batch) -> int:
        writes = 0
        for event in batch:
            if event.type in _SHARED:
                writes += self._deliver_shared(event)
            elif event.type in _CHANGES and event.room_id is not None:
                writes += self._deliver_change(event, event.room_id)
        return writes

    def _deliver_shared(self, event: Event) -> int:
        if event.room_id is not None:
            targets: set[StreamSubscriber] = self._by_room.get(event.room_id, set())
        elif event.type is not EventType.STREAM_CHAT:
            return 0
        else:
            targets = set()
            for user_id in (event.user_id, event.target_user_id):
                if user_id is not None:
                    targets |= self._by_user.get(user_id, set())
        if not targets:
            return 0
        stream_id = next(iter(targets)).stream_id if event.room_id is not None else None
        data = self._renderer.shared(event, stream_id)
        if data is None:
            return 0
        last_id = EventId(event.id)
        # No copy of the set: a send never changes it (a connection that closes is forgotten later,
        # ``Connection.close``), and this loop is the cost of every line, once per socket.
        for sub in targets:
            if sub.handover is None:
                sub.connection.send(data)
            else:
                sub.send(data, last_id)
        return len(targets)

    def _deliver_change(self, event: Event, room_id: RoomId) -> int:
        subs = self._by_room.get(room_id)
        if not subs:
            return 0
        cache: dict[Hashable, bytes | None] = {}
        last_id = EventId(event.id)
        writes = 0
        for sub in list(subs):
            if not self._renderer.keeps(event, sub):
                sub.connection.close(CLOSE_FORBIDDEN, "Not authorized")
                self.remove(sub)
                continue
            key = (sub.user_id, sub.user_name, sub.audience)
            if key not in cache:
                cache[key] = self._renderer.personal(event, sub)
            data = cache[key]
            if data is not None:
                sub.send(data, last_id)
                writes += 1
        return writes
