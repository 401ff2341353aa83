"""What every service operation shares: the engines, the clock, the settings, and ``apply``.

``Context.apply`` is the one path by which state changes: it runs a unit of work
in a write transaction and, once it has committed, publishes the events the work
appended. Nothing else in hubbub calls ``Store.write`` or ``Bus.publish`` (like
Zulip's ``send_event``, one function emits every event).

Every appended event passes ``Changes.append``, which also revokes the socket URLs
the event's access change takes away (``visibility.access_change``), in the same
transaction: whatever operation narrows someone's reach, their unopened URLs go with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from hubbub import metrics
from hubbub.bus.base import Bus
from hubbub.core.clock import Clock
from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.mentions import MAX_PINGED
from hubbub.core.models import Membership, Message, Room, Standing, User
from hubbub.core.rules import NO_PERMISSION, can_be_pinged
from hubbub.core.visibility import AccessChange, access_change
from hubbub.errors import NeverAssigned, NotFound, NotLoggedIn
from hubbub.service.ratelimit import LoginLimits, RateLimiter
from hubbub.settings import Settings
from hubbub.store.base import ReadTx, Store, UserInRoom, WriteTx

__all__ = [
    "Changes",
    "Context",
    "load_message",
    "load_room",
    "load_user",
    "load_user_in_room",
    "message_event",
    "pingable_members",
    "revoke_socket_urls",
    "standing_here",
    "standing_in",
]

T = TypeVar("T")


class Changes:
    """The events one unit of work appends, in order."""

    def __init__(self, tx: WriteTx) -> None:
        self._tx = tx
        self.events: list[Event] = []

    def append(self, event: NewEvent) -> Event:
        stored = self._tx.append(event)
        self.events.append(stored)
        change = access_change(stored)
        if change is not None:
            revoke_socket_urls(self._tx, change)
        return stored


def revoke_socket_urls(tx: WriteTx, change: AccessChange) -> int:
    """Delete the unopened socket URLs that ``change`` revokes; returns how many."""
    if change.user_id is not None:
        candidates = tx.socket_tokens_of(change.user_id)
    elif change.room_id is not None:
        candidates = tx.socket_tokens_for_room(change.room_id)
    else:
        return 0
    revoked = [t.token_hash for t in candidates if change.revokes(t.user_id, t.room_id, t.session_key)]
    return tx.delete_socket_tokens(revoked)


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

    async def apply(
        self, work: Callable[[WriteTx, Changes, int], T], *, prefetch: Callable[[WriteTx], None] | None = None
    ) -> T:
        """Run ``work(tx, changes, now)`` in one transaction, then publish what it appended.

        ``prefetch`` sends ``work``'s first query ahead (``Store.write``).
        """
        now = self.now()
        collected: list[Event] = []

        def unit(tx: WriteTx) -> T:
            changes = Changes(tx)
            result = work(tx, changes, now)
            collected[:] = changes.events  # a group that failed is run again: its first run's events went with it
            return result

        result = await self.store.write(unit, prefetch=prefetch)
        if collected:
            metrics.EVENTS_APPENDED.inc(len(collected))
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


def standing_in(tx: ReadTx, room: Room, user: User | None, now: float) -> Standing:
    """The user's standing in the room at ``now`` (a suspension counts until it ends)."""
    if user is None:
        return Standing(user=None)
    return Standing(
        user=user,
        level=tx.access_level(room.id, user.id),
        kick=tx.kick(room.id, user.id),
        suspended=user.is_suspended(now),
    )


def load_user_in_room(tx: ReadTx, user_id: UserId, room_id: RoomId) -> tuple[User, Room, UserInRoom]:
    """``load_user`` and ``load_room`` (the same refusals, in that order) and the rest of ``tx.user_in_room``."""
    here = tx.user_in_room(user_id, room_id)
    if here.user is None:
        raise NotLoggedIn()
    if here.room is None:
        raise NotFound(NO_PERMISSION)
    return here.user, here.room, here


def standing_here(user: User, here: UserInRoom, now: float) -> Standing:
    """``standing_in`` from what ``tx.user_in_room`` read."""
    return Standing(user=user, level=here.level, kick=here.kick, suspended=user.is_suspended(now))


def pingable_members(
    tx: ReadTx, room: Room, since: int, now: float, *, named: Collection[str] | None = None
) -> list[tuple[Membership, User]]:
    """Who a message in ``room`` can ping: seen there since ``since`` and ``rules.can_be_pinged`` now;
    with ``named`` (``core.mentions.ping_tokens``), only those whose ping key starts with one of them,
    from the ``4 * MAX_PINGED`` seen last.

    A kick-mute does not stop reading, so the standings here leave kicks out.
    """
    if named is not None:
        # A few more than can be pinged, for the ones the rule below turns away.
        found = tx.members_seen_since_named(room.id, since, named, limit=4 * MAX_PINGED)
    else:
        members = tx.members_seen_since(room.id, since)
        users = tx.users({m.user_id for m in members})
        grants = dict(tx.access_grants(room.id))  # read once for all members
        found = [(m, users[m.user_id], grants.get(m.user_id)) for m in members if m.user_id in users]
    return [
        (member, user)
        for member, user, level in found
        if can_be_pinged(Standing(user=user, level=level, suspended=user.is_suspended(now)), room)
    ]


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
