"""Stream webhooks (multistreamer's, shared/protocol/streams.md §B.8): the record, its rules, its payloads.

A webhook belongs to a stream: a URL the stream's editors register, a note, a type
(``discord`` or ``raw``) and the events it fires for: ``stream:start`` (the stream went
live), ``stream:end`` (it went offline) and ``comment:in`` (a line arrived from a
network: one a bridge read, or one injected through the JSON API; never a line typed
into hubbub's own chat). What is posted is multistreamer's body for that type and event
(``lib/multistreamer/models/webhook.lua``), built here from the log's events alone.

Pure: no I/O. ``bridges/webhooks.py`` posts the bodies; the service stores the hooks.
"""

from __future__ import annotations

import email.utils
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from hubbub.core.events import Event, EventType
from hubbub.core.streams import network
from hubbub.errors import BadRequest

__all__ = [
    "DISCORD_CONTENT_MAX",
    "DISCORD_USERNAME_MAX",
    "NOTES_MAX",
    "URL_MAX",
    "WEBHOOKS_PER_STREAM",
    "Answer",
    "HookAccount",
    "HookEvent",
    "HookStream",
    "HookType",
    "Trigger",
    "Webhook",
    "WebhookFields",
    "answer_of",
    "body_bytes",
    "check_events",
    "check_notes",
    "check_type",
    "check_url",
    "events_from_text",
    "events_text",
    "payload",
    "retry_after_seconds",
    "trigger_of",
]

URL_MAX: Final = 2048
NOTES_MAX: Final = 500
WEBHOOKS_PER_STREAM: Final = 20
# Discord refuses a webhook body whose content or username is longer (its API's documented limits).
DISCORD_CONTENT_MAX: Final = 2000
DISCORD_USERNAME_MAX: Final = 80
# What an injected line without a ``network`` is called in a hook's body.
UNNAMED_NETWORK: Final = "api"


class HookType(StrEnum):
    DISCORD = "discord"
    RAW = "raw"


class HookEvent(StrEnum):
    STREAM_START = "stream:start"
    STREAM_END = "stream:end"
    COMMENT_IN = "comment:in"


_EVENT_NAMES: Final = frozenset(e.value for e in HookEvent)
_TYPE_NAMES: Final = frozenset(t.value for t in HookType)


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    id: int
    stream_id: int
    url: str
    notes: str
    type: HookType
    events: frozenset[HookEvent]
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookFields:
    """Checked input for making or changing a hook; None leaves a field as it is."""

    url: str | None = None
    notes: str | None = None
    type: HookType | None = None
    events: frozenset[HookEvent] | None = None

    @classmethod
    def check(
        cls, *, url: object = None, notes: object = None, type: object = None, events: object = None
    ) -> WebhookFields:
        """Every given field checked (``check_url`` ...); None stays None.

        Raises:
            BadRequest: The first field that is not acceptable.
        """
        return cls(
            url=None if url is None else check_url(url),
            notes=None if notes is None else check_notes(notes),
            type=None if type is None else check_type(type),
            events=None if events is None else check_events(events),
        )


def check_url(value: object) -> str:
    """An absolute ``http``/``https`` URL with a host, at most ``URL_MAX`` characters, no spaces."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("url must be a non-empty string")
    url = value.strip()
    if len(url) > URL_MAX:
        raise BadRequest(f"url may have at most {URL_MAX} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise BadRequest("url may not contain spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise BadRequest("url is not a URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadRequest("url must start with http:// or https://")
    if not parts.hostname or not port_ok:
        raise BadRequest("url must name a host (and a port from 1 to 65535, if any)")
    return url


def check_notes(value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest("notes must be a string")
    notes = value.strip()
    if len(notes) > NOTES_MAX:
        raise BadRequest(f"notes may have at most {NOTES_MAX} characters")
    return notes


def check_type(value: object) -> HookType:
    if not isinstance(value, str) or value not in _TYPE_NAMES:
        raise BadRequest('type must be "discord" or "raw"')
    return HookType(value)


def check_events(value: object) -> frozenset[HookEvent]:
    """A list of event names, or multistreamer's object ``{"stream:start": true, ...}`` (false: off)."""
    if isinstance(value, Mapping):
        if any(not isinstance(on, bool) for on in value.values()):
            raise BadRequest("each event must be true or false")
        names, chosen = list(value), [name for name, on in value.items() if on]
    elif isinstance(value, list):
        names = chosen = value
    else:
        raise BadRequest('events must be a list such as ["stream:start", "stream:end", "comment:in"]')
    if any(not isinstance(name, str) or name not in _EVENT_NAMES for name in names):
        raise BadRequest('events may only be "stream:start", "stream:end" and "comment:in"')
    return frozenset(HookEvent(name) for name in chosen)


def events_text(events: Iterable[HookEvent]) -> str:
    """How the store keeps a hook's events: the names, sorted, comma-separated."""
    return ",".join(sorted(str(e) for e in events))


def events_from_text(text: str) -> frozenset[HookEvent]:
    return frozenset(HookEvent(name) for name in text.split(",") if name in _EVENT_NAMES)


# What a hook fires for, read from the log


@dataclass(frozen=True, slots=True, kw_only=True)
class HookAccount:
    """A stream account as a ``stream:start`` body lists it."""

    id: int
    network: str
    name: str
    slug: str
    http_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HookStream:
    """The stream and its owner as every body names them (``username`` as the JSON API shows it)."""

    id: int
    slug: str
    name: str
    owner_id: int
    owner_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """One event of the log that hooks may fire for: its kind, its stream, what the body needs."""

    event: HookEvent
    stream_id: int
    event_id: int
    account_ids: tuple[int, ...] = ()  # stream:start: the stream's accounts when it went live
    comment: Mapping[str, Any] | None = None  # comment:in: the line's streams frame


def trigger_of(event: Event) -> Trigger | None:
    """The hook event an appended event is, if any.

    ``STREAM_CHANGED`` of kind ``start``/``end`` (the live transitions, service/streams.py)
    and ``STREAM_CHAT`` lines of a stream (a bridge's or an injected one). A ``/msg`` has no
    stream, a ``relay: true`` line is IRC-only, and a line typed into hubbub's own chat is a
    room message, not ``STREAM_CHAT``: none of them fire (§B.8: network comments only).
    """
    if event.type not in (EventType.STREAM_CHANGED, EventType.STREAM_CHAT) or not event.data:
        return None
    try:
        data = json.loads(event.data)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if event.type is EventType.STREAM_CHANGED:
        kind, stream_id = data.get("kind"), data.get("id")
        if kind not in ("start", "end") or not isinstance(stream_id, int):
            return None
        accounts = data.get("accounts") if kind == "start" else []
        ids = tuple(a["id"] for a in accounts or [] if isinstance(a, dict) and isinstance(a.get("id"), int))
        hook_event = HookEvent.STREAM_START if kind == "start" else HookEvent.STREAM_END
        return Trigger(event=hook_event, stream_id=stream_id, event_id=event.id, account_ids=ids)
    stream_id = data.get("stream_id")
    if event.room_id is None or not isinstance(stream_id, int) or "to" in data or data.get("relay") is True:
        return None
    return Trigger(event=HookEvent.COMMENT_IN, stream_id=stream_id, event_id=event.id, comment=data)


# The bodies (multistreamer's webhook.lua, one function per type and event)


def _present(body: Mapping[str, Any]) -> dict[str, Any]:
    """Leave out what is None, as multistreamer's ``to_json`` left out ``nil`` fields."""
    return {key: value for key, value in body.items() if value is not None}


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _comment_network(comment: Mapping[str, Any]) -> tuple[str, str]:
    name = _string(comment.get("network")) or UNNAMED_NETWORK
    return name, network(name).display_name


def _sender(comment: Mapping[str, Any]) -> Mapping[str, Any]:
    sender = comment.get("from")
    return sender if isinstance(sender, Mapping) else {}


def _discord_comment(comment: Mapping[str, Any]) -> dict[str, Any]:
    _, display = _comment_network(comment)
    sender = _sender(comment)
    name = _string(sender.get("name"))
    return _present(
        {
            "content": (_string(comment.get("text")) or "")[:DISCORD_CONTENT_MAX],
            "username": (f"{name} @ {display}" if name else display)[:DISCORD_USERNAME_MAX],
            "avatar_url": _string(sender.get("picture")),
        }
    )


def _raw_comment(comment: Mapping[str, Any], stream: HookStream) -> dict[str, Any]:
    name, display = _comment_network(comment)
    sender = comment.get("from")
    return _present(
        {
            "hook_type": str(HookEvent.COMMENT_IN),
            "type": comment.get("type"),
            "text": comment.get("text"),
            "markdown": comment.get("markdown"),
            "from": sender if isinstance(sender, Mapping) else None,
            "network": _present(
                {
                    "displayname": display,
                    "name": name,
                    "icon": _string(comment.get("network_icon")),
                    "icon_css": _string(comment.get("network_icon_css")),
                }
            ),
            "account": _present({"id": comment.get("account_id")}),
            "stream": {"id": stream.id},
            "user": {"username": stream.owner_name, "id": stream.owner_id},
        }
    )


def _start_content(stream: HookStream, accounts: Iterable[HookAccount]) -> str:
    urls = [a.http_url for a in accounts if a.http_url]
    return " ".join([f"{stream.owner_name} is now streaming!", *urls])


def _raw_stream(event: HookEvent, stream: HookStream) -> dict[str, Any]:
    return {
        "hook_type": str(event),
        "user": {"id": stream.owner_id, "username": stream.owner_name},
        "stream": {"id": stream.id, "slug": stream.slug, "name": stream.name},
    }


def _raw_account(account: HookAccount) -> dict[str, Any]:
    known = network(account.network)
    return _present(
        {
            "id": account.id,
            "network": {"displayname": known.display_name, "name": known.name},
            "slug": account.slug,
            "name": account.name,
            "http_url": account.http_url,
        }
    )


def payload(
    hook_type: HookType, trigger: Trigger, stream: HookStream, accounts: Iterable[HookAccount] = ()
) -> dict[str, Any]:
    """The body a hook of ``hook_type`` posts for ``trigger`` (``accounts``: the stream's, for a start)."""
    if trigger.event is HookEvent.COMMENT_IN:
        comment = trigger.comment or {}
        return _discord_comment(comment) if hook_type is HookType.DISCORD else _raw_comment(comment, stream)
    if hook_type is HookType.DISCORD:
        if trigger.event is HookEvent.STREAM_START:
            content = _start_content(stream, accounts)
        else:
            content = f"{stream.owner_name} has stopped streaming"
        return {"content": content[:DISCORD_CONTENT_MAX], "username": stream.owner_name[:DISCORD_USERNAME_MAX]}
    body = _raw_stream(trigger.event, stream)
    if trigger.event is HookEvent.STREAM_START:
        body = {"hook_type": body["hook_type"], "accounts": [_raw_account(a) for a in accounts], **body}
    return body


def body_bytes(body: Mapping[str, Any]) -> bytes:
    """The JSON a hook posts (UTF-8, compact)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# What an answer means (bridges/webhooks.py retries by these)


class Answer(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # 5xx, 408, 429 and no answer at all: worth another attempt
    REFUSED = "refused"  # anything else (4xx, a redirect): another attempt gets the same


def answer_of(status: int) -> Answer:
    if 200 <= status < 300:
        return Answer.DELIVERED
    if status >= 500 or status in (408, 429):
        return Answer.RETRY
    return Answer.REFUSED


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header (RFC 9110 §10.2.3: seconds, or an HTTP date) as seconds from ``now``;
    None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
