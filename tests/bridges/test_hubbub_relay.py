"""Two hubbub servers: a stream on one relays a room on the other, both ways, once, without echo loops.

Node A has the stream; node B has the room. The stream's hubbub account logs into B as a
relay user through the SDK (bridges/hubbub.py). Lines said in B's room appear on A's
stream sockets as that network's messages; lines a streamer writes through the account
appear in B's room, once, and come back to the stream once (B shows the relay's own
posts like anyone's); nothing read from B is ever written back to it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from hubbub.core.ids import RoomId, UserId
from tests.conftest import PASSWORD, Node, NodeFactory
from tests.dialects.streams.helpers import StreamsUser, receive, send, streams_user
from tests.fakes import TIMEOUT, eventually


async def _room_texts(node: Node, room: RoomId) -> list[str]:
    messages = await node.service.context.store.read(lambda tx: tx.recent_messages(room, limit=500))
    return [m.source for m in messages]


async def _relay_setup(
    make_node: NodeFactory, **a_settings: Any
) -> tuple[Node, Node, StreamsUser, int, int, RoomId, Any]:
    # Two servers, each with a database of its own (on PostgreSQL runs, B still gets a SQLite file).
    a, b = await make_node(**a_settings), await make_node(database="")
    relay = await b.user("Relay Bot")
    alice = await b.user("Alice")
    room = await b.room("Stream Chat")
    john = await streams_user(a, "John")
    settings = {"base_url": b.base, "room_id": str(room), "email": relay.email, "password": PASSWORD}
    account = (await john.ok("POST", "/api/v1/account", {"network": "hubbub", "name": "b-room", "settings": settings}))[
        "account"
    ]
    assert "password" not in account["settings"]  # never shown back
    stream_id = (await john.ok("POST", "/api/v1/stream", {"name": "Show", "accounts": [{"id": account["id"]}]}))[
        "stream"
    ]["id"]
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
    bridges = a.runtime.bridges
    assert bridges is not None
    await eventually(lambda: any(r.ready for r in bridges.runners.values()))
    return a, b, john, stream_id, account["id"], room, alice


async def _network_lines(socket: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    while len(lines) < count:
        frame = await receive(socket)
        if frame["type"] in ("text", "emote"):
            lines.append(frame)
    return lines


async def test_a_remote_room_is_relayed_both_ways_once(make_node: NodeFactory) -> None:
    _, b, john, stream_id, account_id, room, alice = await _relay_setup(make_node)
    socket = await john.socket(stream_id)

    await b.service.messages.post(UserId(alice.id), room, "hello from B")
    [line] = await _network_lines(socket, 1)
    assert line["network"] == "hubbub" and line["account_id"] == account_id and line["stream_id"] == stream_id
    assert line["from"] == {"name": "Alice", "id": alice.id} and line["text"] == "hello from B"
    assert line["markdown"] == "hello from B"

    # Write through the account: asked for a writer, then the line, as multistreamer's client does.
    await send(socket, type="writer", account_id=account_id, cur_stream_account_id=account_id)
    assert await receive(socket) == {
        "type": "writerresult",
        "account_id": account_id,
        "cur_stream_account_id": account_id,
    }
    await send(socket, type="text", account_id=account_id, cur_stream_account_id=account_id, text="hi from A")
    [echo] = await _network_lines(socket, 1)  # B showed it: it comes back once, as B's
    assert echo["text"] == "hi from A" and echo["from"]["name"] == "Relay Bot" and echo["network"] == "hubbub"
    await eventually_texts(b, room, ["hello from B", "hi from A"])

    # A local line stays local: nothing is written to B that nobody asked to write there.
    await send(socket, type="text", account_id=0, cur_stream_account_id=0, text="only here")
    assert (await _network_lines(socket, 1))[0]["network"] == "irc"
    await b.service.messages.post(UserId(alice.id), room, "marker")
    assert (await _network_lines(socket, 1))[0]["text"] == "marker"
    assert await _room_texts(b, room) == ["hello from B", "hi from A", "marker"]  # no loop, no copies


async def eventually_texts(node: Node, room: RoomId, expected: list[str]) -> None:
    """Poll B's store (written by another node's bridge) until the room holds ``expected``."""
    async with asyncio.timeout(TIMEOUT):
        while await _room_texts(node, room) != expected:  # noqa: ASYNC110 - polling another node's store
            await asyncio.sleep(0.02)


async def test_lines_said_while_the_bridge_was_cut_arrive_once(make_node: NodeFactory) -> None:
    a, b, john, stream_id, _, room, alice = await _relay_setup(make_node)
    socket = await john.socket(stream_id)
    await b.service.messages.post(UserId(alice.id), room, "before")
    assert (await _network_lines(socket, 1))[0]["text"] == "before"
    bridges = a.runtime.bridges
    assert bridges is not None
    [runner] = bridges.runners.values()
    # Cut the bridge's socket to B repeatedly while B's room goes on talking.
    for index in range(6):
        bridge = runner.bridge
        events = getattr(bridge, "_events", None)
        if events is not None:
            await events.reconnect()
        await b.service.messages.post(UserId(alice.id), room, f"during {index}")
    await b.service.messages.post(UserId(alice.id), room, "after")
    texts = [line["text"] for line in await _network_lines(socket, 7)]
    assert texts == [f"during {i}" for i in range(6)] + ["after"]
    await b.service.messages.post(UserId(alice.id), room, "last")
    assert [line["text"] for line in await _network_lines(socket, 1)] == ["last"]  # nothing came twice


async def test_the_bridge_stops_when_the_stream_ends(make_node: NodeFactory) -> None:
    a, b, john, stream_id, _, room, alice = await _relay_setup(make_node)
    bridges = a.runtime.bridges
    assert bridges is not None
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": False})
    await eventually(lambda: not bridges.runners)
    socket = await john.socket(stream_id)
    await b.service.messages.post(UserId(alice.id), room, "nobody relays this")
    await john.ok("POST", f"/api/v1/stream/{stream_id}/msg", {"type": "text", "text": "probe"})
    assert json.dumps((await receive(socket))["text"]) == '"probe"'  # the remote line never came


async def test_the_remote_rooms_present_users_are_the_accounts_viewer_count(make_node: NodeFactory) -> None:
    _, b, john, stream_id, account_id, room, alice = await _relay_setup(make_node, streams_viewcount_interval=1.0)
    socket = await john.socket(stream_id)

    async def next_count() -> int:
        while True:
            frame = await receive(socket)
            if frame["type"] == "viewcountresult":
                assert frame["account_id"] == account_id and frame["stream_id"] == stream_id
                return int(frame["viewer_count"])

    assert await next_count() == 0  # the relay user alone is in B's room, and it does not count itself
    await b.service.messages.post(UserId(alice.id), room, "I am here")
    assert await next_count() == 1  # B's room page now shows Alice as present
    await send(socket, type="viewcount")  # asked for: the last known count, at once
    assert await next_count() == 1
