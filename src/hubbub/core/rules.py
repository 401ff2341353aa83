"""Every chat rule, once: message limits, the edit window, who may read, talk, edit, pin and manage.

Each rule is a constant or a pure function over models; the service calls them
inside the transaction that applies the change, and every dialect reports the
errors they raise in its own words (errors.py). Sources are cited from
shared/protocol/sechat.md (§9) and shared/seeds/001 and 002.
"""

from __future__ import annotations

import re
from typing import Final

from hubbub.core.ids import MessageId, UserId
from hubbub.core.models import AccessLevel, Message, Room, RoomAccess, Standing, User
from hubbub.errors import (
    AlreadyDeleted,
    BadRequest,
    EmptyMessage,
    Kicked,
    LowReputation,
    MessageAction,
    NotAllowed,
    NotFound,
    NotLoggedIn,
    NotYours,
    OwnMessage,
    Suspended,
    TooLate,
    TooLong,
)

__all__ = [
    "EDIT_WINDOW_SECONDS",
    "FLAG_VIEW_REPUTATION",
    "KICK_DURATIONS_SECONDS",
    "MAX_SINGLE_LINE_CHARS",
    "MAX_SUSPENSION_SECONDS",
    "MIN_REPUTATION_TO_TALK",
    "NO_PERMISSION",
    "can_be_pinged",
    "can_post",
    "can_read",
    "check_message_text",
    "ensure_can_delete",
    "ensure_can_edit",
    "ensure_can_manage_room",
    "ensure_can_pin",
    "ensure_can_post",
    "ensure_can_read",
    "ensure_can_star",
    "ensure_can_suspend",
    "ensure_moderator",
    "is_multiline",
    "kick_duration",
    "parse_reply",
]

# "Single-lined messages cannot be longer than 500 characters" (seed 001); messages with a
# newline have no such limit in the clients, so the server caps them with a setting instead.
MAX_SINGLE_LINE_CHARS: Final = 500

# "Messages older than 2 minutes cannot be edited/deleted" (seed 001). Moderators are exempt.
EDIT_WINDOW_SECONDS: Final = 120

# Public rooms let anyone with 20 reputation talk; a read-write grant overrides (seed 002, event 15).
MIN_REPUTATION_TO_TALK: Final = 20

# Spam flags (event 9) go only to users with 10k reputation (seed 002).
FLAG_VIEW_REPUTATION: Final = 10_000

# A profile's "about me" line (POST /users/usermessage/<id>, sechat.md §4.2).
MAX_ABOUT_CHARS: Final = 200

# A bookmarked conversation's title (what fits a transcript heading).
MAX_CONVERSATION_TITLE_CHARS: Final = 200

# Kick-mute lengths by how often the user was kicked from the room; the last one repeats.
KICK_DURATIONS_SECONDS: Final = (60, 5 * 60, 30 * 60, 60 * 60)

# The longest suspension a moderator or the operator may set at once (a year).
MAX_SUSPENSION_SECONDS: Final = 365 * 86_400

# The one text Stack Exchange uses for both "no such room" and "you may not talk here".
NO_PERMISSION: Final = "The room does not exist, or you do not have permission"

_REPLY_PREFIX = re.compile(r":(\d{1,18})(?=\s|$)")


def is_multiline(text: str) -> bool:
    return "\n" in text


def check_message_text(text: str, *, max_chars: int) -> None:
    """Refuse an empty or over-long message.

    Raises:
        EmptyMessage: Nothing but whitespace.
        TooLong: Over 500 characters on one line, or over ``max_chars`` on several.
    """
    if not text.strip():
        raise EmptyMessage()
    if is_multiline(text):
        if len(text) > max_chars:
            raise TooLong(max_chars, len(text), single_line=False)
    elif len(text) > MAX_SINGLE_LINE_CHARS:
        raise TooLong(MAX_SINGLE_LINE_CHARS, len(text), single_line=True)


def parse_reply(text: str) -> tuple[MessageId | None, str]:
    """Split a ``:<message id> rest`` reply prefix off a message.

    Returns ``(parent id, rest)``; the rest keeps its own leading newline, so
    ``":12\\nline"`` stays a multi-line message. Without a prefix: ``(None, text)``.
    """
    match = _REPLY_PREFIX.match(text)
    if match is None:
        return None, text
    rest = text[match.end() :]
    if rest.startswith(" "):
        rest = rest[1:]
    return MessageId(int(match.group(1))), rest


def can_read(standing: Standing, room: Room) -> bool:
    """Public and gallery rooms are open to everyone; private rooms to grantees and moderators.

    A suspended account reads what visitors read: its grants to private rooms rest until
    the suspension ends.
    """
    if room.access is not RoomAccess.PRIVATE:
        return True
    user = standing.user
    if user is None:
        return False
    if user.is_moderator:
        return True
    if standing.suspended:
        return False
    return standing.level in (AccessLevel.READ_ONLY, AccessLevel.READ_WRITE, AccessLevel.OWNER)


def can_be_pinged(standing: Standing, room: Room) -> bool:
    """Who a ping (8) or reply (18) from this room may reach: whoever may read the room.

    The ping carries the message's full text, so a removed member, or a suspended
    account in a private room, is not pingable there; the service also requires the
    user to have been in the room lately (``pingable_days``).
    """
    return standing.user is not None and can_read(standing, room)


def ensure_can_read(standing: Standing, room: Room) -> None:
    if not can_read(standing, room):
        raise NotFound(NO_PERMISSION)


def ensure_not_suspended(user: User, now: float) -> None:
    """A suspended account only reads: it cannot talk, edit, delete, star, pin, bookmark, or
    create or manage rooms until the suspension ends.

    Raises:
        Suspended: With the time the suspension ends and the seconds left.
    """
    if user.is_suspended(now):
        assert user.suspended_until is not None
        raise Suspended(user.suspended_until, int(user.suspended_until - now))


def ensure_can_post(standing: Standing, room: Room, now: float) -> None:
    """Who may talk in a room.

    Raises:
        NotLoggedIn: Anonymous visitors never talk.
        NotFound: The room is private and not open to the user.
        Suspended: The account is blocked.
        Kicked: A kick-mute in this room has not expired.
        LowReputation: Public room, under 20 reputation, no read-write grant.
        NotAllowed: Gallery or private room without a read-write grant.
    """
    user = standing.user
    if user is None:
        raise NotLoggedIn()
    ensure_can_read(standing, room)
    if user.is_moderator:
        return
    ensure_not_suspended(user, now)
    if standing.kick is not None and standing.kick.until > now:
        raise Kicked(standing.kick.seconds_left(now))
    if standing.level in (AccessLevel.READ_WRITE, AccessLevel.OWNER):
        return
    if room.access is RoomAccess.PUBLIC:
        if user.reputation < MIN_REPUTATION_TO_TALK:
            raise LowReputation(MIN_REPUTATION_TO_TALK)
        return
    raise NotAllowed(NO_PERMISSION)


def can_post(standing: Standing, room: Room, now: float) -> bool:
    try:
        ensure_can_post(standing, room, now)
    except (NotAllowed, NotFound, NotLoggedIn):
        return False
    return True


def _ensure_can_change(action: MessageAction, actor: User, message: Message, now: float) -> None:
    if message.deleted:
        raise AlreadyDeleted(action)
    if actor.is_moderator:
        return
    ensure_not_suspended(actor, now)
    if message.user_id != actor.id:
        raise NotYours(action)
    if now - message.posted_at > EDIT_WINDOW_SECONDS:
        raise TooLate(action)


def ensure_can_edit(actor: User, message: Message, now: float) -> None:
    """Authors edit within two minutes; moderators edit anything, any time."""
    _ensure_can_change("edit", actor, message, now)


def ensure_can_delete(actor: User, message: Message, now: float) -> None:
    """Authors delete within two minutes; moderators delete anything, any time."""
    _ensure_can_change("delete", actor, message, now)


def ensure_can_star(actor: User, message: Message, now: float) -> None:
    """Anyone who can read the room may star, but not their own or a deleted message, nor while suspended."""
    if message.deleted:
        raise AlreadyDeleted("star")
    if message.user_id == actor.id:
        raise OwnMessage()
    ensure_not_suspended(actor, now)


def ensure_can_pin(standing: Standing, message: Message, now: float) -> None:
    """Pinning (owner stars), unpinning and clearing stars are for room owners and moderators."""
    if message.deleted:
        raise AlreadyDeleted("pin")
    ensure_can_manage_room(standing, now)


def ensure_can_manage_room(standing: Standing, now: float) -> None:
    """Editing the room, granting access, kicking and moving messages: owners (not while
    suspended) and moderators."""
    if not standing.is_owner:
        raise NotAllowed("Only room owners can do that")
    assert standing.user is not None
    ensure_not_suspended(standing.user, now)


def check_about(text: str) -> str:
    """A profile's "about me" line, trimmed: at most ``MAX_ABOUT_CHARS`` (Stack Exchange's 200)."""
    text = " ".join(text.split())
    if len(text) > MAX_ABOUT_CHARS:
        raise BadRequest(f"The about text can have at most {MAX_ABOUT_CHARS} characters")
    return text


def ensure_can_edit_profile(actor: User, user_id: UserId) -> None:
    """People edit their own profile; moderators anyone's."""
    if actor.id != user_id and not actor.is_moderator:
        raise NotAllowed("You can only edit your own profile")


def check_conversation_title(title: str) -> str:
    """A bookmark's title, trimmed: not blank, at most ``MAX_CONVERSATION_TITLE_CHARS``."""
    title = " ".join(title.split())
    if not title:
        raise BadRequest("A conversation needs a title")
    if len(title) > MAX_CONVERSATION_TITLE_CHARS:
        raise BadRequest(f"A conversation title can have at most {MAX_CONVERSATION_TITLE_CHARS} characters")
    return title


def ensure_can_delete_conversation(standing: Standing, creator: UserId, now: float) -> None:
    """Whoever bookmarked it, room owners and moderators may remove a bookmark (not while suspended)."""
    if standing.user is None or (standing.user.id != creator and not standing.is_owner):
        raise NotAllowed("Only the person who bookmarked it or a room owner can do that")
    ensure_not_suspended(standing.user, now)


def ensure_moderator(actor: User | None) -> None:
    """Suspending and lifting suspensions: moderators, or the operator (``actor`` None, the CLI)."""
    if actor is not None and not actor.is_moderator:
        raise NotAllowed("Only moderators can do that")


def ensure_can_suspend(actor: User | None, target: User, seconds: int) -> None:
    """Moderators (or the operator) suspend anyone but a moderator, for a bounded time.

    Raises:
        NotAllowed: The actor is not a moderator, or the target is one.
        BadRequest: ``seconds`` is not between 1 and ``MAX_SUSPENSION_SECONDS``.
    """
    ensure_moderator(actor)
    if target.is_moderator:
        raise NotAllowed("Moderators cannot be suspended")
    if not 1 <= seconds <= MAX_SUSPENSION_SECONDS:
        raise BadRequest(f"A suspension lasts from 1 second to {MAX_SUSPENSION_SECONDS // 86_400} days")


def kick_duration(kick_count: int) -> int:
    """Seconds of kick-mute for the ``kick_count``-th kick (1-based) from the same room."""
    index = min(max(kick_count, 1), len(KICK_DURATIONS_SECONDS)) - 1
    return KICK_DURATIONS_SECONDS[index]
