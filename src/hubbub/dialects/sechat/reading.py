"""Sans-I/O reading side of the sechat codec: what a *client* parses (shared/protocol/sechat.md).

``codec.py`` writes the wire as the server; this module reads the same wire back
as a client does: socket frames and ``POST /events`` answers, event records (the
inverse of ``codec.event_record``), the answers of the form API, refusals (the
inverse of ``codec.refusal``) and the two pages a client scrapes for its fkey and
identity. The SDK (``hubbub.client``) uses only these functions, so the project
has one parser for this wire. No I/O, no framework: plain values in and out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final, TypeGuard

from hubbub.core.events import CHAT_EVENT_TYPES, Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.dialects.sechat.codec import (
    DELETE_ALREADY_DELETED,
    DELETE_NOT_YOURS,
    DELETE_TOO_LATE,
    EDIT_ALREADY_DELETED,
    EDIT_NOT_YOURS,
    EDIT_TOO_LATE,
    Action,
)
from hubbub.errors import (
    AlreadyDeleted,
    BadRequest,
    InvalidFkey,
    Kicked,
    LimitReached,
    LowReputation,
    NeverAssigned,
    NotAllowed,
    NotFound,
    NotLoggedIn,
    NotYours,
    OwnMessage,
    RateLimited,
    RemoteError,
    TooLate,
)

__all__ = [
    "ChatPage",
    "ReceivedRoom",
    "content_text",
    "parse_chat_page",
    "parse_event_record",
    "parse_frame",
    "parse_history_time",
    "parse_json_string",
    "parse_posted",
    "parse_present_users",
    "parse_rate_limit",
    "parse_refusal",
    "parse_socket_url",
]

# sechat v3 matches the exact text; ChatExchange only the start. Accept both plural and singular,
# with or without the period (sochat4j's fixture has none), and fall back to 1 second when absent.
_RATE_LIMIT: Final = re.compile(r"You can perform this action again in (\d{1,9}) seconds?")
_KICKED: Final = re.compile(r"you can return in (\d{1,9}) seconds")
_REPUTATION: Final = re.compile(r"You need (\d{1,9}) reputation points")
_ROOM_KEY: Final = re.compile(r"r(\d{1,18})")
# A room page's present users: ``CHAT.RoomUsers.initPresent([{id: 1, name: (...)}, ...])``, read the
# way the Java clients do (a regex on ``{id: <n>,``), only inside that call.
_PRESENT_BLOCK: Final = re.compile(r"initPresent\(\[(.*?)\]\);", re.DOTALL)
_PRESENT_ID: Final = re.compile(r"\{id:\s?(-?\d{1,18}),")

_INT_FIELDS: Final = (
    "user_id",
    "target_user_id",
    "room_id",
    "message_id",
    "parent_id",
    "message_edits",
    "message_stars",
    "message_owner_stars",
)
_TEXT_FIELDS: Final = ("content", "user_name", "room_name")
_FLAG_FIELDS: Final = ("show_parent", "moved")


@dataclass(frozen=True, slots=True)
class ReceivedRoom:
    """One room's part of a received frame: its event records (as sent) and its cursor ``t``."""

    room_id: RoomId
    records: tuple[Mapping[str, Any], ...]
    cursor: int | None


def parse_frame(data: str | bytes) -> dict[RoomId, ReceivedRoom]:
    """A socket frame or ``POST /events`` answer: ``{"r<room>": {"e": [...], "t": n, "d": n}}``.

    Keys that do not name a room and records that are not objects are skipped.

    Raises:
        ValueError: The data is not JSON, or not a JSON object.
    """
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("a frame is a JSON object")
    rooms: dict[RoomId, ReceivedRoom] = {}
    for key, part in value.items():
        match = _ROOM_KEY.fullmatch(key)
        if match is None or not isinstance(part, dict):
            continue
        records = part.get("e")
        cursor = part.get("t")
        rooms[RoomId(int(match.group(1)))] = ReceivedRoom(
            RoomId(int(match.group(1))),
            tuple(r for r in records if isinstance(r, dict)) if isinstance(records, list) else (),
            cursor if _is_int(cursor) else None,
        )
    return rooms


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_event_record(record: Mapping[str, Any]) -> Event:
    """An event record as hubbub's ``Event``: the inverse of ``codec.event_record``.

    Optional fields may be absent or null; a present field must have its wire type.

    Raises:
        ValueError: ``event_type`` is not one of Stack Exchange's chat types, ``id`` is
            missing, or a field has the wrong type.
    """
    kind = record.get("event_type")
    if not _is_int(kind) or kind not in CHAT_EVENT_TYPES:
        raise ValueError(f"unknown event_type {kind!r}")
    event_id = record.get("id")
    if not _is_int(event_id):
        raise ValueError("an event needs an integer id")
    time_stamp = record.get("time_stamp", 0)
    if not _is_int(time_stamp):
        raise ValueError("time_stamp must be an integer")
    fields: dict[str, Any] = {}
    for name in _INT_FIELDS:
        value = record.get(name)
        if value is not None and not _is_int(value):
            raise ValueError(f"{name} must be an integer")
        fields[name] = value
    for name in _TEXT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        fields[name] = value
    for name in _FLAG_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        fields[name] = bool(value)

    def maybe(name: str) -> int | None:
        value = fields[name]
        return None if value is None else int(value)

    user_id, target, room_id = maybe("user_id"), maybe("target_user_id"), maybe("room_id")
    message_id, parent_id = maybe("message_id"), maybe("parent_id")
    return Event(
        id=EventId(event_id),
        type=EventType(kind),
        time_stamp=time_stamp,
        room_id=None if room_id is None else RoomId(room_id),
        room_name=fields["room_name"],
        user_id=None if user_id is None else UserId(user_id),
        user_name=fields["user_name"],
        target_user_id=None if target is None else UserId(target),
        message_id=None if message_id is None else MessageId(message_id),
        content=fields["content"],
        parent_id=None if parent_id is None else MessageId(parent_id),
        show_parent=fields["show_parent"],
        message_edits=maybe("message_edits") or 0,
        message_stars=maybe("message_stars") or 0,
        message_owner_stars=maybe("message_owner_stars") or 0,
        moved=fields["moved"],
    )


def parse_json_string(body: str) -> str | None:
    """The text of a JSON-string answer such as ``"ok"`` (quotes included on the wire); else None."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def parse_posted(body: str) -> int | None:
    """``{"id": <message id>, "time": ...}`` -> the id; ``{"id": null}`` (a duplicate) -> None.

    Raises:
        ValueError: Any other answer.
    """
    value = json.loads(body)
    if not isinstance(value, dict) or "id" not in value:
        raise ValueError('expected {"id": ..., "time": ...}')
    posted = value["id"]
    if posted is None:
        return None
    if not _is_int(posted):
        raise ValueError("the id of a posted message is an integer")
    return int(posted)


def parse_history_time(body: str) -> int:
    """The ``time`` (the log's last event id) of a ``POST /chats/{room}/events`` answer.

    Raises:
        ValueError: Not the expected JSON object.
    """
    value = json.loads(body)
    if not isinstance(value, dict) or not _is_int(value.get("time")):
        raise ValueError('expected {"events": [...], "time": <event id>}')
    return int(value["time"])


def parse_socket_url(body: str) -> str:
    """The ``url`` of a ``POST /ws-auth`` answer.

    Raises:
        ValueError: Not ``{"url": "<string>"}``.
    """
    value = json.loads(body)
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise ValueError('expected {"url": ...}')
    return str(value["url"])


def parse_rate_limit(text: str) -> int | None:
    """Seconds to wait from a 409 body (``You can perform this action again in N seconds.``)."""
    match = _RATE_LIMIT.search(text)
    return None if match is None else int(match.group(1))


_EDIT_TEXTS: Final = {EDIT_TOO_LATE: TooLate, EDIT_ALREADY_DELETED: AlreadyDeleted, EDIT_NOT_YOURS: NotYours}
_DELETE_TEXTS: Final = {DELETE_TOO_LATE: TooLate, DELETE_ALREADY_DELETED: AlreadyDeleted, DELETE_NOT_YOURS: NotYours}


def parse_refusal(status: int, body: str, action: Action, *, message_id: int = 0) -> RemoteError:
    """The error a refused request stands for: the inverse of ``codec.refusal``.

    Call it only for answers that are not a success. Texts other servers word a
    little differently (a trailing period on "edit this message", ChatExchange's
    "The message has been deleted and cannot be edited") are recognised too.
    """
    text = parse_json_string(body) if status == 200 else None
    plain = (text if text is not None else body).strip()
    if status == 409:
        return RateLimited(parse_rate_limit(plain) or 1)
    if status == 302:
        return NeverAssigned(message_id)
    if action in ("edit", "delete") and text is not None:
        known = _EDIT_TEXTS if action == "edit" else _DELETE_TEXTS
        kind = known.get(plain.rstrip("."), known.get(plain))
        if kind is None and "deleted" in plain:
            kind = AlreadyDeleted
        if kind is not None:
            return kind(action)
    if action == "star" and text is not None:
        if plain == "You can't star your own messages":
            return OwnMessage()
        if "deleted" in plain:
            return AlreadyDeleted("star")
        return LimitReached(plain) if "used all" in plain else NotAllowed(plain)
    if status in (403, 404):
        # A kick or missing reputation is refused with 404 on posting, 403 elsewhere (/ws-auth).
        if kicked := _KICKED.search(plain):
            return Kicked(int(kicked.group(1)))
        if reputation := _REPUTATION.search(plain):
            return LowReputation(int(reputation.group(1)))
    if status == 403:
        if "fkey" in plain:
            return InvalidFkey()
        return NotLoggedIn(plain) if "logged in" in plain else NotAllowed(plain)
    if status == 404:
        return NotFound(plain or "Not found")
    if status == 400:
        return BadRequest(plain)
    return RemoteError(f"HTTP {status}: {plain[:200]}")


@dataclass(frozen=True, slots=True)
class ChatPage:
    """What a client reads off a chat page: the first ``fkey`` input and the signed-in user.

    The user is the first ``.topbar-menu-links a`` with an href ``/users/<id>/...``
    and the display name as its text (sechat.md §3.8).
    """

    fkey: str | None
    user_id: int | None
    user_name: str | None


class _PageScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fkey: str | None = None
        self.user_id: int | None = None
        self.user_name: str | None = None
        self._topbar_depth = 0  # >0 while inside the .topbar-menu-links element
        self._in_link = False
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name") == "fkey" and self.fkey is None:
            self.fkey = attributes.get("value") or ""
        if self._topbar_depth:
            self._topbar_depth += 1
        elif "topbar-menu-links" in (attributes.get("class") or "").split():
            self._topbar_depth = 1
        if tag == "a" and self._topbar_depth and self.user_id is None and not self._in_link:
            match = re.search(r"/users/(\d{1,18})(?:/|$)", attributes.get("href") or "")
            if match is not None:
                self.user_id = int(match.group(1))
                self._in_link = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._in_link:
            self._in_link = False
            self.user_name = "".join(self._link_text)
        if self._topbar_depth:
            self._topbar_depth -= 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A self-closed tag opens nothing, so it must not deepen the topbar nesting count.
        depth = self._topbar_depth
        self.handle_starttag(tag, attrs)
        self._topbar_depth = depth

    def handle_data(self, data: str) -> None:
        if self._in_link:
            self._link_text.append(data)


_VOID_TAGS: Final = re.compile(r"<(br|input|img|meta|link|hr)(\s[^>]*)?>", re.IGNORECASE)


def parse_chat_page(html: str) -> ChatPage:
    """The fkey and the signed-in user of a login, favorites, room or home page."""
    scanner = _PageScanner()
    # Void elements written without "/>" would otherwise count as open elements.
    scanner.feed(_VOID_TAGS.sub(lambda m: m.group(0).rstrip(">").rstrip("/") + "/>", html))
    scanner.close()
    return ChatPage(scanner.fkey, scanner.user_id, scanner.user_name)


def parse_present_users(html: str) -> list[UserId]:
    """The ids of the users a room page (``GET /rooms/{id}``) shows as in the room, in its order."""
    block = _PRESENT_BLOCK.search(html)
    if block is None:
        return []
    return [UserId(int(found)) for found in dict.fromkeys(_PRESENT_ID.findall(block.group(1)))]


class _TextScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def content_text(content: str) -> str:
    """A message's HTML ``content`` as plain text: tags dropped, entities decoded, ``<br>`` as newlines."""
    scanner = _TextScanner()
    scanner.feed(content)
    scanner.close()
    lines = "".join(scanner.parts).split("\n")
    # Multi-line messages arrive as "line <br> line"; the spaces around <br> are markup, not text.
    return "\n".join(line.strip(" ") if len(lines) > 1 else line for line in lines)
