"""The SDK's contacts and direct conversations against a live node: request/accept, send both
ways, history, typing, and streams that resume exactly once across cut polls."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hubbub.client import Client, DirectEvent, DirectStream
from hubbub.core.ids import UserId
from hubbub.errors import NotAllowed, NotFound
from tests.client.conftest import SignIn
from tests.conftest import PASSWORD, Node
from tests.fakes import TIMEOUT, eventually


async def _messages(stream: DirectStream, count: int) -> list[DirectEvent]:
    found: list[DirectEvent] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in stream:
            if event.kind == "message":
                found.append(event)
                if len(found) == count:
                    return found
    raise AssertionError("the stream ended")


async def _pair(node: Node, sign_in: SignIn) -> tuple[Client, Client]:
    alice, bob = await sign_in(node, "Alice"), await sign_in(node, "Bob")
    assert alice.user_id is not None and bob.user_id is not None
    assert await alice.request_contact(bob.user_id) == "requested"
    assert [(c.name, c.relation) for c in await bob.contacts()] == [("Alice", "incoming")]
    assert await bob.accept_contact(alice.user_id) == "contacts"
    return alice, bob


async def test_contacts_and_messages_both_ways(node: Node, sign_in: SignIn) -> None:
    alice, bob = await _pair(node, sign_in)
    assert alice.user_id is not None and bob.user_id is not None
    to_bob, to_alice = await alice.direct(bob.user_id), await bob.direct(alice.user_id)
    bob_stream, alice_stream = to_alice.events(), to_bob.events()
    # Both streams start where the log stood when the conversations were opened.
    sent = await to_bob.send("hello *Bob*")
    assert sent.html == "hello <i>Bob</i>" and sent.sender_id == alice.user_id
    answer = await to_alice.send("hi Alice")
    received = await _messages(bob_stream, 2)
    assert [e.message.text for e in received if e.message] == ["hello *Bob*", "hi Alice"]
    assert [e.message.id for e in await _messages(alice_stream, 2) if e.message] == [sent.id, answer.id]
    contacts = await bob.contacts()
    assert [(c.name, c.relation, c.unread) for c in contacts] == [("Alice", "contacts", 1)]
    assert await to_alice.mark_read() == answer.id  # through the newest message of the two
    assert [m.text for m in await to_bob.history()] == ["hello *Bob*", "hi Alice"]
    assert [m.text for m in await to_bob.history(before=answer.id)] == ["hello *Bob*"]
    await to_bob.typing(True)
    for stream in (bob_stream, alice_stream):
        await stream.aclose()


async def test_refusals_are_typed_and_store_nothing(node: Node, sign_in: SignIn) -> None:
    alice, bob = await sign_in(node, "Alice"), await sign_in(node, "Bob")
    assert bob.user_id is not None
    before = await node.service.queries.last_event_id()
    with pytest.raises(NotAllowed):
        await (await alice.direct(bob.user_id)).send("not yet")
    with pytest.raises(NotFound):
        await (await alice.direct(999_999)).send("nobody")
    with pytest.raises(NotFound):
        await alice.accept_contact(bob.user_id)
    assert await node.service.queries.last_event_id() == before


class CutProxy:
    """A loopback TCP relay to the node whose connections the test can cut, like a dead network."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.writers: set[asyncio.StreamWriter] = set()
        self.cuts = 0
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, upstream_writer}
        self.connections += 1

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.writers -= {writer, upstream_writer}

    def cut(self) -> None:
        self.cuts += 1
        for writer in list(self.writers):
            writer.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_stream_resumes_exactly_once_across_cut_polls(node: Node, sign_in: SignIn) -> None:
    alice = await sign_in(node, "Alice")
    second = await node.user("Bob")
    assert alice.user_id is not None and second.email is not None
    await node.service.contacts.link(UserId(alice.user_id), UserId(second.id))
    proxy = CutProxy(node.runtime.http_port)
    async with Client(f"http://127.0.0.1:{await proxy.start()}") as bob:
        await bob.login(second.email, PASSWORD)
        to_bob = await alice.direct(second.id)
        stream = (await bob.direct(alice.user_id)).events()
        await to_bob.send("m0")
        assert [e.message.text for e in await _messages(stream, 1) if e.message] == ["m0"]
        # Cuts while the stream waits, and between messages: every message arrives once, in order.
        waiting = asyncio.create_task(_messages(stream, 10))
        polls, connections = stream.polls, proxy.connections
        watch = node.runtime.direct_watch
        assert watch is not None
        for n in range(1, 11):
            if n % 3 == 0:
                await eventually(lambda: watch.waiting == 1)  # Bob's poll is held: cut it
                proxy.cut()
            await to_bob.send(f"m{n}")
        texts = [e.message.text for e in await waiting if e.message]
        assert texts == [f"m{n}" for n in range(1, 11)]
        # Each cut dropped a held poll: it was asked again on a new connection (by aiohttp's own
        # retry of an idempotent request, or by the stream: failed_polls).
        assert stream.polls > polls and proxy.cuts == 3 and proxy.connections >= connections + 3
        # A new stream from a saved id gives exactly what followed it.
        saved = stream.last_event_id
        await stream.aclose()
        await to_bob.send("after")
        again = (await bob.direct(alice.user_id)).events(since=saved)
        assert [e.message.text for e in await _messages(again, 1) if e.message] == ["after"]
        await again.aclose()
    await proxy.close()
