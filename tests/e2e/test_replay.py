"""Replay then live on the sechat socket, and one view of the log for the socket and ``POST /events``.

Each test reproduces a defect of issue 8 ("misses nothing, sees nothing twice") against a
running node: a ``?l=`` resume longer than one page, events committed but not yet pushed
by the hub when a socket opens, and pings from another room that the socket carried but
polling did not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from hubbub.core.events import Event
from hubbub.service.socket_tokens import SocketGrant, SocketUrlToken
from tests.conftest import Browser, Node, NodeFactory
from tests.fakes import TIMEOUT, eventually


async def _socket_url(browser: Browser, room: int) -> str:
    response = await browser.post("/ws-auth", {"roomid": room})
    assert response.status == 200, await response.text()
    return str((await response.json())["url"])


async def _post(browser: Browser, room: int, text: str) -> int:
    response = await browser.post(f"/chats/{room}/messages/new", {"text": text})
    assert response.status == 200, await response.text()
    return int((await response.json())["id"])


async def _frames_until(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while not done(frames):
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.TEXT, message
            frames.append(json.loads(message.data))
    return frames


def _ids(frames: Sequence[dict[str, Any]], room: int, event_type: int = 1) -> list[int]:
    return [
        e["message_id"] for f in frames for e in f.get(f"r{room}", {}).get("e", []) if e["event_type"] == event_type
    ]


def _event_ids(frames: Sequence[dict[str, Any]], room: int) -> list[int]:
    return [e["id"] for f in frames for e in f.get(f"r{room}", {}).get("e", [])]


async def test_a_resume_longer_than_one_page_replays_every_event(make_node: NodeFactory) -> None:
    """Issue 8.1: 700 messages while away, one page of 500: 503-703 were lost. Here 70 over pages of 20."""
    node = await make_node(poll_max_events=20)
    reader, poster = await node.signed_in("Reader"), await node.signed_in("Poster")
    room = await node.room()
    url = await _socket_url(reader, room)
    before = await node.service.queries.last_event_id()
    posted = [await _post(poster, room, f"n{n}") for n in range(70)]
    async with reader.session.ws_connect(f"{url}?l={before}") as ws:
        live = await _post(poster, room, "live")
        frames = await _frames_until(ws, lambda fs: live in _ids(fs, room))
    assert _ids(frames, room) == [*posted, live]
    assert all(len(f[f"r{room}"].get("e", [])) <= 20 for f in frames)  # every frame is one bounded page
    ids = _event_ids(frames, room)
    assert ids == sorted(set(ids)) and ids[0] == before + 1  # no repeat, and no gap from the cursor on


async def test_a_client_too_far_behind_gets_what_fits_and_a_close_saying_where_to_resume(
    make_node: NodeFactory,
) -> None:
    """Past ``sechat_replay_max_bytes`` the socket closes with 1013; reconnecting from its ``t`` loses nothing."""
    node = await make_node(poll_max_events=10, sechat_replay_max_bytes=4096)
    reader, poster = await node.signed_in("Reader"), await node.signed_in("Poster")
    room = await node.room()
    await reader.post(f"/chats/{room}/events", {})
    cursor = await node.service.queries.last_event_id()
    posted = [await _post(poster, room, f"message number {n}") for n in range(60)]
    seen: list[int] = []
    closes = 0
    for _ in range(len(posted)):
        if len(seen) == len(posted):
            break
        async with reader.session.ws_connect(f"{await _socket_url(reader, room)}?l={cursor}") as ws:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    message = await ws.receive()
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        break
                    part = json.loads(message.data)[f"r{room}"]
                    seen += [e["message_id"] for e in part.get("e", []) if e["event_type"] == 1]
                    cursor = part["t"]
                    if len(seen) == len(posted):
                        break
            if message.type is aiohttp.WSMsgType.CLOSE:
                assert message.data == 1013 and message.extra == f"replay limit reached; reconnect with l={cursor}"
                closes += 1
    assert seen == posted and closes >= 2


def _hold_publishing(node: Node) -> Callable[[], Awaitable[None]]:
    """Commit without publishing from now on (the hub lags the store); the returned call publishes."""
    bus = node.runtime.bus
    assert bus is not None
    publish = bus.publish
    held: list[Sequence[Event]] = []

    async def hold(events: Sequence[Event]) -> None:
        held.append(events)

    bus.publish = hold  # type: ignore[method-assign]

    async def release() -> None:
        bus.publish = publish  # type: ignore[method-assign]
        for events in held:
            await publish(events)

    return release


async def test_events_the_store_has_but_the_hub_has_not_pushed_are_replayed_once(node: Node) -> None:
    """Issue 8.2 with ``?l=``: frames ``[1094..1100] t=1100``, then ``[1099]``, then ``[1100]``."""
    reader, poster = await node.signed_in("Reader"), await node.signed_in("Poster")
    room = await node.room()
    await poster.post(f"/chats/{room}/events", {})
    url = await _socket_url(reader, room)
    before = await node.service.queries.last_event_id()
    first = await _post(poster, room, "delivered")
    hub, sockets = node.runtime.hub, node.runtime.sechat_sockets
    assert hub is not None and sockets is not None
    await eventually(lambda: hub.last_event_id > before)
    release = _hold_publishing(node)
    late = [await _post(poster, room, f"committed {n}") for n in range(2)]
    assert await node.service.queries.last_event_id() > hub.last_event_id  # the store is ahead of the hub
    async with reader.session.ws_connect(f"{url}?l={before}") as ws:
        await eventually(lambda: sockets.send_keepalives(0) == 1)  # the replay is over: the socket is live
        await release()
        after = await _post(poster, room, "after")
        frames = await _frames_until(ws, lambda fs: after in _ids(fs, room))
    assert _ids(frames, room) == [first, *late, after]
    ids = _event_ids(frames, room)
    assert ids == sorted(set(ids))


async def test_events_pushed_while_a_socket_without_l_is_set_up_arrive_once(node: Node) -> None:
    """Issue 8.2 without ``?l=``: the hub moves on while the socket loads its user, and the store is ahead."""
    reader, poster = await node.signed_in("Reader"), await node.signed_in("Poster")
    room = await node.room()
    await poster.post(f"/chats/{room}/events", {})
    url = await _socket_url(reader, room)
    hub, sockets = node.runtime.hub, node.runtime.sechat_sockets
    assert hub is not None and sockets is not None
    release = _hold_publishing(node)
    pushed = await _post(poster, room, "pushed while the socket is set up")
    # The socket's set-up loads its user and rooms when it opens its URL (on the gateway port,
    # right after the upgrade): hold it there.
    tokens = node.service.socket_tokens
    claim = tokens.claim
    loading, loaded = asyncio.Event(), asyncio.Event()

    async def slow_claim(token: SocketUrlToken) -> SocketGrant:
        loading.set()
        await loaded.wait()
        return await claim(token)

    tokens.claim = slow_claim  # type: ignore[method-assign]
    async with reader.session.ws_connect(url) as ws:
        async with asyncio.timeout(TIMEOUT):
            await loading.wait()
        tokens.claim = claim  # type: ignore[method-assign]
        await release()
        await eventually(lambda: hub.last_event_id >= pushed)
        release = _hold_publishing(node)
        committed = await _post(poster, room, "committed, not pushed")
        loaded.set()
        await eventually(lambda: sockets.send_keepalives(0) == 1)
        await release()
        after = await _post(poster, room, "after")
        frames = await _frames_until(ws, lambda fs: after in _ids(fs, room))
    assert _ids(frames, room) == [pushed, committed, after]
    ids = _event_ids(frames, room)
    assert ids == sorted(set(ids))


async def test_polling_shows_the_pings_the_socket_files_under_every_room(node: Node) -> None:
    """Issue 8.3: a ping in one room reached the socket under every room of its target, but not /events."""
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    room, other = await node.room(), await node.room("Other")
    await alice.post(f"/chats/{room}/events", {})  # Alice is in both rooms and pingable in the first
    await alice.post(f"/chats/{other}/events", {})
    await bob.post(f"/chats/{room}/events", {})
    url = await _socket_url(alice, room)
    before = await node.service.queries.last_event_id()
    async with alice.session.ws_connect(url) as ws:
        sockets = node.runtime.sechat_sockets
        assert sockets is not None
        await eventually(lambda: sockets.open_sockets == 1)
        ping = await _post(bob, room, "@Alice look")
        [frame] = await _frames_until(ws, bool)
    polled = json.loads(await (await alice.post("/events", {f"r{room}": before, f"r{other}": before})).read())
    for key in (f"r{room}", f"r{other}"):
        socket_view = [(e["event_type"], e["id"]) for e in frame[key]["e"]]
        poll_view = [(e["event_type"], e["id"]) for e in polled[key].get("e", [])]
        assert poll_view == socket_view, key
    assert (8, ping) in [(e["event_type"], e["message_id"]) for e in polled[f"r{other}"]["e"]]
    replay_url = await _socket_url(alice, other)
    async with alice.session.ws_connect(f"{replay_url}?l={before}") as ws:
        [replayed] = await _frames_until(ws, bool)
    for key in (f"r{room}", f"r{other}"):
        assert [e["id"] for e in replayed[key]["e"]] == [e["id"] for e in frame[key]["e"]], key
