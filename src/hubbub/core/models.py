"""The domain's values: users, rooms, messages and a user's standing in a room.

All are frozen: a change is a new value written by the service together with the
event that describes it (shared/DESIGN.md, "one ordered event log").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from hubbub.core.ids import MessageId, RoomId, UserId

__all__ = [
    "CHANNEL_SLUG_CHARS",
    "AccessLevel",
    "ApiToken",
    "Conversation",
    "Kick",
    "LoginSession",
    "Membership",
    "Message",
    "Revision",
    "Room",
    "RoomAccess",
    "SocketToken",
    "Standing",
    "User",
    "compact_slug",
    "room_slug",
    "slugify",
]


class RoomAccess(StrEnum):
    """Who may talk in a room by default (Stack Exchange's three room kinds)."""

    PUBLIC = "public"  # everyone reads; users with enough reputation talk
    GALLERY = "gallery"  # everyone reads; only users granted read-write talk
    PRIVATE = "private"  # only users granted access read; read-write talk


class AccessLevel(StrEnum):
    """A per-user grant in one room (event 15's ``Access now <level>``)."""

    READ_ONLY = "read-only"
    READ_WRITE = "read-write"
    OWNER = "owner"
    REQUEST = "request"  # asked for write access to a gallery room; grants nothing yet


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: UserId
    name: str
    email: str | None
    reputation: int
    is_moderator: bool = False
    suspended_until: int | None = None  # Unix seconds; None when not suspended
    about: str = ""
    created_at: int = 0
    last_seen: int = 0
    last_post: int = 0
    message_count: int = 0  # undeleted messages posted (kept by posting and deleting)

    @property
    def slug(self) -> str:
        return slugify(self.name) or f"user{self.id}"

    def is_suspended(self, now: float) -> bool:
        return self.suspended_until is not None and self.suspended_until > now


@dataclass(frozen=True, slots=True, kw_only=True)
class Room:
    id: RoomId
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    access: RoomAccess = RoomAccess.PUBLIC
    created_at: int = 0
    created_by: UserId | None = None
    last_activity: int = 0
    message_count: int = 0

    @property
    def slug(self) -> str:
        return room_slug(self.id, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    id: MessageId
    room_id: RoomId
    user_id: UserId
    source: str  # what the author typed (markdown)
    content: str  # rendered, sanitised HTML
    posted_at: int
    parent_id: MessageId | None = None
    show_parent: bool = False  # True for replies (":<id> " or parentId), not for single pings
    edits: int = 0
    edited_at: int | None = None
    deleted: bool = False
    deleted_at: int | None = None
    deleted_by: UserId | None = None
    stars: int = 0
    owner_stars: int = 0  # pins; Stack Exchange calls them owner stars


@dataclass(frozen=True, slots=True, kw_only=True)
class Revision:
    """One entry of a message's history page: the text as posted, each edit, the deletion."""

    message_id: MessageId
    revision: int
    kind: str  # "posted" | "edited" | "deleted"
    source: str
    content: str
    user_id: UserId
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Kick:
    """A kick-mute: the user may not enter or talk in the room until ``until``."""

    room_id: RoomId
    user_id: UserId
    count: int
    until: int

    def seconds_left(self, now: float) -> int:
        return max(0, int(self.until - now + 0.999))


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    """A user's presence in a room: in it (joined, not left), when last seen, when last posted."""

    room_id: RoomId
    user_id: UserId
    present: bool
    joined_at: int
    last_seen: int
    last_post: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """Everything the rules need to know about one user in one room."""

    user: User | None  # None: an anonymous visitor
    level: AccessLevel | None = None
    kick: Kick | None = None
    owner_ids: frozenset[UserId] = field(default_factory=frozenset)
    suspended: bool = False  # the user's suspension had not ended when this standing was taken

    @property
    def is_owner(self) -> bool:
        return self.user is not None and (self.level is AccessLevel.OWNER or self.user.is_moderator)


_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """``"Tavern on the Meta!"`` -> ``"tavern-on-the-meta"``, the way SE builds URL slugs.

    Returns ``""`` when nothing ASCII is left; callers add their own fallback.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", ascii_text.lower()).strip("-")


CHANNEL_SLUG_CHARS: Final = 51  # of a room's slug, what its IRC channel's name keeps (dialects/irc/names.py)


def room_slug(room_id: int, name: str) -> str:
    """A room's slug (``Room.slug``) from its id and name alone."""
    return slugify(name) or f"room{room_id}"


def compact_slug(text: str) -> str:
    """``"Tavern on the Meta!"`` -> ``"tavernonthemeta"``: the slug of ``text`` without its hyphens.

    sechat 3.x computes a bookmark's slug from its title this way (lower case, every
    character but letters and digits dropped) and deletes the bookmark with it, so a
    bookmark is also found by the compact form of its slug.
    """
    return slugify(text).replace("-", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """A bookmark: a titled run of one room's messages (``POST /conversation/new``)."""

    id: int
    room_id: RoomId
    slug: str  # unique within the room; the last part of /rooms/<room>/conversation/<slug>
    title: str
    first_message_id: MessageId
    last_message_id: MessageId
    created_by: UserId
    created_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginSession:
    """A logged-in browser or bot: the cookie token's hash, its user and its stable fkey."""

    token_hash: str
    user_id: UserId
    fkey: str
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """A bearer token for a program: what it may do (``scope``) and whether it was revoked."""

    id: int
    name: str
    scope: str  # "publish"
    created_at: int
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketToken:
    """A socket URL handed out and not opened yet: whose it is, for which room, from which session.

    ``room_id`` is None for the realtime socket's ``?token=``. ``session_key`` names
    the login session that asked for it (never the session's own token or hash);
    ``seq`` orders URLs as they were handed out.
    """

    token_hash: str
    seq: int
    user_id: UserId
    room_id: RoomId | None
    session_key: str
    issued_at: int
    expires_at: int
