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
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Message, Room, User
from hubbub.core.rules import (
    check_message_text,
    ensure_can_delete,
    ensure_can_edit,
    ensure_can_manage_room,
    ensure_can_pin,
    ensure_can_post,
    ensure_can_read,
    ensure_can_star,
)
from hubbub.errors import BadRequest, LimitReached, RemoteError
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
    standing_in,
)
from hubbub.service.revisions import add_revision
from hubbub.service.rooms import enter_room_from
from hubbub.store.base import WriteTx

__all__ = ["Messages", "Posted"]

MAX_MOVE: int = 500  # messages moved in one request


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


def _utc_midnight(now: int) -> int:
    day = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).date()
    return int(datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp())


class Messages:
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
            tx.update_room(replace(room, last_activity=now, message_count=room.message_count + 1))
            tx.update_user(replace(author, last_seen=now, last_post=now))
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
            tx.update_room(replace(room, message_count=max(0, room.message_count - 1)))
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

    def _star_event(self, message: Message, room: Room, now: int) -> NewEvent:
        # Stack Exchange no longer says who starred (seed 002, MessageStarredEvent).
        return NewEvent(
            type=EventType.MESSAGE_STARRED,
            time_stamp=now,
            room_id=room.id,
            room_name=room.name,
            message_id=message.id,
            content=message.content,
            parent_id=message.parent_id,
            show_parent=message.show_parent,
            message_edits=message.edits,
            message_stars=message.stars,
            message_owner_stars=message.owner_stars,
        )

    async def toggle_star(self, actor_id: UserId, message_id: MessageId) -> Message:
        """Star a message, or unstar it if the actor had starred it (event 6).

        Raises:
            NeverAssigned, NotFound, AlreadyDeleted, OwnMessage, LimitReached.
        """
        per_day = self._ctx.settings.stars_per_day

        def work(tx: WriteTx, changes: Changes, now: int) -> Message:
            actor = load_user(tx, actor_id)
            message = load_message(tx, message_id)
            room = load_room(tx, message.room_id)
            ensure_can_read(standing_in(tx, room, actor, now), room)
            ensure_can_star(actor, message, now)
            if tx.has_starred(message.id, actor.id):
                tx.remove_star(message.id, actor.id)
                changed = replace(message, stars=max(0, message.stars - 1))
            else:
                if tx.stars_given_since(actor.id, _utc_midnight(now)) >= per_day:
                    raise LimitReached(f"You have used all {per_day} of your stars for today")
                tx.add_star(message.id, actor.id, now)
                changed = replace(message, stars=message.stars + 1)
            tx.update_message(changed)
            changes.append(self._star_event(changed, room, now))
            return changed

        return await self._ctx.apply(work)

    async def _owner_star(self, actor_id: UserId, message_id: MessageId, action: str) -> Message:
        def work(tx: WriteTx, changes: Changes, now: int) -> Message:
            actor = load_user(tx, actor_id)
            message = load_message(tx, message_id)
            room = load_room(tx, message.room_id)
            standing = standing_in(tx, room, actor, now)
            ensure_can_read(standing, room)
            ensure_can_pin(standing, message, now)
            pinned = message.owner_stars > 0
            if action == "toggle-pin" and not pinned:
                tx.add_pin(message.id, actor.id, now)
                changed = replace(message, owner_stars=1)
            elif action in ("toggle-pin", "unpin"):
                if not pinned:
                    return message
                tx.clear_pins(message.id)
                changed = replace(message, owner_stars=0)
            else:  # clear all stars, pins included
                tx.clear_stars(message.id)
                tx.clear_pins(message.id)
                changed = replace(message, stars=0, owner_stars=0)
            tx.update_message(changed)
            changes.append(self._star_event(changed, room, now))
            return changed

        return await self._ctx.apply(work)

    async def toggle_pin(self, actor_id: UserId, message_id: MessageId) -> Message:
        """Pin a message, or unpin it if pinned (``owner-star``); room owners only."""
        return await self._owner_star(actor_id, message_id, "toggle-pin")

    async def unpin(self, actor_id: UserId, message_id: MessageId) -> Message:
        return await self._owner_star(actor_id, message_id, "unpin")

    async def clear_stars(self, actor_id: UserId, message_id: MessageId) -> Message:
        """Remove every star and pin from a message (``unstar``); room owners only."""
        return await self._owner_star(actor_id, message_id, "clear")

    async def move(
        self, actor_id: UserId, from_room_id: RoomId, message_ids: Sequence[MessageId], to_room_id: RoomId
    ) -> int:
        """Move messages of one room into another; returns how many moved.

        Only messages that are in ``from_room_id`` move; the actor must own that room
        and be allowed to talk in the target room.
        """
        if len(message_ids) > MAX_MOVE:
            raise BadRequest(f"At most {MAX_MOVE} messages can be moved at once")

        def work(tx: WriteTx, changes: Changes, now: int) -> int:
            actor = load_user(tx, actor_id)
            source_room = load_room(tx, from_room_id)
            target_room = load_room(tx, to_room_id)
            ensure_can_manage_room(standing_in(tx, source_room, actor, now), now)
            ensure_can_post(standing_in(tx, target_room, actor, now), target_room, now)
            if source_room.id == target_room.id:
                raise BadRequest("Messages are already in that room")
            found = tx.messages(message_ids)
            moving = sorted(
                (m for m in found.values() if m.room_id == source_room.id and not m.deleted),
                key=lambda m: m.id,
            )
            if not moving:
                return 0
            authors = tx.users({m.user_id for m in moving})
            for message in moving:
                moved = replace(message, room_id=target_room.id)
                tx.update_message(moved)
                author = authors[message.user_id]
                out_event = message_event(EventType.MESSAGE_MOVED_OUT, message, source_room, author, now)
                changes.append(replace(out_event, moved=True))
                in_event = message_event(EventType.MESSAGE_MOVED_IN, moved, target_room, author, now)
                changes.append(replace(in_event, moved=True))
            count = len(moving)
            noun = "message" if count == 1 else "messages"
            first = moving[0].id
            self._post_notice(
                tx,
                changes,
                source_room,
                actor,
                now,
                f'&rarr; <i><a href="/transcript/message/{first}#{first}">{count} {noun}</a> moved to '
                f'<a href="/rooms/{target_room.id}/{target_room.slug}">{html.escape(target_room.name)}</a></i>',
                f"→ {count} {noun} moved to {target_room.name}",
                removed=count,
            )
            self._post_notice(
                tx,
                changes,
                target_room,
                actor,
                now,
                f"&larr; <i>{count} {noun} moved from "
                f'<a href="/rooms/{source_room.id}/{source_room.slug}">{html.escape(source_room.name)}</a></i>',
                f"← {count} {noun} moved from {source_room.name}",
                removed=-count,
            )
            return count

        return await self._ctx.apply(work)

    def _post_notice(
        self,
        tx: WriteTx,
        changes: Changes,
        room: Room,
        actor: User,
        now: int,
        content: str,
        source: str,
        *,
        removed: int,
    ) -> None:
        """A server-made message (content built from escaped parts, not from markdown)."""
        current = tx.room(room.id) or room
        message = tx.insert_message(
            room_id=room.id,
            user_id=actor.id,
            source=source,
            content=content,
            posted_at=now,
            parent_id=None,
            show_parent=False,
        )
        changes.append(message_event(EventType.MESSAGE_POSTED, message, room, actor, now))
        tx.update_room(replace(current, last_activity=now, message_count=max(0, current.message_count - removed + 1)))

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
