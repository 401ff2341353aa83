"""Stars and pins, a part of ``service.messages.Messages``: each change is event 6 with the new counts.

Anyone who may read a room stars its messages (one star per user and message, a daily
allowance of ``stars_per_day``); its owners pin them ("owner stars") and clear them.
"""

from __future__ import annotations

import datetime
from dataclasses import replace

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import MessageId, UserId
from hubbub.core.models import Message, Room
from hubbub.core.rules import ensure_can_pin, ensure_can_read, ensure_can_star
from hubbub.errors import LimitReached
from hubbub.service.context import Changes, Context, load_message, load_room, load_user, standing_in
from hubbub.store.base import WriteTx

__all__ = ["Stars"]


def _utc_midnight(now: int) -> int:
    day = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).date()
    return int(datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp())


class Stars:
    """Starring, pinning and clearing stars (``Messages`` has these methods)."""

    _ctx: Context

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
