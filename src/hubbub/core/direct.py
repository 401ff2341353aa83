"""Direct messages, contacts and presence: the values and every rule about them, in one place.

- **Contacts.** Each user holds a *stance* towards another: ``want`` (asks for, or accepts,
  them as a contact) or ``block``. Two users are contacts when each wants the other and
  neither blocks; a block by either side wins over everything (``relation``). What each
  contact action does to the pair of stances is one table, ``CONTACT_ACTIONS``.
- **Direct messages** go between contacts only (and to oneself, which is how clients of
  seed 004 kept themselves "active"); their text obeys ``check_direct_text``; a sender's
  client message id makes a retry idempotent (``check_client_message_id``).
- **Channels.** Every user has a channel: a dense sequence ``0, 1, 2, ...`` of entries, each a
  direct message in or out or a typing notice, numbered in the transaction that appends the
  event (shared/protocol/comet.md §C.10). ``retained`` says which entries retention keeps.
- **Presence** is online, idle or offline, computed from activity reported by every
  transport (``Activity``) with two named timeouts (``PresenceTimeouts``); it is shown to
  contacts only (``may_see_presence``).

The contact rules live in ``core.contacts`` and presence in ``core.presence``; this module
re-exports their names, so ``core.direct`` is the one place to import the whole vocabulary of
direct conversations from. No I/O here: the service applies these rules inside its transactions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from hubbub.core.contacts import (
    CONTACT_ACTIONS,
    ContactAction,
    Relation,
    Stance,
    apply_contact_action,
    ensure_may_message,
    may_see_presence,
    relation,
)
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.core.presence import (
    Activity,
    Presence,
    PresenceRecord,
    PresenceTimeouts,
    next_presence,
    presence_due,
)
from hubbub.errors import BadRequest, EmptyMessage, LocalError, TooLong

__all__ = [
    "CONTACT_ACTIONS",
    "DIRECT_EVENT_TYPES",
    "MAX_CLIENT_MESSAGE_ID_CHARS",
    "MAX_DIRECT_MESSAGE_CHARS",
    "TYPING_TTL_SECONDS",
    "Activity",
    "ChannelEntry",
    "ChannelHead",
    "ChannelKind",
    "ContactAction",
    "DirectMessage",
    "DirectPayload",
    "Presence",
    "PresenceRecord",
    "PresenceTimeouts",
    "Relation",
    "Stance",
    "TypingPayload",
    "apply_contact_action",
    "check_client_message_id",
    "check_client_time",
    "check_direct_text",
    "direct_audience",
    "ensure_may_message",
    "may_see_presence",
    "next_presence",
    "presence_due",
    "relation",
    "retained",
]

# A direct message may be longer than a one-line room message (500): pidgin sends up to 999
# characters on one line (comet.md §C.5), and a pasted paragraph is normal in a conversation.
MAX_DIRECT_MESSAGE_CHARS: Final = 4000

# comet's msg_id is a signed decimal of up to 20 digits; the SDK and the web UI send tokens.
MAX_CLIENT_MESSAGE_ID_CHARS: Final = 64
_CLIENT_MESSAGE_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

# A typing notice says "typing" for this long; after it, it reads back as "stopped" (§C.10).
TYPING_TTL_SECONDS: Final = 30

# Every event about direct conversations, contacts and presence (hubbub's own kinds).
DIRECT_EVENT_TYPES: Final = frozenset(
    {
        EventType.DIRECT_MESSAGE,
        EventType.TYPING,
        EventType.PRESENCE_CHANGED,
        EventType.CONTACT_CHANGED,
        EventType.DIRECT_READ,
    }
)


# --- direct messages ------------------------------------------------------------------------


def check_direct_text(text: str) -> None:
    """Raises: EmptyMessage (only whitespace), TooLong (over ``MAX_DIRECT_MESSAGE_CHARS``)."""
    if not text.strip():
        raise EmptyMessage()
    if len(text) > MAX_DIRECT_MESSAGE_CHARS:
        raise TooLong(MAX_DIRECT_MESSAGE_CHARS, len(text), single_line="\n" not in text)


def check_client_time(client_time: int | None) -> int | None:
    """The sender's clock as it sent (any unit), stored as a 64-bit integer.

    Raises:
        BadRequest: Outside the signed 64-bit range.
    """
    if client_time is not None and not -(2**63) <= client_time < 2**63:
        raise BadRequest("A client time is a 64-bit integer")
    return client_time


def check_client_message_id(client_id: str) -> str:
    """The sender's id for a message (a retry carries the same one).

    Raises:
        BadRequest: Empty, longer than 64 characters, or outside ``[A-Za-z0-9_.:-]``.
    """
    if _CLIENT_MESSAGE_ID.fullmatch(client_id) is None:
        raise BadRequest("A client message id is 1-64 letters, digits or _.:-")
    return client_id


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectMessage:
    """One stored direct message; ``sent_ms`` is the server's time in milliseconds."""

    id: int
    sender_id: UserId
    recipient_id: UserId
    text: str
    html: str
    sent_ms: int
    client_time: int | None
    client_id: str | None
    event_id: EventId

    def other(self, user_id: UserId) -> UserId:
        """The conversation partner of ``user_id``."""
        return self.recipient_id if self.sender_id == user_id else self.sender_id


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectPayload:
    """What a DIRECT_MESSAGE event carries besides sender (``user_id``) and recipient (``target_user_id``)."""

    message_id: int
    text: str
    sent_ms: int
    client_time: int | None
    client_id: str | None
    to_name: str

    def to_data(self) -> str:
        return json.dumps(
            {
                "id": self.message_id,
                "text": self.text,
                "ms": self.sent_ms,
                "client_time": self.client_time,
                "client_id": self.client_id,
                "to_name": self.to_name,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def of(cls, event: Event) -> DirectPayload:
        """Raises: LocalError for an event that is not a stored direct message."""
        if event.type is not EventType.DIRECT_MESSAGE or event.data is None:
            raise LocalError(f"event {event.id} is no direct message")
        record = json.loads(event.data)
        return cls(
            message_id=int(record["id"]),
            text=str(record["text"]),
            sent_ms=int(record["ms"]),
            client_time=None if record.get("client_time") is None else int(record["client_time"]),
            client_id=record.get("client_id"),
            to_name=str(record.get("to_name", "")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TypingPayload:
    """What a TYPING event carries: typing or stopped, and the recipient's name."""

    typing: bool
    to_name: str

    def to_data(self) -> str:
        return json.dumps({"st": int(self.typing), "to_name": self.to_name}, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def of(cls, event: Event) -> TypingPayload:
        if event.type is not EventType.TYPING or event.data is None:
            raise LocalError(f"event {event.id} is no typing notice")
        record = json.loads(event.data)
        return cls(typing=bool(record["st"]), to_name=str(record.get("to_name", "")))


def direct_audience(event: Event) -> frozenset[UserId]:
    """Who receives a direct-conversation event regardless of contacts.

    A message goes to both ends (the sender's other tabs see it too), a typing notice to its
    recipient, a contact change to both users, a read marker to the reader's own sessions.
    Presence goes to contacts and is decided by ``may_see_presence`` instead (empty here).
    """
    if event.type in (EventType.DIRECT_MESSAGE, EventType.CONTACT_CHANGED):
        ends = {event.user_id, event.target_user_id}
        return frozenset(u for u in ends if u is not None)
    if event.type is EventType.TYPING:
        return frozenset(() if event.target_user_id is None else (event.target_user_id,))
    if event.type is EventType.DIRECT_READ:
        return frozenset(() if event.user_id is None else (event.user_id,))
    return frozenset()


# --- channels ---------------------------------------------------------------------------------


class ChannelKind(StrEnum):
    MESSAGE = "msg"  # a direct message in or out
    TYPING = "typ"


@dataclass(frozen=True, slots=True)
class ChannelHead:
    """A channel's bounds: entries ``first_seq .. next_seq - 1`` are kept; ``next_seq`` comes next."""

    next_seq: int = 0
    first_seq: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEntry:
    """Entry ``seq`` of ``user_id``'s channel: the event that made it, and when it lapses (typing)."""

    user_id: UserId
    seq: int
    kind: ChannelKind
    event: Event
    expires_at: int | None = None

    def lapsed(self, now: float) -> bool:
        """A typing notice past its time reads back as "stopped"."""
        return self.expires_at is not None and now >= self.expires_at


def retained(*, seq: int, created_at: int, next_seq: int, now: int, keep_entries: int, keep_seconds: int) -> bool:
    """Whether retention keeps an entry: among the newest ``keep_entries`` or younger than ``keep_seconds``."""
    return seq >= next_seq - keep_entries or created_at > now - keep_seconds
