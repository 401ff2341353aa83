"""What every service operation shares: the engines, the clock, the settings, and ``apply``.

``Context.apply`` is the one path by which state changes: it runs a unit of work
in a write transaction and, once it has committed, publishes the events the work
appended. Nothing else in hubbub calls ``Store.write`` or ``Bus.publish`` (like
Zulip's ``send_event``, one function emits every event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from hubbub.bus.base import Bus
from hubbub.core.clock import Clock
from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Message, Room, Standing, User
from hubbub.core.rules import NO_PERMISSION
from hubbub.errors import NeverAssigned, NotFound, NotLoggedIn
from hubbub.service.ratelimit import LoginLimits, RateLimiter
from hubbub.settings import Settings
from hubbub.store.base import ReadTx, Store, WriteTx

__all__ = ["Changes", "Context", "load_message", "load_room", "load_user", "message_event", "standing_in"]

T = TypeVar("T")


class Changes:
    """The events one unit of work appends, in order."""

    def __init__(self, tx: WriteTx) -> None:
        self._tx = tx
        self.events: list[Event] = []

    def append(self, event: NewEvent) -> Event:
        stored = self._tx.append(event)
        self.events.append(stored)
        return stored


@dataclass(frozen=True, slots=True)
class Context:
    store: Store
    bus: Bus
    clock: Clock
    settings: Settings
    message_limiter: RateLimiter
    login_limits: LoginLimits

    def now(self) -> int:
        return int(self.clock.now())

    async def apply(self, work: Callable[[WriteTx, Changes, int], T]) -> T:
        """Run ``work(tx, changes, now)`` in one transaction, then publish what it appended."""
        now = self.now()
        collected: list[Event] = []

        def unit(tx: WriteTx) -> T:
            changes = Changes(tx)
            result = work(tx, changes, now)
            collected.extend(changes.events)
            return result

        result = await self.store.write(unit)
        if collected:
            await self.bus.publish(collected)
        return result


def load_user(tx: ReadTx, user_id: UserId) -> User:
    user = tx.user(user_id)
    if user is None:
        raise NotLoggedIn()
    return user


def load_room(tx: ReadTx, room_id: RoomId) -> Room:
    room = tx.room(room_id)
    if room is None:
        raise NotFound(NO_PERMISSION)
    return room


def load_message(tx: ReadTx, message_id: MessageId) -> Message:
    """The message, or ``NeverAssigned`` for an id no message ever had."""
    message = tx.message(message_id)
    if message is None:
        raise NeverAssigned(message_id)
    return message


def standing_in(tx: ReadTx, room: Room, user: User | None) -> Standing:
    if user is None:
        return Standing(user=None)
    return Standing(user=user, level=tx.access_level(room.id, user.id), kick=tx.kick(room.id, user.id))


def message_event(
    event_type: EventType,
    message: Message,
    room: Room,
    author: User,
    now: int,
    *,
    content: bool = True,
    target: UserId | None = None,
) -> NewEvent:
    """An event about ``message`` carrying the fields Stack Exchange puts on message events."""
    return NewEvent(
        type=event_type,
        time_stamp=now,
        room_id=room.id,
        room_name=room.name,
        user_id=author.id,
        user_name=author.name,
        target_user_id=target,
        message_id=message.id,
        content=message.content if content else None,
        parent_id=message.parent_id,
        show_parent=message.show_parent,
        message_edits=message.edits,
        message_stars=message.stars,
        message_owner_stars=message.owner_stars,
    )
