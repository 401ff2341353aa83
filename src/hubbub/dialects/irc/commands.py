"""What an IRC client asks the gateway to do (``Command``), and what the server reports back about it.

The codec turns lines into these; the server carries them out through the service and
answers through the session's reply methods (``replies.Replies``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ChannelMember",
    "Command",
    "HistoryQuery",
    "Ison",
    "Join",
    "Kick",
    "ListChannels",
    "ListEntry",
    "Login",
    "LoginFailure",
    "Names",
    "Part",
    "Quit",
    "Say",
    "Topic",
    "Who",
    "Whois",
]


@dataclass(frozen=True, slots=True)
class Login:
    """Check a password; ``login`` is an e-mail address (``by_email``) or the account's name without spaces."""

    login: str
    password: str
    by_email: bool
    sasl: bool


@dataclass(frozen=True, slots=True)
class Join:
    channel: str  # as the client wrote it


@dataclass(frozen=True, slots=True)
class Part:
    channel: str
    reason: str


@dataclass(frozen=True, slots=True)
class Say:
    channel: str
    text: str
    action: bool  # CTCP ACTION (/me)


@dataclass(frozen=True, slots=True)
class ListChannels:
    pass


@dataclass(frozen=True, slots=True)
class Names:
    channel: str


@dataclass(frozen=True, slots=True)
class Who:
    mask: str


@dataclass(frozen=True, slots=True)
class Whois:
    nick: str


@dataclass(frozen=True, slots=True)
class Topic:
    channel: str


@dataclass(frozen=True, slots=True)
class Kick:
    channel: str
    nick: str


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """``CHATHISTORY LATEST|AFTER <channel> <msgid=N|timestamp=T|*> <limit>``."""

    subcommand: str
    channel: str
    after_id: int | None  # msgid reference (an event id)
    at_ms: int | None  # timestamp reference (ms since the epoch)
    limit: int


@dataclass(frozen=True, slots=True)
class Ison:
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str


Command = Login | Join | Part | Say | ListChannels | Names | Who | Whois | Topic | Kick | HistoryQuery | Ison | Quit


class LoginFailure(Enum):
    WRONG = "wrong"
    LIMITED = "limited"  # the login limits said no
    BUSY = "busy"  # too many passwords being checked right now


@dataclass(frozen=True, slots=True)
class ChannelMember:
    nick: str
    mask: str  # nick!user@host
    operator: bool = False
    realname: str = ""


@dataclass(frozen=True, slots=True)
class ListEntry:
    channel: str
    visible: int
    topic: str
