"""Who a message pings, matched the way Stack Exchange chat does.

A ping is ``@`` followed by at least three characters that are a case-insensitive
prefix of a user's display name with its spaces removed (``@jons`` pings "Jon
Skeet"). Only users recently in the room can be pinged; the service supplies
them. Text inside code spans and fixed-width blocks never pings.

One message pings at most ``MAX_PINGED`` users, through at most ``MAX_PING_TOKENS`` distinct
``@`` tokens (the first in the text): every ping is an event, an inbox item and a count to
update on the serial writer, and ``@use`` in a big room names thousands.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Final

from hubbub.core.ids import UserId

__all__ = [
    "MAX_PINGED",
    "MAX_PING_TOKENS",
    "MIN_PING_CHARS",
    "find_mentions",
    "mentioned",
    "ping_handle",
    "ping_key",
    "ping_tokens",
]

MIN_PING_CHARS: Final = 3
MAX_PING_TOKENS: Final = 20
MAX_PINGED: Final = 50

# "@" not glued to a word before it (so e-mail addresses do not ping), then name characters.
_PING = re.compile(r"(?<![\w@])@([\w'.\-]+)")
# A code span opens and closes with backtick runs of the same length (``` ``@bob`` ``` is code too).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)[^\n]*?(?<!`)\1(?!`)")
_SPACES = re.compile(r"\s+")
_NO_TOKENS: Final[frozenset[str]] = frozenset()


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
    """What ``text`` pings, folded (``@Jon`` -> ``"jon"``): worked out from the text alone; the
    first ``MAX_PING_TOKENS`` distinct ones."""
    if "@" not in text:  # most messages: no scan for code spans and fixed-width blocks
        return _NO_TOKENS
    return frozenset(itertools.islice(dict.fromkeys(_ping_tokens(text)), MAX_PING_TOKENS))


def mentioned(tokens: Collection[str], candidates: Sequence[tuple[UserId, str]]) -> list[UserId]:
    """The ids of ``candidates`` (id, display name) that ``tokens`` (``ping_tokens``) ping, in candidate
    order; the first ``MAX_PINGED``."""
    if not tokens:
        return []
    named = (user_id for user_id, name in candidates if any(ping_key(name).startswith(token) for token in tokens))
    return list(itertools.islice(named, MAX_PINGED))


def find_mentions(text: str, candidates: Sequence[tuple[UserId, str]]) -> list[UserId]:
    """The ids of ``candidates`` (id, display name) that ``text`` pings, in candidate order."""
    return mentioned(ping_tokens(text), candidates)
