"""The event log's vocabulary: ``EventType`` (Stack Exchange's wire numbers) and ``Event``.

Every change in hubbub is an ``Event`` with a global, strictly increasing ``id``
(shared/DESIGN.md). Chat events use Stack Exchange's numbers 1-22, 29, 30 and 34
(shared/protocol/sechat.md §6.1). hubbub's own kinds (inbox counters, published
feed items) use numbers from 1000 up, which the sechat dialect never puts on its
wire.

``Event`` is one flat record whose fields are the union of what Stack Exchange's
events carry (§6.2); a field that does not apply to a type stays at its zero value
and dialects leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from hubbub.core.ids import EventId, MessageId, RoomId, UserId

__all__ = [
    "CHAT_EVENT_TYPES",
    "MESSAGE_EVENT_TYPES",
    "Event",
    "EventType",
    "NewEvent",
]


class EventType(IntEnum):
    """Event type numbers as Stack Exchange chat sends them (master-chat.js constants)."""

    MESSAGE_POSTED = 1
    MESSAGE_EDITED = 2
    USER_ENTERED = 3
    USER_LEFT = 4
    ROOM_NAME_CHANGED = 5
    MESSAGE_STARRED = 6
    DEBUG_MESSAGE = 7
    USER_MENTIONED = 8
    MESSAGE_FLAGGED = 9
    MESSAGE_DELETED = 10
    FILE_ADDED = 11
    MODERATOR_FLAG = 12
    USER_SETTINGS_CHANGED = 13
    GLOBAL_NOTIFICATION = 14
    ACCESS_LEVEL_CHANGED = 15
    USER_NOTIFICATION = 16
    INVITATION = 17
    MESSAGE_REPLY = 18
    MESSAGE_MOVED_OUT = 19
    MESSAGE_MOVED_IN = 20
    TIME_BREAK = 21
    FEED_TICKER = 22
    USER_SUSPENDED = 29
    USER_MERGED = 30
    USER_NAME_OR_AVATAR_CHANGED = 34

    # hubbub's own kinds; never on the sechat wire.
    INBOX_CHANGED = 1001  # target_user_id's unread mention/reply count is now int(data)
    FEED_PUBLISHED = 1002  # an item published into a realtime topic: topic + data (JSON text)
    SESSION_ENDED = 1003  # target_user_id logged out of the session whose key is data
    SESSIONS_REVOKED = 1004  # every session of target_user_id ended, except the one keyed data (if any)
    # Direct conversations (core/direct.py): user_id is the actor, target_user_id the other user.
    DIRECT_MESSAGE = 1005  # user_id sent target_user_id a direct message; content = HTML, data = DirectPayload
    TYPING = 1006  # user_id started (data st=1) or stopped (st=0) typing to target_user_id
    PRESENCE_CHANGED = 1007  # user_id is now data ("online", "idle", "offline"), as contacts see it
    CONTACT_CHANGED = 1008  # user_id's relation to target_user_id is now data (core.direct.Relation)
    DIRECT_READ = 1009  # user_id read target_user_id's direct messages up to message id int(data)
    # Streams (core/streams.py); the streams dialect renders them, no other dialect carries them.
    STREAM_CHANGED = 1101  # a stream (room_id's) created, changed, shared, went live or offline: data = its JSON
    STREAM_CHAT = 1102  # a chat line of a stream (room_id) or a /msg to target_user_id: data = the frame's JSON
    STREAM_VIEWCOUNT = 1103  # a network reported viewers for a stream's account: data = JSON
    ACCESS_TOKEN_RESET = 1104  # target_user_id's streams API token changed: data = the new token's hash
    STREAM_DELETED = 1105  # the stream of room_id is gone: data = {"id": ...}


# What a Stack Exchange chat client may receive (sechat.md §6.1: anything else crashes some clients).
CHAT_EVENT_TYPES: Final = frozenset(t for t in EventType if t < 1000)

# Types that are about one message and carry ``message_id``.
MESSAGE_EVENT_TYPES: Final = frozenset(
    {
        EventType.MESSAGE_POSTED,
        EventType.MESSAGE_EDITED,
        EventType.MESSAGE_STARRED,
        EventType.USER_MENTIONED,
        EventType.MESSAGE_FLAGGED,
        EventType.MESSAGE_DELETED,
        EventType.MODERATOR_FLAG,
        EventType.MESSAGE_REPLY,
        EventType.MESSAGE_MOVED_OUT,
        EventType.MESSAGE_MOVED_IN,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An event about to be appended; the store gives it its id."""

    type: EventType
    time_stamp: int
    room_id: RoomId | None = None
    room_name: str | None = None
    user_id: UserId | None = None
    user_name: str | None = None
    target_user_id: UserId | None = None
    message_id: MessageId | None = None
    content: str | None = None
    parent_id: MessageId | None = None
    show_parent: bool = False
    message_edits: int = 0
    message_stars: int = 0
    message_owner_stars: int = 0
    moved: bool = False
    topic: str | None = None  # FEED_PUBLISHED only
    data: str | None = None  # FEED_PUBLISHED payload (JSON), INBOX_CHANGED count, a session key (1003/1004)

    def with_id(self, event_id: EventId) -> Event:
        return Event(
            id=event_id,
            type=self.type,
            time_stamp=self.time_stamp,
            room_id=self.room_id,
            room_name=self.room_name,
            user_id=self.user_id,
            user_name=self.user_name,
            target_user_id=self.target_user_id,
            message_id=self.message_id,
            content=self.content,
            parent_id=self.parent_id,
            show_parent=self.show_parent,
            message_edits=self.message_edits,
            message_stars=self.message_stars,
            message_owner_stars=self.message_owner_stars,
            moved=self.moved,
            topic=self.topic,
            data=self.data,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(NewEvent):
    """An appended event: a ``NewEvent`` with its place in the log."""

    id: EventId
