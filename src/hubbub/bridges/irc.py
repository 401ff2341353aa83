"""The IRC network (and Twitch chat, which is IRC with IRCv3 tags): one client connection per account.

``IrcBridge`` is a ``bridges.base.Bridge``. ``connect()`` opens TCP (TLS unless the
account says otherwise), registers and joins the channel:

- IRC: ``CAP LS 302``, then ``CAP REQ`` for what the server offers of ``message-tags``,
  ``server-time`` and (when the account authenticates so) ``sasl``; SASL PLAIN
  (``AUTHENTICATE``, 903 or a clear failure) or ``PASS`` before ``NICK``/``USER``;
  a server that knows no CAP (421) registers without;
- Twitch: ``CAP REQ :twitch.tv/tags twitch.tv/commands``, ``PASS oauth:…``, ``NICK``;
- a nick in use (433, 436) during registration is retried with ``_`` appended (the
  previous connection's ghost often still holds it after a reconnect), up to
  ``NICK_ATTEMPTS`` times; then ``JOIN``, done when the server echoes our JOIN (whose
  source, ``nick!user@host``, is what the line-length budget counts).

Reading: every line goes through irctokens (never parsed by hand) from a decoder whose
buffer is bounded; ``PING`` is answered at once; a PRIVMSG to the channel becomes an
``IncomingLine`` (CTCP ACTION → ``emote``) with the sender's nick — on Twitch the
``display-name`` tag, falling back to the nick — and the IRCv3 ``msgid`` (Twitch: ``id``)
as ``remote_id``, so a line a server replays after a reconnect is dropped by the runner.
Silence is probed with our own PING; an unanswered one ends the connection, and so does a
KICK of the bridge (the runner's reconnect rejoins) or Twitch's RECONNECT.

Writing: ``irc_codec.privmsg_lines`` splits the text; every line waits for the
connection's token bucket. Servers do not send a client its own PRIVMSGs back (we never
ask for ``echo-message``), so a *reading* bridge shows what it wrote itself — the local
echo multistreamer did for Twitch — exactly once; a write-only bridge (another account
writing into the stream's channel) echoes nothing, since the reader sees its lines.
Nothing the bridge reads is ever written back, and its own nick is never read: no loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Final

from irctokens.line import Line, build
from irctokens.stateful import StatefulDecoder

from hubbub.bridges.base import IncomingLine
from hubbub.bridges.irc_codec import ChannelMembers, TokenBucket, incoming, irc_casefold, privmsg_lines
from hubbub.core.irc_accounts import IrcSettings, check
from hubbub.core.streams import NetworkAccount
from hubbub.errors import ConfigError

__all__ = ["IrcBridge", "IrcError", "irc_bridge"]

log = logging.getLogger("hubbub.bridges.irc")

CONNECT_TIMEOUT: Final = 15.0
REGISTER_TIMEOUT: Final = 30.0
IDLE_PING: Final = 90.0  # seconds of silence before we PING the server
PING_TIMEOUT: Final = 45.0  # and how long it has to answer
WRITE_TIMEOUT: Final = 30.0
NICK_ATTEMPTS: Final = 5
KICK_MEMORY: Final = 60.0  # a kick this soon after joining counts as "again"
KICK_WAIT_MAX: Final = 300.0
READ_CHUNK: Final = 16_384
LINE_BUFFER_MAX: Final = 8_191 + 512  # IRCv3: tags up to 8191 bytes, then the 512-byte line
INBOX: Final = 256  # lines read and not yet taken by the runner (then reading pauses: TCP pushes back)
SASL_CHUNK: Final = 400
IRC_CAPS: Final = frozenset({"message-tags", "server-time"})
TWITCH_CAPS: Final = "twitch.tv/tags twitch.tv/commands"
_AUTH_FAILED: Final = frozenset({"902", "904", "905", "906", "908", "464", "465"})
_JOIN_FAILED: Final = frozenset({"403", "405", "471", "473", "474", "475", "476", "477", "479"})


class IrcError(Exception):
    """The server refused us (bad password, banned, no such channel...) or broke the protocol."""


class _Closed(Exception):
    pass


class IrcBridge:
    """``bridges.base.Bridge`` for one channel on one IRC server (or Twitch)."""

    def __init__(self, settings: IrcSettings, *, echo: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.echo = echo
        self._clock = clock
        self._bucket = TokenBucket(settings.flood_rate, settings.flood_burst)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = StatefulDecoder()
        self._pending: list[Line] = []
        self._inbox: asyncio.Queue[IncomingLine | BaseException] = asyncio.Queue(INBOX)
        self._pump: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self.nick = settings.nick
        self.prefix = settings.nick  # nick!user@host once the server has shown it
        self.caps: frozenset[str] = frozenset()
        self._kicks = 0  # kicks in a row, each soon after joining (they lengthen the wait to rejoin)
        self._joined_at = 0.0
        self._self_name: str | None = None  # Twitch: our display-name (USERSTATE)
        self._self_id: str | None = None
        self._members = ChannelMembers(settings.channel)

    # connecting

    async def connect(self) -> None:
        s = self.settings
        context: ssl.SSLContext | None = None
        if s.tls:
            context = ssl.create_default_context()
            if not s.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        if self._kicks:
            await asyncio.sleep(min(KICK_WAIT_MAX, 2.0**self._kicks))
        self._decoder = StatefulDecoder()
        self._pending = []
        self._inbox = asyncio.Queue(INBOX)
        self._members = ChannelMembers(s.channel)
        self.nick, self.prefix, self.caps = s.nick, s.nick, frozenset()
        async with asyncio.timeout(CONNECT_TIMEOUT):
            self._reader, self._writer = await asyncio.open_connection(
                s.host, s.port, ssl=context, server_hostname=s.host if context else None, limit=READ_CHUNK
            )
        try:
            async with asyncio.timeout(REGISTER_TIMEOUT):
                await (self._register_twitch() if s.twitch else self._register_irc())
                await self._join()
        except BaseException:
            await self.close()
            raise
        self._joined_at = self._clock()
        self._pump = asyncio.create_task(self._read_pump(), name=f"irc-{s.host}-{s.channel}")

    async def _register_irc(self) -> None:
        s = self.settings
        self._send_now("CAP", ["LS", "302"])
        if s.auth == "pass" and s.password:
            self._send_now("PASS", [s.password])
        self._send_now("NICK", [self.nick])
        self._send_now("USER", [s.username, "0", "*", s.realname])
        offered: set[str] = set()
        attempts = 0
        while True:
            line = await self._next_line()
            command, params = line.command, line.params
            if command == "CAP" and len(params) >= 3:
                sub = params[1].upper()
                if sub == "LS":
                    offered.update(cap.split("=", 1)[0] for cap in params[-1].split())
                    if params[2] == "*" and len(params) >= 4:
                        continue  # more LS lines follow (CAP 302 multiline)
                    wanted = (IRC_CAPS & offered) | ({"sasl"} if s.auth == "sasl" else set())
                    if "sasl" in wanted and "sasl" not in offered:
                        raise IrcError("the server offers no SASL, and the account authenticates with SASL")
                    if wanted:
                        self._send_now("CAP", ["REQ", " ".join(sorted(wanted))])
                    else:
                        self._send_now("CAP", ["END"])
                elif sub == "ACK":
                    self.caps = self.caps | frozenset(params[-1].split())
                    if "sasl" in self.caps and s.auth == "sasl":
                        self._send_now("AUTHENTICATE", ["PLAIN"])
                    else:
                        self._send_now("CAP", ["END"])
                elif sub == "NAK":
                    if s.auth == "sasl":
                        raise IrcError("the server refused SASL")
                    self._send_now("CAP", ["END"])
            elif command == "AUTHENTICATE" and params[:1] == ["+"]:
                self._send_sasl_plain()
            elif command == "903":
                self._send_now("CAP", ["END"])
            elif command == "421" and len(params) >= 2 and params[1].upper() == "CAP":
                if s.auth == "sasl":
                    raise IrcError("the server knows no CAP, so no SASL")
            elif command == "001":
                self.nick = params[0]
                return
            elif command in ("433", "436", "437"):
                attempts += 1
                if attempts > NICK_ATTEMPTS:
                    raise IrcError(f"nick {s.nick} and its alternatives are taken")
                self.nick = (self.nick + "_")[:30] if len(self.nick) < 30 else self.nick[:-1] + str(attempts)
                log.info("irc %s: nick in use, trying %s", s.host, self.nick)
                self._send_now("NICK", [self.nick])
            elif command == "432":
                raise IrcError(f"the server refuses the nick {self.nick}: {params[-1]}")
            elif command in _AUTH_FAILED:
                raise IrcError(f"login refused ({command}): {params[-1] if params else ''}")

    def _send_sasl_plain(self) -> None:
        s = self.settings
        token = base64.b64encode(f"{s.sasl_username}\0{s.sasl_username}\0{s.password or ''}".encode()).decode()
        chunks = [token[i : i + SASL_CHUNK] for i in range(0, len(token), SASL_CHUNK)] or ["+"]
        if len(chunks[-1]) == SASL_CHUNK:
            chunks.append("+")  # a final full chunk must be followed by an empty one
        for chunk in chunks:
            self._send_now("AUTHENTICATE", [chunk])

    async def _register_twitch(self) -> None:
        s = self.settings
        self._send_now("CAP", ["REQ", TWITCH_CAPS])
        if s.password:
            self._send_now("PASS", [s.password])
        self._send_now("NICK", [self.nick])
        while True:
            line = await self._next_line()
            if line.command == "CAP" and len(line.params) >= 3 and line.params[1].upper() == "ACK":
                self.caps = self.caps | frozenset(line.params[-1].split())
            elif line.command == "GLOBALUSERSTATE":
                self._note_self(line)
            elif line.command == "001":
                self.nick = line.params[0]
                return
            elif line.command == "NOTICE" and "authentication failed" in line.params[-1].lower():
                raise IrcError(f"Twitch refused the login: {line.params[-1]}")
            elif line.command in _AUTH_FAILED:
                raise IrcError(f"login refused ({line.command})")

    async def _join(self) -> None:
        s = self.settings
        self._send_now("JOIN", [s.channel, s.channel_key] if s.channel_key else [s.channel])
        want = irc_casefold(s.channel)
        while True:
            line = await self._next_line()
            self._observe(line)
            if line.command == "JOIN" and line.source and self._is_me(line.hostmask.nickname):
                if line.params and irc_casefold(line.params[0]) == want:
                    if "!" in line.source:
                        self.prefix = line.source
                    return
            elif line.command in _JOIN_FAILED:
                raise IrcError(f"cannot join {s.channel} ({line.command}): {line.params[-1] if line.params else ''}")
            elif line.command in ("USERSTATE", "GLOBALUSERSTATE"):
                self._note_self(line)

    def _is_me(self, nick: str) -> bool:
        return irc_casefold(nick) == irc_casefold(self.nick)

    def _note_self(self, line: Line) -> None:
        tags = line.tags or {}
        self._self_name = tags.get("display-name") or self._self_name
        self._self_id = tags.get("user-id") or self._self_id

    # reading

    async def _next_line(self) -> Line:
        """The next line from the server (PING answered here), or ``_Closed``."""
        while True:
            while self._pending:
                line = self._pending.pop(0)
                if line.command == "PING":
                    self._send_now("PONG", line.params[-1:] or [self.settings.host])
                    continue
                if line.command == "ERROR":
                    raise IrcError(f"the server closed the link: {line.params[-1] if line.params else ''}")
                return line
            assert self._reader is not None
            data = await self._reader.read(READ_CHUNK)
            lines = self._decoder.push(data)
            if lines is None:
                raise _Closed("the server closed the connection")
            if len(self._decoder.pending()) > LINE_BUFFER_MAX:
                raise IrcError("the server sent a line longer than IRC allows")
            self._pending.extend(lines)

    async def _read_pump(self) -> None:
        """Lines from the socket into the bounded inbox, until the connection ends (its reason last)."""
        probing = False
        try:
            while True:
                try:
                    async with asyncio.timeout(PING_TIMEOUT if probing else IDLE_PING):
                        line = await self._next_line()
                except TimeoutError:
                    if probing:
                        raise IrcError("the server stopped answering") from None
                    probing = True
                    self._send_now("PING", [f"hubbub-{random.randrange(1 << 30)}"])
                    continue
                probing = False
                chat = self._chat(line)
                if chat is not None:
                    await self._inbox.put(chat)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._inbox.put(error)  # after the lines before it: the runner then reconnects

    def _observe(self, line: Line) -> None:
        nick = line.hostmask.nickname if line.source else ""
        self._members.observe(line.command, nick, line.params)

    async def viewer_count(self) -> int | None:
        """The others in the channel (IRC); None on Twitch, whose chat does not say who watches."""
        return None if self.settings.twitch else self._members.count(self.nick)

    def _chat(self, line: Line) -> IncomingLine | None:
        s = self.settings
        self._observe(line)
        if line.command in ("USERSTATE", "GLOBALUSERSTATE"):
            self._note_self(line)
            return None
        if line.command == "NICK" and line.source and self._is_me(line.hostmask.nickname):
            self.nick = line.params[0] if line.params else self.nick
            return None
        if line.command == "KICK" and len(line.params) >= 2 and self._is_me(line.params[1]):
            # Out of the channel: end the connection; the runner's reconnect rejoins, later each time
            # it is kicked again soon (connect() waits), so a channel that kicks on sight is not flooded.
            recent = self._clock() - self._joined_at < KICK_MEMORY
            self._kicks = self._kicks + 1 if recent else 1
            raise IrcError(f"kicked from {line.params[0]}: {line.params[-1]}")
        if line.command == "RECONNECT" and s.twitch:
            raise _Closed("Twitch asked for a reconnect")  # its notice before a server restarts
        if line.command != "PRIVMSG" or len(line.params) < 2 or not line.source:
            return None
        if irc_casefold(line.params[0]) != irc_casefold(s.channel):
            return None  # a private message to the bridge is nobody's stream chat
        nick = line.hostmask.nickname
        if not nick:
            return None  # a source with no nick ("!user@host") is no one to show
        if irc_casefold(nick) == irc_casefold(self.nick):
            return None  # our own line, if a server echoes it anyway: shown once, by the local echo
        said = incoming(line.params[1])
        if said is None:
            return None
        tags = line.tags or {}
        if s.twitch:
            name = tags.get("display-name") or nick  # Twitch sometimes leaves display-name out (#39)
            from_id: int | str = tags.get("user-id") or nick
            remote_id = tags.get("id")
        else:
            name, from_id, remote_id = nick, nick, tags.get("msgid")
        return IncomingLine(kind=said[0], text=said[1], from_name=name, from_id=from_id, remote_id=remote_id)

    async def lines(self) -> AsyncIterator[IncomingLine]:
        while True:
            item = await self._inbox.get()
            if isinstance(item, _Closed):
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # writing

    def _send_now(self, command: str, params: list[str]) -> None:
        """Queue one line on the socket, outside flood control (registration, PONG)."""
        if self._writer is None:
            raise _Closed("not connected")
        self._writer.write(f"{build(command, params).format()}\r\n".encode())

    async def _send_limited(self, command: str, params: list[str]) -> None:
        async with self._send_lock:
            delay = self._bucket.wait(self._clock())
            if delay > 0:  # one sleep refills at least one token (nothing else spends them: the lock)
                await asyncio.sleep(delay)
            self._bucket.take(self._clock())
            self._send_now(command, params)
            assert self._writer is not None
            async with asyncio.timeout(WRITE_TIMEOUT):
                await self._writer.drain()

    async def write(self, kind: str, text: str) -> None:
        s = self.settings
        if not s.can_write:
            raise IrcError("an anonymous Twitch login cannot write; give the account an oauth token")
        messages = privmsg_lines(kind, text, prefix=self.prefix, target=s.channel)
        for message in messages:
            await self._send_limited("PRIVMSG", [s.channel, message])
        if self.echo and messages:
            # The stream shows the line once, as typed (not once per IRC line it took).
            name = (self._self_name or self.nick) if s.twitch else self.nick
            from_id: int | str = (self._self_id or self.nick) if s.twitch else self.nick
            with contextlib.suppress(asyncio.QueueFull):
                self._inbox.put_nowait(IncomingLine(kind=kind, text=text.strip(), from_name=name, from_id=from_id))

    async def close(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        writer, self._writer = self._writer, None
        self._reader = None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write(b"QUIT :hubbub bridge closing\r\n")
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await writer.wait_closed()


def _settings(account: NetworkAccount) -> IrcSettings:
    try:
        raw = json.loads(account.settings)
    except ValueError:
        raw = None
    found = check(account.network, raw, name=account.name) if isinstance(raw, dict) else None
    if found is None:
        raise ConfigError(f"account {account.id} has no IRC settings: it is listed, not bridged")
    return found


def irc_bridge(account: NetworkAccount, target: NetworkAccount) -> IrcBridge:
    """``manager.BridgeFactory`` for ``irc`` and ``twitch``: the target account's server and channel,
    the from account's nick and credentials; only a reading bridge (account == target) echoes."""
    channel, own = _settings(target), _settings(account)
    if account.id != target.id:
        own = replace(
            own, host=channel.host, port=channel.port, tls=channel.tls, tls_verify=channel.tls_verify,
            channel=channel.channel, channel_key=channel.channel_key,
        )  # fmt: skip
    return IrcBridge(own, echo=account.id == target.id)
