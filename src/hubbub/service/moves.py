"""Moving messages between rooms, a part of ``service.messages.Messages``.

Each message moved is 19 in the old room and 20 in the new one; the mover then posts one arrow
notice in each room, which links the other and counts what moved.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import replace

from hubbub.core.events import EventType
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Room, User
from hubbub.core.rules import ensure_can_manage_room, ensure_can_post
from hubbub.errors import BadRequest
from hubbub.service.context import Changes, Context, load_room, load_user, message_event, standing_in
from hubbub.store.base import WriteTx

__all__ = ["MAX_MOVE", "Moves"]

MAX_MOVE: int = 500  # messages moved in one request


class Moves:
    """Moving messages (``Messages`` has this method)."""

    _ctx: Context

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
        poster = tx.user(actor.id) or actor  # as written by a notice before this one
        # a notice is the mover's message
        tx.update_user_activity(replace(poster, message_count=poster.message_count + 1))
        tx.update_room_activity(
            replace(current, last_activity=now, message_count=max(0, current.message_count - removed + 1))
        )
