"""Message operations: post, edit, delete, star, pin, move, and acknowledging pings.

Each operation checks the rules of ``hubbub.core.rules`` inside the transaction
that applies it and appends the events Stack Exchange chat would send:

- posting: 18 to the replied-to author and 8 to each pinged user (their inbox
  gains an item, and an INBOX_CHANGED event carries the new unread count), then 1;
- editing: 2 (plus 8 for users newly pinged by the edit);
- deleting: 10, without content;
- starring, pinning, clearing stars: 6 with the new counts and no user fields;
- moving: 19 in the old room and 20 in the new one per message, plus one arrow
  message by the mover in each room.

Stars and pins live in ``service.stars`` and moves in ``service.moves``, as parts of ``Messages``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Message, Room, User
from hubbub.core.rules import (
    check_message_text,
    ensure_can_delete,
    ensure_can_edit,
    ensure_can_post,
)
from hubbub.errors import RemoteError
from hubbub.service import message_text
from hubbub.service.context import (
    Changes,
    Context,
    load_message,
    load_room,
    load_user,
    load_user_in_room,
    message_event,
    standing_here,
)
from hubbub.service.moves import Moves
from hubbub.service.revisions import add_revision
from hubbub.service.rooms import enter_room_from
from hubbub.service.stars import Stars
from hubbub.store.base import WriteTx

__all__ = ["Messages", "Posted"]


@dataclass(frozen=True, slots=True)
class Posted:
    """The outcome of a post: the new message, or None when it repeated the author's last one."""

    message: Message | None


def _notify(
    tx: WriteTx,
    changes: Changes,
    event_type: EventType,
    message: Message,
    room: Room,
    author: User,
    target: UserId,
    now: int,
) -> None:
    """A targeted 8/18 event plus the inbox item and the new unread count it causes."""
    event = changes.append(message_event(event_type, message, room, author, now, target=target))
    tx.add_inbox(target, event)
    changes.append(
        NewEvent(
            type=EventType.INBOX_CHANGED,
            time_stamp=now,
            target_user_id=target,
            data=str(tx.unread_count(target)),
        )
    )


class Messages(Stars, Moves):
    """Every message operation (stars and pins: ``service.stars``; moves: ``service.moves``)."""

    def __init__(self, context: Context) -> None:
        self._ctx = context

    def _pingable_since(self, now: int) -> int:
        return now - self._ctx.settings.pingable_days * 86_400

    async def post(self, actor_id: UserId, room_id: RoomId, text: str, *, parent_id: MessageId | None = None) -> Posted:
        """Post ``text`` to a room as ``actor_id``.

        A ``:<id> `` prefix (or ``parent_id``) makes the message a reply. Posting
        enters the room if the author was not in it.

        Raises:
            RateLimited, NotLoggedIn, NotFound, NotAllowed (Kicked, Suspended,
            LowReputation), EmptyMessage, TooLong.
        """
        settings = self._ctx.settings
        ticket = await self._ctx.message_limiter.acquire(f"user:{actor_id}")
        # Drafted here, not in the unit: the writer is serial. A text too long to post is not
        # rendered (the unit refuses it, after the checks that come first).
        early = message_text.draft(text, parent_id) if len(text) <= settings.max_message_chars else None

        def work(tx: WriteTx, changes: Changes, now: int) -> Posted:
            # One query for what the checks read (six rows on the writer, which is serial).
            author, room, here = load_user_in_room(tx, actor_id, room_id)
            ensure_can_post(standing_here(author, here, now), room, now)
            check_message_text(text, max_chars=settings.max_message_chars)
            drafted = early or message_text.draft(text, parent_id)
            last = here.last_message
            if (
                last is not None
                and not last.deleted
                and last.source == text
                and now - last.posted_at <= settings.duplicate_window_seconds
            ):
                return Posted(None)
            rendered = message_text.render(tx, room, author, drafted, self._pingable_since(now), now)
            reply_to = rendered.parent
            thread_parent = reply_to.id if reply_to is not None else None
            if reply_to is None and len(rendered.pinged) == 1:
                # A message pinging exactly one user points at that user's last message (seed 002).
                pinged_last = tx.last_message_by(rendered.pinged[0], room.id)
                thread_parent = pinged_last.id if pinged_last is not None else None
            enter_room_from(tx, changes, room, author, here.membership, now, posted=True)
            message = tx.insert_message(
                room_id=room.id,
                user_id=author.id,
                source=text,
                content=rendered.content,
                posted_at=now,
                parent_id=thread_parent,
                show_parent=reply_to is not None,
            )
            notified: set[UserId] = {author.id}
            if rendered.parent_author is not None and rendered.parent_author.id not in notified:
                _notify(
                    tx,
                    changes,
                    EventType.MESSAGE_REPLY,
                    message,
                    room,
                    author,
                    rendered.parent_author.id,
                    now,
                )
                notified.add(rendered.parent_author.id)
            for user_id in rendered.pinged:
                if user_id not in notified:
                    _notify(tx, changes, EventType.USER_MENTIONED, message, room, author, user_id, now)
                    notified.add(user_id)
            changes.append(message_event(EventType.MESSAGE_POSTED, message, room, author, now))
            tx.update_room_activity(replace(room, last_activity=now, message_count=room.message_count + 1))
            tx.update_user_activity(
                replace(author, last_seen=now, last_post=now, message_count=author.message_count + 1)
            )
            return Posted(message)

        def prefetch(tx: WriteTx) -> None:
            tx.prefetch_user_in_room(actor_id, room_id)

        try:
            return await self._ctx.apply(work, prefetch=prefetch)
        except RemoteError:
            await ticket.refund()
            raise

    async def edit(self, actor_id: UserId, message_id: MessageId, text: str) -> Message:
        """Replace a message's text (event 2).

        Raises:
            RateLimited, NeverAssigned, AlreadyDeleted, NotYours, TooLate, EmptyMessage, TooLong.
        """
        settings = self._ctx.settings
        ticket = await self._ctx.message_limiter.acquire(f"user:{actor_id}")

        def work(tx: WriteTx, changes: Changes, now: int) -> Message:
            actor = load_user(tx, actor_id)
            message = load_message(tx, message_id)
            ensure_can_edit(actor, message, now)
            check_message_text(text, max_chars=settings.max_message_chars)
            if text == message.source:
                return message
            room = load_room(tx, message.room_id)
            author = load_user(tx, message.user_id)
            pingable_since = self._pingable_since(now)
            before = message_text.render(
                tx, room, author, message_text.draft(message.source, None), pingable_since, now
            )
            rendered = message_text.render(tx, room, author, message_text.draft(text, None), pingable_since, now)
            edited = replace(
                message,
                source=text,
                content=rendered.content,
                parent_id=rendered.parent.id if rendered.parent is not None else message.parent_id,
                show_parent=rendered.parent is not None,
                edits=message.edits + 1,
                edited_at=now,
            )
            tx.update_message(edited)
            add_revision(tx, message, kind="edited", source=text, content=edited.content, user_id=actor.id, at=now)
            already = {author.id, *before.pinged}
            if before.parent_author is not None:
                already.add(before.parent_author.id)
            for user_id in rendered.pinged:
                if user_id not in already:
                    _notify(tx, changes, EventType.USER_MENTIONED, edited, room, author, user_id, now)
            target = author.id if actor.id != author.id else None
            changes.append(message_event(EventType.MESSAGE_EDITED, edited, room, author, now, target=target))
            return edited

        try:
            return await self._ctx.apply(work)
        except RemoteError:
            await ticket.refund()
            raise

    async def delete(self, actor_id: UserId, message_id: MessageId) -> Message:
        """Delete a message (event 10, without content).

        Raises:
            RateLimited, NeverAssigned, AlreadyDeleted, NotYours, TooLate.
        """
        ticket = await self._ctx.message_limiter.acquire(f"user:{actor_id}")

        def work(tx: WriteTx, changes: Changes, now: int) -> Message:
            actor = load_user(tx, actor_id)
            message = load_message(tx, message_id)
            ensure_can_delete(actor, message, now)
            room = load_room(tx, message.room_id)
            author = load_user(tx, message.user_id)
            deleted = replace(message, deleted=True, deleted_at=now, deleted_by=actor.id)
            tx.update_message(deleted)
            add_revision(
                tx, message, kind="deleted", source=message.source, content=message.content, user_id=actor.id, at=now
            )
            tx.update_room_activity(replace(room, message_count=max(0, room.message_count - 1)))
            tx.update_user_activity(replace(author, message_count=max(0, author.message_count - 1)))
            target = author.id if actor.id != author.id else None
            changes.append(
                message_event(EventType.MESSAGE_DELETED, deleted, room, author, now, content=False, target=target)
            )
            return deleted

        try:
            return await self._ctx.apply(work)
        except RemoteError:
            await ticket.refund()
            raise

    async def acknowledge(self, actor_id: UserId, message_ids: Sequence[MessageId] | None) -> int:
        """Mark the actor's pings and replies about these messages (None: all) as read.

        Appends INBOX_CHANGED with the new unread count when anything changed.
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> int:
            user = load_user(tx, actor_id)
            changed = tx.mark_read(user.id, message_ids)
            if changed:
                changes.append(
                    NewEvent(
                        type=EventType.INBOX_CHANGED,
                        time_stamp=now,
                        target_user_id=user.id,
                        data=str(tx.unread_count(user.id)),
                    )
                )
            return changed

        return await self._ctx.apply(work)
