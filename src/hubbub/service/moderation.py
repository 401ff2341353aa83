"""Moderators' operations on accounts: suspending a user and lifting a suspension.

A suspended account cannot talk anywhere and reads only what visitors read
(``rules.can_read``): it leaves the private rooms it was in (event 4 for each, so
its sockets stop carrying them), its unopened socket URLs are revoked, and it gets
event 29, whose ``content`` is Stack Exchange's ``<n> {"old": ..., "new": ...}``:
hubbub puts the suspension's length in seconds first (0 when lifted), then when the
previous suspension would have ended and when the new one ends (Unix seconds, or
null). The operator acts through ``hubbub users suspend``/``unsuspend`` with no
moderator account: the events then name the system account (-2) as the actor.
"""

from __future__ import annotations

import json
from dataclasses import replace

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import FEEDS_USER_ID, UserId
from hubbub.core.models import User
from hubbub.core.rules import ensure_can_suspend, ensure_moderator
from hubbub.errors import BadRequest, NotFound
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.rooms import leave_unreadable_rooms
from hubbub.store.base import WriteTx

__all__ = ["Moderation"]


def _suspension_event(actor: User, target: User, seconds: int, old: int | None, new: int | None, now: int) -> NewEvent:
    return NewEvent(
        type=EventType.USER_SUSPENDED,
        time_stamp=now,
        user_id=actor.id,
        user_name=actor.name,
        target_user_id=target.id,
        content=f"{seconds} {json.dumps({'old': old, 'new': new}, separators=(',', ':'))}",
    )


class Moderation:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    @staticmethod
    def _load(tx: WriteTx, actor_id: UserId | None, user_id: UserId) -> tuple[User | None, User, User]:
        """The acting moderator (None: the operator), the target, and who the events name as actor."""
        actor = None if actor_id is None else load_user(tx, actor_id)
        target = tx.user(user_id)
        if target is None or target.id <= 0:
            raise NotFound(f"There is no user with id {user_id}")
        shown = actor if actor is not None else tx.user(FEEDS_USER_ID)
        if shown is None:
            raise NotFound(f"There is no user with id {FEEDS_USER_ID}")
        return actor, target, shown

    async def suspend(self, actor_id: UserId | None, user_id: UserId, seconds: int) -> User:
        """Suspend a user for ``seconds`` from now (replacing any suspension); moderators only.

        Raises:
            NotLoggedIn, NotFound (no such user), NotAllowed (not a moderator, or the
            target is one), BadRequest (a length outside 1 second to a year).
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> User:
            actor, target, shown = self._load(tx, actor_id, user_id)
            ensure_can_suspend(actor, target, seconds)
            old = target.suspended_until if target.is_suspended(now) else None
            suspended = replace(target, suspended_until=now + seconds)
            tx.update_user(suspended)
            changes.append(_suspension_event(shown, suspended, seconds, old, now + seconds, now))
            leave_unreadable_rooms(tx, changes, suspended, now)
            return suspended

        return await self._ctx.apply(work)

    async def unsuspend(self, actor_id: UserId | None, user_id: UserId) -> User:
        """Lift a user's suspension now; moderators only.

        Raises:
            NotLoggedIn, NotFound, NotAllowed (not a moderator), BadRequest (not suspended).
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> User:
            actor, target, shown = self._load(tx, actor_id, user_id)
            ensure_moderator(actor)
            if not target.is_suspended(now):
                raise BadRequest(f"{target.name} is not suspended")
            lifted = replace(target, suspended_until=None)
            tx.update_user(lifted)
            changes.append(_suspension_event(shown, lifted, 0, target.suspended_until, None, now))
            return lifted

        return await self._ctx.apply(work)
