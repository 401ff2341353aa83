"""The IRC bridge's sans-I/O parts: what a chat line becomes on IRC and back, and the flood bucket.

Parsing and formatting IRC lines is irctokens' job (``irctokens.tokenise`` /
``irctokens.build``); this module decides only what hubbub puts in them:

- ``privmsg_lines`` splits one chat line into PRIVMSGs that fit IRC's 512-byte limit *as
  the other clients receive them*, i.e. counting the ``:nick!user@host PRIVMSG #chan :``
  prefix the server adds and the CTCP wrapping of an emote; a multi-line message
  becomes one PRIVMSG per line; splits fall on spaces where possible and never inside
  a UTF-8 character;
- ``incoming`` turns a PRIVMSG read from the channel into ``(kind, text)``: a CTCP
  ACTION is an ``emote``, other CTCP requests (VERSION, PING...) are nobody's chat;
  mIRC formatting codes are dropped, since the stream shows plain text;
- ``irc_casefold`` compares nicks and channels the way RFC 1459 servers do;
- ``TokenBucket`` is the per-connection flood control: ``burst`` lines at once, then
  ``rate`` lines a second;
- ``ChannelMembers`` follows who is in the bridged channel (NAMES, JOIN, PART, QUIT, KICK,
  NICK) for the account's viewer count.

No I/O: the clock is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "LINE_BYTES",
    "ChannelMembers",
    "TokenBucket",
    "incoming",
    "irc_casefold",
    "privmsg_lines",
    "text_budget",
]

LINE_BYTES: Final = 512  # RFC 1459 §2.3, CR LF included, message tags excluded
ACTION_START: Final = "\x01ACTION "
ACTION_END: Final = "\x01"
# Worst case for the part of our prefix the server adds when we have not seen it yet:
# ident of 10 characters (after ``~``) and a 63-character host (RFC 1123 label limit).
UNKNOWN_USERHOST_BYTES: Final = 1 + 1 + 10 + 1 + 63
_FORMATTING: Final = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
_CASEMAP: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")


def irc_casefold(name: str) -> str:
    """``name`` lower-cased by RFC 1459's casemapping (``[]\\~`` are the capitals of ``{}|^``)."""
    return name.translate(_CASEMAP)


def text_budget(prefix: str, target: str, *, emote: bool) -> int:
    """How many bytes of text fit in one PRIVMSG to ``target`` as others receive it from ``prefix``.

    ``prefix`` is ``nick!user@host`` as the server shows us (our own JOIN's source), or
    just our nick when we have not seen it, in which case the worst case is assumed.
    """
    source = prefix if "!" in prefix and "@" in prefix else prefix + "x" * UNKNOWN_USERHOST_BYTES
    overhead = len(f":{source} PRIVMSG {target} :\r\n".encode())
    if emote:
        overhead += len((ACTION_START + ACTION_END).encode())
    return LINE_BYTES - overhead


def _split_to_bytes(text: str, budget: int) -> list[str]:
    """Pieces of ``text`` of at most ``budget`` UTF-8 bytes, broken after a space when one is near."""
    pieces: list[str] = []
    rest = text
    while rest:
        encoded = rest.encode()
        if len(encoded) <= budget:
            pieces.append(rest)
            break
        cut = budget
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:  # never inside a UTF-8 character
            cut -= 1
        head = encoded[:cut].decode()
        space = head.rfind(" ")
        if space >= len(head) // 2:  # a word break in the second half: cut there, drop the space
            pieces.append(head[:space])
            rest = rest[space + 1 :]
        else:
            pieces.append(head)
            rest = rest[len(head) :]
    return [piece for piece in pieces if piece]


def privmsg_lines(kind: str, text: str, *, prefix: str, target: str) -> list[str]:
    """The PRIVMSG texts (the last parameter) that say ``text`` in ``target``.

    One line per line of ``text`` (blank lines dropped: IRC has no empty message), each
    split to fit; an ``emote`` is a CTCP ACTION on every line. Characters IRC cannot
    carry (NUL; CR and LF are the line breaks) never reach the wire.
    """
    emote = kind == "emote"
    budget = max(16, text_budget(prefix, target, emote=emote))
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.replace("\x00", "").rstrip()
        if emote:
            line = line.replace("\x01", "")
        if not line.strip():
            continue
        for piece in _split_to_bytes(line, budget):
            out.append(f"{ACTION_START}{piece}{ACTION_END}" if emote else piece)
    return out


def incoming(text: str) -> tuple[str, str] | None:
    """``(kind, text)`` of a PRIVMSG read from the channel; None for a CTCP request or an empty line."""
    if text.startswith("\x01"):
        body = text[1:].removesuffix("\x01")
        command, _, rest = body.partition(" ")
        if command.upper() != "ACTION":
            return None
        kind, text = "emote", rest
    else:
        kind = "text"
    plain = _FORMATTING.sub("", text).strip()
    return (kind, plain) if plain else None


@dataclass(slots=True)
class TokenBucket:
    """Flood control for one connection: ``burst`` lines at once, refilled at ``rate`` lines a second."""

    rate: float
    burst: int
    _tokens: float = field(init=False)
    _at: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a flood bucket needs rate > 0 and burst >= 1")
        self._tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait(self, now: float) -> float:
        """Seconds until a line may be sent (0: now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        """Spend one line (call when ``wait`` said 0)."""
        self._refill(now)
        self._tokens -= 1


# Prefixes a NAMES reply puts before a nick for its channel modes (RFC 2812 §5.1 353 and the
# common extensions: ~ owner, & admin, @ op, % halfop, + voice).
_MODE_PREFIXES: Final = "~&@%+"


class ChannelMembers:
    """The nicks in one channel, from the lines the server sends; ``count`` leaves ourselves out.

    Unknown (None) until the first NAMES reply has ended, since before that a count would be a
    guess; a reconnection starts again from nothing.
    """

    def __init__(self, channel: str) -> None:
        self._channel = irc_casefold(channel)
        self._nicks: set[str] = set()
        self._listing: set[str] | None = None  # a NAMES reply being read
        self.known = False

    def count(self, own_nick: str) -> int | None:
        if not self.known:
            return None
        return len(self._nicks - {irc_casefold(own_nick)})

    def observe(self, command: str, nick: str, params: list[str]) -> None:
        """One line from the server: ``nick`` is its source's nickname ("" for the server's own)."""
        folded = irc_casefold(nick)
        if command == "353" and len(params) >= 4 and irc_casefold(params[2]) == self._channel:
            listing = self._listing if self._listing is not None else set()
            listing.update(irc_casefold(name.lstrip(_MODE_PREFIXES)) for name in params[3].split() if name)
            self._listing = listing
        elif command == "366" and len(params) >= 2 and irc_casefold(params[1]) == self._channel:
            self._nicks, self._listing, self.known = self._listing or set(), None, True
        elif command == "JOIN" and params and irc_casefold(params[0]) == self._channel and folded:
            self._nicks.add(folded)
        elif command == "PART" and params and irc_casefold(params[0]) == self._channel:
            self._nicks.discard(folded)
        elif command == "KICK" and len(params) >= 2 and irc_casefold(params[0]) == self._channel:
            self._nicks.discard(irc_casefold(params[1]))
        elif command == "QUIT":
            self._nicks.discard(folded)
        elif command == "NICK" and params and folded in self._nicks:
            self._nicks.discard(folded)
            self._nicks.add(irc_casefold(params[0]))
