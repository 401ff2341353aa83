"""Real IRC clients against the gateway: the PyPI ``irc`` library and Debian's ``weechat-headless``.

Each logs in, lists, joins, talks with a web-UI user live (both ways) and parts.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from irc.client import Event, ServerConnection
from irc.client_aio import AioReactor

from tests.conftest import PASSWORD, Node, NodeFactory
from tests.fakes import TIMEOUT

WEECHAT = shutil.which("weechat-headless") or "/usr/bin/weechat-headless"


async def _eventually(check: Any, what: str) -> Any:
    """Poll ``check()`` (sync or async) until it gives something truthy, within TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.02)
    raise AssertionError(what)


async def _history(node: Node, room: int) -> list[str]:
    ann = await node.service.queries.user(1)  # type: ignore[arg-type]
    history = await node.service.queries.history(ann, room, count=20)  # type: ignore[arg-type]
    return [m.source for m in history.messages]


@pytest.mark.real_client
async def test_the_irc_library_logs_in_lists_joins_talks_and_parts(make_node: NodeFactory) -> None:
    node = await make_node(irc_port=0)
    await node.user("Ann Lee")
    room = await node.room("Sandbox")
    events: asyncio.Queue[Event] = asyncio.Queue()
    reactor = AioReactor(loop=asyncio.get_running_loop())
    for kind in ("welcome", "list", "join", "namreply", "pubmsg", "action", "part"):
        reactor.add_global_handler(kind, lambda _c, event: events.put_nowait(event))

    async def next_event(kind: str) -> Event:
        async with asyncio.timeout(TIMEOUT):
            while (event := await events.get()).type != kind:
                pass
        return event

    connection: ServerConnection = reactor.server()
    await connection.connect("127.0.0.1", node.runtime.irc_port, "AnnLee", password=PASSWORD)
    assert (await next_event("welcome")).target == "AnnLee"
    connection.list()
    assert (await next_event("list")).arguments[0] == "#sandbox"
    connection.join("#sandbox")
    assert (await next_event("namreply")).arguments[-1] == "AnnLee"
    web = await node.signed_in("Bob")
    await web.post(f"/chats/{room}/messages/new", {"text": "hi from the web"})
    said = await next_event("pubmsg")
    assert (said.source.nick, said.arguments) == ("Bob", ["hi from the web"])
    connection.privmsg("#sandbox", "hi from irc")
    connection.action("#sandbox", "waves")
    await _eventually(lambda: _history_has(node, room, "*waves*"), "the action reached the room")
    assert (await _history(node, room))[-2:] == ["hi from irc", "*waves*"]
    connection.part("#sandbox")
    assert (await next_event("part")).target == "#sandbox"
    connection.disconnect("bye")


async def _only_bob(names: Awaitable[list[str]]) -> bool:
    return await names == ["Bob"]


async def _history_has(node: Node, room: int, text: str) -> bool:
    return text in await _history(node, room)


@pytest.mark.real_client
@pytest.mark.skipif(not Path(WEECHAT).exists(), reason="weechat-headless is not installed (make test installs it)")
async def test_weechat_logs_in_with_sasl_lists_joins_talks_and_parts(make_node: NodeFactory, tmp_path: Path) -> None:
    node = await make_node(irc_port=0)
    ann = await node.user("Ann Lee")
    room = await node.room("Sandbox")
    home, fifo, logs = tmp_path / "weechat", tmp_path / "weechat.fifo", tmp_path / "logs"
    home.mkdir()
    setup = ";".join(
        [
            f"/set fifo.file.path {fifo}",
            "/set fifo.file.enabled on",
            f"/set logger.file.path {logs}",
            "/set logger.file.flush_delay 0",
            "/set logger.file.mask $plugin.$name.weechatlog",
            f"/server add hub 127.0.0.1/{node.runtime.irc_port} -notls",
            "/set irc.server.hub.nicks AnnLee",
            "/set irc.server.hub.sasl_mechanism plain",
            f"/set irc.server.hub.sasl_username {ann.email}",
            f'/set irc.server.hub.sasl_password "{PASSWORD}"',
            "/connect hub",
        ]
    )
    process = await asyncio.create_subprocess_exec(
        WEECHAT,
        *["--dir", str(home), "-P", "irc,fifo,logger", "-r", setup, "--stdout"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        server = node.runtime.irc
        assert server is not None
        await _eventually(
            lambda: any(c.session.registered for c in server._connections) and fifo.exists(), "weechat logged in"
        )

        def command(text: str) -> None:
            with fifo.open("w") as pipe:
                pipe.write(f"irc.server.hub *{text}\n")

        command("/list")
        server_log = logs / "irc.server.hub.weechatlog"
        await _eventually(lambda: server_log.exists() and "#sandbox" in server_log.read_text(), "LIST showed #sandbox")
        command("/join #sandbox")
        await _eventually(lambda: any(c.rooms for c in server._connections), "weechat joined")
        web = await node.signed_in("Bob")
        await web.post(f"/chats/{room}/messages/new", {"text": "hello weechat"})
        channel_log = logs / "irc.hub.#sandbox.weechatlog"
        await _eventually(
            lambda: channel_log.exists() and "hello weechat" in channel_log.read_text(), "weechat showed the line"
        )
        with fifo.open("w") as pipe:
            pipe.write("irc.hub.#sandbox *hello web\n")
        await _eventually(lambda: _history_has(node, room, "hello web"), "the web room got weechat's line")
        with fifo.open("w") as pipe:
            pipe.write("irc.hub.#sandbox */part\n")
        await _eventually(lambda: not any(c.rooms for c in server._connections), "weechat parted")

        async def present_names() -> list[str]:
            return [user.name for _, user in (await node.service.queries.room_view(ann, room)).present]

        # PART left the room (written by the service a moment after the gateway forgot the channel).
        await _eventually(lambda: _only_bob(present_names()), "Ann left the room")
    finally:
        process.terminate()
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
