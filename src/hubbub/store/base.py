"""The storage seam: ``Store`` runs units of work in transactions over ``ReadTx``/``WriteTx``.

A unit of work is a plain synchronous function that receives a transaction and
returns a value. ``Store.write`` runs it in one write transaction: the state it
changes and the events it appends commit together or not at all, and event ids
become visible strictly in order (a reader never sees id 11 before id 10).
Engines: ``sqlite`` (default, one file, one writer) and ``postgresql`` (shared by
any number of nodes; docs/design/ordering.md). Both share the SQL in ``store/sql/``
and one contract test suite (tests/store/test_contract.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hubbub.core.events import Event, NewEvent
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import (
    AccessLevel,
    ApiToken,
    Conversation,
    Kick,
    LoginSession,
    Membership,
    Message,
    Revision,
    Room,
    RoomAccess,
    SocketToken,
    User,
)
from hubbub.store.base_direct import DirectReads, DirectWrites
from hubbub.store.base_streams import StreamReads, StreamWrites

__all__ = ["ReadTx", "SearchWindow", "Store", "UserInRoom", "WriteTx"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SearchWindow:
    """What one search request looks at: the newest ``size`` messages below ``before`` (None: all).

    With one room, that room's messages; with several, the node's, whichever room they are in:
    reading the rooms' messages in id order across rooms would sort them all first.
    """

    size: int
    before: MessageId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInRoom:
    """A user and a room, with the user's grant, kick, membership and newest message there (each None if none)."""

    user: User | None
    room: Room | None
    level: AccessLevel | None
    kick: Kick | None
    membership: Membership | None
    last_message: Message | None


class ReadTx(DirectReads, StreamReads, Protocol):
    """Queries; every list comes back in ascending id (or time) order unless stated."""

    # users
    def user(self, user_id: UserId) -> User | None: ...
    def users(self, user_ids: Collection[UserId]) -> dict[UserId, User]: ...
    def user_by_email(self, email: str) -> User | None: ...
    def user_by_nick(self, nick: str) -> User | None:
        """The oldest user whose name without spaces is ``nick``, in any case (an IRC login or lookup)."""
        ...

    def password_hash(self, user_id: UserId) -> str | None: ...
    def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[User]: ...
    def user_room_count(self, user_id: UserId) -> int:
        """The rooms the user has posted in (their memberships with a post)."""
        ...

    # rooms
    def room(self, room_id: RoomId) -> Room | None: ...
    def rooms(self, room_ids: Collection[RoomId]) -> dict[RoomId, Room]: ...
    def list_rooms(self, *, limit: int = 1000, after: RoomId | None = None) -> list[Room]:
        """The first ``limit`` rooms by id, or (``after``) of those with a greater id than it."""
        ...

    def oldest_room_with_slug(self, slug: str) -> RoomId | None:
        """The oldest room, but no stream's, whose slug cut to ``CHANNEL_SLUG_CHARS`` is ``slug``
        (the whole slug when it is shorter; else every slug beginning with it)."""
        ...

    def rooms_by_activity(self, *, below: tuple[int, RoomId] | None, limit: int) -> list[Room]:
        """Rooms most recently active first (ties: newest id first), after ``below``'s
        ``(last_activity, id)`` when given."""
        ...

    def access_level(self, room_id: RoomId, user_id: UserId) -> AccessLevel | None: ...
    def access_grants(self, room_id: RoomId) -> list[tuple[UserId, AccessLevel]]: ...
    def kick(self, room_id: RoomId, user_id: UserId) -> Kick | None: ...
    def user_in_room(self, user_id: UserId, room_id: RoomId) -> UserInRoom:
        """``user``, ``room``, ``access_level``, ``kick``, ``membership`` and ``last_message_by`` for
        this user and room, in one query (what a post reads first)."""
        ...

    # presence in rooms
    def membership(self, room_id: RoomId, user_id: UserId) -> Membership | None: ...
    def present_members(self, room_id: RoomId, *, limit: int | None = None) -> list[Membership]:
        """Who is in the room now, most recently seen first: all, or the first ``limit``."""
        ...

    def present_count(self, room_id: RoomId, *, up_to: int) -> int:
        """How many are in the room now, counted no further than ``up_to`` (reads at most that many)."""
        ...

    def members_seen_since(self, room_id: RoomId, since: int, *, limit: int | None = None) -> list[Membership]:
        """Who is in the room or was seen in it since ``since``, most recently seen first: all, or
        the first ``limit``."""
        ...

    def members_seen_since_named(
        self, room_id: RoomId, since: int, key_prefixes: Collection[str], *, limit: int
    ) -> list[tuple[Membership, User, AccessLevel | None]]:
        """``members_seen_since`` (same order, the first ``limit``) with their users and grants here, only
        those whose ``ping_key`` starts with one of ``key_prefixes`` (``core.mentions.ping_tokens``)."""
        ...

    def rooms_of(self, user_id: UserId) -> list[RoomId]: ...
    def rooms_of_with_standing(self, user_id: UserId) -> list[tuple[Room, AccessLevel | None, Kick | None]]:
        """The rooms ``rooms_of`` lists, each with the user's grant and kick there, in one query."""
        ...

    # messages
    def message(self, message_id: MessageId) -> Message | None: ...
    def messages(self, message_ids: Collection[MessageId]) -> dict[MessageId, Message]: ...
    def last_message_id(self) -> int: ...
    def recent_messages(
        self,
        room_id: RoomId,
        *,
        limit: int,
        before: MessageId | None = None,
        after: MessageId | None = None,
        include_deleted: bool = False,
    ) -> list[Message]:
        """The newest ``limit`` messages of the room inside the bounds, oldest first."""
        ...

    def messages_between(self, room_id: RoomId, start: int, end: int, *, limit: int) -> list[Message]:
        """Messages posted in ``[start, end)`` (Unix seconds), oldest first."""
        ...

    def search_messages(
        self,
        room_ids: Collection[RoomId] | None,
        text: str,
        *,
        limit: int,
        offset: int = 0,
        before: MessageId | None = None,
        at_least: MessageId | None = None,
    ) -> list[Message]:
        """Undeleted messages of these rooms (None: of every room) whose source contains ``text``
        (any case), newest first, with ids below ``before`` and from ``at_least`` on (a
        ``search_window_end``).

        ``text`` is matched literally: ``%`` and ``_`` are not wildcards.
        """
        ...

    def search_window_end(self, room_ids: Collection[RoomId] | None, window: SearchWindow) -> MessageId | None:
        """The oldest message id in ``window`` when it is full (older messages may remain), else None.

        One room's window is that room's messages; any other (None: every room) the node's."""
        ...

    def last_message_by(self, user_id: UserId, room_id: RoomId) -> Message | None: ...
    def revisions(self, message_id: MessageId) -> list[Revision]: ...
    def has_starred(self, message_id: MessageId, user_id: UserId) -> bool: ...
    def starred_among(self, message_ids: Collection[MessageId], user_id: UserId) -> set[MessageId]:
        """Which of ``message_ids`` carry ``user_id``'s star (one query for a page of messages)."""
        ...

    def stars_given_since(self, user_id: UserId, since: int) -> int: ...
    def pinners(self, message_id: MessageId) -> list[UserId]: ...

    # the event log
    def last_event_id(self) -> EventId: ...
    def events_after(self, since: EventId, *, room_ids: Collection[RoomId] | None = None, limit: int) -> list[Event]:
        """Events with id > ``since`` (in the given rooms, or all), at most ``limit``, oldest first."""
        ...

    def latest_events(self, room_ids: Collection[RoomId], *, limit: int) -> list[Event]:
        """The newest ``limit`` events of the given rooms, oldest first."""
        ...

    def events_targeting(self, user_id: UserId, since: EventId, *, limit: int) -> list[Event]: ...
    def posting_event_ids(self, message_ids: Collection[MessageId]) -> dict[MessageId, EventId]:
        """For each message, the id of the event that first posted it."""
        ...

    # inbox (unread mentions and replies)
    def unread_count(self, user_id: UserId) -> int: ...

    # bookmarked conversations
    def conversation(self, room_id: RoomId, slug: str) -> Conversation | None: ...
    def conversation_by_compact_slug(self, room_id: RoomId, compact: str) -> Conversation | None:
        """The room's oldest bookmark whose slug without hyphens is ``compact`` (``core.models.compact_slug``)."""
        ...

    def compact_slugs_taken(self, room_id: RoomId, compacts: Collection[str]) -> set[str]:
        """Which of ``compacts`` a bookmark of the room has as its slug without hyphens."""
        ...

    def conversations(self, room_id: RoomId, *, limit: int, before: int | None = None) -> list[Conversation]:
        """The room's newest ``limit`` bookmarks (with an id below ``before``), newest first."""
        ...

    # sessions, socket URLs, API tokens and server state
    def session(self, token_hash: str) -> LoginSession | None: ...
    def session_and_user(self, token_hash: str) -> tuple[LoginSession, User] | None:
        """``session`` and the ``user`` it belongs to, in one query; None if either is missing."""
        ...

    def socket_tokens_of(self, user_id: UserId) -> list[SocketToken]:
        """The user's unopened socket URLs (expired ones too, until purged), in the order handed out."""
        ...

    def socket_tokens_for_room(self, room_id: RoomId) -> list[SocketToken]:
        """Every user's unopened socket URLs for the room, in the order handed out."""
        ...

    def api_token(self, token_hash: str) -> ApiToken | None: ...
    def api_tokens(self) -> list[ApiToken]: ...
    def meta(self, key: str) -> str | None: ...


class WriteTx(ReadTx, DirectWrites, StreamWrites, Protocol):
    """Queries plus changes; only the service layer receives one."""

    def append(self, event: NewEvent) -> Event:
        """Give ``event`` the next id and store it; the id is final only if the transaction commits."""
        ...

    def prefetch_user_in_room(self, user_id: UserId, room_id: RoomId) -> None:
        """Send ``user_in_room``'s query ahead (``Store.write``'s ``prefetch``); where the engine cannot
        pipeline, nothing. The unit's first statement, if it is that query, reads this answer."""
        ...

    def insert_user(
        self,
        *,
        name: str,
        email: str | None,
        password_hash: str,
        reputation: int,
        is_moderator: bool,
        now: int,
    ) -> User: ...
    def update_user(self, user: User) -> None: ...
    def update_user_activity(self, user: User) -> None:
        """Write only ``user``'s ``last_seen``, ``last_post`` and ``message_count`` (what posting changes)."""
        ...

    def set_password_hash(self, user_id: UserId, password_hash: str) -> None: ...

    def insert_room(
        self,
        *,
        name: str,
        description: str,
        tags: Sequence[str],
        access: RoomAccess,
        created_by: UserId | None,
        now: int,
    ) -> Room: ...
    def update_room(self, room: Room) -> None: ...
    def update_room_activity(self, room: Room) -> None:
        """Write only ``room``'s ``last_activity`` and ``message_count`` (what posting changes)."""
        ...

    def set_access_level(self, room_id: RoomId, user_id: UserId, level: AccessLevel | None, now: int) -> None: ...
    def set_kick(self, room_id: RoomId, user_id: UserId, *, count: int, until: int) -> None: ...

    def set_membership(self, membership: Membership) -> None: ...
    def set_member_seen(self, room_id: RoomId, user_id: UserId, *, last_seen: int, last_post: int) -> None:
        """Write only the two times of a membership that exists (a present member seen again)."""
        ...

    def insert_message(
        self,
        *,
        room_id: RoomId,
        user_id: UserId,
        source: str,
        content: str,
        posted_at: int,
        parent_id: MessageId | None,
        show_parent: bool,
    ) -> Message: ...
    def update_message(self, message: Message) -> None: ...
    def insert_revision(self, revision: Revision) -> None: ...
    def insert_conversation(
        self,
        *,
        room_id: RoomId,
        slug: str,
        title: str,
        first_message_id: MessageId,
        last_message_id: MessageId,
        created_by: UserId,
        now: int,
    ) -> Conversation: ...
    def delete_conversation(self, conversation_id: int) -> None: ...
    def add_star(self, message_id: MessageId, user_id: UserId, now: int) -> None: ...
    def remove_star(self, message_id: MessageId, user_id: UserId) -> None: ...
    def clear_stars(self, message_id: MessageId) -> None: ...
    def add_pin(self, message_id: MessageId, user_id: UserId, now: int) -> None: ...
    def clear_pins(self, message_id: MessageId) -> None: ...

    def add_inbox(self, user_id: UserId, event: Event) -> None: ...
    def mark_read(self, user_id: UserId, message_ids: Collection[MessageId] | None) -> int:
        """Mark the user's unread items about these messages (None: all) read; return how many."""
        ...

    def insert_session(self, session: LoginSession) -> None: ...
    def delete_session(self, token_hash: str) -> None: ...
    def trim_sessions(self, user_id: UserId, *, keep: int, now: int) -> list[LoginSession]:
        """End the user's sessions expired at ``now`` and all but the ``keep`` newest live ones.

        Returns the sessions that ended, oldest first, so that the caller can end their sockets too.
        """
        ...

    def delete_sessions_of(self, user_id: UserId, *, keep_token_hash: str | None = None) -> int:
        """End every session of the user but ``keep_token_hash``'s (None: all); return how many."""
        ...

    def insert_socket_token(
        self,
        *,
        token_hash: str,
        user_id: UserId,
        room_id: RoomId | None,
        session_key: str,
        issued_at: int,
        expires_at: int,
    ) -> SocketToken:
        """Record a socket URL as handed out; its ``seq`` comes after every earlier one's."""
        ...

    def take_socket_token(self, token_hash: str) -> SocketToken | None:
        """Remove the unopened socket URL and return it; None if there is none (opened,
        revoked or purged). Of two transactions taking the same one, only one gets it."""
        ...

    def delete_socket_tokens(self, token_hashes: Collection[str]) -> int:
        """Revoke these unopened socket URLs; return how many there were."""
        ...

    def purge_socket_tokens(self, now: int) -> int:
        """Remove the socket URLs that expired at or before ``now``; return how many."""
        ...

    def insert_api_token(self, *, name: str, scope: str, token_hash: str, now: int) -> ApiToken: ...
    def revoke_api_token(self, token_id: int, now: int) -> bool:
        """Revoke a token; False when there is no such (unrevoked) token."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...

    def claim_lease(self, name: str, holder: str, now: int, ttl: int) -> bool:
        """Hold (or renew) the lease ``name`` until ``now + ttl``; False while another holder's is unexpired.

        Write transactions are serialised on every engine, so of two nodes claiming a free
        lease at once exactly one gets it."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up, if ``holder`` has it."""
        ...

    def meta_or_set(self, key: str, value: str) -> str:
        """The value under ``key``, storing ``value`` first when there is none. Nodes starting at once
        all get the one value that was stored first (an insert that yields to a concurrent one)."""
        ...


class Store(Protocol):
    """Runs units of work; the only way anything reaches the database."""

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        """Run ``work`` in a read-only transaction (one consistent snapshot)."""
        ...

    async def lookup(self, work: Callable[[ReadTx], T]) -> T:
        """Run ``work``, which runs at most one statement, like ``read`` but outside a transaction.

        One statement sees one snapshot by itself, so the engine sends it alone: on PostgreSQL
        that is two statements fewer (``BEGIN``, ``ROLLBACK``) for the session read every
        signed-in request makes. A second statement raises ``LocalError`` before it runs.
        """
        ...

    async def write(self, work: Callable[[WriteTx], T], *, prefetch: Callable[[WriteTx], None] | None = None) -> T:
        """Run ``work`` in a write transaction; commit if it returns, roll back if it raises.

        ``prefetch`` sends ``work``'s first query ahead (a ``WriteTx.prefetch_*`` call), so that on
        PostgreSQL it shares a round trip with the end of the unit before it (``store/writer.py``).
        """
        ...

    async def close(self) -> None: ...
