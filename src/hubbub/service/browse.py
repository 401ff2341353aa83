"""Reads for the web UI: the room directory, a room's transcript by day, search, and access lists.

Like ``queries.py``, every read checks ``rules.can_read`` here, so a private
room never shows up in the directory, a transcript or search results of a
viewer who may not read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import AccessLevel, Message, Room, User
from hubbub.core.rules import can_read, ensure_can_read
from hubbub.service.context import Context, load_room, standing_in
from hubbub.service.queries import PRESENT_COUNTED
from hubbub.store.base import ReadTx, SearchWindow

__all__ = ["ROOMS_JUDGED", "ROOMS_PER_PAGE", "Browse", "DayTranscript", "DirectoryPage", "RoomSummary", "SearchResults"]

PRESENT_SHOWN: Final = 8  # people listed per room in the directory
ROOMS_PER_PAGE: Final = 50  # rooms the directory shows a page
# Rooms one directory page judges (readability, filters) at most: with a filter few rooms pass,
# or many private rooms, a page then links on from where it stopped instead of reading them all.
ROOMS_JUDGED: Final = 1000
# Messages one search request looks through (newest first); the answer says where to go on
# from. A LIKE matches no index: without a bound, one search cost every message of the rooms.
SEARCH_SCAN: Final = 10_000
SEARCH_CHUNK: Final = 4  # pages' worth of matches read at a time, across rooms, before judging their rooms


@dataclass(frozen=True, slots=True)
class RoomSummary:
    room: Room
    present: list[User]  # most recently seen first, at most PRESENT_SHOWN
    present_count: int  # counted up to PRESENT_COUNTED + 1 ("more than PRESENT_COUNTED")


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    rooms: list[RoomSummary]
    # ``(last_activity, id)`` of the room the next page goes on after; None: no rooms remain
    older: tuple[int, RoomId] | None


@dataclass(frozen=True, slots=True)
class DayTranscript:
    room: Room
    messages: list[Message]
    users: dict[UserId, User]
    starred: set[MessageId]
    truncated: bool


@dataclass(frozen=True, slots=True)
class SearchResults:
    messages: list[Message]
    rooms: dict[RoomId, Room]
    users: dict[UserId, User]
    older: MessageId | None  # search on below this id for older results (None: nothing older)
    searched_to: int | None  # when no page filled: the oldest time looked through, before ``older``


def _matches(room: Room, words: list[str]) -> bool:
    text = " ".join((room.name, room.description, *room.tags)).lower()
    return all(word in text for word in words)


class Browse:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def directory(
        self, viewer: User | None, *, query: str = "", tag: str = "", below: tuple[int, RoomId] | None = None
    ) -> DirectoryPage:
        """A page of the rooms the viewer may read, most recently active first, with who is in each.

        ``query`` keeps rooms whose name, description or tags contain every word of it
        (any case); ``tag`` keeps rooms with exactly that tag; ``below`` is a previous page's
        ``older``. A page judges at most ``ROOMS_JUDGED`` rooms.
        """
        words = query.lower().split()
        tag = tag.strip().lower()
        now = self._ctx.now()

        def wanted(tx: ReadTx, room: Room) -> bool:
            return (
                (not tag or tag in room.tags)
                and _matches(room, words)
                and can_read(standing_in(tx, room, viewer, now), room)
            )

        def read(tx: ReadTx) -> DirectoryPage:
            rooms: list[Room] = []
            position = below
            judged = 0
            remaining = True
            while remaining and len(rooms) <= ROOMS_PER_PAGE and judged < ROOMS_JUDGED:
                asked = min(ROOMS_PER_PAGE + 1, ROOMS_JUDGED - judged)
                batch = tx.rooms_by_activity(below=position, limit=asked)
                remaining = len(batch) == asked
                for room in batch:
                    judged += 1
                    position = (room.last_activity, room.id)
                    if wanted(tx, room):
                        rooms.append(room)
                        if len(rooms) > ROOMS_PER_PAGE:
                            break
            full = len(rooms) > ROOMS_PER_PAGE
            rooms = rooms[:ROOMS_PER_PAGE]
            if full:
                older: tuple[int, RoomId] | None = (rooms[-1].last_activity, rooms[-1].id)
            else:
                older = position if remaining else None
            # A few faces and a capped count per room: the directory is read by everyone, and a
            # room's crowd is made by whoever enters it.
            shown = {room.id: tx.present_members(room.id, limit=PRESENT_SHOWN) for room in rooms}
            users = tx.users({m.user_id for members in shown.values() for m in members})
            summaries = [
                RoomSummary(
                    room=room,
                    present=[users[m.user_id] for m in shown[room.id] if m.user_id in users],
                    present_count=tx.present_count(room.id, up_to=PRESENT_COUNTED + 1),
                )
                for room in rooms
            ]
            return DirectoryPage(summaries, older)

        return await self._ctx.store.read(read)

    async def transcript_day(
        self, viewer: User | None, room_id: RoomId, start: int, end: int, *, limit: int
    ) -> DayTranscript:
        """The undeleted messages posted in ``[start, end)``, oldest first, at most ``limit``.

        Raises:
            NotFound: No such room, or the viewer may not read it.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> DayTranscript:
            room = load_room(tx, room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            found = tx.messages_between(room.id, start, end, limit=limit + 1)
            messages = [m for m in found[:limit] if not m.deleted]
            users = tx.users({m.user_id for m in messages})
            starred = tx.starred_among([m.id for m in messages], viewer.id) if viewer is not None else set()
            return DayTranscript(room, messages, users, starred, truncated=len(found) > limit)

        return await self._ctx.store.read(read)

    async def search(
        self,
        viewer: User | None,
        text: str,
        *,
        room_id: RoomId | None = None,
        limit: int,
        before: MessageId | None = None,
    ) -> SearchResults:
        """Messages whose markdown contains ``text``, newest first, in one room or every readable room.

        One answer looks through at most ``SEARCH_SCAN`` messages below ``before`` (of the room,
        or of the node); ``older`` is where the next answer goes on from, whether this one
        filled its page or ran out of messages to look through.

        Raises:
            NotFound: ``room_id`` names no room, or one the viewer may not read.
        """
        now = self._ctx.now()

        def readable_matches(tx: ReadTx, end: MessageId | None) -> tuple[list[Message], dict[RoomId, Room]]:
            """Up to ``limit + 1`` matches in rooms the viewer may read, judging only the rooms that
            have matches: judging every room first cost what every room on the node does."""
            judged: dict[RoomId, Room | None] = {}
            found: list[Message] = []
            below = before
            chunk = SEARCH_CHUNK * (limit + 1)
            while len(found) <= limit:
                matches = tx.search_messages(None, text, limit=chunk, before=below, at_least=end)
                for message in matches:
                    if message.room_id not in judged:
                        room = tx.room(message.room_id)
                        readable = room is not None and can_read(standing_in(tx, room, viewer, now), room)
                        judged[message.room_id] = room if readable else None
                    if judged[message.room_id] is not None:
                        found.append(message)
                        if len(found) > limit:
                            break
                if len(matches) < chunk:
                    break
                below = matches[-1].id
            rooms = {room.id: room for room in judged.values() if room is not None}
            return found, rooms

        def read(tx: ReadTx) -> SearchResults:
            if room_id is not None:
                room = load_room(tx, room_id)
                ensure_can_read(standing_in(tx, room, viewer, now), room)
                rooms = {room.id: room}
                end = tx.search_window_end([room.id], SearchWindow(SEARCH_SCAN, before))
                found = tx.search_messages([room.id], text, limit=limit + 1, before=before, at_least=end)
            else:
                end = tx.search_window_end(None, SearchWindow(SEARCH_SCAN, before))
                found, rooms = readable_matches(tx, end)
            messages = found[:limit]
            searched_to = None
            if len(found) > limit:
                older: MessageId | None = messages[-1].id
            else:
                older = end
                oldest = tx.message(end) if end is not None else None
                searched_to = oldest.posted_at if oldest is not None else None
            return SearchResults(
                messages=messages,
                rooms=rooms,
                users=tx.users({m.user_id for m in messages}),
                older=older,
                searched_to=searched_to,
            )

        return await self._ctx.store.read(read)

    async def access_list(self, room_id: RoomId) -> list[tuple[User, AccessLevel]]:
        """Users holding an explicit grant in the room (owners first), for its owners' settings page."""
        order = {AccessLevel.OWNER: 0, AccessLevel.READ_WRITE: 1, AccessLevel.READ_ONLY: 2, AccessLevel.REQUEST: 3}

        def read(tx: ReadTx) -> list[tuple[User, AccessLevel]]:
            grants = tx.access_grants(room_id)
            users = tx.users([user_id for user_id, _ in grants])
            rows = [(users[user_id], level) for user_id, level in grants if user_id in users]
            return sorted(rows, key=lambda row: (order[row[1]], row[0].name.lower()))

        return await self._ctx.store.read(read)
