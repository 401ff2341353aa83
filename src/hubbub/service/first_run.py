"""The first account on an empty server: a one-time setup link for an administrator.

When no account exists, ``hubbub serve`` asks for a setup token at every start and
prints the link ``/setup/<token>``; only the token's SHA-256 is kept (in the store's
meta table), so the link is as secret as the terminal it was printed in, and each
start replaces the previous one. The page at that link creates a moderator account,
hubbub's administrator, and the token is consumed in the same unit of work that
writes the account: two submissions cannot both succeed. Once any account exists
(made there, by ``hubbub users create`` or by signing up) no link is valid and none
is issued again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from hubbub.core.models import User
from hubbub.errors import NotFound
from hubbub.service.accounts import Accounts
from hubbub.service.context import Changes, Context
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["SETUP_LINK_INVALID", "SETUP_PATH", "FirstRun"]

SETUP_PATH: Final = "/setup/"
SETUP_TOKEN_META_KEY: Final = "setup_token_sha256"  # "" once used or withdrawn
SETUP_LINK_INVALID: Final = (
    "This setup link is not valid: it was used already, an account exists, or hubbub serve "
    "was restarted since (each start prints a new link while no account exists)."
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _has_accounts(tx: ReadTx) -> bool:
    return bool(tx.list_users(limit=1))


def _check(tx: ReadTx, token: str) -> None:
    stored = tx.meta(SETUP_TOKEN_META_KEY)
    if _has_accounts(tx) or not stored or not hmac.compare_digest(stored, _digest(token)):
        raise NotFound(SETUP_LINK_INVALID)


class FirstRun:
    def __init__(self, context: Context, accounts: Accounts) -> None:
        self._ctx = context
        self._accounts = accounts
        self._accounts_exist = False  # once true it stays true: accounts are never all removed

    async def needs_account(self) -> bool:
        """Whether the server has no account yet (the home page then says how to make the first)."""
        if not self._accounts_exist:
            self._accounts_exist = await self._ctx.store.read(_has_accounts)
        return not self._accounts_exist

    async def issue_token(self) -> str | None:
        """A new one-time setup token when no account exists (replacing any earlier one); else None."""
        token = secrets.token_urlsafe(32)

        def work(tx: WriteTx, changes: Changes, now: int) -> bool:
            if _has_accounts(tx):
                if tx.meta(SETUP_TOKEN_META_KEY):
                    tx.set_meta(SETUP_TOKEN_META_KEY, "")
                return False
            tx.set_meta(SETUP_TOKEN_META_KEY, _digest(token))
            return True

        return token if await self._ctx.apply(work) else None

    async def check_token(self, token: str) -> None:
        """Raises ``NotFound`` unless ``token`` is the live setup token (for showing the form)."""
        await self._ctx.store.read(lambda tx: _check(tx, token))

    async def create_administrator(self, token: str, name: str, *, email: str, password: str) -> User:
        """Create the first account, a moderator, with the live setup token; the token is used up.

        Raises:
            NotFound: The token is not (or no longer) valid, or an account exists.
            BadRequest, Conflict: As ``Accounts.create_user``; the token stays valid.
        """

        def consume(tx: WriteTx) -> None:
            _check(tx, token)
            tx.set_meta(SETUP_TOKEN_META_KEY, "")

        user = await self._accounts.create_user(name, email=email, password=password, is_moderator=True, first=consume)
        self._accounts_exist = True
        return user
