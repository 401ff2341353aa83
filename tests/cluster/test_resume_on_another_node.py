"""A socket that resumes on a node whose hub trails the log gets each event once.

Two nodes in this process share one SQLite file but not a bus, so node B hears of
node A's events only through the store (as after a lost Redis message): B's hub
trails the log until a later event makes it fill the gap.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import Browser, NodeFactory
from tests.fakes import TIMEOUT


async def socket_url(browser: Browser, room: int) -> str:
    response = await browser.post("/ws-auth", {"roomid": room})
    assert response.status == 200, await response.text()
    return str((await response.json())["url"])


async def message_ids(ws: aiohttp.ClientWebSocketResponse, room: int, until: int) -> list[int]:
    """Message ids of posted events (type 1) in frames, in order, until message ``until`` arrives."""
    seen: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        while until not in seen:
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.TEXT, message
            part: dict[str, Any] = json.loads(message.data).get(f"r{room}", {})
            seen += [e["message_id"] for e in part.get("e", []) if e["event_type"] == 1]
    return seen


async def post(browser: Browser, room: int, text: str) -> int:
    response = await browser.post(f"/chats/{room}/messages/new", {"text": text})
    assert response.status == 200, await response.text()
    return int((await response.json())["id"])


async def test_resuming_on_a_trailing_node_repeats_nothing(make_node: NodeFactory, tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    node_a = await make_node(database=shared)
    node_b = await make_node(database=shared)  # its own in-process bus: hears A only through the store
    room = await node_a.room()
    alice = await node_a.signed_in("Alice")
    on_b = Browser(alice.session, node_b.base, alice.fkey, alice.user)  # the same session, on node B

    async with alice.session.ws_connect(await socket_url(alice, room)) as ws:
        first = await post(alice, room, "one")
        second = await post(alice, room, "two")
        assert await message_ids(ws, room, second) == [first, second]
        last_seen = node_a.runtime.hub.last_event_id if node_a.runtime.hub else 0
    assert node_b.runtime.hub is not None and node_b.runtime.hub.last_event_id < last_seen

    # Alice's client reconnects through the load balancer and lands on node B with ?l=<last id seen>.
    async with on_b.session.ws_connect(f"{await socket_url(on_b, room)}?l={last_seen}") as ws:
        third = await post(on_b, room, "three")  # B's hub now sees the gap and reads it from the store
        assert await message_ids(ws, room, third) == [third]
