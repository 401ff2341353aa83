"""IRC registration, the part of the codec before a client is in: CAP, PASS, NICK, USER, SASL PLAIN, the welcome.

``Registration`` is a mixin of ``codec.IrcSession`` (which declares the fields): it turns
the client's registration lines into a ``Login`` for the server to check, takes the
answer (``login_succeeded``, ``login_failed``), and sends the welcome burst (001-005 and the
MOTD) with the ISUPPORT limits the rest of the codec enforces. Sans-I/O like the codec.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from irctokens.line import Line

from hubbub.dialects.irc.commands import Command, Login, LoginFailure
from hubbub.dialects.irc.names import MAX_CHANNEL_CHARS, MAX_NICK_CHARS, fold
from hubbub.dialects.irc.replies import Replies

__all__ = [
    "CAPABILITIES",
    "CHATHISTORY_MAX",
    "MAX_CHANNELS",
    "MAX_NICKS_BEFORE_LOGIN",
    "MAX_SASL_BYTES",
    "MAX_TARGETS",
    "Registration",
    "RegistrationState",
]

MAX_SASL_BYTES: Final = 1200  # base64 of "\0e-mail\0password": enough for 255 + 500 characters
MAX_NICKS_BEFORE_LOGIN: Final = 20  # NICK changes before registration ends; then the link is closed
MAX_CHANNELS: Final = 50  # ISUPPORT CHANLIMIT
MAX_TARGETS: Final = 20  # ISUPPORT TARGMAX: channels named by one JOIN or PART
CHATHISTORY_MAX: Final = 100  # ISUPPORT CHATHISTORY: lines per CHATHISTORY request
CAPABILITIES: Final = ("batch", "draft/chathistory", "echo-message", "message-tags", "sasl", "server-time")
_SASL_VALUE: Final = "PLAIN"


@dataclass
class RegistrationState:
    """What a client has sent towards logging in, until it is in."""

    nick: str | None = None
    user: bool = False
    password: str | None = None
    negotiating: bool = False
    nick_changes: int = 0
    sasl_mechanism: bool = False
    sasl_buffer: str = ""
    logging_in: bool = False
    held: list[bytes] = field(default_factory=list)  # lines that came while the password was checked


class Registration(Replies):
    """Registration commands and login answers over the session's state (declared by ``IrcSession``)."""

    version: str
    created: str
    motd: Sequence[str]
    account: str | None
    registered: bool
    _reg: RegistrationState

    def receive_line(self, raw: bytes) -> list[Command]:
        raise NotImplementedError  # IrcSession's: the lines held during a login are replayed through it

    def _on_cap(self, line: Line) -> list[Command]:
        if not self._need_params(line, 1):
            return []
        sub = line.params[0].upper()
        if sub == "LS":
            if not self.registered:
                self._reg.negotiating = True
            version = line.params[1] if len(line.params) > 1 else ""
            offered = [f"sasl={_SASL_VALUE}" if c == "sasl" and version >= "302" else c for c in CAPABILITIES]
            self._emit("CAP", self.nick, "LS", " ".join(offered))
        elif sub == "LIST":
            self._emit("CAP", self.nick, "LIST", " ".join(sorted(self.caps)))
        elif sub == "REQ":
            if not self.registered:
                self._reg.negotiating = True
            asked = line.params[1].split() if len(line.params) > 1 else []
            adding = {c for c in asked if not c.startswith("-")}
            removing = {c[1:] for c in asked if c.startswith("-")}
            if asked and (adding | removing) <= set(CAPABILITIES):
                self.caps = (self.caps | adding) - removing
                self._emit("CAP", self.nick, "ACK", " ".join(asked))
            else:
                self._emit("CAP", self.nick, "NAK", " ".join(asked))
        elif sub == "END":
            if not self.registered:
                self._reg.negotiating = False
                return self._try_register()
        else:
            self._numeric("410", line.params[0], "Invalid CAP command")
        return []

    def _on_pass(self, line: Line) -> list[Command]:
        if self.registered:
            self._numeric("462", "You may not reregister")
            return []
        if self._need_params(line, 1):
            # One parameter by the RFCs; clients that do not put ":" before a password with spaces
            # (the ``irc`` library's ``pass_``) send several, which are taken together.
            self._reg.password = " ".join(line.params)
        return []

    def _on_nick(self, line: Line) -> list[Command]:
        if not line.params or not line.params[0]:
            self._numeric("431", "No nickname given")
            return []
        wanted = line.params[0]
        if self.registered:
            if fold(wanted) != fold(self.nick):
                self._numeric("902", "You must use a nick assigned to you")
            return []
        if len(wanted) > MAX_NICK_CHARS or any(c in wanted for c in " ,*?!@#:") or wanted[0] in "$&0123456789-":
            self._emit("432", self.nick, wanted, "Erroneous nickname")
            return []
        self._reg.nick_changes += 1
        if self._reg.nick_changes > MAX_NICKS_BEFORE_LOGIN:
            self.error("too many nick changes")
            return []
        self._reg.nick = wanted
        self.nick = wanted
        return self._try_register()

    def _on_user(self, line: Line) -> list[Command]:
        if self.registered:
            self._numeric("462", "You may not reregister")
            return []
        if not self._need_params(line, 4):
            return []
        self._reg.user = True
        return self._try_register()

    def _on_authenticate(self, line: Line) -> list[Command]:
        reg = self._reg
        if self.registered or self.account is not None:
            self._numeric("907", "You have already authenticated using SASL")
            return []
        if "sasl" not in self.caps or not self._need_params(line, 1):
            return []
        value = line.params[0]
        if value == "*":
            reg.sasl_mechanism, reg.sasl_buffer = False, ""
            self._numeric("906", "SASL authentication aborted")
            return []
        if not reg.sasl_mechanism:
            if value.upper() != _SASL_VALUE:
                self._numeric("908", _SASL_VALUE, "are available SASL mechanisms")
                self._numeric("904", "SASL authentication failed")
                return []
            reg.sasl_mechanism = True
            self._emit("AUTHENTICATE", "+", source="")
            return []
        if value != "+":
            reg.sasl_buffer += value
        if len(reg.sasl_buffer) > MAX_SASL_BYTES:
            reg.sasl_mechanism, reg.sasl_buffer = False, ""
            self._numeric("905", "SASL message too long")
            return []
        if len(value) == 400:
            return []  # a full chunk: more follows (IRCv3 sasl-3.1)
        payload, reg.sasl_buffer, reg.sasl_mechanism = reg.sasl_buffer, "", False
        try:
            fields = base64.b64decode(payload, validate=True).decode("utf-8").split("\0")
        except (binascii.Error, UnicodeDecodeError):
            fields = []
        if len(fields) != 3 or not fields[1] or not fields[2]:
            self._numeric("904", "SASL authentication failed")
            return []
        _, login, password = fields
        reg.logging_in = True
        return [Login(login, password, by_email="@" in login, sasl=True)]

    def _try_register(self) -> list[Command]:
        reg = self._reg
        if self.registered or reg.logging_in or reg.negotiating or reg.nick is None or not reg.user:
            return []
        if self.account is not None:
            self._welcome()
            return []
        if reg.password is None:
            self._numeric("464", "Password required: log in with SASL PLAIN or PASS")
            self.error("no password given")
            return []
        secret = reg.password
        reg.logging_in = True
        email, colon, password = secret.partition(":")
        if colon and "@" in email:
            return [Login(email, password, by_email=True, sasl=False)]
        return [Login(reg.nick, secret, by_email=False, sasl=False)]

    def _release_held(self) -> list[Command]:
        held, self._reg.held = self._reg.held, []
        commands: list[Command] = []
        for raw in held:
            if self.closing:
                break
            commands.extend(self.receive_line(raw))
        return commands

    def login_succeeded(self, *, account: str, nick: str, user_id: int, sasl: bool) -> list[Command]:
        """The password was right: ``nick`` is the account's (the client's is changed to it).
        Returns the commands of the lines that came meanwhile."""
        self._reg.logging_in = False
        self.account = account
        if self.nick not in ("*", nick):
            self._emit("NICK", nick, source=f"{self.nick}!u{user_id}@{self.server}")
        self.nick = nick
        self.mask = f"{nick}!u{user_id}@{self.server}"
        if sasl:
            self._numeric("900", self.mask, account, f"You are now logged in as {account}")
            self._numeric("903", "SASL authentication successful")
        reg = self._reg
        if not self.registered and not reg.negotiating and reg.nick is not None and reg.user:
            self._welcome()
        return self._release_held()

    def login_failed(self, failure: LoginFailure, *, sasl: bool) -> list[Command]:
        """Returns the commands of the lines that came meanwhile (a SASL client may try again)."""
        self._reg.logging_in = False
        if sasl:
            if failure is LoginFailure.WRONG:
                self._numeric("904", "SASL authentication failed")
            elif failure is LoginFailure.BUSY:
                self._numeric("904", "SASL authentication failed: the server is busy, try again in a moment")
            else:
                self._numeric("904", "SASL authentication failed: too many attempts, try again later")
            return self._release_held()
        self._reg.held.clear()
        if failure is LoginFailure.WRONG:
            self._numeric("464", "Password incorrect")
            self.error("bad password")
        elif failure is LoginFailure.BUSY:
            self._numeric("464", "The server is busy checking passwords; try again in a moment")
            self.error("server busy")
        else:
            self._numeric("464", "Too many login attempts; try again later")
            self.error("too many login attempts")
        return []

    def _welcome(self) -> None:
        self.registered = True
        self._numeric("001", f"Welcome to the hubbub IRC gateway, {self.nick}")
        self._numeric("002", f"Your host is {self.server}, running version {self.version}")
        self._numeric("003", f"This server was created {self.created}")
        self._emit("004", self.nick, self.server, self.version, "i", "nt")
        tokens = [
            "CASEMAPPING=ascii",
            f"CHANLIMIT=#:{MAX_CHANNELS}",
            f"CHANNELLEN={MAX_CHANNEL_CHARS}",
            "CHANTYPES=#",
            f"CHATHISTORY={CHATHISTORY_MAX}",
            "MSGREFTYPES=msgid,timestamp",
            "NETWORK=hubbub",
            f"NICKLEN={MAX_NICK_CHARS}",
            "PREFIX=(o)@",
            f"TARGMAX=JOIN:{MAX_TARGETS},PART:{MAX_TARGETS},PRIVMSG:1",
            "UTF8ONLY",
        ]
        self._emit("005", self.nick, *tokens, "are supported by this server")
        if self.motd:
            self._numeric("375", f"- {self.server} Message of the day -")
            for text in self.motd:
                self._numeric("372", f"- {text}")
            self._numeric("376", "End of /MOTD command")
        else:
            self._numeric("422", "MOTD File is missing")
