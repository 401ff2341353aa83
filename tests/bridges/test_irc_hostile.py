"""A hostile or broken IRC server: the bridge's buffers stay bounded and it ends the connection cleanly.

A real server never sends these, so a raw loopback socket plays the server here (the
transport itself is tested against ngircd and InspIRCd in test_irc_servers.py): a line
that never ends must not grow the bridge's buffer past IRC's limit, and the runner must
reconnect afterwards and read the next good line once.
"""

from __future__ import annotations

import asyncio
import contextlib

from hubbub.bridges.base import Backoff, BridgeRunner, IncomingLine
from hubbub.bridges.irc import LINE_BUFFER_MAX, IrcBridge
from hubbub.core.irc_accounts import irc_settings
from tests.fakes import TIMEOUT, eventually


async def test_an_endless_line_ends_the_connection_and_the_runner_reconnects() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first = connections == 1
        with contextlib.suppress(ConnectionError):
            writer.write(b":fake 001 relay :hi\r\n")
            while b"JOIN" not in await reader.readline():
                pass
            writer.write(b":relay!r@h JOIN #c\r\n")
            if first:
                for _ in range(20):  # 20 x 4 KiB and never a line end
                    writer.write(b"x" * 4096)
                    await writer.drain()
            else:
                writer.write(b"@msgid=m1 :alice!a@h PRIVMSG #c :after\r\n@msgid=m1 :alice!a@h PRIVMSG #c :after\r\n")
            await reader.read()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bridge = IrcBridge(
        irc_settings({"server": "127.0.0.1", "port": str(port), "tls": "false", "nick": "relay", "channel": "#c"}),
        echo=True,
    )
    got: list[IncomingLine] = []

    async def sink(line: IncomingLine) -> None:
        got.append(line)

    runner = BridgeRunner(bridge, sink, name="hostile", backoff=Backoff(first=0.05, cap=0.1))
    runner.start()
    try:
        await eventually(lambda: len(got) >= 1, timeout=TIMEOUT)
        assert connections == 2  # the endless line ended the first connection; the runner came back
        assert len(bridge._decoder.pending()) <= LINE_BUFFER_MAX
        # The second copy of msgid m1 (a server replaying it) was dropped by the runner.
        await bridge.write("text", "probe")
        await eventually(lambda: len(got) >= 2)
        assert [(line.text, line.remote_id) for line in got] == [("after", "m1"), ("probe", None)]
    finally:
        await runner.stop()
        server.close()
        await server.wait_closed()
