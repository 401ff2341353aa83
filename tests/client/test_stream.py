"""The event stream resumes across dropped sockets: every event exactly once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubbub.client import Client, EventStream, Room, errors, events
from hubbub.client import stream as stream_module
from hubbub.client.stream import backoff_delay
from tests.client.conftest import SignIn, next_of
from tests.conftest import Node, NodeFactory
from tests.fakes import TIMEOUT, eventually


def _drop_server_side(node: Node) -> int:
    """Close every sechat socket from the server's side, as a restart or a network cut would."""
    sockets = node.runtime.sechat_sockets
    assert sockets is not None
    connections = [c for c in sockets._subscribers if not c.closed]
    for connection in connections:
        connection.close(1001, "dropped by the test")
    return len(connections)


@contextlib.asynccontextmanager
async def _watcher_and_poster(node: Node) -> AsyncIterator[tuple[Client, Client]]:
    """Two signed-in clients on ``node``: one follows a room, the other posts; both closed after."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for name in ("Watcher", "Poster"):
            user = await node.user(name)
            assert user.email is not None
            client = await stack.enter_async_context(Client(node.base))
            await client.login(user.email, "correct horse battery")
            clients.append(client)
        yield clients[0], clients[1]


async def _numbers(stream: EventStream, count: int, seen: list[int]) -> None:
    """Collect the numbers posted as messages until ``count`` arrived; anything else is skipped."""
    async for event in stream:
        if isinstance(event, events.MessageEvent) and event.text.startswith("n"):
            seen.append(int(event.text[1:]))
            if len(seen) == count:
                return


async def test_repeated_drops_while_another_client_posts(node: Node, sign_in: SignIn) -> None:
    watcher = await sign_in(node, "Watcher")
    poster = await sign_in(node, "Poster")
    room_id = await node.room()
    stream = (await watcher.join(room_id)).events()
    poster_room = await poster.join(room_id)
    total, drops = 120, 0
    seen: list[int] = []
    reader = asyncio.create_task(_numbers(stream, total, seen))
    for n in range(1, total + 1):
        await poster_room.send(f"n{n}")
        if n % 10 == 0:
            # Each cut hits a fresh socket once it has carried something (the numbers posted
            # since the last cut, caught up or live); posting goes on between cuts. A socket cut
            # before it carried anything counts as a failed connection, and the client backs
            # off longer each time (client/stream.py), which is not what this test is about.
            # The server cuts half of them, the client itself the other half.
            await eventually(lambda cut=drops, n=n: stream.connections > cut and len(seen) >= n)  # type: ignore[misc]
            if n % 20 == 0:
                await eventually(lambda: _drop_server_side(node) == 1)
            else:
                await stream.reconnect()
            drops += 1
    async with asyncio.timeout(TIMEOUT):
        await reader
    assert seen == list(range(1, total + 1))
    assert drops == 12 and stream.connections >= drops  # the last cut may come after the last number
    await stream.aclose()


async def test_events_posted_while_disconnected_come_from_the_log(make_node: NodeFactory) -> None:
    # A tiny poll page makes the catch-up take several POST /events pages.
    node = await make_node(poll_max_events=3)
    async with _watcher_and_poster(node) as (watcher, poster):
        room_id = await node.room()
        stream = (await watcher.join(room_id)).events()
        poster_room = await poster.join(room_id)
        seen: list[int] = []
        for round_start in range(0, 40, 10):
            for n in range(round_start + 1, round_start + 6):
                await poster_room.send(f"n{n}")
            async with asyncio.timeout(TIMEOUT):
                await _numbers(stream, round_start + 5, seen)
            # The consumer is not reading now: the socket is cut and more is posted meanwhile.
            await eventually(lambda: _drop_server_side(node) == 1)
            for n in range(round_start + 6, round_start + 11):
                await poster_room.send(f"n{n}")
            async with asyncio.timeout(TIMEOUT):
                await _numbers(stream, round_start + 10, seen)
        assert seen == list(range(1, 41))
        assert stream.connections >= 5
        await stream.aclose()


async def test_a_new_stream_starts_after_the_last_event_of_the_previous_one(node: Node, sign_in: SignIn) -> None:
    client = await sign_in(node, "Reader")
    room = await client.join(await node.room())
    await room.send("n1")
    first: list[int] = []
    stream = room.events()
    async with asyncio.timeout(TIMEOUT):
        await _numbers(stream, 1, first)
    await stream.aclose()
    await room.send("n2")
    second: list[int] = []
    again = room.events()
    async with asyncio.timeout(TIMEOUT):
        await _numbers(again, 1, second)
    await again.aclose()
    resumed: list[int] = []
    replay = room.events(since=stream.last_event_id)
    async with asyncio.timeout(TIMEOUT):
        await _numbers(replay, 1, resumed)
    await replay.aclose()
    assert (first, second, resumed) == ([1], [2], [2])


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff_delay(n) for n in range(12)]
    assert all(0 < d <= 30.0 for d in delays)
    assert delays[0] <= 0.1 and delays[-1] >= 15.0


async def test_a_silent_socket_is_replaced(node: Node, sign_in: SignIn) -> None:
    client = await sign_in(node, "Reader")
    room = await client.join(await node.room())
    stream = room.events(idle_timeout=0.2)  # far below the server's keep-alive interval
    seen: list[int] = []
    reader = asyncio.create_task(_numbers(stream, 2, seen))
    await room.send("n1")
    await eventually(lambda: stream.connections >= 3)
    await room.send("n2")
    async with asyncio.timeout(TIMEOUT):
        await reader
    assert seen == [1, 2]
    await stream.aclose()


async def test_a_kicked_user_gets_the_refusal_instead_of_endless_retries(node: Node, sign_in: SignIn) -> None:
    owner_client = await sign_in(node, "Owner")
    watcher = await sign_in(node, "Watcher")
    assert owner_client.user_id is not None and watcher.user_id is not None
    owner = await node.service.queries.user(owner_client.user_id)  # type: ignore[arg-type]
    assert owner is not None
    room_id = await node.room(owner=owner)
    stream = (await watcher.join(room_id)).events()
    await (await owner_client.join(room_id)).send("n1")
    async with asyncio.timeout(TIMEOUT):
        await _numbers(stream, 1, [])
    await node.service.rooms.kick(owner.id, room_id, watcher.user_id)  # type: ignore[arg-type]
    await stream.reconnect()
    with pytest.raises(errors.Kicked):
        async with asyncio.timeout(TIMEOUT):
            async for _ in stream:
                pass


async def test_events_logged_while_the_server_sets_up_a_socket_after_a_long_absence(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Events logged while the stream was away (more than one page of them) and while the
    # server sets the new socket up must all reach the stream, once, in order.
    node = await make_node(poll_max_events=3)
    async with _watcher_and_poster(node) as (watcher, poster):
        room_id = await node.room()
        stream = (await watcher.join(room_id)).events()
        poster_room = await poster.join(room_id)
        seen: list[int] = []
        await poster_room.send("n1")
        async with asyncio.timeout(TIMEOUT):
            await _numbers(stream, 1, seen)

        gate = asyncio.Event()
        queries = node.service.queries
        rooms_of = queries.rooms_of

        async def slow_rooms_of(*args: object) -> object:
            await gate.wait()  # the server is still setting the new socket up
            return await rooms_of(*args)  # type: ignore[arg-type]

        read_position = watcher.log_position

        async def position_then_more_posts(room: int) -> int:
            position = await read_position(room)
            for n in (7, 8):
                await poster_room.send(f"n{n}")
            gate.set()
            return position

        await eventually(lambda: _drop_server_side(node) == 1)
        for n in range(2, 7):  # more than one replay's worth
            await poster_room.send(f"n{n}")
        monkeypatch.setattr(queries, "rooms_of", slow_rooms_of)
        monkeypatch.setattr(watcher, "log_position", position_then_more_posts)
        reader = asyncio.create_task(_numbers(stream, 9, seen))
        await eventually(gate.is_set)
        monkeypatch.undo()
        await poster_room.send("n9")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TIMEOUT / 2):
                await asyncio.shield(reader)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        assert seen == list(range(1, 10))  # before the fix: n8 (logged during the set-up) never came
        await stream.aclose()


async def test_a_timeout_around_one_step_neither_ends_nor_skips(node: Node, sign_in: SignIn) -> None:
    client = await sign_in(node, "Reader")
    room = await client.join(await node.room())
    stream = room.events()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(stream), 0.2)  # a quiet room: the step is cancelled
    await room.send("n1")
    await room.send("n2")
    seen: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        await _numbers(stream, 2, seen)  # before the fix: the stream had silently ended
    assert seen == [1, 2]
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_closing_the_client_ends_a_stream_another_task_reads(node: Node, sign_in: SignIn) -> None:
    client = await sign_in(node, "Reader")
    room = await client.join(await node.room())
    stream = room.events()
    seen: list[int] = []
    reader = asyncio.create_task(_numbers(stream, 2, seen))
    await room.send("n1")
    await eventually(lambda: seen == [1])
    await client.close()
    async with asyncio.timeout(TIMEOUT):
        await reader  # ends quietly; before the fix: NotLoggedIn from a reconnect on a new session
    assert client._session is None  # no session was opened again behind the closed one
    assert node.runtime.sechat_sockets is not None
    await eventually(lambda: node.runtime.sechat_sockets.open_sockets == 0)  # type: ignore[union-attr]


async def test_leaving_an_async_for_early_leaves_nothing_open(node: Node, sign_in: SignIn) -> None:
    client = await sign_in(node, "Reader")
    room = await client.join(await node.room())
    await room.send("n1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        async for event in room.events():  # no handle kept: only closing the client can end it
            if isinstance(event, events.MessageEvent):
                break
        await client.close()
        gc.collect()
        await asyncio.sleep(0.05)
        gc.collect()
    # Before the fix: aiohttp's "Unclosed connection" for the socket the stream left open.
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_a_catch_up_longer_than_its_page_budget_goes_on_over_a_new_socket(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "MAX_GAP_PAGES", 1)  # one page of 3 per connection
    node = await make_node(poll_max_events=3)
    async with _watcher_and_poster(node) as (watcher, poster):
        room_id = await node.room()
        stream = (await watcher.join(room_id)).events()
        poster_room = await poster.join(room_id)
        seen: list[int] = []
        await poster_room.send("n1")
        async with asyncio.timeout(TIMEOUT):
            await _numbers(stream, 1, seen)
        await eventually(lambda: _drop_server_side(node) == 1)
        for n in range(2, 9):
            await poster_room.send(f"n{n}")
        reader = asyncio.create_task(_numbers(stream, 9, seen))
        await eventually(lambda: stream.connections >= 2)
        await asyncio.sleep(0.2)
        await poster_room.send("n9")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TIMEOUT / 2):
                await asyncio.shield(reader)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        assert seen == list(range(1, 10))  # before the fix: n5 to n8 were skipped
        await stream.aclose()


def test_a_batch_yields_each_event_id_once_and_only_this_rooms() -> None:
    stream = Room(Client("http://127.0.0.1:1"), 1, joined_at=0).events(since=10)

    def record(event_id: int, room_id: int, kind: int = 1) -> dict[str, object]:
        return {"event_type": kind, "id": event_id, "room_id": room_id, "user_id": 5, "message_id": event_id}

    reply_elsewhere = record(13, 2, kind=18) | {"content": "hi", "target_user_id": 7}
    batch = [record(12, 1), record(9, 1), record(11, 1), record(12, 1), reply_elsewhere, record(11, 1)]
    for item in batch:
        item.setdefault("content", "x")
    # Before the fix: 11 and 12 came twice when a batch carried their records twice.
    assert [e.id for e in stream._accept(batch)] == [11, 12]


async def test_a_client_closed_while_a_stream_reconnects_opens_no_session_again(
    node: Node, sign_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await sign_in(node, "Reader")
    room = await client.join(await node.room())
    stream = room.events()
    seen: list[int] = []
    reader = asyncio.create_task(_numbers(stream, 2, seen))
    await room.send("n1")
    await eventually(lambda: seen == [1])
    post_form = client.post_form
    closing: list[asyncio.Task[None]] = []

    async def close_during_ws_auth(path: str, *args: Any, **kwargs: Any) -> str:
        body = await post_form(path, *args, **kwargs)
        if path == "/ws-auth":
            closing.append(asyncio.create_task(client.close()))
            await closing[0]  # the client is closed before the socket is opened
        return body

    monkeypatch.setattr(client, "post_form", close_during_ws_auth)
    await stream.reconnect()
    async with asyncio.timeout(TIMEOUT):
        await reader
    # Before the fix: the socket was opened on a new session, which nothing ever closed.
    assert closing and client._session is None


async def test_a_catch_up_page_that_is_not_json_is_retried_not_fatal(
    node: Node, sign_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await sign_in(node, "Reader")
    room = await client.join(await node.room())
    stream = room.events()
    await room.send("n1")
    post_form = client.post_form
    garbled: list[str] = []

    async def one_garbled_page(path: str, *args: Any, **kwargs: Any) -> str:
        body = await post_form(path, *args, **kwargs)
        if path == "/events" and not garbled:
            garbled.append(body)
            return "<html>502 Bad Gateway</html>"  # as a proxy in between might answer, with a 200
        return body

    monkeypatch.setattr(client, "post_form", one_garbled_page)
    seen: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        await _numbers(stream, 1, seen)  # before the fix: JSONDecodeError ended the stream
    assert garbled and seen == [1]
    await stream.aclose()


async def test_a_reply_in_one_room_reaches_only_that_rooms_stream_once(node: Node, sign_in: SignIn) -> None:
    # The socket and POST /events file a reply to Alice under every room she is in; each room's
    # stream keeps only the replies of its own room.
    alice = await sign_in(node, "Alice")
    bob = await sign_in(node, "Bob")
    first, second = await node.room("First"), await node.room("Second")
    alice_first, alice_second = await alice.join(first), await alice.join(second)
    bob_second = await bob.join(second)
    in_first, in_second = alice_first.events(), alice_second.events()
    await alice_first.send("n0")
    await next_of(in_first, events.MessageEvent)
    mine = await alice_second.send("mine")
    await next_of(in_second, events.MessageEvent)
    live = await bob_second.reply(mine, "live reply")
    await eventually(lambda: _drop_server_side(node) == 2)
    missed = await bob_second.reply(mine, "reply while away")
    marker = await alice_first.send("n1")  # ends what the first room's stream has to show
    got_first: list[tuple[type, int]] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in in_first:
            got_first.append((type(event), getattr(event, "message_id", 0)))
            if getattr(event, "message_id", 0) == marker:
                break
    assert got_first == [(events.MessageEvent, marker)]
    got_second: list[tuple[type, int]] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in in_second:
            got_second.append((type(event), getattr(event, "message_id", 0)))
            if len(got_second) == 4:
                break
    assert sorted(got_second, key=lambda pair: (pair[1], pair[0].__name__)) == [
        (events.MessageEvent, live),
        (events.ReplyEvent, live),
        (events.MessageEvent, missed),
        (events.ReplyEvent, missed),
    ]
    await in_first.aclose()
    await in_second.aclose()
