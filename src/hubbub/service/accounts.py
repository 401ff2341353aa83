"""Accounts and logins: creating users, checking and changing passwords, sessions with their fkey.

- Passwords are hashed with Argon2id, off the event loop and with bounded
  concurrency (``service/passwords.py``), and re-hashed when its parameters change.
- Every login attempt, right password or wrong, takes a token from the login
  limits (``LoginLimits``: per client address and account, per account, per address).
- A login session is a random cookie token (only its SHA-256 is stored) with
  one stable ``fkey`` used by every form the session posts (sechat.md §8.3). An
  account has at most ``sessions_per_user`` live sessions: a new login ends the oldest.
- Logging out appends ``SESSION_ENDED`` and changing a password ``SESSIONS_REVOKED``,
  so that every node closes the sockets of the sessions that ended
  (``visibility.access_change``); socket URLs live in ``service.socket_tokens``,
  signed with the server secret loaded here.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import UserId
from hubbub.core.models import LoginSession, User
from hubbub.core.rules import check_about, ensure_can_edit_profile
from hubbub.errors import BadRequest, Busy, ConfigError, InvalidCredentials, NotFound, WrongPassword
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.credentials import plausible_token
from hubbub.service.passwords import PasswordHashing
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["ANONYMOUS_FKEY_LABEL", "Accounts", "SignedIn", "session_key"]

SECRET_META_KEY: Final = "server_secret"
ANONYMOUS_FKEY_LABEL: Final = "anonymous-fkey"
MAX_NAME_CHARS: Final = 64
MIN_PASSWORD_CHARS: Final = 8
SESSION_KEY_CHARS: Final = 16


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session as a request sees it."""

    session: LoginSession
    user: User


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise BadRequest(f"A password needs at least {MIN_PASSWORD_CHARS} characters")


def session_key(session: LoginSession) -> str:
    """The name a login session goes by in the log and in socket URLs: a hash of its stored
    hash, so it gives away neither the cookie nor what the store keys the session by."""
    digest = hashlib.sha256(f"hubbub-session:{session.token_hash}".encode())
    return digest.hexdigest()[:SESSION_KEY_CHARS]


def _sessions_event(kind: EventType, user_id: UserId, session: LoginSession | None, now: int) -> NewEvent:
    """1003 (this session ended) or 1004 (every session but this one, or all, ended)."""
    return NewEvent(
        type=kind,
        time_stamp=now,
        target_user_id=user_id,
        data=None if session is None else session_key(session),
    )


class Accounts:
    def __init__(self, context: Context) -> None:
        self._ctx = context
        settings = context.settings
        if settings.sessions_per_user < 1:
            raise ConfigError("sessions_per_user: an account needs room for at least 1 session")
        if settings.password_hash_threads < 1 or settings.password_hash_queue < 0:
            raise ConfigError("password_hash_threads must be at least 1 and password_hash_queue at least 0")
        self.passwords = PasswordHashing(
            time_cost=settings.password_time_cost,
            memory_kib=settings.password_memory_kib,
            threads=settings.password_hash_threads,
            queue=settings.password_hash_queue,
        )
        self._secret: bytes | None = None
        self._decoy: str | None = None

    def close(self) -> None:
        self.passwords.close()

    async def load_secret(self) -> None:
        """Read the server secret, creating it on first start (it signs socket tokens and the anonymous fkey)."""

        candidate = secrets.token_hex(32)

        def work(tx: WriteTx, changes: Changes, now: int) -> str:
            # Nodes of a cluster that start together must end up with one secret, whoever stored it.
            return tx.meta_or_set(SECRET_META_KEY, candidate)

        self._secret = bytes.fromhex(await self._ctx.apply(work))

    def sign(self, message: str) -> str:
        """HMAC-SHA256 of ``message`` with the server secret, in hex (any node with the database agrees)."""
        if self._secret is None:
            raise RuntimeError("Accounts.load_secret() was not awaited")
        return hmac.new(self._secret, message.encode("utf-8"), hashlib.sha256).hexdigest()

    # users

    async def create_user(
        self,
        name: str,
        *,
        email: str,
        password: str,
        reputation: int | None = None,
        is_moderator: bool = False,
        first: Callable[[WriteTx], None] | None = None,
    ) -> User:
        """Create an account.

        ``first`` runs in the unit of work that writes the account, before it (after the
        checks below); if it raises, nothing is written (the first-run setup link uses it).

        Raises:
            BadRequest: Empty or over-long name, malformed e-mail, short password.
            Conflict: The e-mail address is taken.
            Busy: Too many passwords are being hashed right now.
        """
        name = " ".join(name.split())
        email = email.strip().lower()
        if not name or len(name) > MAX_NAME_CHARS:
            raise BadRequest(f"A display name needs 1 to {MAX_NAME_CHARS} characters")
        if "@" not in email or email.startswith("@") or email.endswith("@") or any(c.isspace() for c in email):
            raise BadRequest("That does not look like an e-mail address")
        _check_new_password(password)
        password_hash = await self.passwords.hash(password)
        start = self._ctx.settings.new_user_reputation if reputation is None else reputation

        def work(tx: WriteTx, changes: Changes, now: int) -> User:
            if first is not None:
                first(tx)
            return tx.insert_user(
                name=name,
                email=email,
                password_hash=password_hash,
                reputation=start,
                is_moderator=is_moderator,
                now=now,
            )

        return await self._ctx.apply(work)

    async def authenticate(self, email: str, password: str, *, client: str) -> User:
        """Check an e-mail address and password; every attempt counts against the login limits.

        Raises:
            RateLimited: Too many attempts for this account, from this client, or both.
            Busy: Too many passwords are being checked right now (the attempt is not counted).
            InvalidCredentials: No such account, or the wrong password.
        """
        email = email.strip().lower()
        return await self._check(email, lambda tx: tx.user_by_email(email), password, client)

    async def authenticate_nick(self, nick: str, password: str, *, client: str) -> User:
        """``authenticate`` by an IRC nick, the account's name without spaces (the oldest such account).

        The attempt counts against the same login limits, per account under the account's
        e-mail address (so an account has one budget however it is named).
        """
        found = await self._ctx.store.read(lambda tx: tx.user_by_nick(nick))
        account = found.email if found is not None and found.email else f"nick:{nick.lower()}"
        return await self._check(account, lambda tx: tx.user_by_nick(nick), password, client)

    async def _check(self, account: str, find: Callable[[ReadTx], User | None], password: str, client: str) -> User:
        # A right password spends its tokens too: each login costs a hash and a session.
        tickets = await self._ctx.login_limits.acquire(address=client, account=account)

        def lookup(tx: ReadTx) -> tuple[User | None, str | None]:
            user = find(tx)
            return user, None if user is None else tx.password_hash(user.id)

        user, stored = await self._ctx.store.read(lookup)
        try:
            if user is None or not stored:
                # Spend the same time as a real check so that response time does not reveal accounts.
                await self.passwords.verify(await self._decoy_hash(), password)
                raise InvalidCredentials()
            matches = await self.passwords.verify(stored, password)
        except Busy:
            for ticket in tickets:
                await ticket.refund()  # nothing was checked: the refusal changes no state
            raise
        if not matches:
            raise InvalidCredentials()
        if self.passwords.needs_rehash(stored):
            # The login stands either way; when hashing is saturated the upgrade waits for the next one.
            with contextlib.suppress(Busy):
                rehashed = await self.passwords.hash(password)
                user_id = user.id
                await self._ctx.apply(lambda tx, changes, now: tx.set_password_hash(user_id, rehashed))
        return user

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await self.passwords.hash(secrets.token_hex(16))
        return self._decoy

    # sessions

    async def open_session(self, user: User) -> tuple[str, LoginSession]:
        """Start a login session; returns the cookie token (shown once) and the session.

        The user's expired sessions end, and so do their oldest live ones beyond
        ``sessions_per_user`` (counting the new one), in the same transaction; each that ends
        appends ``SESSION_ENDED``, as logging out does, so that its sockets close on every node.
        """
        token = secrets.token_urlsafe(32)
        ttl = self._ctx.settings.session_ttl_days * 86_400
        others = self._ctx.settings.sessions_per_user - 1

        def work(tx: WriteTx, changes: Changes, now: int) -> LoginSession:
            session = LoginSession(
                token_hash=_hash_token(token),
                user_id=user.id,
                fkey=secrets.token_hex(16),
                created_at=now,
                expires_at=now + ttl,
            )
            for ended in tx.trim_sessions(user.id, keep=others, now=now):
                changes.append(_sessions_event(EventType.SESSION_ENDED, user.id, ended, now))
            tx.insert_session(session)
            return session

        return token, await self._ctx.apply(work)

    async def signed_in(self, token: str) -> SignedIn | None:
        """The live session for a cookie token, or None (unknown, expired, or its user gone)."""
        if not plausible_token(token):
            return None
        token_hash = _hash_token(token)
        now = self._ctx.now()

        def lookup(tx: ReadTx) -> SignedIn | None:
            found = tx.session_and_user(token_hash)  # one query: every signed-in request runs it
            if found is None or found[0].expires_at <= now:
                return None
            return SignedIn(*found)

        return await self._ctx.store.lookup(lookup)

    async def close_session(self, token: str) -> None:
        """Log out: end the session and, on every node, its sockets (``SESSION_ENDED``)."""
        if not plausible_token(token):
            return
        token_hash = _hash_token(token)

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            session = tx.session(token_hash)
            if session is None:
                return
            tx.delete_session(token_hash)
            changes.append(_sessions_event(EventType.SESSION_ENDED, session.user_id, session, now))

        await self._ctx.apply(work)

    def anonymous_fkey(self) -> str:
        """The fkey handed to visitors who are not logged in (it guards nothing but is checked)."""
        return self.sign(ANONYMOUS_FKEY_LABEL)[:32]

    # changing passwords

    async def change_password(self, signed: SignedIn, current: str, new: str) -> None:
        """The user changes their own password, giving the current one; their other sessions end.

        Every attempt counts against the account's login limit, as logins do.

        Raises:
            BadRequest: The new password is too short.
            RateLimited: Too many attempts for this account.
            Busy: Too many passwords are being hashed right now (the attempt is not counted).
            WrongPassword: ``current`` is not the account's password.
        """
        _check_new_password(new)
        user_id = signed.user.id
        ticket = await self._ctx.login_limits.per_account.acquire(f"password-change {user_id}")
        stored = await self._ctx.store.read(lambda tx: tx.password_hash(user_id))
        try:
            matches = bool(stored) and await self.passwords.verify(stored or "", current)
        except Busy:
            await ticket.refund()
            raise
        if not matches:
            raise WrongPassword()
        await self._replace_password(user_id, new, keep=signed.session)

    async def set_password(self, user_id: UserId, new: str) -> None:
        """The operator sets a user's password (``hubbub users set-password``); every session ends.

        Raises:
            NotFound: No such user.
            BadRequest: The password is too short.
            Busy: Too many passwords are being hashed right now.
        """
        _check_new_password(new)
        if await self._ctx.store.read(lambda tx: tx.user(user_id)) is None:
            raise NotFound(f"There is no user with id {user_id}")
        await self._replace_password(user_id, new, keep=None)

    async def _replace_password(self, user_id: UserId, new: str, *, keep: LoginSession | None) -> None:
        password_hash = await self.passwords.hash(new)

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            if tx.user(user_id) is None:
                raise NotFound(f"There is no user with id {user_id}")
            tx.set_password_hash(user_id, password_hash)
            tx.delete_sessions_of(user_id, keep_token_hash=None if keep is None else keep.token_hash)
            changes.append(_sessions_event(EventType.SESSIONS_REVOKED, user_id, keep, now))

        await self._ctx.apply(work)

    # listing (CLI, admin)

    async def set_about(self, actor_id: UserId, user_id: UserId, text: str) -> User:
        """Replace a profile's "about me" line (its owner, or a moderator).

        Raises:
            NotLoggedIn, NotFound (no such user), NotAllowed, BadRequest (too long).
        """
        about = check_about(text)

        def work(tx: WriteTx, changes: Changes, now: int) -> User:
            actor = load_user(tx, actor_id)
            ensure_can_edit_profile(actor, user_id)
            user = tx.user(user_id)
            if user is None:
                raise NotFound(f"There is no user with id {user_id}")
            changed = replace(user, about=about)
            tx.update_user(changed)
            return changed

        return await self._ctx.apply(work)

    async def list_users(self) -> list[User]:
        return await self._ctx.store.read(lambda tx: tx.list_users())
