"""Socket URLs: handed out by ``/ws-auth`` and ``/realtime/auth``, opened once, revoked by access changes.

A socket URL's token is signed with the server secret, so any node reads whom it
names without the database (``read``), and it is recorded in the store, so that it
opens one socket, once, whichever node the upgrade reaches (``claim`` takes the
row), and so that an access change revokes it (``context.revoke_socket_urls``, in
the transaction that records the change). A token also carries the log position it
was issued at and a key naming the login session that asked for it: a node refuses
early, without the database, a URL that an access change it has already delivered
revoked (the fan-out's ``AccessWatch``), and the sockets of a session that ends can
be found by its key (``accounts.session_key``).

Token: ``<user>-<room>-<issued after>-<expires>-<session key>-<nonce>-<signature>``,
hex fields, room 0 for the realtime socket.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.models import Standing, User
from hubbub.core.rules import can_read
from hubbub.errors import NotAllowed
from hubbub.service.accounts import SESSION_KEY_CHARS, SignedIn, session_key
from hubbub.service.context import Changes, Context
from hubbub.service.credentials import plausible_token
from hubbub.store.base import WriteTx

__all__ = ["SocketGrant", "SocketTokens", "SocketUrlToken", "refused_url"]

_NONCE_BYTES: Final = 8
_SIGNATURE_CHARS: Final = 32
_PURPOSE: Final = "socket-url"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _opened_key(token_hash: str) -> int:
    return int(token_hash[:32], 16)


@dataclass(frozen=True, slots=True)
class SocketUrlToken:
    """What a well-signed, unexpired token says; the store still has to let it be opened."""

    token_hash: str
    user_id: UserId
    room_id: RoomId | None  # None: the realtime socket's ?token=
    issued_after: EventId  # the log's last id when it was handed out
    expires_at: int
    session: str


@dataclass(frozen=True, slots=True)
class SocketGrant:
    """An opened socket URL (or a session cookie on the realtime socket), as checked at ``position``.

    ``rooms`` are the rooms a sechat socket carries from ``position`` on: the rooms its
    user is in and may read. Access changes after ``position`` are the fan-out's to apply.
    """

    user: User
    session: str
    position: EventId
    rooms: frozenset[RoomId] = frozenset()


class SocketTokens:
    """Issues, reads and claims socket URLs for one node (``opened`` is this node's memory)."""

    def __init__(self, context: Context, sign: Callable[[str], str]) -> None:
        self._ctx = context
        self._sign = sign
        # Tokens first opened on this node, oldest first (token hash -> expiry): a second
        # upgrade with the same URL is refused before the store is asked. Keyed by the hash's
        # first 128 bits as an int (``_opened_key``): as unique as the whole hash here, and
        # 44 bytes instead of the hex string's 113, for each of up to ``access_journal_size``.
        self._opened: OrderedDict[int, int] = OrderedDict()

    def _signature(self, body: str) -> str:
        return self._sign(f"{_PURPOSE}:{body}")[:_SIGNATURE_CHARS]

    async def issue(self, signed: SignedIn, room_id: RoomId | None) -> str:
        """A socket URL token for the signed-in user: for ``room_id``'s sechat socket, or (None) the realtime one.

        The user keeps at most ``ws_tokens_per_user`` unopened URLs; asking for more
        revokes the oldest. Expired rows are removed on the way.
        """
        settings = self._ctx.settings
        user_id, key = signed.user.id, session_key(signed.session)

        def work(tx: WriteTx, changes: Changes, now: int) -> str:
            tx.purge_socket_tokens(now)
            outstanding = tx.socket_tokens_of(user_id)
            excess = len(outstanding) - (settings.ws_tokens_per_user - 1)
            if excess > 0:
                tx.delete_socket_tokens([t.token_hash for t in outstanding[:excess]])
            expires = now + settings.ws_token_ttl_seconds
            body = "-".join(
                (
                    f"{user_id:x}",
                    f"{room_id or 0:x}",
                    f"{tx.last_event_id():x}",
                    f"{expires:x}",
                    key,
                    secrets.token_hex(_NONCE_BYTES),
                )
            )
            token = f"{body}-{self._signature(body)}"
            tx.insert_socket_token(
                token_hash=_hash(token),
                user_id=user_id,
                room_id=room_id,
                session_key=key,
                issued_at=now,
                expires_at=expires,
            )
            return token

        return await self._ctx.apply(work)

    def read(self, token: str, room_id: RoomId | None) -> SocketUrlToken | None:
        """The token's claims if it is well formed, signed by this server, for ``room_id``
        (None: the realtime socket) and not expired; None otherwise. No I/O."""
        if not plausible_token(token):
            return None
        parts = token.split("-")
        if len(parts) != 7:
            return None
        *fields, session, nonce, signature = parts
        try:
            user, room, issued_after, expires = (int(field, 16) for field in fields)
        except ValueError:
            return None
        body = token.rsplit("-", 1)[0]
        if len(session) != SESSION_KEY_CHARS or not nonce or not hmac.compare_digest(self._signature(body), signature):
            return None
        if room != (room_id or 0) or expires <= self._ctx.now():
            return None
        return SocketUrlToken(
            token_hash=_hash(token),
            user_id=UserId(user),
            room_id=None if room == 0 else RoomId(room),
            issued_after=EventId(issued_after),
            expires_at=expires,
            session=session,
        )

    def first_opening(self, token: SocketUrlToken) -> bool:
        """Remember that this node opens ``token`` now; False if it did so before (no I/O).

        Only a quick answer for the common case: ``claim`` is what holds across nodes.
        """
        now, limit = self._ctx.now(), self._ctx.settings.access_journal_size
        # Forgetting early is safe: the store refuses a second opening all the same.
        while self._opened and (next(iter(self._opened.values())) <= now or len(self._opened) >= limit):
            self._opened.popitem(last=False)
        key = _opened_key(token.token_hash)
        if key in self._opened:
            return False
        self._opened[key] = token.expires_at
        return True

    async def claim(self, token: SocketUrlToken) -> SocketGrant:
        """Open the URL: take it from the store, so no node opens it again.

        For a sechat socket the grant lists the rooms the socket carries: those its user
        is in and may read, which must include the URL's own room.

        Raises:
            NotAllowed: Opened already, revoked, expired, its user gone, or its room no
                longer readable (``str(error)`` says so in a sentence for the peer).
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> SocketGrant | None:
            # Taken whatever follows: a URL refused here cannot be tried again.
            row = tx.take_socket_token(token.token_hash)
            user = tx.user(token.user_id)
            if row is None or row.expires_at <= now or user is None:
                return None
            rooms: frozenset[RoomId] = frozenset()
            if token.room_id is not None:
                suspended = user.is_suspended(now)
                rooms = frozenset(
                    room.id
                    for room, level, kick in tx.rooms_of_with_standing(user.id)
                    if can_read(Standing(user=user, level=level, kick=kick, suspended=suspended), room)
                )
                if token.room_id not in rooms:
                    return None
            return SocketGrant(user=user, session=row.session_key, position=tx.last_event_id(), rooms=rooms)

        grant = await self._ctx.apply(work)
        if grant is None:
            raise NotAllowed(refused_url(token.room_id))
        return grant

    async def sign_in(self, cookie: str, signed_in: Callable[[str], Awaitable[SignedIn | None]]) -> SocketGrant | None:
        """A realtime socket signed in by its session cookie; None for no live session.

        The log position is read before the session, so that a logout the session check
        missed has a larger id and reaches the socket through the fan-out.
        """
        position = await self._ctx.store.read(lambda tx: tx.last_event_id())
        signed = await signed_in(cookie)
        if signed is None:
            return None
        return SocketGrant(user=signed.user, session=session_key(signed.session), position=position)


def refused_url(room_id: RoomId | None) -> str:
    """Why a socket URL does not open (HTTP 403 before the upgrade, a close reason after it)."""
    if room_id is None:
        return "This token is invalid, expired, already used or revoked; ask /realtime/auth for a new one"
    return "This socket URL is invalid, expired, already used or revoked; ask /ws-auth for a new one"
