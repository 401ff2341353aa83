"""Streams API tokens (streams.md §B.1): one per user, 20 upper-case hex characters, stable until reset.

The token is stored as is (the profile page and ``GET /api/v1/profile`` show it again, as
multistreamer did); the log carries only its SHA-256 (``ACCESS_TOKEN_RESET``), which is what
every node's socket directory keeps.
"""

from __future__ import annotations

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import UserId
from hubbub.core.models import User
from hubbub.core.streams import hash_access_token, is_access_token, make_access_token
from hubbub.service.context import Changes, Context, load_user
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["StreamTokens"]


class StreamTokens:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def token(self, user_id: UserId) -> str:
        """The user's streams API token, made on first use (multistreamer made it on first login)."""
        existing = await self._ctx.store.read(lambda tx: tx.access_token_of(user_id))
        if existing is not None:
            return existing

        def work(tx: WriteTx, changes: Changes, now: int) -> str:
            load_user(tx, user_id)
            current = tx.access_token_of(user_id)
            if current is not None:
                return current
            return self._set_token(tx, changes, user_id, now)

        return await self._ctx.apply(work)

    async def reset_token(self, user_id: UserId) -> str:
        """A new token; the old one stops working at once, on every node (sockets opened with it close)."""

        def work(tx: WriteTx, changes: Changes, now: int) -> str:
            load_user(tx, user_id)
            return self._set_token(tx, changes, user_id, now)

        return await self._ctx.apply(work)

    @staticmethod
    def _set_token(tx: WriteTx, changes: Changes, user_id: UserId, now: int) -> str:
        token = make_access_token()
        tx.set_access_token(user_id, token, now)
        changes.append(
            NewEvent(
                type=EventType.ACCESS_TOKEN_RESET,
                time_stamp=now,
                target_user_id=user_id,
                data=hash_access_token(token),
            )
        )
        return token

    async def user_by_token(self, token: str) -> User | None:
        if not is_access_token(token):
            return None

        def lookup(tx: ReadTx) -> User | None:
            user_id = tx.user_by_access_token(token)
            return None if user_id is None else tx.user(user_id)

        return await self._ctx.store.read(lookup)
