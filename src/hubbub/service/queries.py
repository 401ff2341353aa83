"""Read operations: what a viewer may see of rooms, messages, users and the event log.

Every read checks ``rules.can_read`` / ``visibility.may_see`` here, once, so that
no dialect can show a private room or someone else's ping by forgetting a check.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from hubbub.core.events import Event
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import AccessLevel, Membership, Message, Revision, Room, Standing, User
from hubbub.core.rules import can_post, can_read, ensure_can_read
from hubbub.core.visibility import file_view, in_view
from hubbub.errors import NotFound
from hubbub.service.context import Context, load_message, load_room, pingable_members, standing_in
from hubbub.service.revisions import revisions_of
from hubbub.store.base import ReadTx

__all__ = [
    "PRESENT_COUNTED",
    "PRESENT_LISTED",
    "History",
    "MessageView",
    "Profile",
    "Queries",
    "RoomEvents",
    "RoomView",
    "ViewPage",
]

# A room's page lists the members seen most recently and counts the rest up to a cap: a room
# any account can enter would otherwise cost every read of its page in proportion to its crowd.
PRESENT_LISTED: Final = 100
PRESENT_COUNTED: Final = 1000  # a count above it reads "1000+"


@dataclass(frozen=True, slots=True)
class History:
    room: Room
    messages: list[Message]
    authors: dict[UserId, User]
    posting_events: dict[MessageId, EventId]
    last_event_id: EventId


@dataclass(frozen=True, slots=True)
class RoomEvents:
    """The answer for one room of an ``/events`` poll: its visible events and the cursor to poll from next.

    ``readable`` is False for an unknown room or one the viewer may not read (no events then).
    """

    events: list[Event]
    cursor: EventId
    readable: bool = True


@dataclass(frozen=True, slots=True)
class ViewPage:
    """A page of a viewer's view of some rooms: events in id order, and the id it is complete through."""

    events: list[Event]
    cursor: EventId


@dataclass(frozen=True, slots=True)
class RoomView:
    room: Room
    standing: Standing
    readable: bool
    can_post: bool
    present: list[tuple[Membership, User]]  # the most recently seen, at most the ``present`` asked for
    present_count: int  # everyone present, counted up to PRESENT_COUNTED + 1 ("more than PRESENT_COUNTED")
    owners: list[User]
    last_event_id: EventId


@dataclass(frozen=True, slots=True)
class MessageView:
    message: Message
    room: Room
    author: User
    revisions: list[Revision]
    revision_authors: dict[UserId, User]
    pinners: list[User]
    starred_by_viewer: bool
    parent: Message | None


@dataclass(frozen=True, slots=True)
class Profile:
    user: User
    message_count: int
    room_count: int
    rooms: list[Room]


# Pages of the log read in one answer while they hold nothing the viewer may see.
MAX_EMPTY_PAGES: Final = 20


def _scan_view(
    tx: ReadTx,
    viewer: User | None,
    rooms: Collection[RoomId],
    since: EventId,
    through: EventId,
    limit: int,
    now: float,
) -> tuple[list[Event], EventId]:
    """The oldest ``limit`` events of the viewer's view of ``rooms`` after ``since``, up to ``through``.

    The view is ``core.visibility.in_view``: the rooms' events the viewer may see, and the
    events aimed at the viewer from any room the viewer may read now. Returns them (id
    order, each once) and the cursor through which the view is complete: ``through`` when
    nothing more is there. A page of the log can hold only events for others (pings to
    someone else, flags for moderators); an empty answer whose cursor stops short of the
    end would look like "caught up" to clients, so such pages are skipped, a bounded
    number of them.
    """
    cursor = since
    visible: list[Event] = []
    readable = set(rooms)
    for _ in range(MAX_EMPTY_PAGES):
        # The first limit + 1 of the union lie within the first limit + 1 of each part.
        merged = {e.id: e for e in tx.events_after(cursor, room_ids=rooms, limit=limit + 1)}
        if viewer is not None:
            merged.update((e.id, e) for e in tx.events_targeting(viewer.id, cursor, limit=limit + 1))
        page = [merged[key] for key in sorted(merged) if key <= through][: limit + 1]
        readable |= _readable(tx, viewer, {e.room_id for e in page if e.room_id is not None} - readable, now)
        visible = [e for e in page[:limit] if in_view(e, viewer, rooms, readable=readable)]
        if len(page) <= limit:
            return visible, through
        cursor = page[limit - 1].id
        if visible:
            break
    return visible, cursor


def _readable(tx: ReadTx, viewer: User | None, room_ids: Collection[RoomId], now: float) -> set[RoomId]:
    """Which of these rooms the viewer may read now."""
    if not room_ids:
        return set()
    rooms = tx.rooms(room_ids)
    return {room.id for room in rooms.values() if can_read(standing_in(tx, room, viewer, now), room)}


class Queries:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def last_event_id(self) -> EventId:
        return await self._ctx.store.read(lambda tx: tx.last_event_id())

    async def user(self, user_id: UserId) -> User | None:
        return await self._ctx.store.read(lambda tx: tx.user(user_id))

    async def find_user(self, reference: str, *, by_email: bool = False) -> User:
        """The user a person names: a user id, or (``by_email``: operators only, since it tells
        whether an address has an account) an e-mail address.

        Raises:
            NotFound: Nobody by that reference.
        """
        text = reference.strip()
        if text.isascii() and text.isdigit() and len(text) <= 18:
            found = await self.user(UserId(int(text)))
        elif by_email and "@" in text:
            found = await self._ctx.store.read(lambda tx: tx.user_by_email(text))
        else:
            found = None
        if found is None:
            raise NotFound(f"There is no user {text!r}" if len(text) <= 100 else "There is no such user")
        return found

    async def rooms_open_to_everyone(self, room_ids: Collection[RoomId]) -> dict[RoomId, bool]:
        """For each of ``room_ids`` that exists: whether anyone, signed in or not, may read it (one read)."""
        anonymous = Standing(user=None)

        def read(tx: ReadTx) -> dict[RoomId, bool]:
            return {room.id: can_read(anonymous, room) for room in tx.rooms(room_ids).values()}

        return await self._ctx.store.read(read)

    async def history(
        self,
        viewer: User | None,
        room_id: RoomId,
        *,
        count: int,
        before: MessageId | None = None,
        after: MessageId | None = None,
    ) -> History:
        """The newest ``count`` messages of a room (oldest first), within optional id bounds.

        Raises:
            NotFound: No such room, or the viewer may not read it.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> History:
            room = load_room(tx, room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            messages = tx.recent_messages(room.id, limit=count, before=before, after=after)
            authors = tx.users({m.user_id for m in messages})
            posting = tx.posting_event_ids([m.id for m in messages])
            return History(room, messages, authors, posting, tx.last_event_id())

        return await self._ctx.store.read(read)

    async def events_since(
        self, viewer: User | None, cursors: Mapping[RoomId, EventId], *, limit: int
    ) -> tuple[dict[RoomId, RoomEvents], EventId]:
        """For each room, the events of the viewer's view of it after its cursor (``POST /events``).

        A room's view is what its socket frames carry (``core.visibility``): the room's events
        the viewer may see and the viewer's pings and replies from every room. A cursor of 0
        means "no history yet": the view from the room's newest ``limit`` events on. When more
        than ``limit`` events follow a cursor, the oldest ``limit`` come back and the room's
        cursor stops at the last of them, so a client that polls again from it misses nothing;
        pages holding only events for others are skipped, so an empty answer means caught up.
        Unknown or unreadable rooms answer with no events. Also returns the log's last id.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> tuple[dict[RoomId, RoomEvents], EventId]:
            last = tx.last_event_id()
            rooms = tx.rooms(cursors.keys())
            answer: dict[RoomId, RoomEvents] = {}
            for room_id, asked in cursors.items():
                room = rooms.get(room_id)
                if room is None or not can_read(standing_in(tx, room, viewer, now), room):
                    answer[room_id] = RoomEvents([], last, readable=False)
                    continue
                since = asked
                if since <= 0:
                    newest = tx.latest_events([room_id], limit=limit)
                    since = EventId(newest[0].id - 1) if newest else last
                events, cursor = _scan_view(tx, viewer, {room_id}, since, last, limit, now)
                answer[room_id] = RoomEvents(file_view(events, viewer, {room_id}).get(room_id, []), cursor)
            return answer, last

        return await self._ctx.store.read(read)

    async def view_after(
        self, viewer: User, room_ids: Collection[RoomId], since: EventId, *, through: EventId, limit: int
    ) -> ViewPage:
        """One page of the viewer's view of these rooms after ``since``, up to ``through`` (a socket's replay).

        Rooms the viewer may not read are left out of the view; the events come back unfiled
        (``core.visibility.file_view`` says where each is shown).
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> ViewPage:
            current = tx.user(viewer.id)  # as of now: it may have been suspended since the caller loaded it
            if current is None:
                return ViewPage([], through)
            readable = _readable(tx, current, room_ids, now)
            events, cursor = _scan_view(tx, current, readable, since, through, limit, now)
            return ViewPage(events, cursor)

        return await self._ctx.store.read(read)

    async def room_view(self, viewer: User | None, room_id: RoomId, *, present: int = PRESENT_LISTED) -> RoomView:
        """A room as its page shows it; ``readable`` is False for a private room closed to the viewer.

        ``present``: how many of the members present to list (0: neither list nor count them).

        Raises:
            NotFound: No such room.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> RoomView:
            room = load_room(tx, room_id)
            standing = standing_in(tx, room, viewer, now)
            readable = can_read(standing, room)
            listed = readable and present > 0
            members = tx.present_members(room.id, limit=present) if listed else []
            count = tx.present_count(room.id, up_to=PRESENT_COUNTED + 1) if listed else 0
            owner_ids = [user_id for user_id, level in tx.access_grants(room.id) if level is AccessLevel.OWNER]
            users = tx.users({m.user_id for m in members} | set(owner_ids))
            return RoomView(
                room=room,
                standing=standing,
                readable=readable,
                can_post=can_post(standing, room, now),
                present=[(m, users[m.user_id]) for m in members if m.user_id in users],
                present_count=count,
                owners=[users[user_id] for user_id in owner_ids if user_id in users],
                last_event_id=tx.last_event_id(),
            )

        return await self._ctx.store.read(read)

    async def rooms_of(self, user_id: UserId) -> list[RoomId]:
        return await self._ctx.store.read(lambda tx: tx.rooms_of(user_id))

    async def joined_rooms(self, viewer: User) -> list[Room]:
        """The rooms the viewer is in and may read, most recently active first.

        Read from the viewer's memberships: ``rooms`` would judge every room on the node, two
        statements each, and anyone may make rooms.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[Room]:
            rooms = tx.rooms(tx.rooms_of(viewer.id))
            readable = _readable(tx, viewer, rooms.keys(), now)
            return sorted((rooms[r] for r in readable), key=lambda room: room.last_activity, reverse=True)

        return await self._ctx.store.read(read)

    async def readable_among(self, viewer: User | None, room_ids: Collection[RoomId]) -> set[RoomId]:
        """Which of these rooms the viewer may read (a profile lists only those of the user's rooms)."""
        now = self._ctx.now()
        return await self._ctx.store.read(lambda tx: _readable(tx, viewer, room_ids, now))

    async def recent_members(
        self, viewer: User | None, room_id: RoomId, *, limit: int | None = None
    ) -> list[tuple[Membership, User]]:
        """Everyone seen in the room within ``pingable_days``, readers or not (owners grant access from
        it), most recently seen first: all, or the first ``limit``."""
        now = self._ctx.now()
        since = now - self._ctx.settings.pingable_days * 86_400

        def read(tx: ReadTx) -> list[tuple[Membership, User]]:
            room = load_room(tx, room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            members = tx.members_seen_since(room.id, since, limit=limit)
            users = tx.users({m.user_id for m in members})
            return [(m, users[m.user_id]) for m in members if m.user_id in users]

        return await self._ctx.store.read(read)

    async def pingable(self, viewer: User | None, room_id: RoomId) -> list[tuple[Membership, User]]:
        """Users who can be pinged in a room (``context.pingable_members``, the rule posting uses)."""
        now = self._ctx.now()
        since = now - self._ctx.settings.pingable_days * 86_400

        def read(tx: ReadTx) -> list[tuple[Membership, User]]:
            room = load_room(tx, room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            return pingable_members(tx, room, since, now)

        return await self._ctx.store.read(read)

    async def users_in_room(
        self, viewer: User | None, user_ids: Sequence[UserId], room_id: RoomId | None
    ) -> list[tuple[User, bool | None, Membership | None]]:
        """Users with whether each owns ``room_id`` (None when no room was asked for)."""
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[tuple[User, bool | None, Membership | None]]:
            users = tx.users(user_ids)
            room = tx.room(room_id) if room_id is not None else None
            if room is not None and not can_read(standing_in(tx, room, viewer, now), room):
                room = None
            result: list[tuple[User, bool | None, Membership | None]] = []
            for user_id in dict.fromkeys(user_ids):
                user = users.get(user_id)
                if user is None:
                    continue
                if room is None:
                    result.append((user, None, None))
                else:
                    owner = standing_in(tx, room, user, now).is_owner
                    result.append((user, owner, tx.membership(room.id, user.id)))
            return result

        return await self._ctx.store.read(read)

    async def message(self, viewer: User | None, message_id: MessageId) -> MessageView:
        """One message with its history, for the history, transcript and source views.

        Raises:
            NeverAssigned: No message ever had this id.
            NotFound: The viewer may not read its room, or it is deleted and the viewer
                is neither its author nor a moderator.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> MessageView:
            message = load_message(tx, message_id)
            room = load_room(tx, message.room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            if message.deleted and not (viewer is not None and (viewer.is_moderator or viewer.id == message.user_id)):
                raise NotFound("This message has been deleted")
            revisions = revisions_of(tx, message)
            pinner_ids = tx.pinners(message.id)
            users = tx.users({message.user_id, *(r.user_id for r in revisions), *pinner_ids})
            parent = tx.message(message.parent_id) if message.parent_id is not None else None
            return MessageView(
                message=message,
                room=room,
                author=users[message.user_id],
                revisions=revisions,
                revision_authors=users,
                pinners=[users[u] for u in pinner_ids if u in users],
                starred_by_viewer=viewer is not None and tx.has_starred(message.id, viewer.id),
                parent=parent,
            )

        return await self._ctx.store.read(read)

    async def transcript_around(
        self, viewer: User | None, message_id: MessageId, *, window: int = 50
    ) -> tuple[Room, list[Message], dict[UserId, User], set[MessageId]]:
        """Messages around one message in its room, with their authors and the viewer's stars."""
        now = self._ctx.now()

        def read(tx: ReadTx) -> tuple[Room, list[Message], dict[UserId, User], set[MessageId]]:
            target = load_message(tx, message_id)
            room = load_room(tx, target.room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            before = tx.recent_messages(room.id, limit=window, before=MessageId(target.id))
            after = tx.recent_messages(room.id, limit=window, after=MessageId(target.id - 1))
            messages = [*before, *after[:window]]
            if target.deleted and target not in messages:
                raise NotFound("This message has been deleted")
            users = tx.users({m.user_id for m in messages})
            starred = tx.starred_among([m.id for m in messages], viewer.id) if viewer is not None else set()
            return room, messages, users, starred

        return await self._ctx.store.read(read)

    async def profile(self, user_id: UserId) -> Profile:
        """A user's public profile.

        Raises:
            NotFound: No such user.
        """

        def read(tx: ReadTx) -> Profile:
            user = tx.user(user_id)
            if user is None:
                raise NotFound("No such user")
            rooms = tx.rooms(tx.rooms_of(user.id))
            return Profile(
                user=user,
                message_count=user.message_count,
                room_count=tx.user_room_count(user.id),
                rooms=sorted(rooms.values(), key=lambda r: r.id),
            )

        return await self._ctx.store.read(read)

    async def starred_by(self, viewer: User | None, message_ids: Collection[MessageId]) -> set[MessageId]:
        """Which of these messages the viewer has starred (none for visitors)."""
        if viewer is None or not message_ids:
            return set()
        return await self._ctx.store.read(lambda tx: tx.starred_among(message_ids, viewer.id))

    async def unread_count(self, user_id: UserId) -> int:
        return await self._ctx.store.read(lambda tx: tx.unread_count(user_id))
