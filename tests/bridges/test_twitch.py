"""Twitch's conventions on the IRC bridge, against a small loopback fake of Twitch chat.

Only what is Twitch's own is checked here (the IRC transport itself is tested against
real servers in test_irc_servers.py): the ``CAP REQ :twitch.tv/tags twitch.tv/commands``
it sends first, ``PASS oauth:…``, lower-cased channel and nick, the ``display-name`` tag
as the sender with the nick as fallback when Twitch leaves it out (multistreamer #39),
``user-id`` as the (string) sender id, the ``id`` tag as the line's remote id, and the
local echo of what the bridge writes, since Twitch never sends a client its own lines.
The fake speaks real IRC lines through irctokens, like the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import irctokens
import pytest

from hubbub.bridges.base import IncomingLine
from hubbub.bridges.irc import IrcBridge, IrcError
from hubbub.core.irc_accounts import TWITCH_SERVER, TWITCH_TLS_PORT, twitch_settings
from tests.conftest import NodeFactory
from tests.dialects.streams.helpers import receive, send, streams_user
from tests.fakes import TIMEOUT, eventually


class FakeTwitch:
    """Accepts one login at a time the way irc.chat.twitch.tv does, and records what it was sent."""

    def __init__(self, token: str = "oauth:abc123") -> None:
        self.token = token
        self.received: list[irctokens.Line] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def send(self, line: str) -> None:
        for writer in self.writers:
            writer.write(line.encode() + b"\r\n")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        decoder = irctokens.StatefulDecoder()
        nick = password = None
        with contextlib.suppress(ConnectionError):
            while lines := decoder.push(await reader.read(4096)):
                for line in lines:
                    self.received.append(line)
                    if line.command == "CAP" and line.params[:1] == ["REQ"]:
                        writer.write(f":tmi.twitch.tv CAP * ACK :{line.params[-1]}\r\n".encode())
                    elif line.command == "PASS":
                        password = line.params[0]
                    elif line.command == "NICK":
                        nick = line.params[0]
                        if password is not None and password != self.token:
                            writer.write(b":tmi.twitch.tv NOTICE * :Login authentication failed\r\n")
                            continue
                        writer.write(
                            f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!\r\n"
                            f"@badges=;color=;display-name=StreamerBob;user-id=4242;user-type= "
                            f":tmi.twitch.tv GLOBALUSERSTATE\r\n".encode()
                        )
                    elif line.command == "JOIN":
                        writer.write(f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN {line.params[0]}\r\n".encode())
                    elif line.command == "PING":
                        writer.write(f":tmi.twitch.tv PONG tmi.twitch.tv :{line.params[-1]}\r\n".encode())


@pytest.fixture
async def twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    await fake.start()
    yield fake
    await fake.stop()


async def _next(lines: AsyncIterator[IncomingLine]) -> IncomingLine:
    async with asyncio.timeout(TIMEOUT):
        return await anext(lines)


def test_a_channel_name_alone_is_a_twitch_account() -> None:
    settings = twitch_settings({"channel": "JprjrDev"})
    assert (settings.host, settings.port, settings.tls) == (TWITCH_SERVER, TWITCH_TLS_PORT, True)
    assert settings.channel == "#jprjrdev" and settings.nick.startswith("justinfan") and not settings.can_write
    with_token = twitch_settings({"channel": "#jprjrdev", "nick": "JprjrDev", "password": "abc123"})
    assert with_token.password == "oauth:abc123" and with_token.nick == "jprjrdev" and with_token.can_write


async def test_twitch_login_tags_fallback_and_local_echo(twitch: FakeTwitch) -> None:
    settings = twitch_settings(
        {"channel": "Show", "nick": "streamerbob", "password": "abc123", "server": "127.0.0.1",
         "port": str(twitch.port), "tls": "false", "flood_rate": "50"}
    )  # fmt: skip
    bridge = IrcBridge(settings, echo=True)
    await bridge.connect()
    try:
        first = [(line.command, line.params) for line in twitch.received[:3]]
        assert first == [
            ("CAP", ["REQ", "twitch.tv/tags twitch.tv/commands"]),
            ("PASS", ["oauth:abc123"]),
            ("NICK", ["streamerbob"]),
        ]
        assert bridge.caps == {"twitch.tv/tags", "twitch.tv/commands"}
        lines = bridge.lines()
        twitch.send(
            "@badges=;display-name=Viewer_One;id=9f1c-1;user-id=146521877 "
            ":viewer_one!viewer_one@viewer_one.tmi.twitch.tv PRIVMSG #show :here's a message from twitch Kappa"
        )
        line = await _next(lines)
        assert (line.from_name, line.from_id, line.remote_id) == ("Viewer_One", "146521877", "9f1c-1")
        assert (line.kind, line.text) == ("text", "here's a message from twitch Kappa")
        # No display-name (Twitch sometimes leaves it out, or empty): the nick.
        twitch.send(
            "@display-name=;id=9f1c-2;user-id=7 :quiet!quiet@quiet.tmi.twitch.tv "
            "PRIVMSG #show :\x01ACTION is loving this\x01"
        )
        line = await _next(lines)
        assert (line.kind, line.text, line.from_name, line.from_id) == ("emote", "is loving this", "quiet", "7")

        await bridge.write("text", "hello chat")
        echo = await _next(lines)  # Twitch does not send it back: the bridge shows it, as itself
        assert (echo.text, echo.from_name, echo.from_id) == ("hello chat", "StreamerBob", "4242")
        await eventually(lambda: any(line.command == "PRIVMSG" for line in twitch.received))
        sent = [line.params for line in twitch.received if line.command == "PRIVMSG"]
        assert sent == [["#show", "hello chat"]]
    finally:
        await bridge.close()


async def test_a_bad_twitch_token_is_a_clear_error(twitch: FakeTwitch) -> None:
    settings = twitch_settings(
        {"channel": "show", "nick": "bob", "password": "oauth:wrong", "server": "127.0.0.1",
         "port": str(twitch.port), "tls": "false"}
    )  # fmt: skip
    with pytest.raises(IrcError, match="authentication failed"):
        await IrcBridge(settings, echo=True).connect()


async def test_an_anonymous_twitch_login_reads_and_refuses_to_write(twitch: FakeTwitch) -> None:
    settings = twitch_settings({"channel": "show", "server": "127.0.0.1", "port": str(twitch.port), "tls": "false"})
    bridge = IrcBridge(settings, echo=True)
    await bridge.connect()
    try:
        assert not any(line.command == "PASS" for line in twitch.received)
        with pytest.raises(IrcError, match="anonymous"):
            await bridge.write("text", "hi")
    finally:
        await bridge.close()


async def test_a_twitch_stream_end_to_end(twitch: FakeTwitch, make_node: NodeFactory) -> None:
    node = await make_node()
    john = await streams_user(node, "John")
    settings = {"channel": "show", "nick": "streamerbob", "password": "abc123", "server": "127.0.0.1",
                "port": str(twitch.port), "tls": "false", "flood_rate": "50"}  # fmt: skip
    account = (await john.ok("POST", "/api/v1/account", {"network": "twitch", "name": "show", "settings": settings}))[
        "account"
    ]
    assert "password" not in account["settings"]
    stream = (await john.ok("POST", "/api/v1/stream", {"name": "Show", "accounts": [{"id": account["id"]}]}))["stream"]
    await john.ok("PATCH", f"/api/v1/stream/{stream['id']}", {"data_pushing": True})
    bridges = node.runtime.bridges
    assert bridges is not None
    await eventually(lambda: any(r.ready for r in bridges.runners.values()))
    socket = await john.socket(stream["id"])
    await send(socket, type="status")
    status = await receive(socket)
    entry = status["accounts"][str(account["id"])]
    assert entry["network"] == {"name": "twitch", "displayName": "Twitch"} and entry["ready"] is True

    twitch.send(
        "@display-name=Viewer_One;id=a-1;user-id=146521877 :viewer_one!viewer_one@viewer_one.tmi.twitch.tv "
        "PRIVMSG #show :here's a message from twitch Kappa"
    )
    line = await receive(socket)
    assert line["type"] == "text" and line["network"] == "twitch" and line["account_id"] == account["id"]
    assert line["from"] == {"name": "Viewer_One", "id": "146521877"}  # Twitch ids stay strings (§B.4)

    await send(socket, type="text", account_id=account["id"], cur_stream_account_id=account["id"], text="thanks!")
    echo = await receive(socket)  # Twitch sends nothing back: the bridge's local echo, once
    assert (echo["text"], echo["from"], echo["network"]) == ("thanks!", {"name": "StreamerBob", "id": "4242"}, "twitch")
    await eventually(lambda: any(x.command == "PRIVMSG" for x in twitch.received))
    assert [x.params for x in twitch.received if x.command == "PRIVMSG"] == [["#show", "thanks!"]]
