"""Comet polls served below aiohttp (web/poll_connections.py), attacked over raw TCP.

Each test speaks HTTP/1.1 by hand on one socket, so it controls exactly what a connection
carries: several polls kept alive, a poll then another request (handed to aiohttp with its
bytes), heads split byte by byte, malformed, oversized or never finished, clients that vanish
while their poll is held, the per-address cap, and a shutdown with polls held.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from hubbub.core.ids import UserId
from hubbub.web.poll_connections import MAX_HEAD_BYTES
from tests.conftest import PASSWORD, Node, NodeFactory
from tests.dialects.comet.driver import FacebookChat
from tests.fakes import TIMEOUT, eventually

LONG_HOLD = {"comet_poll_timeout_min": 30.0, "comet_poll_timeout_max": 30.0}


@dataclass
class Poller:
    node: Node
    chat: FacebookChat
    token: str

    @property
    def uid(self) -> int:
        return self.chat.uid

    def head(self, seq: int, *, version: str = "1.1", extra: str = "") -> bytes:
        cookie = f"acct={self.token}; c_user={self.uid}"
        return (
            f"GET /x/0/false/p_{self.uid}={seq} HTTP/{version}\r\nHost: 0.channel01.example.invalid\r\n"
            f"Cookie: {cookie}\r\n{extra}\r\n"
        ).encode()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self.node.base)
        assert parts.hostname is not None and parts.port is not None
        return await asyncio.open_connection(parts.hostname, parts.port)


async def _poller(node: Node, name: str) -> Poller:
    user = await node.user(name)
    assert user.email is not None
    chat = FacebookChat(node.base, user.email, PASSWORD)
    await chat.login()
    token = next(c.value for c in chat.agent.cookie_jar if c.key == "acct")
    return Poller(node, chat, token)


@pytest.fixture
async def pair(make_node: NodeFactory) -> AsyncIterator[tuple[Poller, Poller]]:
    node = await make_node(**LONG_HOLD)
    alice, bob = await _poller(node, "Alice Smith"), await _poller(node, "Bob Jones")
    await node.service.contacts.link(UserId(alice.uid), UserId(bob.uid))
    yield alice, bob
    await alice.chat.close()
    await bob.chat.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    async with asyncio.timeout(TIMEOUT):
        status_line = await reader.readline()
        assert status_line, "the connection closed without an answer"
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def _answer(body: bytes) -> dict[str, object]:
    assert body.startswith(b"for (;;);")
    value = json.loads(body[len(b"for (;;);") :])
    assert isinstance(value, dict)
    return value


async def _closed(reader: asyncio.StreamReader) -> bool:
    async with asyncio.timeout(TIMEOUT):
        return await reader.read() == b""


def _waiting(node: Node) -> int:
    assert node.runtime.channel_waiters is not None
    return node.runtime.channel_waiters.waiting


def _held(node: Node) -> int:
    assert node.runtime.poll_port is not None
    return len(node.runtime.poll_port.holds)


def _open_poll_connections(node: Node) -> int:
    assert node.runtime.poll_port is not None
    return len(node.runtime.poll_port.open)


async def test_polls_on_one_kept_alive_connection_refresh_wait_and_deliver(pair: tuple[Poller, Poller]) -> None:
    alice, bob = pair
    reader, writer = await bob.connect()
    writer.write(bob.head(-1))
    status, headers, body = await _response(reader)
    assert (status, _answer(body)) == (200, {"t": "refresh", "seq": 0})
    assert headers["content-type"] == "application/x-javascript; charset=utf-8"
    assert headers["cache-control"] == "no-cache, no-store" and headers["x-content-type-options"] == "nosniff"
    assert _open_poll_connections(bob.node) >= 1  # served here, not by aiohttp

    writer.write(bob.head(0))  # the same connection, now held
    await eventually(lambda: _waiting(bob.node) == 1)
    await alice.chat.send_message(bob.uid, "over the kept-alive poll")
    _, _, body = await _response(reader)
    answer = _answer(body)
    assert answer["t"] == "msg"
    ms = answer["ms"]
    assert isinstance(ms, list) and ms[0]["msg"]["text"] == "over the kept-alive poll"
    assert _waiting(bob.node) == 0  # the slot is given back with the answer
    writer.close()


async def test_another_request_after_a_poll_is_handed_to_aiohttp_with_its_bytes(pair: tuple[Poller, Poller]) -> None:
    _, bob = pair
    reader, writer = await bob.connect()
    writer.write(bob.head(-1))
    assert _answer((await _response(reader))[2]) == {"t": "refresh", "seq": 0}
    before = _open_poll_connections(bob.node)
    # The next request is no poll: aiohttp answers it on the same connection ...
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _, body = await _response(reader)
    assert status == 200 and body
    assert _open_poll_connections(bob.node) == before - 1
    # ... and every later one, polls included (aiohttp's route, the same rules).
    writer.write(bob.head(-1))
    status, headers, body = await _response(reader)
    assert (status, _answer(body)) == (200, {"t": "refresh", "seq": 0})
    assert headers["cache-control"] == "no-cache, no-store"
    writer.close()


async def test_a_head_split_byte_by_byte_and_a_pipelined_request_behind_a_held_poll(
    pair: tuple[Poller, Poller],
) -> None:
    alice, bob = pair
    reader, writer = await bob.connect()
    for byte in bob.head(0):
        writer.write(bytes([byte]))
        await writer.drain()
    await eventually(lambda: _waiting(bob.node) == 1)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # pipelined behind the held poll
    await alice.chat.send_message(bob.uid, "first")
    assert _answer((await _response(reader))[2])["t"] == "msg"
    status, _, _ = await _response(reader)  # then the pipelined request, in order
    assert status == 200
    writer.close()


async def test_a_request_written_right_behind_a_poll_waits_for_it(pair: tuple[Poller, Poller]) -> None:
    alice, bob = pair
    reader, writer = await bob.connect()
    writer.write(bob.head(0))
    await writer.drain()
    writer.write(bob.head(-1))  # a second poll, pipelined in a segment of its own
    await eventually(lambda: _waiting(bob.node) == 1)  # one poll held, the other behind it
    await alice.chat.send_message(bob.uid, "for the first poll")
    assert _answer((await _response(reader))[2])["t"] == "msg"
    assert _answer((await _response(reader))[2]) == {"t": "refresh", "seq": 1}  # then the second, in order
    assert _waiting(bob.node) == 0
    writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /x/0/false/p_1=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 400),
        (b"GET /x/0/false/p_1=0 HTTP/1.1\r\nHost x\r\n\r\n", 400),
        (b"GET /x/0/false/p_1=0 HTTP/1.1\r\nX-Pad: " + b"a" * (MAX_HEAD_BYTES + 10), 431),
    ],
    ids=["a-body", "a-broken-header", "a-head-too-large"],
)
async def test_bad_heads_are_answered_and_closed_and_hold_nothing(
    pair: tuple[Poller, Poller], request_bytes: bytes, status: int
) -> None:
    _, bob = pair
    reader, writer = await bob.connect()
    writer.write(request_bytes)
    assert (await _response(reader))[0] == status
    assert await _closed(reader)
    assert _waiting(bob.node) == 0
    writer.close()


async def test_a_poll_that_is_not_signed_in_is_told_to_refresh(pair: tuple[Poller, Poller]) -> None:
    alice, bob = pair
    reader, writer = await bob.connect()
    other = bob.head(0).replace(f"c_user={bob.uid}".encode(), f"c_user={alice.uid}".encode())
    writer.write(other)  # the c_user cookie is someone else's
    assert _answer((await _response(reader))[2]) == {"t": "refresh"}
    writer.write(b"GET /x/0/false/p_1=0 HTTP/1.1\r\nHost: x\r\n\r\n")  # no cookie at all
    assert _answer((await _response(reader))[2]) == {"t": "refresh"}
    assert _waiting(bob.node) == 0
    writer.close()


async def test_a_cookie_another_application_set_does_not_sign_the_poll_out(pair: tuple[Poller, Poller]) -> None:
    _, bob = pair
    reader, writer = await bob.connect()
    writer.write(bob.head(-1).replace(b"Cookie: ", b"Cookie: theme=dark mode; "))  # SimpleCookie gave up here
    assert _answer((await _response(reader))[2]) == {"t": "refresh", "seq": 0}  # signed in: told the sequence
    writer.close()


@pytest.mark.parametrize(("version", "extra"), [("1.0", ""), ("1.1", "Connection: close\r\n")])
async def test_polls_that_ask_to_close_are_answered_and_closed(
    pair: tuple[Poller, Poller], version: str, extra: str
) -> None:
    _, bob = pair
    reader, writer = await bob.connect()
    writer.write(bob.head(-1, version=version, extra=extra))
    _, headers, body = await _response(reader)
    assert headers["connection"] == "close" and _answer(body)["t"] == "refresh"
    assert await _closed(reader)
    writer.close()


async def test_clients_that_vanish_while_held_give_their_slots_back_at_once(pair: tuple[Poller, Poller]) -> None:
    _, bob = pair
    writers = []
    for _ in range(20):
        _, writer = await bob.connect()
        writer.write(bob.head(0))
        writers.append(writer)
    bound = bob.node.runtime.settings.comet_max_waiters_per_user
    await eventually(lambda: _waiting(bob.node) == min(20, bound))
    started = time.monotonic()
    for writer in writers:
        writer.transport.abort()
    await eventually(lambda: _waiting(bob.node) == 0 and _open_poll_connections(bob.node) == 0)
    assert time.monotonic() - started < LONG_HOLD["comet_poll_timeout_min"]  # not at the end of the hold


async def test_unfinished_heads_and_idle_connections_are_closed_in_time(make_node: NodeFactory) -> None:
    node = await make_node(http_head_timeout=0.5, http_keepalive_timeout=0.5, **LONG_HOLD)
    bob = await _poller(node, "Bob Jones")
    reader, writer = await bob.connect()
    writer.write(bob.head(-1)[:30])  # part of a poll's head, then nothing (slowloris)
    status, _, _ = await _response(reader)
    assert status == 408 and await _closed(reader)
    reader, writer = await bob.connect()
    writer.write(bob.head(-1))
    assert _answer((await _response(reader))[2])["t"] == "refresh"
    assert await _closed(reader)  # kept alive, then idle past the keep-alive limit
    await bob.chat.close()


async def test_the_per_address_cap_counts_poll_connections(make_node: NodeFactory) -> None:
    node = await make_node(http_max_connections_per_ip=3, **LONG_HOLD)
    bob = await _poller(node, "Bob Jones")
    await bob.chat.close()  # its own pooled connections count too
    await eventually(lambda: _open_poll_connections(node) == 0)
    held = []
    for _ in range(3):
        reader, writer = await bob.connect()
        writer.write(bob.head(0))
        held.append((reader, writer))
    await eventually(lambda: _waiting(node) == 3)
    reader, writer = await bob.connect()
    status, _, _ = await _response(reader)
    assert status == 503
    for _, held_writer in held:
        held_writer.transport.abort()
    await eventually(lambda: _waiting(node) == 0)
    reader, writer = await bob.connect()  # room again
    writer.write(bob.head(-1))
    assert _answer((await _response(reader))[2])["t"] == "refresh"
    writer.close()


async def test_a_shutdown_does_not_wait_for_held_polls(make_node: NodeFactory) -> None:
    node = await make_node(**LONG_HOLD)
    bob = await _poller(node, "Bob Jones")
    await bob.chat.close()
    connections = []
    for _ in range(5):
        reader, writer = await bob.connect()
        writer.write(bob.head(0))
        connections.append((reader, writer))  # a writer left to the collector closes its socket
    await eventually(lambda: _waiting(node) == 5)
    started = time.monotonic()
    await node.runtime.stop()
    assert time.monotonic() - started < LONG_HOLD["comet_poll_timeout_min"]
    for reader, _ in connections:
        assert await _closed(reader)


# Tracked objects per held poll on asyncio's own loop (Python 3.11), everything the server keeps
# for it counted: 22.3 when each poll had its own timer, wake-up callback and state object and
# each connection a budget slot, 15.3 since (web/poll_holds.py, fanout/channels.py sleepers).
# Most of what is left is the connection's: the loop's transport, selector key and handle, the
# socket, the counting wrapper, the PollConnection and the ChannelPoll it reuses. Each new
# object per poll would be 10,000 more for every full collection at 10,000 held polls.
OBJECTS_PER_HELD_POLL = 16.0


async def test_held_polls_keep_few_objects_for_the_garbage_collector(make_node: NodeFactory) -> None:
    polls = 200
    node = await make_node(
        comet_max_waiters_per_user=polls, http_max_connections_per_ip=0, http_head_timeout=0, **LONG_HOLD
    )
    bob = await _poller(node, "Bob Jones")
    await bob.chat.close()
    parts = urlsplit(node.base)
    address = (parts.hostname, parts.port)
    warm = socket.create_connection(address)  # first uses (the session, presence) are not counted
    warm.sendall(bob.head(0))
    await eventually(lambda: _held(node) == 1)
    warm.close()
    await eventually(lambda: _waiting(node) == 0 and _open_poll_connections(node) == 0)
    clients = [socket.socket() for _ in range(polls)]  # made before counting
    gc.collect()
    before = len(gc.get_objects())
    for client in clients:
        client.connect(address)  # loopback: completed in the kernel's backlog, accepted below
        client.sendall(bob.head(0))
    await eventually(lambda: _held(node) == polls)  # every first read done: only the holds are left
    gc.collect()
    per_poll = (len(gc.get_objects()) - before) / polls
    for client in clients:
        client.close()
    assert per_poll <= OBJECTS_PER_HELD_POLL
