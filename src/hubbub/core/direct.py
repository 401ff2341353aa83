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

No I/O here: the service applies these rules inside its transactions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum, StrEnum
from typing import Final

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.errors import BadRequest, EmptyMessage, LocalError, NotAllowed, NotFound, TooLong

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


# --- contacts -------------------------------------------------------------------------------


class Stance(StrEnum):
    """What one user holds towards another (no row: nothing)."""

    WANT = "want"  # asks for, or has accepted, the other as a contact
    BLOCK = "block"  # refuses the other everything


class Relation(StrEnum):
    """How two users stand, seen from one of them."""

    NONE = "none"
    REQUESTED = "requested"  # I asked; they have not accepted
    INCOMING = "incoming"  # they asked me
    CONTACTS = "contacts"
    BLOCKED = "blocked"  # I block them
    BLOCKED_BY = "blocked-by"  # they block me (shown to me as "none": a block is not announced)
    SELF = "self"


def relation(mine: Stance | None, theirs: Stance | None, *, same_user: bool = False) -> Relation:
    """The relation from my stance and theirs: a block by either side wins."""
    if same_user:
        return Relation.SELF
    if mine is Stance.BLOCK:
        return Relation.BLOCKED
    if theirs is Stance.BLOCK:
        return Relation.BLOCKED_BY
    if mine is Stance.WANT and theirs is Stance.WANT:
        return Relation.CONTACTS
    if mine is Stance.WANT:
        return Relation.REQUESTED
    if theirs is Stance.WANT:
        return Relation.INCOMING
    return Relation.NONE


class ContactAction(Enum):
    REQUEST = "request"  # ask the other (accepts at once if they had asked)
    ACCEPT = "accept"  # accept their request
    REMOVE = "remove"  # cancel my request, decline theirs, end the contact, or lift my block
    BLOCK = "block"
    LINK = "link"  # an operator makes two users contacts (``hubbub contacts add``)


_KEEP: Final = "keep"  # the stance stays as it is
_Change = Stance | None | str
_REFUSE_BLOCKED: Final = "You block this user; unblock them first"
_REFUSE_BLOCKED_BY: Final = "This user cannot be added as a contact"
_NO_REQUEST: Final = "There is no contact request from this user"

# (action, relation) -> (my new stance, their new stance), or the refusal's message.
CONTACT_ACTIONS: Final[Mapping[tuple[ContactAction, Relation], tuple[_Change, _Change] | str]] = {
    (ContactAction.REQUEST, Relation.NONE): (Stance.WANT, _KEEP),
    (ContactAction.REQUEST, Relation.REQUESTED): (_KEEP, _KEEP),
    (ContactAction.REQUEST, Relation.INCOMING): (Stance.WANT, _KEEP),
    (ContactAction.REQUEST, Relation.CONTACTS): (_KEEP, _KEEP),
    (ContactAction.REQUEST, Relation.BLOCKED): _REFUSE_BLOCKED,
    (ContactAction.REQUEST, Relation.BLOCKED_BY): _REFUSE_BLOCKED_BY,
    (ContactAction.ACCEPT, Relation.INCOMING): (Stance.WANT, _KEEP),
    (ContactAction.ACCEPT, Relation.CONTACTS): (_KEEP, _KEEP),
    (ContactAction.ACCEPT, Relation.NONE): _NO_REQUEST,
    (ContactAction.ACCEPT, Relation.REQUESTED): _NO_REQUEST,
    (ContactAction.ACCEPT, Relation.BLOCKED): _REFUSE_BLOCKED,
    (ContactAction.ACCEPT, Relation.BLOCKED_BY): _NO_REQUEST,
    (ContactAction.REMOVE, Relation.NONE): (_KEEP, _KEEP),
    (ContactAction.REMOVE, Relation.REQUESTED): (None, _KEEP),
    (ContactAction.REMOVE, Relation.INCOMING): (_KEEP, None),
    (ContactAction.REMOVE, Relation.CONTACTS): (None, None),
    (ContactAction.REMOVE, Relation.BLOCKED): (None, _KEEP),
    (ContactAction.REMOVE, Relation.BLOCKED_BY): (None, _KEEP),
    (ContactAction.BLOCK, Relation.NONE): (Stance.BLOCK, _KEEP),
    (ContactAction.BLOCK, Relation.REQUESTED): (Stance.BLOCK, _KEEP),
    (ContactAction.BLOCK, Relation.INCOMING): (Stance.BLOCK, None),
    (ContactAction.BLOCK, Relation.CONTACTS): (Stance.BLOCK, None),
    (ContactAction.BLOCK, Relation.BLOCKED): (_KEEP, _KEEP),
    (ContactAction.BLOCK, Relation.BLOCKED_BY): (Stance.BLOCK, _KEEP),
    (ContactAction.LINK, Relation.NONE): (Stance.WANT, Stance.WANT),
    (ContactAction.LINK, Relation.REQUESTED): (Stance.WANT, Stance.WANT),
    (ContactAction.LINK, Relation.INCOMING): (Stance.WANT, Stance.WANT),
    (ContactAction.LINK, Relation.CONTACTS): (_KEEP, _KEEP),
    (ContactAction.LINK, Relation.BLOCKED): "The first user blocks the second",
    (ContactAction.LINK, Relation.BLOCKED_BY): "The second user blocks the first",
}


def apply_contact_action(
    action: ContactAction, mine: Stance | None, theirs: Stance | None, *, same_user: bool = False
) -> tuple[Stance | None, Stance | None]:
    """My and their stances after ``action``.

    Raises:
        BadRequest: A contact action on oneself.
        NotAllowed: A block stands in the way.
        NotFound: Accepting a request nobody made.
    """
    if same_user:
        raise BadRequest("You cannot add yourself as a contact")
    current = relation(mine, theirs)
    outcome = CONTACT_ACTIONS[(action, current)]
    if isinstance(outcome, str):
        if outcome == _NO_REQUEST:
            raise NotFound(outcome)
        raise NotAllowed(outcome)
    new_mine, new_theirs = outcome
    return (
        mine if new_mine == _KEEP else Stance(new_mine) if new_mine is not None else None,
        theirs if new_theirs == _KEEP else Stance(new_theirs) if new_theirs is not None else None,
    )


def ensure_may_message(rel: Relation) -> None:
    """Direct messages and typing notices go to contacts (and oneself) only; a block wins.

    Raises:
        NotAllowed: Not contacts, or a block by either side.
    """
    if rel not in (Relation.CONTACTS, Relation.SELF):
        raise NotAllowed("You can only send direct messages to your contacts")


def may_see_presence(rel: Relation) -> bool:
    """Presence is shown to contacts only (and to oneself)."""
    return rel in (Relation.CONTACTS, Relation.SELF)


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


# --- presence ---------------------------------------------------------------------------------


class Presence(StrEnum):
    ONLINE = "online"
    IDLE = "idle"
    OFFLINE = "offline"


class Activity(Enum):
    """What a transport reports about a user."""

    SEEN = "seen"  # a client of theirs is there (a poll, an open socket): online, or idle if inactive
    ACTIVE = "active"  # they did something (sent, typed, opened a page): online and not idle


@dataclass(frozen=True, slots=True)
class PresenceTimeouts:
    """The named timeouts presence is computed with (settings ``presence_*``)."""

    seen_seconds: int  # a sighting keeps a user online (or idle) this long
    idle_seconds: int  # no activity for this long makes an online user idle

    def __post_init__(self) -> None:
        if self.seen_seconds < 1 or self.idle_seconds < 1:
            raise ValueError("presence timeouts must be at least one second")


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceRecord:
    """A user's stored presence: ``state`` is what contacts see (offline while invisible)."""

    user_id: UserId
    state: Presence = Presence.OFFLINE
    seen_until: int = 0  # Unix seconds: online or idle until then unless seen again
    active_at: int = 0  # the last activity
    visible: bool = True
    changed_at: int = 0


def _state_at(record: PresenceRecord, now: int, timeouts: PresenceTimeouts) -> Presence:
    if not record.visible or record.seen_until <= now:
        return Presence.OFFLINE
    if record.active_at <= now - timeouts.idle_seconds:
        return Presence.IDLE
    return Presence.ONLINE


def next_presence(
    record: PresenceRecord, now: int, timeouts: PresenceTimeouts, activity: Activity | None = None
) -> PresenceRecord:
    """The record after ``activity`` at ``now`` (None: time passing, as the sweep sees it)."""
    updated = record
    if activity is not None:
        updated = replace(updated, seen_until=max(updated.seen_until, now + timeouts.seen_seconds))
        if activity is Activity.ACTIVE:
            updated = replace(updated, active_at=max(updated.active_at, now))
    state = _state_at(updated, now, timeouts)
    if state is not updated.state:
        updated = replace(updated, state=state, changed_at=now)
    return updated


def presence_due(record: PresenceRecord, now: int, timeouts: PresenceTimeouts, activity: Activity) -> bool:
    """Whether ``activity`` must be written: it changes the state, or the stored sighting is past
    its first half (so a user seen steadily is written about twice per ``seen_seconds``) or an
    activity is more than a quarter of ``idle_seconds`` old. Everything else is a no-op write."""
    if next_presence(record, now, timeouts, activity).state is not record.state:
        return True
    if record.seen_until - now < timeouts.seen_seconds / 2:
        return True
    return activity is Activity.ACTIVE and now - record.active_at > timeouts.idle_seconds / 4
