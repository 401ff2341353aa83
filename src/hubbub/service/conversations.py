"""Bookmarked conversations: a titled run of one room's messages that anyone who reads the room can find again.

Stack Exchange chat calls them conversations (``POST /conversation/new``); a
bookmark holds no copy of the messages, only the room and the first and last
message ids, so later edits and deletions show through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Conversation, Message, Room, User, compact_slug, slugify
from hubbub.core.rules import (
    check_conversation_title,
    ensure_can_delete_conversation,
    ensure_can_read,
    ensure_not_suspended,
)
from hubbub.errors import BadRequest, NotFound, RemoteError
from hubbub.service.context import Changes, Context, load_room, load_user, standing_in
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["ConversationView", "Conversations"]

# A conversation page shows at most this many messages (the newest of the range).
MAX_SHOWN: Final = 500
NO_SUCH_CONVERSATION: Final = "There is no such conversation in this room"


@dataclass(frozen=True, slots=True)
class ConversationView:
    room: Room
    conversation: Conversation
    messages: list[Message]  # oldest first; deleted messages left out
    authors: dict[UserId, User]
    truncated: bool


def _find(tx: ReadTx, room_id: RoomId, key: str) -> Conversation:
    """By slug; by the title it was made from (sechat 1.x deletes by title); or by the slug
    sechat 3.x computes from the title, every character but letters and digits dropped."""
    found = (
        tx.conversation(room_id, key)
        or tx.conversation(room_id, slugify(key))
        or tx.conversation_by_compact_slug(room_id, compact_slug(key))
    )
    if found is None:
        raise NotFound(NO_SUCH_CONVERSATION)
    return found


_SLUGS_PER_QUERY: Final = 64


def _free_slug(tx: ReadTx, room_id: RoomId, base: str) -> str:
    """``base``, else the first free ``base-2``, ``base-3``, ...: unique even without hyphens, so the
    compact form names one bookmark (see ``_find``). Asked of the database many at a time."""
    start, count = 1, 1  # most titles are new: their first query asks about ``base`` alone
    while True:
        candidates = [base if n == 1 else f"{base}-{n}" for n in range(start, start + count)]
        taken = tx.compact_slugs_taken(room_id, {compact_slug(c) for c in candidates})
        for candidate in candidates:
            if compact_slug(candidate) not in taken:
                return candidate
        start, count = start + count, _SLUGS_PER_QUERY


class Conversations:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def create(
        self, actor_id: UserId, room_id: RoomId, first_id: MessageId, last_id: MessageId, title: str
    ) -> Conversation:
        """Bookmark the messages ``first_id``..``last_id`` of a room the actor reads.

        Raises:
            RateLimited (the posting limit), NotLoggedIn, NotFound (room), NotAllowed (cannot read
            it), Suspended, BadRequest (blank or long title, a message missing or in another room).
        """
        title = check_conversation_title(title)
        first_id, last_id = min(first_id, last_id), max(first_id, last_id)
        # A bookmark costs what a post does: each one makes the next of its title probe once more.
        ticket = await self._ctx.message_limiter.acquire(f"user:{actor_id}")

        def work(tx: WriteTx, changes: Changes, now: int) -> Conversation:
            actor = load_user(tx, actor_id)
            room = load_room(tx, room_id)
            ensure_can_read(standing_in(tx, room, actor, now), room)
            ensure_not_suspended(actor, now)
            ends = tx.messages([first_id, last_id])
            if any(ends.get(i) is None or ends[i].room_id != room.id for i in (first_id, last_id)):
                raise BadRequest("The first and last messages must both be in this room")
            slug = _free_slug(tx, room.id, slugify(title) or "conversation")
            return tx.insert_conversation(
                room_id=room.id,
                slug=slug,
                title=title,
                first_message_id=first_id,
                last_message_id=last_id,
                created_by=actor.id,
                now=now,
            )

        try:
            return await self._ctx.apply(work)
        except RemoteError:
            await ticket.refund()
            raise

    async def delete(self, actor_id: UserId, room_id: RoomId, key: str) -> None:
        """Remove a bookmark (by slug or title): its creator, room owners and moderators.

        Raises:
            NotLoggedIn, NotFound (room or conversation), NotAllowed.
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            actor = load_user(tx, actor_id)
            room = load_room(tx, room_id)
            standing = standing_in(tx, room, actor, now)
            ensure_can_read(standing, room)
            conversation = _find(tx, room.id, key)
            ensure_can_delete_conversation(standing, conversation.created_by, now)
            tx.delete_conversation(conversation.id)

        await self._ctx.apply(work)

    async def of_room(
        self, viewer: User | None, room_id: RoomId, *, limit: int, before: int | None = None
    ) -> list[Conversation]:
        """A readable room's newest ``limit`` bookmarks (with ids below ``before``: the next page), newest first.

        Raises:
            NotFound, NotAllowed (cannot read the room).
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[Conversation]:
            room = load_room(tx, room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            return tx.conversations(room.id, limit=limit, before=before)

        return await self._ctx.store.read(read)

    async def view(self, viewer: User | None, room_id: RoomId, slug: str) -> ConversationView:
        """A bookmark with its messages, for its page.

        Raises:
            NotFound (room or conversation), NotAllowed (cannot read the room).
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> ConversationView:
            room = load_room(tx, room_id)
            ensure_can_read(standing_in(tx, room, viewer, now), room)
            conversation = _find(tx, room.id, slug)
            found = tx.recent_messages(
                room.id,
                limit=MAX_SHOWN + 1,
                before=MessageId(conversation.last_message_id + 1),
                after=MessageId(conversation.first_message_id - 1),
            )
            shown = found[-MAX_SHOWN:]
            authors = tx.users({m.user_id for m in shown})
            return ConversationView(room, conversation, shown, authors, truncated=len(found) > MAX_SHOWN)

        return await self._ctx.store.read(read)
