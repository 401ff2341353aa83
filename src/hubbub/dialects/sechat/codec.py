"""Sans-I/O codec for the sechat dialect (shared/protocol/sechat.md, seeds 000-002).

Turns hubbub's events and messages into Stack Exchange chat's JSON records and
frames, parses the form fields its clients post, and says how each refusal reads
on this wire (status, body, content type). No I/O: ``routes.py`` moves the bytes.
The SDK (``hubbub.client``) reuses this module, so the dialect has one parser: the
client-side readers (frames, event records, refusals, the pages a client scrapes)
live in ``hubbub.dialects.sechat.reading``, which shares this module's tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from hubbub.core.events import CHAT_EVENT_TYPES, Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import Message, Room, User
from hubbub.core.rules import NO_PERMISSION
from hubbub.errors import (
    AlreadyDeleted,
    BadRequest,
    BodyTooLarge,
    InvalidFkey,
    NeverAssigned,
    NotAllowed,
    NotFound,
    NotLoggedIn,
    NotYours,
    RateLimited,
    RemoteError,
    SlowRequest,
    TooLate,
)

__all__ = [
    "DELETE_ALREADY_DELETED",
    "DELETE_NOT_YOURS",
    "DELETE_TOO_LATE",
    "EDIT_ALREADY_DELETED",
    "EDIT_NOT_YOURS",
    "EDIT_TOO_LATE",
    "OK",
    "Action",
    "HistoryRequest",
    "Reply",
    "RoomFrame",
    "encode_json",
    "event_record",
    "frame",
    "history_record",
    "json_reply",
    "parse_history_request",
    "parse_id_list",
    "parse_int",
    "parse_message_id",
    "parse_poll_cursors",
    "parse_replay_cursor",
    "parse_room_id",
    "parse_socket_path",
    "parse_user_id",
    "refusal",
    "text_reply",
]

JSON_TYPE: Final = "application/json"
TEXT_TYPE: Final = "text/plain; charset=utf-8"

# Edit and delete refusals, JSON-quoted on the wire with status 200 (sechat.md §9.2). Where
# sources disagree hubbub follows the current clients: no period after "edit this message"
# (sochat4j 2026, ChatExchange) and "This message has already been deleted and cannot be
# edited" (OakBot wiki capture, OakBot, sochat4j). docs/dialects/sechat.md records the choice.
EDIT_TOO_LATE: Final = "It is too late to edit this message"
EDIT_ALREADY_DELETED: Final = "This message has already been deleted and cannot be edited"
EDIT_NOT_YOURS: Final = "You can only edit your own messages"
DELETE_TOO_LATE: Final = "It is too late to delete this message"
DELETE_ALREADY_DELETED: Final = "This message has already been deleted."
DELETE_NOT_YOURS: Final = "You can only delete your own messages"

Action = Literal["post", "edit", "delete", "star", "read", "other"]

_EDIT_REFUSALS: Final = (
    (TooLate, EDIT_TOO_LATE),
    (AlreadyDeleted, EDIT_ALREADY_DELETED),
    (NotYours, EDIT_NOT_YOURS),
)
_DELETE_REFUSALS: Final = (
    (TooLate, DELETE_TOO_LATE),
    (AlreadyDeleted, DELETE_ALREADY_DELETED),
    (NotYours, DELETE_NOT_YOURS),
)

_ROOM_KEY = re.compile(r"r(\d{1,18})")
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_DIGITS = re.compile(r"[0-9]+")
MAX_ID: Final = 2**63 - 1  # ids are 64-bit integers in every engine
NO_SUCH_USER: Final = "No such user"
NO_SUCH_MESSAGE: Final = "No such message"
_SOCKET_PATH = re.compile(r"/events/(\d{1,18})/([A-Za-z0-9_\-]{1,200})/?")


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer, described without sending it."""

    status: int
    body: bytes
    content_type: str | None = JSON_TYPE
    location: str | None = None


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, encode_json(value), JSON_TYPE)


def text_reply(text: str, status: int) -> Reply:
    return Reply(status, text.encode("utf-8"), TEXT_TYPE)


OK: Final = json_reply("ok")


def refusal(error: RemoteError, action: Action) -> Reply:
    """How Stack Exchange chat answers when it refuses ``action`` for ``error``."""
    if isinstance(error, RateLimited):
        # Plain, unquoted, exact trailing period: sechat v3 matches it with re.fullmatch.
        return text_reply(str(error), 409)
    if isinstance(error, NeverAssigned) and action in ("edit", "delete", "star"):
        return Reply(302, b"", None, location="/")
    if isinstance(error, NotLoggedIn | InvalidFkey):
        return text_reply(str(error), 403)
    if isinstance(error, BodyTooLarge):
        return text_reply(str(error), 413)
    if isinstance(error, SlowRequest):
        return text_reply(str(error), 408)
    if action in ("edit", "delete"):
        wording = _EDIT_REFUSALS if action == "edit" else _DELETE_REFUSALS
        for kind, text in wording:
            if isinstance(error, kind):
                return json_reply(text)
    if action == "post" and isinstance(error, NotFound | NotAllowed):
        return text_reply(str(error), 404)
    if action == "star" and not isinstance(error, BadRequest | NotFound):
        return json_reply(str(error))
    if isinstance(error, NotFound):
        return text_reply(str(error), 404)
    if isinstance(error, NotAllowed):
        return text_reply(str(error), 403)
    return text_reply(str(error), 400)


# Field order as in captured Stack Exchange frames (sechat.md §6.2).
def event_record(event: Event) -> dict[str, Any]:
    """An event as Stack Exchange chat sends it: optional fields left out when zero or absent.

    Raises:
        ValueError: For hubbub's own event types, which never go on this wire.
    """
    if event.type not in CHAT_EVENT_TYPES:
        raise ValueError(f"event type {event.type} is not a chat event")
    record: dict[str, Any] = {"event_type": int(event.type), "time_stamp": event.time_stamp}
    # Deleted messages carry no content; access changes carry null when the room's access changed.
    has_content = event.content is not None and event.type is not EventType.MESSAGE_DELETED
    if has_content or event.type is EventType.ACCESS_LEVEL_CHANGED:
        record["content"] = event.content
    record["id"] = event.id
    if event.user_id is not None:
        record["user_id"] = event.user_id
    if event.target_user_id is not None:
        record["target_user_id"] = event.target_user_id
    if event.user_id is not None:
        record["user_name"] = event.user_name or ""
    if event.room_id is not None:
        record["room_id"] = event.room_id
        record["room_name"] = event.room_name or ""
    if event.message_id is not None:
        record["message_id"] = event.message_id
    if event.parent_id is not None:
        record["parent_id"] = event.parent_id
    if event.show_parent:
        record["show_parent"] = True
    if event.message_edits:
        record["message_edits"] = event.message_edits
    # sechat v2 refuses star counts on a deletion (sechat.md §6.3); a deleted message has none to show.
    if event.message_stars and event.type is not EventType.MESSAGE_DELETED:
        record["message_stars"] = event.message_stars
    if event.message_owner_stars and event.type is not EventType.MESSAGE_DELETED:
        record["message_owner_stars"] = event.message_owner_stars
    if event.moved:
        record["moved"] = True
    return record


def history_record(message: Message, room: Room, author: User, event_id: EventId) -> dict[str, Any]:
    """A message's current state as the type-1 record ``/chats/{room}/events`` lists."""
    record: dict[str, Any] = {
        "event_type": int(EventType.MESSAGE_POSTED),
        "time_stamp": message.posted_at,
        "content": message.content,
        "id": event_id,
        "user_id": author.id,
        "user_name": author.name,
        "room_id": room.id,
        "room_name": room.name,
        "message_id": message.id,
    }
    if message.parent_id is not None:
        record["parent_id"] = message.parent_id
    if message.show_parent:
        record["show_parent"] = True
    if message.edits:
        record["message_edits"] = message.edits
    if message.stars:
        record["message_stars"] = message.stars
    if message.owner_stars:
        record["message_owner_stars"] = message.owner_stars
    return record


@dataclass(frozen=True, slots=True)
class RoomFrame:
    """One room's part of a frame or poll answer: ``{"e": [...], "t": cursor, "d": n}``."""

    events: Sequence[Event]
    cursor: int


def frame(rooms: Mapping[RoomId, RoomFrame]) -> bytes:
    """``{"r<room>": {"e": [...], "t": <id>, "d": <n>}, ...}``; ``e`` only when there are events."""
    body: dict[str, dict[str, Any]] = {}
    for room_id, part in rooms.items():
        records = [event_record(e) for e in part.events if e.type in CHAT_EVENT_TYPES]
        entry: dict[str, Any] = {}
        if records:
            entry["e"] = records
        entry["t"] = part.cursor
        entry["d"] = len(records)
        body[f"r{room_id}"] = entry
    return encode_json(body)


def parse_int(value: str | None, name: str, *, default: int | None = None, minimum: int = 0) -> int:
    """A form or query integer: ASCII digits with an optional minus, within 64 bits.

    Raises:
        BadRequest: Missing (without a default), not a number, below ``minimum`` or
            beyond what a 64-bit id can hold.
    """
    if value is None or value.strip() == "":
        if default is None:
            raise BadRequest(f"The {name} parameter is required")
        return default
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        raise BadRequest(f"The {name} parameter must be a number")
    number = int(text)
    if number < minimum:
        raise BadRequest(f"The {name} parameter must be at least {minimum}")
    if number > MAX_ID:
        raise BadRequest(f"The {name} parameter must be at most {MAX_ID}")
    return number


def _id_number(value: str | None) -> int | None:
    """The id a path segment or query value names: ASCII digits (leading zeros allowed), 1 to ``MAX_ID``."""
    text = (value or "").strip()
    if not _DIGITS.fullmatch(text):
        return None  # also Unicode digits, which a route's \d+ matches and int() would take
    digits = text.lstrip("0")
    if not digits or len(digits) > len(str(MAX_ID)):
        return None
    number = int(digits)
    return number if number <= MAX_ID else None


def _parse_id(value: str | None, missing: str) -> int:
    number = _id_number(value)
    if number is None:
        raise NotFound(missing)
    return number


# Path and query ids. One that no row can have (0, beyond 64 bits, not a number) names nothing, so it
# is "not found" in the words an unknown id of that kind gets (sechat.md §9.4: an unknown room is a
# 404), never a 400, and never a number too large for the store to look up.


def parse_room_id(value: str | None) -> RoomId:
    """A room id from a path or query.

    Raises:
        NotFound: ``NO_PERMISSION``, as for a room that does not exist.
    """
    return RoomId(_parse_id(value, NO_PERMISSION))


def parse_user_id(value: str | None) -> UserId:
    """A user id from a path or query.

    Raises:
        NotFound: ``No such user``.
    """
    return UserId(_parse_id(value, NO_SUCH_USER))


def parse_message_id(value: str | None) -> MessageId:
    """A message id from a path or query.

    Raises:
        NotFound: ``No such message``.
    """
    return MessageId(_parse_id(value, NO_SUCH_MESSAGE))


def parse_id_list(value: str | None, name: str) -> list[int]:
    """``"1,2, 3"`` -> ``[1, 2, 3]``.

    Raises:
        BadRequest: Missing, no id at all, or an id that ``parse_int`` refuses.
    """
    ids = [parse_int(part, name, minimum=1) for part in (value or "").split(",") if part.strip()]
    if not ids:
        raise BadRequest(f"The {name} parameter is required")
    return ids


def parse_poll_cursors(form: Mapping[str, str]) -> dict[RoomId, EventId]:
    """The ``r<room>=<since>`` fields of a ``POST /events`` form.

    Raises:
        BadRequest: A cursor that is not a number.
    """
    cursors: dict[RoomId, EventId] = {}
    for key, value in form.items():
        match = _ROOM_KEY.fullmatch(key)
        if match is not None:
            cursors[RoomId(int(match.group(1)))] = EventId(parse_int(value, key, default=0))
    return cursors


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    count: int
    before: MessageId | None
    after: MessageId | None


def parse_history_request(form: Mapping[str, str], *, default_count: int, max_count: int) -> HistoryRequest:
    """The fields of ``POST /chats/{room}/events``: ``msgCount`` (or sechat 1.x's ``count``),
    ``before`` and ``after`` message ids. ``since`` and ``mode`` are accepted and ignored."""
    raw_count = form.get("msgCount") or form.get("count")
    count = min(max(parse_int(raw_count, "msgCount", default=default_count, minimum=-MAX_ID), 1), max_count)
    before = form.get("before")
    after = form.get("after")
    return HistoryRequest(
        count=count,
        before=MessageId(parse_int(before, "before", minimum=1)) if before else None,
        after=MessageId(parse_int(after, "after")) if after else None,
    )


def parse_socket_path(path: str) -> tuple[RoomId, str] | None:
    """``/events/<room>/<token>`` -> (room, token); None for any other path."""
    match = _SOCKET_PATH.fullmatch(path)
    if match is None:
        return None
    return RoomId(int(match.group(1))), match.group(2)


def parse_replay_cursor(value: str | None, last_event_id: int) -> EventId | None:
    """The ``l`` query parameter as a replay cursor, when it can be one.

    Clients fill ``l`` with an event id (ChatExchange, the JS client), a Unix time
    (sechat) or a message's time stamp (OakBot), so it is a cursor only when it is a
    positive number not beyond the log's end (``last_event_id``: the newest id the
    store holds, which a client may have seen by polling); otherwise it is ignored and
    the socket streams from now (sechat.md §5.2). It never suppresses live events.
    """
    if value is None:
        return None
    try:
        cursor = int(value)
    except ValueError:
        return None
    if 0 < cursor <= last_event_id:
        return EventId(cursor)
    return None
