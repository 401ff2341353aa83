"""The streams dialect's wire format, sans I/O: multistreamer's websocket frames (streams.md §B.3, §B.4).

Client frames are JSON objects with a ``type``; ``parse_client_frame`` returns the known
ones (``status``, ``text``, ``emote``, ``writer``, ``viewcount``) and None for anything
else: invalid JSON and unknown types are ignored, never answered with a close (§B.9).

Server frames are built here and nowhere else:

- ``chat_frame``: a ``STREAM_CHAT`` event's ``data`` is the frame as sent (built by
  ``service.stream_chat``), plus ``event_id`` (hubbub's, for resuming with ``?since=``);
  ``relay: true`` lines never reach a socket;
- ``room_message_frame``: a message posted in the stream's room, as an account-``"0"`` line;
- ``status_frame``: ``accounts`` keyed by decimal strings, ``"0"`` the hubbub-native
  account named after the viewer; the stream's accounts only while it pushes; the
  viewer's other accounts on those networks as not ready;
- ``writerresult_frame``, ``viewcountresult_frame``; ``viewcount_frame`` passes a
  ``STREAM_VIEWCOUNT`` event's data through.

``StreamSnapshot`` reads a ``STREAM_CHANGED`` event's data (who may read the stream,
which accounts it has, whether it is live) so that a node renders status frames and
checks access without a store read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hubbub.core import jsontext
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.core.markup import to_plain_text
from hubbub.core.streams import LOCAL_ACCOUNT_ID, LOCAL_NETWORK, ChatLevel, LiveState, escape_markdown, network

__all__ = [
    "CLIENT_TYPES",
    "NOT_AUTHORIZED",
    "PING_PAYLOAD",
    "AccountInfo",
    "ClientFrame",
    "StreamSnapshot",
    "chat_frame",
    "encode",
    "parse_client_frame",
    "parse_since",
    "parse_socket_path",
    "room_message_frame",
    "status_frame",
    "viewcount_frame",
    "viewcountresult_frame",
    "writerresult_frame",
]

CLIENT_TYPES: Final = frozenset({"status", "text", "emote", "writer", "viewcount"})
NOT_AUTHORIZED: Final = "Not authorized"  # the 403 body multistreamer sends before the upgrade
PING_PAYLOAD: Final = b"ping"
MAX_DEPTH: Final = 16  # client frames are flat objects; anything deeper is not one of them
_PATH: Final = re.compile(r"/ws/([0-9]{1,18})/?")


def encode(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class ClientFrame:
    type: str
    fields: Mapping[str, Any]


def parse_client_frame(text: str) -> ClientFrame | None:
    """A frame from a client, or None (not JSON, not an object, or a type the server does not know)."""
    try:
        value = jsontext.loads(text, max_depth=MAX_DEPTH)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_TYPES:
        return None
    return ClientFrame(kind, value)


def parse_socket_path(path: str) -> int | None:
    """``/ws/21`` -> 21; None for anything else."""
    match = _PATH.fullmatch(path)
    return None if match is None else int(match.group(1))


def parse_since(value: str | None) -> EventId | None:
    """``?since=<event_id>``: where a reconnecting client resumes (None: live from now)."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return EventId(int(value))


def chat_frame(event: Event) -> bytes | None:
    """The ``text``/``emote`` frame of a ``STREAM_CHAT`` event; None for IRC-only (``relay``) lines."""
    if event.type is not EventType.STREAM_CHAT or not event.data:
        return None
    try:
        body = json.loads(event.data)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("relay") is True:
        return None
    body.pop("uuid", None)
    body["event_id"] = event.id
    return encode(body)


_ONE_ITALIC: Final = re.compile(r"<i>(?:(?!</?i>).)*</i>", re.DOTALL)


def room_message_frame(event: Event, stream_id: int) -> bytes | None:
    """A message posted in the stream's room (from a stream socket, the web UI, sechat, the SDK) as an
    account-``"0"`` line: its text as readers see it (the rendered content's text); a message that is
    all italics (``*waves*``) is an ``emote``, the way stream sockets' emotes are posted."""
    if event.type is not EventType.MESSAGE_POSTED or event.content is None or event.user_id is None:
        return None
    content = event.content.strip()
    emote = _ONE_ITALIC.fullmatch(content) is not None
    text = to_plain_text(content[3:-4] if emote else content)
    return encode(
        {
            "type": "emote" if emote else "text",
            "text": text,
            "markdown": escape_markdown(text),
            "from": {"name": event.user_name or "", "id": int(event.user_id)},
            "account_id": LOCAL_ACCOUNT_ID,
            "network": LOCAL_NETWORK.name,
            "stream_id": stream_id,
            "timestamp": event.time_stamp * 1000,
            "event_id": event.id,
        }
    )


def viewcount_frame(event: Event) -> bytes | None:
    if event.type is not EventType.STREAM_VIEWCOUNT or not event.data:
        return None
    return event.data.encode()


def writerresult_frame(account_id: int, cur_stream_account_id: int) -> bytes:
    return encode({"type": "writerresult", "account_id": account_id, "cur_stream_account_id": cur_stream_account_id})


def viewcountresult_frame(stream_id: int, account_id: int, viewer_count: int) -> bytes:
    return encode(
        {"type": "viewcountresult", "viewer_count": viewer_count, "stream_id": stream_id, "account_id": account_id}
    )


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    name: str
    network: str
    http_url: str | None = None
    ready: bool = True  # False while the account's bridge is not connected (bridges/; True without one)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSnapshot:
    """A stream as its last ``STREAM_CHANGED`` event described it."""

    id: int
    owner_id: UserId
    name: str
    state: LiveState
    accounts: tuple[AccountInfo, ...] = ()
    shares: Mapping[UserId, ChatLevel] = field(default_factory=dict)
    kind: str = "update"  # "start" (went live), "end" (went offline) or "update"

    def chat_level(self, user_id: UserId) -> ChatLevel:
        if user_id == self.owner_id:
            return ChatLevel.WRITE
        return self.shares.get(user_id, ChatLevel.NONE)

    @classmethod
    def from_event(cls, event: Event) -> StreamSnapshot | None:
        if event.type is not EventType.STREAM_CHANGED or not event.data:
            return None
        try:
            body = json.loads(event.data)
            status = body["status"]
            return cls(
                id=int(body["id"]),
                owner_id=UserId(int(body["owner_id"])),
                name=str(body["name"]),
                state=LiveState(
                    data_pulling=bool(status["data_pulling"]),
                    data_pushing=bool(status["data_pushing"]),
                    data_incoming=bool(status["data_incoming"]),
                ),
                accounts=tuple(
                    AccountInfo(int(a["id"]), str(a["name"]), str(a["network"]), a.get("http_url"))
                    for a in body["accounts"]
                ),
                shares={UserId(int(k)): ChatLevel(int(v)) for k, v in body["shares"].items()},
                kind=str(body.get("kind", "update")),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _network(name: str) -> dict[str, str]:
    found = LOCAL_NETWORK if name == LOCAL_NETWORK.name else network(name)
    return {"name": found.name, "displayName": found.display_name}


def status_frame(
    *,
    user_name: str,
    state: LiveState,
    chat_level: ChatLevel,
    attached: Sequence[AccountInfo],
    own_others: Sequence[AccountInfo],
) -> bytes:
    """The ``status`` frame one viewer gets (§B.4's rules, the original's fields and order)."""
    accounts: dict[str, dict[str, Any]] = {
        str(LOCAL_ACCOUNT_ID): {
            "name": user_name,
            "ready": True,
            "live": False,
            "writable": True,
            "network": _network(LOCAL_NETWORK.name),
        }
    }
    if state.data_pushing:
        networks = set()
        for account in attached:
            networks.add(account.network)
            entry: dict[str, Any] = {
                "name": account.name,
                "ready": account.ready,
                "live": True,
                "writable": network(account.network).writable and chat_level is ChatLevel.WRITE,
            }
            if account.http_url:
                entry["http_url"] = account.http_url
            entry["network"] = _network(account.network)
            accounts[str(account.id)] = entry
        for account in own_others:
            if account.network in networks and str(account.id) not in accounts:
                accounts[str(account.id)] = {
                    "name": account.name,
                    "ready": False,
                    "live": False,
                    "writable": network(account.network).writable,
                    "network": _network(account.network),
                }
    return encode(
        {
            "type": "status",
            "status": {
                "data_pulling": state.data_pulling,
                "data_pushing": state.data_pushing,
                "data_incoming": state.data_incoming,
            },
            "accounts": accounts,
        }
    )
