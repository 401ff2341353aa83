"""Websocket framing rules on both ports (the picows gateway and aiohttp on the HTTP port).

RFC 6455 decides what a server must refuse: a handshake for a version other than 13 (§4.4:
refused, naming 13 in ``Sec-WebSocket-Version``), frames with reserved bits set when no
extension was negotiated (§5.2) and unmasked client frames (§5.1): both close with 1002. A
text frame the dialect cannot make sense of (JSON nested too deep to parse) is the client's
problem, not a server error: the socket stays open. A slow consumer that is dropped receives
the documented 1008 close frame, behind what was queued for it, before the TCP connection
goes. Frames are written and read with websocket-client (``ABNF``), in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from websocket import ABNF

from tests.conftest import Node, NodeFactory
from tests.e2e.test_realtime_live import (
    MARK,
    QUESTION,
    Publisher,
    port_number,
    publisher_for,
    subscribed,
    topics_of,
    wire,
)
from tests.fakes import TIMEOUT, eventually


@pytest.fixture(params=["gateway", "http"])
def port(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def client(node: Node, port: str, **options: Any) -> Iterator[websocket.WebSocket]:
    ws = websocket.create_connection(f"ws://127.0.0.1:{port_number(node, port)}/", timeout=TIMEOUT, **options)
    try:
        yield ws
    finally:
        ws.close()


def close_code(ws: websocket.WebSocket) -> int:
    """Read frames until the server's close frame; its status code."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == ABNF.OPCODE_CLOSE:
            (code,) = struct.unpack("!H", frame.data[:2])
            return int(code)


def send_raw(ws: websocket.WebSocket, frame: ABNF) -> None:
    ws.sock.sendall(frame.format())


def refused_upgrade(port: int, version: str) -> tuple[int, dict[str, str]]:
    """Ask for an upgrade with ``Sec-WebSocket-Version: version``; the status and headers of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        raw.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = raw.recv(4096)
            assert chunk, answer
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
    return int(head[0].split()[1]), headers


@pytest.mark.parametrize("version", ["8", "7", "14", ""])
async def test_only_websocket_version_13_is_spoken(node: Node, port: str, version: str) -> None:
    status, headers = await asyncio.to_thread(refused_upgrade, port_number(node, port), version)
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert topics_of(node).subscribers == 0


@pytest.mark.parametrize(
    "frame",
    [
        ABNF(fin=1, rsv1=1, opcode=ABNF.OPCODE_TEXT, data="155-questions-active"),
        ABNF(fin=1, rsv2=1, opcode=ABNF.OPCODE_TEXT, data="155-questions-active"),
        ABNF(fin=1, rsv3=1, opcode=ABNF.OPCODE_TEXT, data="155-questions-active"),
        ABNF(fin=1, rsv1=1, opcode=ABNF.OPCODE_PING, data="ping"),
    ],
    ids=["rsv1", "rsv2", "rsv3", "rsv1-ping"],
)
async def test_reserved_bits_without_an_extension_close_with_1002(node: Node, port: str, frame: ABNF) -> None:
    def run() -> int:
        with client(node, port) as ws:
            send_raw(ws, frame)
            return close_code(ws)

    assert await asyncio.to_thread(run) == 1002
    await eventually(lambda: topics_of(node).subscribers == 0)
    assert topics_of(node).subscriptions == 0


@pytest.mark.parametrize("size", [5, 300, 70_000], ids=["short", "16-bit-length", "64-bit-length"])
async def test_unmasked_client_frames_close_with_1002(make_node: NodeFactory, port: str, size: int) -> None:
    node = await make_node(ws_max_frame_bytes=128 * 1024)

    def run() -> int:
        with client(node, port) as ws:
            ws.send("155-questions-active")  # masked: fine
            unmasked = ABNF(fin=1, opcode=ABNF.OPCODE_TEXT, mask_value=0, data="1-question-" + "x" * size)
            send_raw(ws, unmasked)
            return close_code(ws)

    assert await asyncio.to_thread(run) == 1002
    await eventually(lambda: topics_of(node).subscribers == 0)
    assert topics_of(node).topic_subscribers("1-question-" + "x" * size) == []


async def test_masked_frames_of_every_length_pass(make_node: NodeFactory, port: str) -> None:
    """The mask check follows frame boundaries across 7-, 16- and 64-bit lengths, control frames
    between them, and frames split over many writes."""
    node = await make_node(ws_max_frame_bytes=128 * 1024)
    publisher = await publisher_for(node)
    topics = [f"{n}-" + "x" * size for n, size in enumerate((3, 123, 124, 200, 65_530, 65_534, 100_000))]

    def run() -> str:
        with client(node, port) as ws:
            for topic in topics:
                data = ABNF.create_frame(topic, ABNF.OPCODE_TEXT).format()
                for start in range(0, len(data), 7_000):
                    ws.sock.sendall(data[start : start + 7_000])
                ws.ping("are you there")
            ws.send(MARK)
            return str(ws.recv())

    consumer = asyncio.create_task(asyncio.to_thread(run))
    await subscribed(node, MARK)
    assert await publisher.publish(MARK, {"mark": True}) == 1
    async with asyncio.timeout(TIMEOUT):
        assert await consumer == wire(MARK, {"mark": True})


async def test_deeply_nested_json_is_ignored_and_the_socket_stays_open(
    node: Node, port: str, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = await publisher_for(node)
    caplog.set_level(logging.INFO)

    def run() -> str:
        with client(node, port) as ws:
            ws.send('{"action":"hb","data":' + "[" * 30_000 + "]" * 30_000 + "}")
            ws.send("{" * 60_000)
            ws.send("155-questions-active")
            return str(ws.recv())

    consumer = asyncio.create_task(asyncio.to_thread(run))
    await subscribed(node, "155-questions-active")
    assert await publisher.publish("155-questions-active", QUESTION) == 1
    async with asyncio.timeout(TIMEOUT):
        assert await consumer == wire("155-questions-active", QUESTION)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def stalled_client(node: Node, port: str) -> websocket.WebSocket:
    """A client with a tiny receive buffer that subscribes and then does not read."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port_number(node, port)}/",
        timeout=TIMEOUT,
        sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),),
    )
    ws.send("155-questions-active")
    return ws


def frames_until_close(ws: websocket.WebSocket) -> tuple[int, int]:
    """Read everything: how many text frames came before the close frame, and its code."""
    texts = 0
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == ABNF.OPCODE_TEXT:
            texts += 1
        elif opcode == ABNF.OPCODE_CLOSE:
            (code,) = struct.unpack("!H", frame.data[:2])
            return texts, int(code)


async def test_a_dropped_slow_consumer_receives_1008(make_node: NodeFactory, port: str) -> None:
    """The close frame is written behind what was queued, so a client that reads again gets 1008."""
    node = await make_node(ws_send_buffer_bytes=32 * 1024, ws_socket_send_buffer_bytes=16 * 1024)
    publisher: Publisher = await publisher_for(node)
    ws = await asyncio.to_thread(stalled_client, node, port)
    try:
        await subscribed(node, "155-questions-active")
        item = dict(QUESTION, bodySummary="x" * 4000)
        published = 0
        while topics_of(node).subscribers:  # until the server gives up on it
            assert published < 1000, "the slow consumer was never dropped"
            await publisher.publish("155-questions-active", dict(item, id=published))
            published += 1
        texts, code = await asyncio.to_thread(frames_until_close, ws)
    finally:
        ws.close()
    assert code == 1008
    assert 0 < texts <= published
