"""Sans-I/O codec for the realtime dialect: Stack Exchange's ``qa.sockets`` topic feed.

Wire (shared/protocol/realtime.md §A.2-A.5, §A.7): the client sends bare text
frames, a topic name to subscribe or ``-topic`` to unsubscribe, and answers
heartbeats with ``hb``, ``pong``, an empty frame or ``{"action":"hb",...}``. The
server sends ``{"action": <topic>, "data": <payload as a JSON string>}`` (the
payload is encoded twice) and ``{"action":"hb","data":"hb"}`` heartbeats. Nothing
is ever sent in reply to a command. No I/O here: routes.py moves the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from hubbub.core import jsontext
from hubbub.core.events import Event, EventType
from hubbub.core.ids import RoomId, UserId
from hubbub.errors import BadRequest

__all__ = [
    "HEARTBEAT_MAX_DEPTH",
    "MAX_TOPIC_CHARS",
    "Command",
    "Heartbeat",
    "Publish",
    "Subscribe",
    "TopicItem",
    "Unsubscribe",
    "activity_topic_room",
    "frame",
    "heartbeat_frame",
    "owned_topic_user",
    "parse_command",
    "parse_publish",
    "room_activity_payload",
    "room_activity_topic",
    "topic_items",
    "validate_publish_topic",
]

MAX_TOPIC_CHARS: Final = 200
# A JSON heartbeat is one flat object ({"action":"hb","data":"hb"}); deeper text is read no further.
HEARTBEAT_MAX_DEPTH: Final = 8
_OWNED_TOPIC = re.compile(r"([0-9]{1,18})-(topbar|inbox)")  # ASCII digits only: int() takes others too
_ROOM_ACTIVITY = re.compile(r"([0-9]{1,18})-room-activity")
_PUBLISHABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]*")
_HEARTBEAT_WORDS: Final = frozenset({"", "hb", "pong"})
_ASCII_WHITESPACE: Final = " \t\n\f\r"  # WHATWG's "ASCII whitespace", as §A.7 item 3 says


@dataclass(frozen=True, slots=True)
class Subscribe:
    topic: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    topic: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


Command = Subscribe | Unsubscribe | Heartbeat


def parse_command(text: str) -> Command:
    """One inbound text frame -> one command (§A.7 item 3)."""
    text = text.strip(_ASCII_WHITESPACE)
    if text in _HEARTBEAT_WORDS:
        return Heartbeat()
    if text.startswith("{"):
        try:
            decoded = jsontext.loads(text, max_depth=HEARTBEAT_MAX_DEPTH)
        except jsontext.JsonRefused:  # not JSON, or JSON no heartbeat is (nested deep, say)
            decoded = None
        if isinstance(decoded, dict) and decoded.get("action") == "hb":
            return Heartbeat()
    if text.startswith("-"):
        return Unsubscribe(text[1:])
    return Subscribe(text)


def frame(action: str, payload: str) -> bytes:
    """``{"action": action, "data": payload}``, with ``payload`` (JSON text) as a string: encoded twice."""
    return json.dumps({"action": action, "data": payload}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def heartbeat_frame(data: str = "hb") -> bytes:
    return frame("hb", data)


def owned_topic_user(topic: str) -> UserId | None:
    """The user a ``<uid>-topbar``/``<uid>-inbox`` topic belongs to; None for other topics."""
    match = _OWNED_TOPIC.fullmatch(topic)
    return None if match is None else UserId(int(match.group(1)))


def activity_topic_room(topic: str) -> RoomId | None:
    match = _ROOM_ACTIVITY.fullmatch(topic)
    return None if match is None else RoomId(int(match.group(1)))


def room_activity_topic(room_id: RoomId) -> str:
    """The topic that carries ``room_id``'s message activity (the inverse of ``activity_topic_room``)."""
    return f"{room_id}-room-activity"


def validate_publish_topic(topic: object) -> str:
    """A topic other programs may publish into: printable, at most 200 characters, not a built-in one.

    Raises:
        BadRequest: Not a string, empty, too long, odd characters, or reserved.
    """
    if not isinstance(topic, str) or not topic:
        raise BadRequest("topic must be a non-empty string")
    if len(topic) > MAX_TOPIC_CHARS:
        raise BadRequest(f"topic must be at most {MAX_TOPIC_CHARS} characters")
    if not _PUBLISHABLE.fullmatch(topic):
        raise BadRequest("topic may contain only letters, digits and . _ : - (and not start with - or .)")
    if owned_topic_user(topic) is not None or activity_topic_room(topic) is not None:
        raise BadRequest(f"topic {topic!r} is fed by hubbub itself and cannot be published to")
    return topic


@dataclass(frozen=True, slots=True)
class Publish:
    """A ``POST /api/v1/publish`` body: the topic, and its data as compact JSON text."""

    topic: str
    payload: str


def parse_publish(body: bytes, *, max_depth: int) -> Publish:
    """``{"topic": <publishable topic>, "data": <any JSON value>}``.

    Raises:
        BadRequest: Not JSON, nested deeper than ``max_depth``, holding a lone surrogate,
            not an object, a bad topic, or no ``data``; the message names the problem.
    """
    try:
        document = jsontext.loads(body, max_depth=max_depth)
    except (jsontext.TooDeep, jsontext.LoneSurrogate) as error:
        raise BadRequest(str(error)) from None
    except jsontext.JsonRefused:
        raise BadRequest("The body must be JSON") from None
    if not isinstance(document, dict):
        raise BadRequest('The body must be a JSON object {"topic": ..., "data": ...}')
    topic = validate_publish_topic(document.get("topic"))
    if "data" not in document:
        raise BadRequest("data is required (any JSON value)")
    return Publish(topic, _compact(document["data"]))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_ACTIVITY_KINDS: Final = {
    EventType.MESSAGE_POSTED: "message-posted",
    EventType.MESSAGE_EDITED: "message-edited",
    EventType.MESSAGE_DELETED: "message-deleted",
    EventType.MESSAGE_STARRED: "message-starred",
}


def room_activity_payload(event: Event) -> dict[str, Any] | None:
    """The ``<room>-room-activity`` payload for a message event, or None for other events.

    ``{"a": kind, "id": message id, "roomid", "acctid" (author; absent for stars),
    "userName", "content" (HTML; absent when deleted), "stars", "pins", "edits",
    "time" (Unix seconds), "eventid"}`` - documented in docs/dialects/realtime.md.
    """
    kind = _ACTIVITY_KINDS.get(event.type)
    if kind is None or event.room_id is None or event.message_id is None:
        return None
    payload: dict[str, Any] = {"a": kind, "id": event.message_id, "roomid": event.room_id}
    if event.user_id is not None:
        payload["acctid"] = event.user_id
        payload["userName"] = event.user_name or ""
    if event.content is not None and event.type is not EventType.MESSAGE_DELETED:
        payload["content"] = event.content
    payload.update(
        stars=event.message_stars,
        pins=event.message_owner_stars,
        edits=event.message_edits,
        time=event.time_stamp,
        eventid=event.id,
    )
    return payload


@dataclass(frozen=True, slots=True)
class TopicItem:
    """One topic an event feeds: its name, the payload as JSON text, and its owner if it has one."""

    topic: str
    payload: str
    owner: UserId | None = None  # only connections signed in as this user may receive it


def topic_items(event: Event) -> Sequence[TopicItem]:
    """The topics ``event`` feeds: published items, inbox counters, room activity."""
    if event.type is EventType.FEED_PUBLISHED:
        if event.topic is None or event.data is None:
            return ()
        return (TopicItem(event.topic, event.data),)
    if event.type is EventType.INBOX_CHANGED:
        if event.target_user_id is None or event.data is None:
            return ()
        user, count = event.target_user_id, int(event.data)
        return (
            TopicItem(f"{user}-topbar", _compact({"Inbox": {"UnreadInboxCount": count}}), owner=user),
            TopicItem(f"{user}-inbox", _compact(count), owner=user),
        )
    payload = room_activity_payload(event)
    if payload is None or event.room_id is None:
        return ()
    return (TopicItem(room_activity_topic(event.room_id), _compact(payload)),)
