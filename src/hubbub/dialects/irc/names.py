"""IRC names for hubbub things: a user's nick, a room's or a stream's channel, and how names compare.

- A user's nick is their display name without spaces (streams.md §B.6: "NICK = account
  name without spaces"); characters IRC forbids in nicks (``, * ? ! @ . :`` and a leading
  channel or prefix sigil or digit) become ``_``; an empty result is ``user<id>``.
- A room is ``#<room slug>``; a stream is multistreamer's ``#<owner slug>-<stream slug>``.
  When several rooms share a slug, the oldest keeps ``#<slug>`` and the others are
  ``#<slug>.<room id>`` (``channel_names``), so every name is stable and names one room.
- Names compare with the ``ascii`` casemapping (ISUPPORT ``CASEMAPPING=ascii``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hubbub.core.models import CHANNEL_SLUG_CHARS, slugify

__all__ = [
    "MAX_CHANNEL_CHARS",
    "MAX_NICK_CHARS",
    "ROOM_CHANNEL_CHARS",
    "ChannelTarget",
    "channel_names",
    "fold",
    "hostmask",
    "network_nick",
    "nick_of",
    "room_channel",
    "split_room_channel",
    "split_text",
    "stream_channels",
]

MAX_NICK_CHARS: Final = 32  # ISUPPORT NICKLEN
MAX_CHANNEL_CHARS: Final = 64  # ISUPPORT CHANNELLEN
_FORBIDDEN_IN_NICK: Final = re.compile(r"[\s,*?!@.:#&]")
_BAD_FIRST: Final = frozenset("$:#&~%+-0123456789")


def fold(name: str) -> str:
    """``CASEMAPPING=ascii``: only A-Z fold to a-z."""
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def nick_of(name: str, user_id: int) -> str:
    """The IRC nick of the hubbub user called ``name``."""
    nick = _FORBIDDEN_IN_NICK.sub("_", "".join(name.split()))[:MAX_NICK_CHARS]
    if not nick:
        return f"user{user_id}"
    if nick[0] in _BAD_FIRST:
        nick = ("_" + nick)[:MAX_NICK_CHARS]
    return nick


def network_nick(remote_name: str, network: str) -> str:
    """Who a line from another network comes from: ``<slug(name)>-<network>`` (``jprjr-twitch``, §B.6)."""
    return nick_of(f"{slugify(remote_name) or 'someone'}-{network}", 0)


def hostmask(nick: str, user_id: int, server: str) -> str:
    return f"{nick}!u{user_id}@{server}"


@dataclass(frozen=True, slots=True)
class ChannelTarget:
    """What a channel name stands for: a room, or the stream whose room it is."""

    name: str  # as LIST shows it
    room_id: int
    stream_id: int | None = None


# a room's name before a clash, "#" and the slug cut, leaving room for ".<room id>"
ROOM_CHANNEL_CHARS: Final = 1 + CHANNEL_SLUG_CHARS
_CLASHED: Final = re.compile(r"(#[^.]*)\.([1-9][0-9]*)")


def room_channel(slug: str) -> str:
    """A room's channel name unless an older room or a stream has it: ``#<slug>``, cut."""
    return f"#{slug}"[:ROOM_CHANNEL_CHARS]


def stream_channels(streams: Iterable[tuple[int, int, str, str]]) -> dict[str, ChannelTarget]:
    """Every stream's channel by folded name: ``streams`` are (stream id, room id, owner slug,
    stream slug). Streams name theirs first; a room's name gives way to them."""
    found: dict[str, ChannelTarget] = {}
    for stream_id, room_id, owner_slug, stream_slug in sorted(streams):
        name = f"#{owner_slug}-{stream_slug}"[:MAX_CHANNEL_CHARS]
        key = fold(name)
        if key in found:
            name = f"{name}.{stream_id}"
            key = fold(name)
        found[key] = ChannelTarget(name, room_id, stream_id)
    return found


def channel_names(
    rooms: Iterable[tuple[int, str]], streams: Iterable[tuple[int, int, str, str]]
) -> dict[str, ChannelTarget]:
    """Every channel by folded name: ``rooms`` are (room id, room slug), ``streams`` (stream id,
    room id, owner slug, stream slug). A stream's room is reached by the stream's name only."""
    found = stream_channels(streams)
    stream_rooms = {target.room_id for target in found.values()}
    for room_id, slug in sorted(rooms):
        if room_id in stream_rooms:
            continue
        name = room_channel(slug)
        if fold(name) in found:
            name = f"{name}.{room_id}"
        # a stream's clashed name may be this one too (``#a-b.7``): it keeps it, streams name first
        found.setdefault(fold(name), ChannelTarget(name, room_id))
    return found


def split_room_channel(key: str) -> tuple[str, int | None]:
    """A folded name as a room's channel: (its name before a clash, the room id a clash added, if any)."""
    clashed = _CLASHED.fullmatch(key)
    return (key, None) if clashed is None else (clashed.group(1), int(clashed.group(2)))


def split_text(text: str, budget: int) -> list[str]:
    """``text`` as IRC lines: one per line of the text, each cut to ``budget`` UTF-8 bytes (at a
    space when one is near, never inside a character); empty lines are left out."""
    budget = max(budget, 16)
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        rest = line
        while len(rest.encode("utf-8")) > budget:
            cut = len(rest.encode("utf-8")[:budget].decode("utf-8", "ignore"))
            space = rest.rfind(" ", 0, cut)
            if space > cut // 2:
                cut = space
            out.append(rest[:cut])
            rest = rest[cut:].lstrip(" ")
        if rest.strip():
            out.append(rest)
    return out
