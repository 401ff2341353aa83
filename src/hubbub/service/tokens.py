"""API tokens: bearer credentials for programs (``hubbub tokens create --scope publish``).

Only the token's SHA-256 is stored; the token itself is shown once, when created.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

from hubbub.core.models import ApiToken
from hubbub.errors import BadRequest, NotFound, NotLoggedIn
from hubbub.service.context import Changes, Context
from hubbub.service.credentials import plausible_token
from hubbub.store.base import WriteTx

__all__ = ["SCOPES", "ApiTokens"]

SCOPES: Final = frozenset({"publish"})
TOKEN_PREFIX: Final = "hbb_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiTokens:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def create(self, name: str, scope: str) -> tuple[str, ApiToken]:
        """Make a token; returns it (shown once) and its record.

        Raises:
            BadRequest: An empty name or an unknown scope.
        """
        name = name.strip()
        if not name:
            raise BadRequest("A token needs a name")
        if scope not in SCOPES:
            raise BadRequest(f"Unknown scope {scope!r}; expected one of {', '.join(sorted(SCOPES))}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)

        def work(tx: WriteTx, changes: Changes, now: int) -> ApiToken:
            return tx.insert_api_token(name=name, scope=scope, token_hash=_hash(token), now=now)

        return token, await self._ctx.apply(work)

    async def verify(self, token: str, scope: str) -> ApiToken:
        """The live token with this value and scope.

        Raises:
            NotLoggedIn: Unknown, revoked, or lacking the scope.
        """
        plausible = plausible_token(token)
        record = await self._ctx.store.read(lambda tx: tx.api_token(_hash(token))) if plausible else None
        if record is None or record.revoked_at is not None or record.scope != scope:
            raise NotLoggedIn("The bearer token is missing, unknown, revoked or not allowed to do this")
        return record

    async def list(self) -> list[ApiToken]:
        return await self._ctx.store.read(lambda tx: tx.api_tokens())

    async def revoke(self, token_id: int) -> None:
        """Raises: NotFound when there is no such live token."""

        def work(tx: WriteTx, changes: Changes, now: int) -> bool:
            return tx.revoke_api_token(token_id, now)

        if not await self._ctx.apply(work):
            raise NotFound(f"No live token with id {token_id}")
