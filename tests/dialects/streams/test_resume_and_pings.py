"""Resuming a streams socket without loss, and the keep-alive pings (streams.md §B.2, B.9; B.12 #14)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.conftest import NodeFactory
from tests.dialects.streams.helpers import StreamsUser, receive, send, streams_user
from tests.fakes import TIMEOUT, eventually


async def _stream(owner: StreamsUser) -> int:
    return int((await owner.ok("POST", "/api/v1/stream", {"name": "Show"}))["stream"]["id"])


async def _say(user: StreamsUser, stream_id: int, text: str) -> None:
    await user.ok("POST", f"/api/v1/stream/{stream_id}/msg", {"type": "text", "text": text})


async def test_a_client_that_reconnects_with_since_gets_each_missed_line_once(make_node: NodeFactory) -> None:
    node = await make_node()
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    socket = await john.socket(stream_id)
    await _say(john, stream_id, "line 0")
    last = (await receive(socket))["event_id"]
    # Cut the connection while lines keep coming, some before and some during the reconnection.
    await socket.close()
    for index in range(1, 21):
        await _say(john, stream_id, f"line {index}")
    resumed = await john.socket(stream_id, query=f"&since={last}")
    writer = asyncio.create_task(_say_many(john, stream_id, range(21, 41)))
    texts = [(await receive(resumed))["text"] for _ in range(40)]
    await writer
    assert texts == [f"line {index}" for index in range(1, 41)]
    await _say(john, stream_id, "after")
    assert (await receive(resumed))["text"] == "after"  # nothing held back, nothing twice


async def _say_many(user: StreamsUser, stream_id: int, indexes: range) -> None:
    for index in indexes:
        await _say(user, stream_id, f"line {index}")


async def test_a_socket_that_resumes_from_too_far_back_is_told_where_to_go_on(make_node: NodeFactory) -> None:
    node = await make_node(streams_replay_max_bytes=2048)
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    for index in range(60):
        await _say(john, stream_id, f"line {index:02d} " + "x" * 40)
    socket = await john.socket(stream_id, query="&since=0")
    got = []
    while True:
        message = await socket.receive(timeout=TIMEOUT)
        if message.type is not aiohttp.WSMsgType.TEXT:
            break
        got.append(message.json())
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1013
    cursor = int(str(message.extra).rpartition("since=")[2])
    assert got and cursor == got[-1]["event_id"]
    rest = await john.socket(stream_id, query=f"&since={cursor}")
    first = await receive(rest)
    assert first["text"].startswith(f"line {len(got):02d} ")


async def test_silent_clients_are_pinged_and_closed_after_two_unanswered_pings(make_node: NodeFactory) -> None:
    interval = 0.3
    node = await make_node(streams_ping_interval=interval)
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    silent = await john.socket(stream_id, autoping=False)  # never answers a ping
    answering = await john.socket(stream_id)  # aiohttp answers pings while it reads
    frames: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()

    async def read_answering() -> None:
        while not answering.closed:
            frames.put_nowait(await answering.receive())

    reader = asyncio.create_task(read_answering())
    started = time.monotonic()
    pings = []
    while True:
        message = await silent.receive(timeout=TIMEOUT)
        if message.type is aiohttp.WSMsgType.PING:
            assert message.data == b"ping"
            pings.append(time.monotonic() - started)
        else:
            break
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1001
    assert len(pings) == 2 and pings[0] >= interval * 0.9
    # The socket that answered is still open and served.
    await send(answering, type="status")
    async with asyncio.timeout(TIMEOUT):
        answer = await frames.get()
    assert answer.type is aiohttp.WSMsgType.TEXT and answer.json()["type"] == "status"
    assert not answering.closed
    reader.cancel()


async def test_a_client_close_is_answered_with_a_close(make_node: NodeFactory) -> None:
    node = await make_node()
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    for port in ("gateway", "http"):
        socket = await john.socket(stream_id, port=port)
        await send(socket, type="status")
        await receive(socket)
        await socket.close(code=1000)
        assert socket.close_code == 1000
    streams = node.runtime.stream_sockets
    assert streams is not None
    await eventually(lambda: streams.open_sockets == 0)
