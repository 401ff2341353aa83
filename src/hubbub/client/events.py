"""Typed chat events for the SDK, after the event reference of shared/seeds/002 (sechat's ``sechat.events``).

``from_record`` validates one JSON event record (through the sechat codec's
reader, the project's one parser for this wire) and builds the class for its
``event_type``. A record of a type without a class here, of a type Stack
Exchange never defined, or missing a field its class needs becomes an
``UnknownEvent`` carrying the raw record: an odd event never ends a stream.

Class names follow seed 002 (``MessageEvent``, ``EditEvent`` ...); the names of
the event types (``MessagePosted``, ``MessageEdited`` ...) are aliases of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hubbub.core.events import Event as LogEvent
from hubbub.core.events import EventType
from hubbub.dialects.sechat.reading import content_text, parse_event_record

__all__ = [
    "AccessLevelChangedEvent",
    "BaseMessageEvent",
    "DeleteEvent",
    "EditEvent",
    "Event",
    "EventType",
    "GlobalNotificationEvent",
    "InvitationEvent",
    "MentionEvent",
    "MessageDeleted",
    "MessageEdited",
    "MessageEvent",
    "MessageMovedInEvent",
    "MessageMovedOutEvent",
    "MessagePosted",
    "MessageReply",
    "MessageStarred",
    "MessageStarredEvent",
    "ReplyEvent",
    "RoomEvent",
    "RoomNameChanged",
    "RoomNameChangedEvent",
    "UnknownEvent",
    "UserEntered",
    "UserEnteredEvent",
    "UserEvent",
    "UserLeft",
    "UserLeftEvent",
    "UserMentioned",
    "UserNameOrAvatarChangedEvent",
    "UserNotificationEvent",
    "UserSuspendedEvent",
    "from_record",
]


@dataclass(frozen=True, kw_only=True)
class Event:
    """An event received from chat. ``id`` is the log's global, increasing event id."""

    id: int
    event_type: int
    time_stamp: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class RoomEvent(Event):
    """An event about one room."""

    room_id: int
    room_name: str = ""


@dataclass(frozen=True, kw_only=True)
class UserEvent(RoomEvent):
    """An event caused by a user; ``target_user_id`` is whom it is about or for, when anyone."""

    user_id: int
    user_name: str = ""
    target_user_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class BaseMessageEvent(RoomEvent):
    """Something happened to a message.

    ``parent_id`` is the message replied to, or the last message of the one user the
    message pings; ``show_parent`` is True for replies.
    """

    message_id: int
    parent_id: int | None = None
    show_parent: bool | None = None
    message_stars: int = 0
    message_owner_stars: int = 0
    message_edits: int = 0


@dataclass(frozen=True, kw_only=True)
class MessageEvent(BaseMessageEvent, UserEvent):
    """A message was posted (type 1). ``content`` is HTML; ``text`` is the same as plain text."""

    content: str

    @property
    def text(self) -> str:
        return content_text(self.content)


@dataclass(frozen=True, kw_only=True)
class EditEvent(MessageEvent):
    """A message was edited (type 2); ``content`` is the new version."""


@dataclass(frozen=True, kw_only=True)
class MentionEvent(MessageEvent):
    """This account was pinged (type 8); comes with the ``MessageEvent`` of the same message."""


@dataclass(frozen=True, kw_only=True)
class ReplyEvent(MessageEvent):
    """A message of this account was replied to (type 18); comes with the reply's ``MessageEvent``."""


@dataclass(frozen=True, kw_only=True)
class DeleteEvent(BaseMessageEvent, UserEvent):
    """A message was deleted (type 10); there is no content."""


@dataclass(frozen=True, kw_only=True)
class MessageStarredEvent(BaseMessageEvent):
    """A message's stars or pin changed (type 6); who did it is not sent."""


@dataclass(frozen=True, kw_only=True)
class MessageMovedOutEvent(BaseMessageEvent, UserEvent):
    """A message was moved out of this room (type 19) by ``user_id``."""

    content: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageMovedInEvent(BaseMessageEvent, UserEvent):
    """A message was moved into this room (type 20) by ``user_id``."""

    content: str | None = None


@dataclass(frozen=True, kw_only=True)
class UserEnteredEvent(UserEvent):
    """A user entered the room (type 3)."""


@dataclass(frozen=True, kw_only=True)
class UserLeftEvent(UserEvent):
    """A user left the room (type 4); with an ``AccessLevelChangedEvent`` it is a kick."""


@dataclass(frozen=True, kw_only=True)
class RoomNameChangedEvent(UserEvent):
    """The room's name, description or tags changed (type 5); ``content`` is ``name / description``."""

    content: str


@dataclass(frozen=True, kw_only=True)
class AccessLevelChangedEvent(UserEvent):
    """An access level changed (type 15).

    ``content`` is ``Access now read-write`` / ``read-only`` / ``owner`` / ``request``,
    ``priv <n> created`` (a kick) or ``priv <n> deleted``; None when the room's own
    access changed (then ``target_user_id`` is None).
    """

    content: str | None = None


@dataclass(frozen=True, kw_only=True)
class GlobalNotificationEvent(UserEvent):
    """A notification for this account (type 14); ``content`` is HTML; ``user_id`` is -2 (Feeds)."""

    content: str


@dataclass(frozen=True, kw_only=True)
class UserNotificationEvent(UserEvent):
    """A notification for this account (type 16), e.g. an access request; ``content`` is HTML."""

    content: str


@dataclass(frozen=True, kw_only=True)
class InvitationEvent(UserEvent):
    """``user_id`` invited this account to ``room_id`` (type 17); ``content`` is HTML."""

    content: str


@dataclass(frozen=True, kw_only=True)
class UserSuspendedEvent(UserEvent):
    """This account was suspended (type 29); ``content`` is ``<n> {"old": ..., "new": ...}``."""

    content: str


@dataclass(frozen=True, kw_only=True)
class UserNameOrAvatarChangedEvent(UserEvent):
    """``target_user_id`` changed name or avatar (type 34); ``user_id`` is -2 (Feeds)."""


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """An event this SDK has no class for, or one that did not validate; ``raw`` is the record."""

    room_id: int | None = None


MessagePosted = MessageEvent
MessageEdited = EditEvent
MessageDeleted = DeleteEvent
MessageStarred = MessageStarredEvent
UserEntered = UserEnteredEvent
UserLeft = UserLeftEvent
RoomNameChanged = RoomNameChangedEvent
UserMentioned = MentionEvent
MessageReply = ReplyEvent

_CLASSES: Final[Mapping[EventType, type[Event]]] = {
    EventType.MESSAGE_POSTED: MessageEvent,
    EventType.MESSAGE_EDITED: EditEvent,
    EventType.USER_ENTERED: UserEnteredEvent,
    EventType.USER_LEFT: UserLeftEvent,
    EventType.ROOM_NAME_CHANGED: RoomNameChangedEvent,
    EventType.MESSAGE_STARRED: MessageStarredEvent,
    EventType.USER_MENTIONED: MentionEvent,
    EventType.MESSAGE_DELETED: DeleteEvent,
    EventType.GLOBAL_NOTIFICATION: GlobalNotificationEvent,
    EventType.ACCESS_LEVEL_CHANGED: AccessLevelChangedEvent,
    EventType.USER_NOTIFICATION: UserNotificationEvent,
    EventType.INVITATION: InvitationEvent,
    EventType.MESSAGE_REPLY: ReplyEvent,
    EventType.MESSAGE_MOVED_OUT: MessageMovedOutEvent,
    EventType.MESSAGE_MOVED_IN: MessageMovedInEvent,
    EventType.USER_SUSPENDED: UserSuspendedEvent,
    EventType.USER_NAME_OR_AVATAR_CHANGED: UserNameOrAvatarChangedEvent,
}

# Fields a class needs that the wire may omit; a record without them is an UnknownEvent.
_REQUIRED: Final = {
    RoomEvent: ("room_id",),
    UserEvent: ("user_id",),
    BaseMessageEvent: ("message_id",),
}
_CONTENT_REQUIRED: Final = (
    MessageEvent,
    RoomNameChangedEvent,
    GlobalNotificationEvent,
    UserNotificationEvent,
    InvitationEvent,
    UserSuspendedEvent,
)


def _fields(cls: type[Event], event: LogEvent, record: Mapping[str, Any]) -> dict[str, Any] | None:
    values: dict[str, Any] = {"id": event.id, "event_type": int(event.type), "time_stamp": event.time_stamp}
    values["raw"] = record
    for base, names in _REQUIRED.items():
        if issubclass(cls, base) and any(getattr(event, name) is None for name in names):
            return None
    if issubclass(cls, _CONTENT_REQUIRED) and event.content is None:
        return None
    if issubclass(cls, RoomEvent):
        values.update(room_id=event.room_id, room_name=event.room_name or "")
    if issubclass(cls, UserEvent):
        values.update(user_id=event.user_id, user_name=event.user_name or "", target_user_id=event.target_user_id)
    if issubclass(cls, BaseMessageEvent):
        values.update(
            message_id=event.message_id,
            parent_id=event.parent_id,
            show_parent=True if event.show_parent else None,
            message_stars=event.message_stars,
            message_owner_stars=event.message_owner_stars,
            message_edits=event.message_edits,
        )
    if "content" in cls.__dataclass_fields__:
        values["content"] = event.content
    return values


def _unknown(record: Mapping[str, Any]) -> UnknownEvent:
    def number(name: str) -> int | None:
        value = record.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return UnknownEvent(
        id=number("id") or 0,
        event_type=number("event_type") or 0,
        time_stamp=number("time_stamp") or 0,
        raw=dict(record),
        room_id=number("room_id"),
    )


def from_record(record: Mapping[str, Any]) -> Event:
    """The typed event for one JSON event record; never raises for a record that is a mapping."""
    try:
        event = parse_event_record(record)
    except ValueError:
        return _unknown(record)
    cls = _CLASSES.get(event.type)
    values = None if cls is None else _fields(cls, event, record)
    if cls is None or values is None:
        return _unknown(record)
    return cls(**values)
