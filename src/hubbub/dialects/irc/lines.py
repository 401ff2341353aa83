"""IRC lines as the gateway writes them: one formatted line, and a chat line with its IRCv3 tags.

Formatting is irctokens' (the last parameter gets ``:`` when it needs one); a chat line
longer than RFC 1459's 512 bytes, or with several lines of text, becomes several PRIVMSGs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Final

from irctokens.line import build

from hubbub.dialects.irc.names import split_text

__all__ = ["MAX_LINE_BYTES", "TagStyle", "render_chat", "render_line"]

MAX_LINE_BYTES: Final = 512  # RFC 1459 §2.3: a line with its CRLF, without IRCv3 tags


class TagStyle(Enum):
    """What tags a connection's lines carry; fan-out renders each style once."""

    NONE = 0
    TIME = 1  # server-time only
    ALL = 2  # message-tags: time and msgid


def _time_tag(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def render_line(
    command: str, params: Sequence[str], *, source: str | None = None, tags: dict[str, str] | None = None
) -> bytes:
    """One line with its CRLF (irctokens formats it: the last parameter gets ``:`` when it needs one)."""
    return (build(command, list(params), source, tags or None).format() + "\r\n").encode("utf-8")


def render_chat(
    *, source: str, target: str, text: str, action: bool, style: TagStyle, ms: int, msgid: int | None
) -> bytes:
    """A chat line as PRIVMSG lines (a multi-line message as several, each within the 512 bytes of
    RFC 1459 with its prefix), with the tags of ``style``: ``time`` and ``msgid`` (the event id)."""
    tags: dict[str, str] | None = None
    if style is TagStyle.TIME:
        tags = {"time": _time_tag(ms)}
    elif style is TagStyle.ALL:
        tags = {"time": _time_tag(ms)}
        if msgid is not None:
            tags["msgid"] = str(msgid)
    overhead = len(f":{source} PRIVMSG {target} :\r\n".encode()) + (len("\x01ACTION \x01") if action else 0)
    out = bytearray()
    for piece in split_text(text, MAX_LINE_BYTES - overhead):
        body = f"\x01ACTION {piece}\x01" if action else piece
        out += render_line("PRIVMSG", [target, body], source=source, tags=tags)
    return bytes(out)
