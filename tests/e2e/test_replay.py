"""One view of the log for the sechat socket and ``POST /events`` (issue 8: "misses nothing, sees nothing twice").

A ping from one room reached the socket under every room of its target, but polling
those rooms did not return it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from tests.conftest import Browser, Node
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
