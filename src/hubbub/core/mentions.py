"""Who a message pings, matched the way Stack Exchange chat does.

A ping is ``@`` followed by at least three characters that are a case-insensitive
prefix of a user's display name with its spaces removed (``@jons`` pings "Jon
Skeet"). Only users recently in the room can be pinged; the service supplies
them. Text inside code spans and fixed-width blocks never pings.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from typing import Final

from hubbub.core.ids import UserId

__all__ = ["MIN_PING_CHARS", "find_mentions", "mentioned", "ping_handle", "ping_key", "ping_tokens"]

MIN_PING_CHARS: Final = 3

# "@" not glued to a word before it (so e-mail addresses do not ping), then name characters.
_PING = re.compile(r"(?<![\w@])@([\w'.\-]+)")
# A code span opens and closes with backtick runs of the same length (``` ``@bob`` ``` is code too).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)[^\n]*?(?<!`)\1(?!`)")
_SPACES = re.compile(r"\s+")


def ping_handle(name: str) -> str:
    """The name as it is typed after ``@``: spaces removed (``"Jon Skeet"`` -> ``"JonSkeet"``)."""
    return _SPACES.sub("", name)


def ping_key(name: str) -> str:
    """The name as a ping matches it: the handle, folded. A ping's token is a prefix of it."""
    return ping_handle(name).casefold()


def _is_fixed_width(text: str) -> bool:
    lines = text.split("\n")
    return all(line.startswith("    ") or not line.strip() for line in lines) and any(line.strip() for line in lines)


def _ping_tokens(text: str) -> Iterable[str]:
    if _is_fixed_width(text):
        return
    for match in _PING.finditer(_CODE_SPAN.sub(" ", text)):
        token = match.group(1).rstrip(".'-")
        if len(token) >= MIN_PING_CHARS:
            yield token.casefold()


def ping_tokens(text: str) -> frozenset[str]:
    """What ``text`` pings, folded (``@Jon`` -> ``"jon"``): worked out from the text alone."""
    return frozenset(_ping_tokens(text))


def mentioned(tokens: Collection[str], candidates: Sequence[tuple[UserId, str]]) -> list[UserId]:
    """The ids of ``candidates`` (id, display name) that ``tokens`` (``ping_tokens``) ping, in candidate order."""
    if not tokens:
        return []
    return [user_id for user_id, name in candidates if any(ping_key(name).startswith(token) for token in tokens)]


def find_mentions(text: str, candidates: Sequence[tuple[UserId, str]]) -> list[UserId]:
    """The ids of ``candidates`` (id, display name) that ``text`` pings, in candidate order."""
    return mentioned(ping_tokens(text), candidates)
