"""Streams: rooms with network accounts attached and a live state (shared/protocol/streams.md §B).

A *stream* is a hubbub room (private: only its owner and the users it is shared with
read it) plus what multistreamer kept about a broadcast: the network accounts it is
relayed to, its live flags and the viewer count each network reports. Its chat is the
room's: the hubbub-native account ``"0"`` (``irc`` on the wire, as multistreamer named
its built-in chat) and one bridged account per network.

This module holds the rules in one place: the chat levels and how they map onto room
access, what each network can do, ``escape_markdown`` (§B.5), the ``/irc`` and ``/msg``
prefixes, and the access token's shape. No I/O.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel, Standing, slugify

__all__ = [
    "LOCAL_ACCOUNT_ID",
    "LOCAL_NETWORK",
    "NETWORKS",
    "ChatCommand",
    "ChatLevel",
    "LiveState",
    "Network",
    "NetworkAccount",
    "Stream",
    "StreamShare",
    "access_for_chat_level",
    "account_slug",
    "chat_level_of",
    "escape_markdown",
    "hash_access_token",
    "is_access_token",
    "make_access_token",
    "network",
    "parse_chat_command",
    "stream_slug",
]

LOCAL_ACCOUNT_ID: Final = 0  # the hubbub-native chat, account "0" of every status frame
ACCESS_TOKEN_CHARS: Final = 20
STREAM_NAME_MAX: Final = 100
ACCOUNT_NAME_MAX: Final = 100
_TOKEN_SHAPE: Final = re.compile(r"[0-9A-F]{20}")


class ChatLevel(IntEnum):
    """A user's level on one stream (multistreamer's ``chat_level``)."""

    NONE = 0
    READ = 1
    WRITE = 2


def access_for_chat_level(level: ChatLevel) -> AccessLevel | None:
    """The room grant that gives a shared user ``level`` on the stream's (private) room."""
    if level is ChatLevel.WRITE:
        return AccessLevel.READ_WRITE
    if level is ChatLevel.READ:
        return AccessLevel.READ_ONLY
    return None


def chat_level_of(standing: Standing, *, owner_id: UserId) -> ChatLevel:
    """The user's chat level on a stream owned by ``owner_id``: 2 for the owner, else from the room grant.

    A suspended user reads but does not write; an anonymous visitor has no level at
    all (streams are never public).
    """
    user = standing.user
    if user is None:
        return ChatLevel.NONE
    if user.id == owner_id or standing.level is AccessLevel.OWNER or standing.level is AccessLevel.READ_WRITE:
        level = ChatLevel.WRITE
    elif standing.level is AccessLevel.READ_ONLY:
        level = ChatLevel.READ
    else:
        return ChatLevel.NONE
    if level is ChatLevel.WRITE and (standing.suspended):
        return ChatLevel.READ
    return level


@dataclass(frozen=True, slots=True)
class Network:
    """What a network is called on the wire and whether chat can be written to it."""

    name: str
    display_name: str
    writable: bool


LOCAL_NETWORK: Final = Network("irc", "IRC", True)
# Networks a bridge account may name. Facebook's Graph API only reads comments (§B.4);
# "hubbub" is another hubbub (or Stack Exchange chat) room, reached through hubbub's SDK.
NETWORKS: Final[dict[str, Network]] = {
    n.name: n
    for n in (
        Network("hubbub", "hubbub", True),
        Network("irc", "IRC", True),
        Network("twitch", "Twitch", True),
        Network("youtube", "YouTube", True),
        Network("facebook", "Facebook", False),
        Network("mixer", "Mixer", True),
    )
}


def network(name: str) -> Network:
    """The network called ``name``; one nobody registered (an API-injected message's) cannot be written."""
    return NETWORKS.get(name) or Network(name, name, False)


@dataclass(frozen=True, slots=True)
class LiveState:
    """multistreamer's three flags: video coming in (RTMP publish), pushed out to networks, pulled."""

    data_pulling: bool = False
    data_pushing: bool = False
    data_incoming: bool = False

    @property
    def live(self) -> bool:
        """Status frames list the stream's accounts (ready, live) only while it pushes (§B.4)."""
        return self.data_pushing


@dataclass(frozen=True, slots=True, kw_only=True)
class Stream:
    id: int
    room_id: RoomId
    owner_id: UserId
    name: str
    slug: str
    stream_key: str  # what nginx-rtmp's on_publish sends as ``name``
    state: LiveState = LiveState()
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkAccount:
    """A user's account on one network; ``settings`` are the bridge's (e.g. a remote room's URL)."""

    id: int
    owner_id: UserId
    network: str
    name: str
    http_url: str | None = None
    settings: str = "{}"  # JSON object text; only the bridge for ``network`` reads it
    created_at: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamShare:
    stream_id: int
    user_id: UserId
    chat_level: ChatLevel
    metadata_level: int  # 0 none, 1 read, 2 edit (the stream's settings); kept as multistreamer did


def stream_slug(name: str, stream_id: int) -> str:
    return slugify(name) or f"stream{stream_id}"


def account_slug(name: str, account_id: int) -> str:
    """A network account's slug, as the JSON API and webhook bodies show it."""
    return slugify(name) or f"account{account_id}"


def make_access_token() -> str:
    """20 upper-case hex characters, the shape multistreamer's tokens have (§B.1), from 80 random bits."""
    return secrets.token_hex(ACCESS_TOKEN_CHARS // 2).upper()


def is_access_token(text: str) -> bool:
    return _TOKEN_SHAPE.fullmatch(text) is not None


def hash_access_token(token: str) -> str:
    """What the log and the socket directory carry instead of a token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


_ESCAPED: Final = frozenset("!`*_{}[]()#+-.\\")
_ENTITIES: Final = {">": "&gt;", "<": "&lt;"}


def escape_markdown(text: str) -> str:
    """Text as Markdown that shows it literally (multistreamer's ``escape_markdown``, §B.5).

    Words (runs between spaces) starting with ``http://`` or ``https://`` become links
    ``[url](url)``; in every other word ``<`` and ``>`` become entities and each of
    ``! ` * _ { } [ ] ( ) # + - . \\`` gets a backslash.
    """
    words = text.split(" ")
    out: list[str] = []
    for word in words:
        if word.startswith(("http://", "https://")):
            out.append(f"[{word}]({word})")
            continue
        out.append("".join(_ENTITIES.get(c) or (f"\\{c}" if c in _ESCAPED else c) for c in word))
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class ChatCommand:
    """A line typed into a stream's chat, after its ``/irc`` or ``/msg`` prefix (§B.5 steps 2 and 4)."""

    text: str
    local: bool  # /irc or /msg: the hubbub-native account, whatever account the frame named
    to: str | None = None  # /msg's recipient (a user name)


def parse_chat_command(text: str) -> ChatCommand:
    """``"/msg bob hey"`` -> to bob, ``"hey"``; ``"/irc foo"`` -> local ``"foo"``; anything else as it is."""
    first, _, rest = text.partition(" ")
    if first == "/irc":
        return ChatCommand(rest, local=True)
    if first == "/msg":
        to, _, message = rest.lstrip(" ").partition(" ")
        if to:
            return ChatCommand(message, local=True, to=to)
        return ChatCommand(rest, local=True)
    return ChatCommand(text, local=False)
