"""A stream bridged to real IRC servers: Debian's ngircd (classic, PASS, TLS) and InspIRCd + atheme (IRCv3, SASL).

Each test starts the server(s) on loopback ports, a hubbub node with a stream whose IRC
account points there, and a real IRC client from PyPI (``irc``) in the channel. What
the far client says reaches the stream's sockets as the ``irc`` network's lines with
its nick as the sender; what the streamer writes through the account reaches the
channel as PRIVMSGs (split to fit, one per line, ``/me`` as CTCP ACTION) and comes back
to the stream exactly once; nothing loops; a restarted server is reconnected to and
nothing is delivered twice either way; a nick in use is worked around.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hubbub.bridges.base import BridgeRunner
from hubbub.bridges.irc import IrcBridge, IrcError
from hubbub.bridges.irc_codec import LINE_BYTES
from hubbub.core.ids import RoomId, UserId
from hubbub.core.irc_accounts import irc_settings
from hubbub.store.base import ReadTx
from tests.bridges.ircservers import FarClient, IrcServer, inspircd, ngircd, register_account
from tests.conftest import Node, NodeFactory
from tests.dialects.streams.helpers import StreamsUser, receive, send, streams_user
from tests.fakes import TIMEOUT, eventually

CHANNEL = "#show"
SERVER_PASSWORD = "letmein"
SASL_PASSWORD = "sekrit-relay-99"


@dataclass
class Bridged:
    server: IrcServer
    node: Node
    john: StreamsUser
    stream_id: int
    account_id: int
    far: FarClient
    socket: aiohttp.ClientWebSocketResponse
    stash: list[dict[str, Any]] = field(default_factory=list)

    @property
    def runner(self) -> BridgeRunner:
        bridges = self.node.runtime.bridges
        assert bridges is not None
        return bridges.runners[(self.stream_id, self.account_id, self.account_id)]

    async def network_line(self) -> dict[str, Any]:
        while True:
            frame = self.stash.pop(0) if self.stash else await receive(self.socket)
            if frame["type"] in ("text", "emote"):
                return frame

    async def network_line_or(self, kind: str) -> dict[str, Any]:
        """The next frame of type ``kind`` (network lines before it are kept for ``network_line``)."""
        while (frame := await receive(self.socket))["type"] != kind:
            if frame["type"] in ("text", "emote"):
                self.stash.append(frame)
        return frame

    async def write(self, text: str, kind: str = "text") -> None:
        await send(self.socket, type=kind, account_id=self.account_id, cur_stream_account_id=self.account_id, text=text)

    async def status(self) -> dict[str, Any]:
        """The account's entry in a fresh ``status`` frame."""
        await send(self.socket, type="status")
        while (frame := await receive(self.socket))["type"] != "status":
            self.stash.append(frame)  # a line that came first is still the next line
        entry = frame["accounts"][str(self.account_id)]
        assert isinstance(entry, dict)
        return entry

    async def settle(self) -> None:
        """Prove nothing else is on its way either way: a marker each way arrives next."""
        self.far.say(CHANNEL, "marker from irc")
        assert (await self.network_line())["text"] == "marker from irc"
        await self.write("marker from hubbub")
        assert await self.far.hear() == ("text", self.bridge_nick, "marker from hubbub")
        assert (await self.network_line())["text"] == "marker from hubbub"  # its echo, once
        assert self.far.heard.empty()

    @property
    def bridge_nick(self) -> str:
        bridge = self.runner.bridge
        assert isinstance(bridge, IrcBridge)
        return bridge.nick


def _settings(server: IrcServer, *, nick: str = "relay", **extra: str) -> dict[str, str]:
    settings = {"server": "127.0.0.1", "port": str(server.port), "tls": "false", "nick": nick, "channel": CHANNEL}
    settings["flood_rate"] = "50"  # the default 1 line/s would only slow the tests; test_tls_and_flood_control sets it
    if server.name == "ngircd":
        settings.update(auth="pass", password=SERVER_PASSWORD)
    else:
        settings.update(auth="sasl", password=SASL_PASSWORD)
    settings.update(extra)
    return settings


async def _start_server(kind: str, directory: Path, **options: Any) -> IrcServer:
    server = ngircd(directory, password=SERVER_PASSWORD, **options) if kind == "ngircd" else inspircd(directory)
    await server.start()
    if kind == "inspircd":
        await register_account(server.port, "relay", SASL_PASSWORD)
    return server


@pytest.fixture(params=["ngircd", "inspircd"])
async def irc_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IrcServer]:
    server = await _start_server(request.param, tmp_path / "irc")
    try:
        yield server
    finally:
        await server.stop()


async def _far(server: IrcServer, nick: str = "alice") -> FarClient:
    password = SERVER_PASSWORD if server.name == "ngircd" else None
    return await FarClient(nick).connect(server.port, CHANNEL, password=password)


async def _bridge(
    make_node: NodeFactory, server: IrcServer, settings: dict[str, str] | None = None, **node_settings: Any
) -> Bridged:
    node = await make_node(**node_settings)
    john = await streams_user(node, "John")
    far = await _far(server)
    body = {"network": "irc", "name": "relay", "settings": settings or _settings(server)}
    account = (await john.ok("POST", "/api/v1/account", body))["account"]
    assert "password" not in account["settings"]  # a secret is never shown back
    stream = (await john.ok("POST", "/api/v1/stream", {"name": "Show", "accounts": [{"id": account["id"]}]}))["stream"]
    await john.ok("PATCH", f"/api/v1/stream/{stream['id']}", {"data_pushing": True})
    socket = await john.socket(stream["id"])
    bridged = Bridged(server, node, john, stream["id"], account["id"], far, socket)
    bridges = node.runtime.bridges
    assert bridges is not None
    await eventually(lambda: any(r.ready for r in bridges.runners.values()), timeout=TIMEOUT * 2)
    await eventually(lambda: any(e.type == "join" and e.source.nick == bridged.bridge_nick for e in far.events))
    return bridged


async def test_both_ways_with_emotes_long_and_multiline_lines(make_node: NodeFactory, irc_server: IrcServer) -> None:
    b = await _bridge(make_node, irc_server)

    b.far.say(CHANNEL, "hello from irc")
    line = await b.network_line()
    assert line["type"] == "text" and line["text"] == "hello from irc" and line["network"] == "irc"
    assert line["account_id"] == b.account_id and line["stream_id"] == b.stream_id
    assert line["from"] == {"name": "alice", "id": "alice"}
    b.far.act(CHANNEL, "waves at everyone")
    emote = await b.network_line()
    assert (emote["type"], emote["text"], emote["from"]["name"]) == ("emote", "waves at everyone", "alice")
    b.far.say(CHANNEL, "\x02bold\x02 and \x0304red\x03")
    assert (await b.network_line())["text"] == "bold and red"  # mIRC formatting is not shown as garbage

    await b.write("hi from hubbub")
    assert await b.far.hear() == ("text", "relay", "hi from hubbub")
    echo = await b.network_line()  # IRC does not echo: the bridge shows its own line, once
    assert (echo["text"], echo["from"]["name"], echo["network"]) == ("hi from hubbub", "relay", "irc")

    await b.write("dances", kind="emote")
    assert await b.far.hear() == ("emote", "relay", "dances")
    assert (await b.network_line())["type"] == "emote"

    await b.write("one\ntwo\n\nthree")
    assert [await b.far.hear() for _ in range(3)] == [("text", "relay", t) for t in ("one", "two", "three")]
    assert (await b.network_line())["text"] == "one\ntwo\n\nthree"

    words = " ".join(f"word{i:03d}-é" for i in range(150))  # ~1,500 bytes with two-byte characters
    await b.write(words)
    pieces: list[str] = []
    while " ".join(pieces) != words:
        kind, nick, text = await b.far.hear()
        assert kind == "text" and nick == "relay"
        # What the far client received fits IRC's limit with the prefix the server put on it.
        prefix = next(e.source for e in b.far.events if e.type == "pubmsg" and e.arguments[0] == text)
        assert len(f":{prefix} PRIVMSG {CHANNEL} :{text}\r\n".encode()) <= LINE_BYTES
        pieces.append(text)
    assert len(pieces) >= 4
    assert (await b.network_line())["text"] == words
    await b.settle()


async def test_the_channels_members_are_the_accounts_viewer_count(
    make_node: NodeFactory, irc_server: IrcServer
) -> None:
    b = await _bridge(make_node, irc_server, streams_viewcount_interval=1.0)

    async def next_count() -> int:
        frame = await b.network_line_or("viewcountresult")
        assert frame["account_id"] == b.account_id and frame["stream_id"] == b.stream_id
        return int(frame["viewer_count"])

    assert await next_count() == 1  # alice was there when the bridge joined; the bridge is not a viewer
    bob = await _far(irc_server, "bob")
    assert await next_count() == 2
    bob.close()
    assert await next_count() == 1
    await b.settle()


async def test_a_restarted_server_is_reconnected_without_duplicates(
    make_node: NodeFactory, irc_server: IrcServer
) -> None:
    b = await _bridge(make_node, irc_server)
    b.far.say(CHANNEL, "before")
    assert (await b.network_line())["text"] == "before"
    await b.write("before from hubbub")
    assert await b.far.hear() == ("text", "relay", "before from hubbub")
    assert (await b.network_line())["text"] == "before from hubbub"
    connections = b.runner.connections

    b.far.close()
    await irc_server.restart()
    await eventually(lambda: b.runner.connections > connections and b.runner.ready, timeout=TIMEOUT * 3)
    b.far = await _far(irc_server)  # the bridge is in the channel already: ready means joined

    b.far.say(CHANNEL, "after")
    assert (await b.network_line())["text"] == "after"  # not "before" again
    await b.write("after from hubbub")
    assert await b.far.hear() == ("text", b.bridge_nick, "after from hubbub")
    assert (await b.network_line())["text"] == "after from hubbub"
    await b.settle()


async def test_a_line_written_while_the_server_is_down_arrives_once(tmp_path: Path, make_node: NodeFactory) -> None:
    server = await _start_server("ngircd", tmp_path / "irc")
    try:
        b = await _bridge(make_node, server)
        assert (await b.status())["ready"] is True
        await server.stop()
        await eventually(lambda: not b.runner.ready)
        account = await b.status()  # the status frame says the bridge is down
        assert (account["ready"], account["live"], account["network"]["name"]) == (False, True, "irc")
        await b.write("said while IRC was away")
        await server.start()
        b.far = await _far(server)
        await eventually(lambda: b.runner.ready, timeout=TIMEOUT * 3)
        assert (await b.status())["ready"] is True
        assert await b.far.hear() == ("text", b.bridge_nick, "said while IRC was away")
        assert (await b.network_line())["text"] == "said while IRC was away"
        await b.settle()
    finally:
        await server.stop()


async def test_a_nick_in_use_is_worked_around(make_node: NodeFactory, irc_server: IrcServer) -> None:
    squatter = await _far(irc_server, nick="relay")
    try:
        b = await _bridge(make_node, irc_server)
        assert b.bridge_nick == "relay_"
        b.far.say(CHANNEL, "who are you")
        assert (await b.network_line())["text"] == "who are you"
        await b.write("the relay, under another nick")
        assert await b.far.hear() == ("text", "relay_", "the relay, under another nick")
        assert (await b.network_line())["from"]["name"] == "relay_"
        await b.settle()
    finally:
        squatter.close()


async def test_tls_and_flood_control(tmp_path: Path, make_node: NodeFactory) -> None:
    server = await _start_server("ngircd", tmp_path / "irc", tls=True)
    try:
        assert server.tls_port is not None
        settings = _settings(server, port=str(server.tls_port), tls="true", tls_verify="false")
        settings.update(flood_burst="2", flood_rate="20")
        b = await _bridge(make_node, server, settings)
        bridge = b.runner.bridge
        assert isinstance(bridge, IrcBridge) and bridge.settings.tls
        loop = asyncio.get_running_loop()
        started = loop.time()
        await b.write("\n".join(f"line {i}" for i in range(12)))
        heard = [await b.far.hear() for _ in range(12)]
        took = loop.time() - started
        assert [text for _, _, text in heard] == [f"line {i}" for i in range(12)]
        # 2 at once, then 20 a second: the other 10 lines cannot have been sent in under 0.5 s.
        assert took >= 10 / 20 * 0.9
        assert (await b.network_line())["text"].startswith("line 0\nline 1")
        await b.settle()
    finally:
        await server.stop()


async def test_sasl_refusals_are_clear_errors(tmp_path: Path) -> None:
    server = await _start_server("inspircd", tmp_path / "irc")
    try:
        wrong = IrcBridge(irc_settings(_settings(server, password="wrong")), echo=True)
        with pytest.raises(IrcError, match="904"):
            await wrong.connect()
        good = IrcBridge(irc_settings(_settings(server)), echo=True)
        await good.connect()  # the same account with its password gets in: the refusal was the password's
        assert "sasl" in good.caps and "message-tags" in good.caps
        await good.close()
    finally:
        await server.stop()


async def test_a_server_without_sasl_is_refused_for_a_sasl_account(tmp_path: Path) -> None:
    server = await _start_server("ngircd", tmp_path / "irc")
    try:
        bridge = IrcBridge(irc_settings(_settings(server, auth="sasl")), echo=True)
        with pytest.raises(IrcError, match="SASL"):
            await bridge.connect()
        wrong = IrcBridge(irc_settings(_settings(server, password="nope")), echo=True)
        with pytest.raises(IrcError, match="Bad password"):  # ngircd answers ERROR, not 464
            await wrong.connect()
    finally:
        await server.stop()


async def _room_texts(node: Node, room: RoomId) -> list[tuple[str, str]]:
    def read(tx: ReadTx) -> list[tuple[str, str]]:
        messages = tx.recent_messages(room, limit=100)
        users = tx.users([m.user_id for m in messages])
        return [(users[m.user_id].name, m.source) for m in messages]

    return await node.service.context.store.read(read)


async def test_an_ordinary_room_is_bridged_both_ways_without_loops(tmp_path: Path, make_node: NodeFactory) -> None:
    server = await _start_server("ngircd", tmp_path / "irc")
    try:
        node = await make_node()
        john = await streams_user(node, "John")
        room = await node.room("Lobby", owner=john.user)
        far = await _far(server)
        body = {"network": "irc", "name": "lobby", "settings": _settings(server)}
        account = (await john.ok("POST", "/api/v1/account", body))["account"]
        bob = await streams_user(node, "Bob")
        status, refused = await bob.call("POST", f"/api/v1/room/{room}/bridge", {"accounts": [{"id": account["id"]}]})
        assert (status, refused) == (400, {"error": "Only an owner of the room can bridge it"})
        huge = await john.call("POST", f"/api/v1/room/{room}/bridge", {"accounts": [{"id": 1 << 70}]})
        assert huge == (400, {"error": "unauthorized to use that account"})
        answer = await john.ok("POST", f"/api/v1/room/{room}/bridge", {"accounts": [{"id": account["id"]}]})
        assert [a["id"] for a in answer["accounts"]] == [account["id"]]
        assert "password" not in answer["accounts"][0]["settings"]
        bridges = node.runtime.bridges
        assert bridges is not None
        await eventually(lambda: any(r.ready for r in bridges.runners.values()), timeout=TIMEOUT * 2)

        far.say(CHANNEL, "hello *lobby*")
        far.act(CHANNEL, "waves")
        await eventually_async(lambda: _room_texts(node, room), 2)
        assert await _room_texts(node, room) == [
            ("irc-lobby", "**alice**: hello \\*lobby\\*"),
            ("irc-lobby", "*alice waves*"),
        ]
        await node.service.messages.post(UserId(john.id), room, "hi IRC\nsecond line")
        assert await far.hear() == ("text", "relay", "<John> hi IRC")
        assert await far.hear() == ("text", "relay", "<John> second line")
        far.say(CHANNEL, "marker")
        await eventually_async(lambda: _room_texts(node, room), 4)
        # Nothing written out came back in, and the relay's own posts were not written out.
        assert [text for _, text in await _room_texts(node, room)][2:] == ["hi IRC\nsecond line", "**alice**: marker"]
        assert far.heard.empty()

        assert (await john.ok("POST", f"/api/v1/room/{room}/bridge", {"accounts": []})) == {"accounts": []}
        await eventually(lambda: not bridges.runners)
        far.close()
    finally:
        await server.stop()


async def eventually_async(read: Callable[[], Awaitable[list[Any]]], count: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while len(await read()) < count:  # noqa: ASYNC110 - polling the store the bridge writes
            await asyncio.sleep(0.02)


async def test_a_flood_from_the_channel_arrives_whole_in_order_once(tmp_path: Path, make_node: NodeFactory) -> None:
    server = await _start_server("ngircd", tmp_path / "irc")  # ngircd here does no fake lag
    try:
        b = await _bridge(make_node, server)
        count = 300
        for index in range(count):
            b.far.say(CHANNEL, f"flood {index}")
        texts = [(await b.network_line())["text"] for _ in range(count)]
        assert texts == [f"flood {i}" for i in range(count)]
        await b.settle()  # and nothing after it: no line came twice
    finally:
        await server.stop()


async def test_a_kicked_bridge_rejoins(tmp_path: Path, make_node: NodeFactory) -> None:
    server = await _start_server("ngircd", tmp_path / "irc")
    try:
        b = await _bridge(make_node, server)  # alice came first: she is the channel operator
        connections = b.runner.connections
        b.far.connection.kick(CHANNEL, b.bridge_nick, "out")
        await eventually(lambda: b.runner.connections > connections and b.runner.ready, timeout=TIMEOUT * 2)
        b.far.say(CHANNEL, "welcome back")
        assert (await b.network_line())["text"] == "welcome back"
        await b.settle()
    finally:
        await server.stop()


async def test_another_account_writes_into_the_streams_channel_shown_once(
    tmp_path: Path, make_node: NodeFactory
) -> None:
    """multistreamer's extra writer: John's second account speaks in the stream account's channel; the
    writer reads nothing, the stream's reader sees the line on IRC, so it is shown exactly once."""
    server = await _start_server("ngircd", tmp_path / "irc")
    try:
        b = await _bridge(make_node, server)
        body = {"network": "irc", "name": "second", "settings": _settings(server, nick="johnny", channel="#other")}
        second = (await b.john.ok("POST", "/api/v1/account", body))["account"]
        await send(b.socket, type="writer", account_id=second["id"], cur_stream_account_id=b.account_id)
        assert await b.network_line_or("writerresult") == {
            "type": "writerresult",
            "account_id": second["id"],
            "cur_stream_account_id": b.account_id,
        }
        bridges = b.node.runtime.bridges
        assert bridges is not None
        await eventually(lambda: any(w.ready for w in bridges.writers.values()))
        await send(b.socket, type="text", account_id=second["id"], cur_stream_account_id=b.account_id, text="hi")
        assert await b.far.hear() == ("text", "johnny", "hi")  # in the stream's channel, not #other
        line = await b.network_line()
        assert (line["text"], line["from"]["name"], line["account_id"]) == ("hi", "johnny", b.account_id)
        await b.settle()  # and not a second time
    finally:
        await server.stop()
