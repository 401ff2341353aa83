"""Accounts and logins: creating users, checking passwords, sessions with their fkey, socket tokens.

- Passwords are hashed with Argon2id, off the event loop and with bounded
  concurrency (``service/passwords.py``), and re-hashed when its parameters change.
- Every login attempt, right password or wrong, takes a token from the login
  limits (``LoginLimits``: per client address and account, per account, per address).
- A login session is a random cookie token (only its SHA-256 is stored) with
  one stable ``fkey`` used by every form the session posts (sechat.md §8.3). An
  account has at most ``sessions_per_user`` live sessions: a new login ends the oldest.
- A socket token, returned by ``/ws-auth`` inside the websocket URL, is signed
  with the server secret and names one user and one room until it expires; any
  node holding the same database can check it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import LoginSession, User
from hubbub.core.rules import check_about, ensure_can_edit_profile
from hubbub.errors import BadRequest, Busy, ConfigError, InvalidCredentials, NotFound
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.credentials import plausible_token
from hubbub.service.passwords import PasswordHashing
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["ANONYMOUS_FKEY_LABEL", "Accounts", "SignedIn"]

SECRET_META_KEY: Final = "server_secret"
ANONYMOUS_FKEY_LABEL: Final = "anonymous-fkey"
MAX_NAME_CHARS: Final = 64
MIN_PASSWORD_CHARS: Final = 8


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session as a request sees it."""

    session: LoginSession
    user: User


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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
        """Read the server secret, creating it on first start (it signs socket tokens)."""

        def work(tx: WriteTx, changes: Changes, now: int) -> str:
            secret = tx.meta(SECRET_META_KEY)
            if secret is None:
                secret = secrets.token_hex(32)
                tx.set_meta(SECRET_META_KEY, secret)
            return secret

        self._secret = bytes.fromhex(await self._ctx.apply(work))

    def _sign(self, message: str) -> str:
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
        if len(password) < MIN_PASSWORD_CHARS:
            raise BadRequest(f"A password needs at least {MIN_PASSWORD_CHARS} characters")
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
        # A right password spends its tokens too: each login costs a hash and a session.
        tickets = self._ctx.login_limits.acquire(address=client, account=email)

        def lookup(tx: ReadTx) -> tuple[User | None, str | None]:
            user = tx.user_by_email(email)
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
                ticket.refund()  # nothing was checked: the refusal changes no state
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
        ``sessions_per_user`` (counting the new one), in the same transaction.
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
            tx.trim_sessions(user.id, keep=others, now=now)
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
            session = tx.session(token_hash)
            if session is None or session.expires_at <= now:
                return None
            user = tx.user(session.user_id)
            return None if user is None else SignedIn(session, user)

        return await self._ctx.store.read(lookup)

    async def close_session(self, token: str) -> None:
        if not plausible_token(token):
            return
        token_hash = _hash_token(token)
        await self._ctx.apply(lambda tx, changes, now: tx.delete_session(token_hash))

    def anonymous_fkey(self) -> str:
        """The fkey handed to visitors who are not logged in (it guards nothing but is checked)."""
        return self._sign(ANONYMOUS_FKEY_LABEL)[:32]

    # signed tokens for websockets

    def _issue_token(self, user_id: UserId, purpose: str) -> str:
        expires = self._ctx.now() + self._ctx.settings.ws_token_ttl_seconds
        signature = self._sign(f"{purpose}:{user_id}:{expires}")[:32]
        return f"{user_id:x}-{expires:x}-{signature}"

    def _check_token(self, token: str, purpose: str) -> UserId | None:
        if not plausible_token(token):
            return None
        try:
            user_hex, expires_hex, signature = token.split("-")
            user_id, expires = int(user_hex, 16), int(expires_hex, 16)
        except ValueError:
            return None
        expected = self._sign(f"{purpose}:{user_id}:{expires}")[:32]
        if not hmac.compare_digest(expected, signature) or expires < self._ctx.now():
            return None
        return UserId(user_id)

    def issue_socket_token(self, user_id: UserId, room_id: RoomId) -> str:
        """The token in a ``/ws-auth`` URL: names the user and the room until it expires."""
        return self._issue_token(user_id, f"socket:{room_id}")

    def check_socket_token(self, token: str, room_id: RoomId) -> UserId | None:
        """The user a socket token was issued to for ``room_id``, or None if it is bad or expired."""
        return self._check_token(token, f"socket:{room_id}")

    def issue_realtime_token(self, user_id: UserId) -> str:
        """A token for ``?token=`` on the realtime socket: signs the user in for their own topics."""
        return self._issue_token(user_id, "realtime")

    def check_realtime_token(self, token: str) -> UserId | None:
        return self._check_token(token, "realtime")

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
