"""The IRC gateway's sans-I/O codec: bytes in -> commands for the server; answers -> lines out.

No sockets and no service here (docs/irc.md, "Gateway"). ``IrcSession.receive_data`` frames
bytes into lines (``\\n``-terminated, ``\\r`` stripped, at most ``MAX_INPUT_BYTES`` each),
tokenises each with irctokens (UTF-8 with a latin-1 fallback, as IRC clients decode) and
either answers it itself (CAP, PING, registration, numerics for bad input) or returns a
``Command`` the server carries out through the service, then reports back through one of
the session's answer methods (``login_succeeded``, ``joined``, ...). Output accumulates
as wire bytes, taken with ``data_to_send``.

Numerics follow RFC 1459/2812 and https://modern.ircdocs.horse; IRCv3 capabilities:
``sasl`` (PLAIN), ``message-tags``, ``server-time``, ``batch``, ``echo-message`` and
``draft/chathistory`` (the resumable view of the log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from irctokens.line import Line, tokenise

from hubbub.dialects.irc.commands import (
    ChannelMember,
    Command,
    HistoryQuery,
    Ison,
    Join,
    Kick,
    ListChannels,
    ListEntry,
    Login,
    LoginFailure,
    Names,
    Part,
    Quit,
    Say,
    Topic,
    Who,
    Whois,
)
from hubbub.dialects.irc.lines import MAX_LINE_BYTES, TagStyle, render_chat, render_line
from hubbub.dialects.irc.names import MAX_CHANNEL_CHARS, fold
from hubbub.dialects.irc.registration import (
    CAPABILITIES,
    CHATHISTORY_MAX,
    MAX_CHANNELS,
    MAX_NICKS_BEFORE_LOGIN,
    MAX_SASL_BYTES,
    MAX_TARGETS,
    Registration,
    RegistrationState,
)
from hubbub.dialects.irc.replies import Replies

# The commands, lines and replies are re-exported: the server and the tests name them through the codec.
__all__ = [
    "CAPABILITIES",
    "CHATHISTORY_MAX",
    "MAX_CHANNELS",
    "MAX_INPUT_BYTES",
    "MAX_NICKS_BEFORE_LOGIN",
    "MAX_SASL_BYTES",
    "MAX_TARGETS",
    "ChannelMember",
    "Command",
    "HistoryQuery",
    "IrcSession",
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
    "Replies",
    "Say",
    "TagStyle",
    "Topic",
    "Who",
    "Whois",
    "render_chat",
    "render_line",
]

MAX_TAG_BYTES: Final = 8191  # IRCv3 message-tags: the tags a client may send, with "@" and the space
MAX_INPUT_BYTES: Final = MAX_LINE_BYTES + MAX_TAG_BYTES
MAX_HELD_LINES: Final = 64  # lines kept while a login is being checked; more closes the link
_BEFORE_LOGIN: Final = frozenset({"CAP", "NICK", "USER", "PASS", "AUTHENTICATE", "PING", "PONG", "QUIT"})
_IGNORED: Final = frozenset({"PONG", "NOTICE", "TAGMSG", "USERHOST"})


@dataclass
class IrcSession(Registration):
    """One client connection's protocol state (registration, capabilities, its nick)."""

    server: str
    version: str
    created: str  # when the server started, for 003
    motd: Sequence[str] = ()
    caps: set[str] = field(default_factory=set)
    nick: str = "*"
    account: str | None = None  # once logged in: the account's name
    mask: str = ""
    registered: bool = False
    closing: bool = False  # an ERROR line was queued: the server closes after sending it
    away: bool = False
    _reg: RegistrationState = field(default_factory=RegistrationState)
    _out: bytearray = field(default_factory=bytearray)
    _partial: bytearray = field(default_factory=bytearray)
    _discarding: bool = False  # inside an over-long line: dropped up to its end

    # bytes in and out

    def receive_data(self, data: bytes) -> list[Command]:
        """Feed bytes from the peer; returns the commands they make, in order."""
        commands: list[Command] = []
        start = 0
        while not self.closing:
            end = data.find(b"\n", start)
            if end < 0:
                self._keep_partial(data[start:])
                break
            piece = data[start:end]
            start = end + 1
            if self._discarding:
                self._discarding = False
                self._partial.clear()
                continue
            if self._partial:
                piece = bytes(self._partial) + piece
                self._partial.clear()
            if len(piece) > MAX_INPUT_BYTES:
                self._numeric("417", "Input line was too long")
                continue
            commands.extend(self.receive_line(piece.rstrip(b"\r")))
        return commands

    def _keep_partial(self, rest: bytes) -> None:
        if self._discarding:
            return
        if len(self._partial) + len(rest) > MAX_INPUT_BYTES:
            self._partial.clear()
            self._discarding = True
            self._numeric("417", "Input line was too long")
            return
        self._partial += rest

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def send(self, data: bytes) -> None:
        self._out += data

    # lines

    def receive_line(self, raw: bytes) -> list[Command]:
        if not raw.strip(b" "):
            return []  # empty lines are ignored (modern.ircdocs.horse "Message format")
        if self._reg.logging_in:
            # Clients send JOINs right behind PASS/NICK/USER: they wait until the password is checked.
            if len(self._reg.held) >= MAX_HELD_LINES:
                self.error("Excess Flood")
                return []
            self._reg.held.append(raw)
            return []
        try:
            line = tokenise(raw)
        except (ValueError, IndexError, UnicodeDecodeError):
            return []  # nothing usable (tags that are not UTF-8, a prefix with no command)
        command = line.command
        if not self.registered and command not in _BEFORE_LOGIN:
            if not command.isdigit():
                self._numeric("451", "You have not registered")
            return []
        handler = getattr(self, f"_on_{command.lower()}", None) if command.isalpha() else None
        if handler is None:
            if command not in _IGNORED:
                self._numeric("421", command, "Unknown command")
            return []
        result: list[Command] = handler(line)
        return result

    # answering

    @property
    def tag_style(self) -> TagStyle:
        if "message-tags" in self.caps:
            return TagStyle.ALL
        return TagStyle.TIME if "server-time" in self.caps else TagStyle.NONE

    # registered commands

    def _on_ping(self, line: Line) -> list[Command]:
        if not line.params:
            self._numeric("409", "No origin specified")
            return []
        self._emit("PONG", self.server, line.params[0])
        return []

    def _on_quit(self, line: Line) -> list[Command]:
        reason = line.params[0] if line.params else "Client Quit"
        self.error(f"Quit: {reason}")
        return [Quit(reason)]

    def _channels(self, line: Line) -> list[str] | None:
        if not self._need_params(line, 1):
            return None
        names = [name for name in line.params[0].split(",") if name]
        if len(names) > MAX_TARGETS:
            self._numeric("407", line.params[0], "Too many targets")
            return None
        return names

    def _on_join(self, line: Line) -> list[Command]:
        names = self._channels(line)
        if names is None:
            return []
        if names == ["0"]:
            return [Part("*", "Left all channels")]
        commands: list[Command] = []
        for name in names:
            if not name.startswith("#") or len(name) > MAX_CHANNEL_CHARS:
                self._emit("476", self.nick, name, "Bad Channel Mask")
            else:
                commands.append(Join(name))
        return commands

    def _on_part(self, line: Line) -> list[Command]:
        names = self._channels(line)
        if names is None:
            return []
        reason = line.params[1] if len(line.params) > 1 else "Leaving"
        return [Part(name, reason) for name in names]

    def _on_privmsg(self, line: Line) -> list[Command]:
        if not line.params or not line.params[0]:
            self._numeric("411", "No recipient given (PRIVMSG)")
            return []
        if len(line.params) < 2 or not line.params[1]:
            self._numeric("412", "No text to send")
            return []
        target, text = line.params[0], line.params[1]
        action = False
        if text.startswith("\x01"):
            body = text.strip("\x01")
            verb, _, rest = body.partition(" ")
            if verb.upper() != "ACTION":
                return []  # other CTCP requests (VERSION, PING ...) are not carried into chat
            text, action = rest, True
            if not text:
                self._numeric("412", "No text to send")
                return []
        if not target.startswith("#"):
            self._emit("401", self.nick, target, "No such nick/channel (the gateway carries channel messages only)")
            return []
        return [Say(target, text, action)]

    def _on_list(self, line: Line) -> list[Command]:
        return [ListChannels()]

    def _on_names(self, line: Line) -> list[Command]:
        if not line.params:
            self._emit("366", self.nick, "*", "End of /NAMES list")
            return []
        return [Names(name) for name in line.params[0].split(",")[:MAX_TARGETS] if name]

    def _on_who(self, line: Line) -> list[Command]:
        if not line.params:
            self._emit("315", self.nick, "*", "End of /WHO list")
            return []
        return [Who(line.params[0])]

    def _on_whois(self, line: Line) -> list[Command]:
        if not self._need_params(line, 1):
            return []
        return [Whois(line.params[-1])]

    def _on_topic(self, line: Line) -> list[Command]:
        if not self._need_params(line, 1):
            return []
        if len(line.params) > 1:
            self._emit("482", self.nick, line.params[0], "You're not channel operator (topics follow the room)")
            return []
        return [Topic(line.params[0])]

    def _on_mode(self, line: Line) -> list[Command]:
        if not self._need_params(line, 1):
            return []
        target = line.params[0]
        if target.startswith("#"):
            if len(line.params) == 1:
                self._emit("324", self.nick, target, "+nt")
            elif line.params[1].lstrip("+") in ("b", "e", "I"):
                ends = {"b": ("368", "ban"), "e": ("349", "exception"), "I": ("347", "invite")}
                code, kind = ends[line.params[1].lstrip("+")]
                self._emit(code, self.nick, target, f"End of channel {kind} list")
            else:
                self._emit("482", self.nick, target, "You're not channel operator (modes follow the room)")
        elif fold(target) != fold(self.nick):
            self._numeric("502", "Can't change mode for other users")
        elif len(line.params) == 1:
            self._emit("221", self.nick, "+i")
        else:
            self._numeric("501", "Unknown MODE flag")
        return []

    def _on_kick(self, line: Line) -> list[Command]:
        if not self._need_params(line, 2):
            return []
        return [Kick(line.params[0], line.params[1])]

    def _on_away(self, line: Line) -> list[Command]:
        self.away = bool(line.params and line.params[0])
        if self.away:
            self._numeric("306", "You have been marked as being away")
        else:
            self._numeric("305", "You are no longer marked as being away")
        return []

    def _on_chathistory(self, line: Line) -> list[Command]:
        if len(line.params) < 4:
            self._emit("FAIL", "CHATHISTORY", "NEED_MORE_PARAMS", "Missing parameters")
            return []
        sub, target, ref, count = line.params[0].upper(), line.params[1], line.params[2], line.params[3]
        if sub not in ("LATEST", "AFTER"):
            self._emit("FAIL", "CHATHISTORY", "INVALID_PARAMS", sub, "Supported: LATEST, AFTER")
            return []
        after_id: int | None = None
        at_ms: int | None = None
        kind, _, value = ref.partition("=")
        if kind == "msgid" and value.isdigit():
            after_id = int(value)
        elif kind == "timestamp":
            at_ms = _parse_timestamp(value)
            if at_ms is None:
                self._emit("FAIL", "CHATHISTORY", "INVALID_PARAMS", ref, "Invalid timestamp")
                return []
        elif not (ref == "*" and sub == "LATEST"):
            self._emit("FAIL", "CHATHISTORY", "INVALID_PARAMS", ref, "Invalid message reference")
            return []
        if not count.isdigit() or not target.startswith("#"):
            self._emit("FAIL", "CHATHISTORY", "INVALID_PARAMS", target, "Invalid target or limit")
            return []
        return [HistoryQuery(sub, target, after_id, at_ms, max(1, min(int(count), CHATHISTORY_MAX)))]

    def _on_ison(self, line: Line) -> list[Command]:
        if not self._need_params(line, 1):
            return []
        return [Ison(tuple(nick for param in line.params for nick in param.split()))]


def _parse_timestamp(value: str) -> int | None:
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        try:
            moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
    return int(moment.timestamp() * 1000)
