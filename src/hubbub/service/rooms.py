"""Room operations: create and edit rooms, grant access, kick, and enter and leave rooms.

Entering a room (event 3) and leaving it (event 4) change the set of rooms a
user is "in": the rooms whose events their socket carries (sechat.md §5.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Final

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel, Membership, Room, RoomAccess, Standing, User
from hubbub.core.rules import can_read, ensure_can_manage_room, ensure_can_read, ensure_not_suspended, kick_duration
from hubbub.errors import BadRequest, Kicked, NotAllowed
from hubbub.service.context import Changes, Context, load_room, load_user, standing_in
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["Rooms", "enter_room", "enter_room_from", "leave_unreadable_rooms", "parse_tags"]

MAX_ROOM_NAME_CHARS: Final = 100
MAX_DESCRIPTION_CHARS: Final = 1000
ROOM_BATCH: Final = 1000  # rooms read per statement when listing them all
MAX_TAGS: Final = 10
MAX_TAG_CHARS: Final = 35


def parse_tags(tags: str | Sequence[str]) -> tuple[str, ...]:
    """Tags as typed ("a b", "a, b" or a list) -> unique lower-case tags, in order."""
    words = tags.replace(",", " ").split() if isinstance(tags, str) else [t for tag in tags for t in tag.split()]
    unique = tuple(dict.fromkeys(word.strip().lower() for word in words if word.strip()))
    if len(unique) > MAX_TAGS:
        raise BadRequest(f"A room can have at most {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_CHARS for tag in unique):
        raise BadRequest(f"A tag can have at most {MAX_TAG_CHARS} characters")
    return unique


def _clean_room_fields(name: str, description: str) -> tuple[str, str]:
    name = " ".join(name.split())
    description = description.strip()
    if not name or len(name) > MAX_ROOM_NAME_CHARS:
        raise BadRequest(f"A room name needs 1 to {MAX_ROOM_NAME_CHARS} characters")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise BadRequest(f"A room description can have at most {MAX_DESCRIPTION_CHARS} characters")
    return name, description


def _presence_event(kind: EventType, room: Room, user: User, now: int) -> NewEvent:
    """Event 3 or 4: ``user`` entered or left ``room``."""
    return NewEvent(
        type=kind, time_stamp=now, room_id=room.id, room_name=room.name, user_id=user.id, user_name=user.name
    )


def enter_room(tx: WriteTx, changes: Changes, room: Room, user: User, now: int, *, posted: bool = False) -> None:
    """Mark ``user`` as in ``room`` (event 3 if they were not), and as seen there now."""
    enter_room_from(tx, changes, room, user, tx.membership(room.id, user.id), now, posted=posted)


def enter_room_from(
    tx: WriteTx,
    changes: Changes,
    room: Room,
    user: User,
    membership: Membership | None,
    now: int,
    *,
    posted: bool = False,
) -> None:
    """``enter_room`` given the user's ``membership`` of the room, read earlier in this transaction."""
    if membership is not None and membership.present:  # seen again: only its times change
        tx.set_member_seen(room.id, user.id, last_seen=now, last_post=now if posted else membership.last_post)
        return
    changes.append(_presence_event(EventType.USER_ENTERED, room, user, now))
    tx.set_membership(
        Membership(
            room_id=room.id,
            user_id=user.id,
            present=True,
            joined_at=now,
            last_seen=now,
            last_post=now if posted else (membership.last_post if membership else 0),
        )
    )


def _leave(tx: WriteTx, changes: Changes, room: Room, user: User, now: int) -> None:
    membership = tx.membership(room.id, user.id)
    if membership is None or not membership.present:
        return
    tx.set_membership(
        Membership(
            room_id=room.id,
            user_id=user.id,
            present=False,
            joined_at=membership.joined_at,
            last_seen=now,
            last_post=membership.last_post,
        )
    )
    changes.append(_presence_event(EventType.USER_LEFT, room, user, now))


def _remove_unreadable(tx: WriteTx, changes: Changes, room: Room, now: int) -> None:
    """Whoever is in the room but may no longer read it leaves it (event 4), so sockets stop too."""
    members = tx.present_members(room.id)
    users = tx.users([m.user_id for m in members])
    for member in members:
        user = users.get(member.user_id)
        if user is not None and not can_read(standing_in(tx, room, user, now), room):
            _leave(tx, changes, room, user, now)


def leave_unreadable_rooms(tx: WriteTx, changes: Changes, user: User, now: int) -> None:
    """The user leaves (event 4) every room they are in but may no longer read, so sockets stop too."""
    suspended = user.is_suspended(now)
    for room, level, kick in tx.rooms_of_with_standing(user.id):
        if not can_read(Standing(user=user, level=level, kick=kick, suspended=suspended), room):
            _leave(tx, changes, room, user, now)


def _access_event(room: Room, actor: User, target: UserId | None, content: str | None, now: int) -> NewEvent:
    return NewEvent(
        type=EventType.ACCESS_LEVEL_CHANGED,
        time_stamp=now,
        room_id=room.id,
        room_name=room.name,
        user_id=actor.id,
        user_name=actor.name,
        target_user_id=target,
        content=content,
    )


def _rooms_after(tx: ReadTx, *, after: RoomId | None) -> list[Room]:
    return tx.list_rooms(limit=ROOM_BATCH, after=after)


class Rooms:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def create_room(
        self,
        name: str,
        *,
        description: str = "",
        tags: str | Sequence[str] = (),
        access: RoomAccess = RoomAccess.PUBLIC,
        owner_id: UserId | None = None,
    ) -> Room:
        """Create a room; ``owner_id`` (if any) becomes its first owner.

        Raises:
            BadRequest: Bad name, description or tags, or no such owner.
            Suspended: The owner is suspended.
        """
        name, description = _clean_room_fields(name, description)
        tag_list = parse_tags(tags)

        def work(tx: WriteTx, changes: Changes, now: int) -> Room:
            if owner_id is not None:
                owner = tx.user(owner_id)
                if owner is None:
                    raise BadRequest(f"There is no user with id {owner_id}")
                ensure_not_suspended(owner, now)
            room = tx.insert_room(
                name=name, description=description, tags=tag_list, access=access, created_by=owner_id, now=now
            )
            if owner_id is not None:
                tx.set_access_level(room.id, owner_id, AccessLevel.OWNER, now)
            return room

        return await self._ctx.apply(work)

    async def update_room(
        self,
        actor_id: UserId,
        room_id: RoomId,
        *,
        name: str,
        description: str,
        tags: str | Sequence[str],
        access: RoomAccess | None = None,
    ) -> Room:
        """Change a room's name, description, tags and (optionally) access; owners only.

        Appends event 5 (name / description) and, when the access changes, event 15
        with no target and no content (seed 002, ``AccessLevelChangedEvent``).
        """
        name, description = _clean_room_fields(name, description)
        tag_list = parse_tags(tags)

        def work(tx: WriteTx, changes: Changes, now: int) -> Room:
            actor = load_user(tx, actor_id)
            room = load_room(tx, room_id)
            standing = standing_in(tx, room, actor, now)
            ensure_can_read(standing, room)
            ensure_can_manage_room(standing, now)
            updated = Room(
                id=room.id,
                name=name,
                description=description,
                tags=tag_list,
                access=room.access if access is None else access,
                created_at=room.created_at,
                created_by=room.created_by,
                last_activity=now,
                message_count=room.message_count,
            )
            tx.update_room(updated)
            if (updated.name, updated.description, updated.tags) != (room.name, room.description, room.tags):
                changes.append(
                    NewEvent(
                        type=EventType.ROOM_NAME_CHANGED,
                        time_stamp=now,
                        room_id=room.id,
                        room_name=updated.name,
                        user_id=actor.id,
                        user_name=actor.name,
                        content=f"{updated.name} / {updated.description}",
                    )
                )
            if updated.access is not room.access:
                changes.append(_access_event(updated, actor, None, None, now))
                _remove_unreadable(tx, changes, updated, now)
            return updated

        return await self._ctx.apply(work)

    async def set_access(self, actor_id: UserId, room_id: RoomId, user_id: UserId, level: AccessLevel | None) -> None:
        """Grant ``level`` to a user in a room (None: remove their grant); owners only. Event 15."""

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            actor = load_user(tx, actor_id)
            room = load_room(tx, room_id)
            standing = standing_in(tx, room, actor, now)
            ensure_can_read(standing, room)
            ensure_can_manage_room(standing, now)
            target = tx.user(user_id)
            if target is None:
                raise BadRequest(f"There is no user with id {user_id}")
            if tx.access_level(room_id, user_id) is level:
                return
            tx.set_access_level(room_id, user_id, level, now)
            content = f"Access now {level.value if level is not None else 'none'}"
            changes.append(_access_event(room, actor, user_id, content, now))
            # A grant changes what its one user may read: the room's other members stay as they were.
            if not can_read(standing_in(tx, room, target, now), room):
                _leave(tx, changes, room, target, now)

        await self._ctx.apply(work)

    async def kick(self, actor_id: UserId, room_id: RoomId, user_id: UserId) -> int:
        """Kick-mute a user from a room; returns the seconds until they may return.

        Appends events 4 (the user left) and 15 (``priv <n> created``) as one change,
        the pair that clients recognise as a kick (sechat.md §6.2).
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> int:
            actor = load_user(tx, actor_id)
            room = load_room(tx, room_id)
            standing = standing_in(tx, room, actor, now)
            ensure_can_manage_room(standing, now)
            target = tx.user(user_id)
            if target is None:
                raise BadRequest(f"There is no user with id {user_id}")
            if target.id == actor.id or standing_in(tx, room, target, now).is_owner:
                raise NotAllowed("Room owners and moderators cannot be kicked")
            previous = tx.kick(room_id, user_id)
            count = 1 if previous is None else previous.count + 1
            seconds = kick_duration(count)
            tx.set_kick(room_id, user_id, count=count, until=now + seconds)
            _leave(tx, changes, room, target, now)
            changes.append(_access_event(room, actor, user_id, f"priv {count} created", now))
            return seconds

        return await self._ctx.apply(work)

    async def join(self, actor_id: UserId, room_id: RoomId) -> Room:
        """Enter a room (event 3 unless already in it).

        Raises:
            NotFound: No such room, or a private room the user may not read.
            Kicked: The user is kick-muted from the room.
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> Room:
            user = load_user(tx, actor_id)
            room = load_room(tx, room_id)
            standing = standing_in(tx, room, user, now)
            ensure_can_read(standing, room)
            if standing.kick is not None and standing.kick.until > now and not user.is_moderator:
                raise Kicked(standing.kick.seconds_left(now))
            enter_room(tx, changes, room, user, now)
            return room

        return await self._ctx.apply(work)

    async def leave(self, actor_id: UserId, room_id: RoomId) -> None:
        """Leave a room (event 4); leaving a room one is not in is not an error."""

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            user = load_user(tx, actor_id)
            room = tx.room(room_id)
            if room is not None:
                _leave(tx, changes, room, user, now)

        await self._ctx.apply(work)

    async def leave_all(self, actor_id: UserId) -> None:
        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            user = load_user(tx, actor_id)
            for room in tx.rooms(tx.rooms_of(user.id)).values():
                _leave(tx, changes, room, user, now)

        await self._ctx.apply(work)

    async def list_rooms(self) -> list[Room]:
        """Every room on the node, by id (for the operator's CLI: the web directory reads a page at a time)."""
        rooms: list[Room] = []
        while True:
            batch = await self._ctx.store.read(partial(_rooms_after, after=rooms[-1].id if rooms else None))
            rooms += batch
            if len(batch) < ROOM_BATCH:
                return rooms
