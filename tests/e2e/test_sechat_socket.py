"""The sechat event socket over real websockets (gateway port and HTTP port)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from base64 import b64encode
from typing import Any

import aiohttp
import pytest

from tests.conftest import Browser, Node, NodeFactory
from tests.fakes import TIMEOUT, eventually


async def _socket_url(browser: Browser, room: int) -> str:
    response = await browser.post("/ws-auth", {"roomid": room})
    assert response.status == 200, await response.text()
    return str((await response.json())["url"])


async def _next_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.TEXT, message
    frame = json.loads(message.data)
    assert isinstance(frame, dict)
    return frame


async def _next_events(ws: aiohttp.ClientWebSocketResponse, room: int) -> list[dict[str, Any]]:
    """The events of the next frame that carries any for ``room`` (keep-alives skipped)."""
    while True:
        part = (await _next_frame(ws)).get(f"r{room}", {})
        if part.get("e"):
            return list(part["e"])


async def _post(browser: Browser, room: int, text: str) -> int:
    response = await browser.post(f"/chats/{room}/messages/new", {"text": text})
    return int((await response.json())["id"])


async def test_posted_edited_and_deleted_arrive_live(node: Node) -> None:
    watcher = await node.signed_in("Watcher")
    poster = await node.signed_in("Poster")
    room = await node.room()
    client = await node.browser()  # no cookies on the socket, as ChatExchange and sechat 1.x connect
    async with client.session.ws_connect(await _socket_url(watcher, room)) as ws:
        message = await _post(poster, room, "hello **all**")
        events = await _next_events(ws, room)
        if events[0]["event_type"] == 3:  # the poster entering the room comes first
            events = events[1:] or await _next_events(ws, room)
        assert events == [
            {
                "event_type": 1,
                "time_stamp": int(node.clock.now()),
                "content": "hello <b>all</b>",
                "id": events[0]["id"],
                "user_id": poster.user.id if poster.user else 0,
                "user_name": "Poster",
                "room_id": room,
                "room_name": "Sandbox",
                "message_id": message,
            }
        ]
        await poster.post(f"/messages/{message}", {"text": "hello everyone"})
        [edited] = await _next_events(ws, room)
        assert (edited["event_type"], edited["content"], edited["message_edits"]) == (2, "hello everyone", 1)
        await poster.post(f"/messages/{message}/delete")
        [deleted] = await _next_events(ws, room)
        assert deleted["event_type"] == 10 and "content" not in deleted and deleted["message_id"] == message


async def test_a_reply_arrives_in_the_same_frame_as_its_message(node: Node) -> None:
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    room = await node.room()
    other = await node.room("Other")
    question = await _post(alice, room, "question?")
    await bob.post(f"/chats/{room}/events", {})  # Bob enters first, so his reply is a batch of its own
    await alice.post("/ws-auth", {"roomid": other})
    async with alice.session.ws_connect(await _socket_url(alice, room)) as ws:
        await _post(bob, room, f":{question} answer")
        frame = await _next_frame(ws)
        assert [e["event_type"] for e in frame[f"r{room}"]["e"]] == [18, 1]
        reply = frame[f"r{room}"]["e"][0]
        assert reply["target_user_id"] == (alice.user.id if alice.user else 0)
        assert reply["parent_id"] == question and reply["show_parent"] is True
        assert [e["event_type"] for e in frame[f"r{other}"]["e"]] == [18]


async def test_idle_sockets_get_keepalive_frames(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    async with bot.session.ws_connect(await _socket_url(bot, room)) as ws:
        await eventually(
            lambda: node.runtime.sechat_sockets is not None and node.runtime.sechat_sockets.open_sockets == 1
        )
        assert node.runtime.sechat_sockets is not None and node.runtime.hub is not None
        assert node.runtime.sechat_sockets.send_keepalives(0) == 1
        frame = await _next_frame(ws)
        assert frame == {f"r{room}": {"t": node.runtime.hub.last_event_id, "d": 0}}


async def test_l_replays_from_an_event_id_and_ignores_unix_times(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    url = await _socket_url(bot, room)
    first = await _post(bot, room, "one")
    await _post(bot, room, "two")
    async with bot.session.ws_connect(url + "?l=1") as ws:
        replayed = await _next_events(ws, room)
        assert [e.get("message_id") for e in replayed if e["event_type"] == 1] == [first, first + 1]
    async with bot.session.ws_connect(await _socket_url(bot, room) + f"?l={int(node.clock.now())}") as ws:
        third = await _post(bot, room, "three")
        assert [e["message_id"] for e in await _next_events(ws, room)] == [third]


async def test_refused_upgrades(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    url = await _socket_url(bot, room)
    base = url.rsplit("/", 3)[0]
    token = url.rsplit("/", 1)[1]
    cases = [
        (f"{base}/events/{room}/not-a-token", 403),
        (f"{base}/events/{room + 1}/{token}", 403),
        (f"{base}/elsewhere", 404),
    ]
    for target, status in cases:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await bot.session.ws_connect(target)
        assert refused.value.status == status
    node.clock.advance(node.service.settings.ws_token_ttl_seconds + 1)
    with pytest.raises(aiohttp.WSServerHandshakeError) as expired:
        await bot.session.ws_connect(url)
    assert expired.value.status == 403


async def test_one_socket_follows_every_room_its_user_enters_and_leaves(node: Node) -> None:
    bot = await node.signed_in("Bot")
    poster = await node.signed_in("Poster")
    first, second = await node.room("First"), await node.room("Second")
    async with bot.session.ws_connect(await _socket_url(bot, first)) as ws:
        await bot.post(f"/chats/{second}/events", {})  # ChatExchange's "join"
        entered = await _next_events(ws, second)
        assert entered[0]["event_type"] == 3
        message = await _post(poster, second, "in the second room")
        events = await _next_events(ws, second)
        assert events[-1]["message_id"] == message
        await bot.post(f"/chats/leave/{second}")
        left = await _next_events(ws, second)
        assert left[-1]["event_type"] == 4
        await _post(poster, second, "not for you any more")
        marker = await _post(poster, first, "marker")
        events = await _next_events(ws, first)
        assert events[-1]["message_id"] == marker


async def test_the_http_port_serves_the_same_socket(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    url = (await _socket_url(bot, room)).replace(f":{node.runtime.ws_port}/", f":{node.runtime.http_port}/")
    async with bot.session.ws_connect(url, headers={"Origin": "https://chat.stackexchange.com/"}) as ws:
        message = await _post(bot, room, "via the http port")
        events = await _next_events(ws, room)
        assert events[-1]["message_id"] == message


async def test_origin_allowlist(make_node: NodeFactory) -> None:
    node = await make_node(ws_allowed_origins="http://chat.example, https://other.example")
    bot = await node.signed_in("Bot")
    room = await node.room()
    url = await _socket_url(bot, room)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await bot.session.ws_connect(url, headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    async with bot.session.ws_connect(await _socket_url(bot, room), headers={"Origin": "http://chat.example/"}):
        pass


async def test_connections_per_address_are_bounded(make_node: NodeFactory) -> None:
    node = await make_node(ws_max_connections_per_ip=2)
    bot = await node.signed_in("Bot")
    room = await node.room()
    first, second, third_url = [await _socket_url(bot, room) for _ in range(3)]
    async with (
        bot.session.ws_connect(first),
        bot.session.ws_connect(second),
        bot.session.ws_connect(third_url) as third,
    ):
        async with asyncio.timeout(TIMEOUT):
            message = await third.receive()
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert third.close_code == 1013


async def test_reconnect_storm_leaves_no_subscribers(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    fanout = node.runtime.rooms
    assert fanout is not None
    for _ in range(50):
        async with bot.session.ws_connect(await _socket_url(bot, room)) as ws:
            await eventually(lambda: fanout.subscribers == 1)
            await ws.close()
    await eventually(lambda: fanout.subscribers == 0 and fanout.room_subscribers(room) == 0)
    assert node.runtime.sechat_sockets is not None and node.runtime.sechat_sockets.open_sockets == 0


def _raw_upgrade(port: int, path: str) -> socket.socket:
    """A websocket client that completes the handshake and then never reads (a slow consumer)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(TIMEOUT)
    raw.connect(("127.0.0.1", port))
    key = b64encode(b"0123456789abcdef").decode()
    raw.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += raw.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return raw


async def test_a_slow_consumer_is_dropped_and_others_get_everything(make_node: NodeFactory) -> None:
    node = await make_node(ws_send_buffer_bytes=32 * 1024, ws_socket_send_buffer_bytes=16 * 1024)
    bot = await node.signed_in("Bot")
    room = await node.room()
    url = await _socket_url(bot, room)
    path = url.split(f":{node.runtime.ws_port}", 1)[1]
    fanout = node.runtime.rooms
    assert fanout is not None
    slow = await asyncio.to_thread(_raw_upgrade, node.runtime.ws_port, path)
    try:
        async with bot.session.ws_connect(await _socket_url(bot, room)) as fast:
            await eventually(lambda: fanout.subscribers == 2)
            big = "\n".join(["x" * 100] * 40)  # about 4 KB a message
            posted = [await _post(bot, room, f"{n}\n{big}") for n in range(120)]
            received: list[int] = []
            while len(received) < len(posted):
                received += [e["message_id"] for e in await _next_events(fast, room) if e["event_type"] == 1]
            assert received == posted
            await eventually(lambda: fanout.subscribers == 1)
    finally:
        slow.close()


async def test_a_ping_arrives_in_the_same_frame_as_its_message(node: Node) -> None:
    """sechat.md §6.3: sochat4j pairs an 8 with the 1 of the same frame and drops it otherwise."""
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    assert bob.user is not None
    room = await node.room()
    other = await node.room("Other")
    await alice.post(f"/chats/{room}/events", {})  # Alice enters first, so her ping is a batch of its own
    await bob.post("/ws-auth", {"roomid": other})
    async with bob.session.ws_connect(await _socket_url(bob, room)) as ws:
        message = await _post(alice, room, "@Bob are you there?")
        frame = await _next_frame(ws)
        assert [(e["event_type"], e["message_id"]) for e in frame[f"r{room}"]["e"]] == [(8, message), (1, message)]
        ping = frame[f"r{room}"]["e"][0]
        assert ping["target_user_id"] == bob.user.id and ping["content"] == "@Bob are you there?"
        assert [e["event_type"] for e in frame[f"r{other}"]["e"]] == [8]


async def test_whatever_a_client_sends_is_ignored(node: Node) -> None:
    """sechat.md §5.5: clients send nothing; a socket that gets text frames anyway keeps working."""
    bot = await node.signed_in("Bot")
    poster = await node.signed_in("Poster")
    room = await node.room()
    await poster.post(f"/chats/{room}/events", {})
    async with bot.session.ws_connect(await _socket_url(bot, room)) as ws:
        await eventually(
            lambda: node.runtime.sechat_sockets is not None and node.runtime.sechat_sockets.open_sockets == 1
        )
        for text in ("hb", "pong", '{"action":"hb","data":"hb"}', "", "155-questions-active"):
            await ws.send_str(text)
        message = await _post(poster, room, "still there?")
        assert [e["message_id"] for e in await _next_events(ws, room)] == [message]
        assert not ws.closed
        await ws.send_bytes(b"\x00\x01")  # not a websocket chat client: closed as unsupported data
        async with asyncio.timeout(TIMEOUT):
            closing = await ws.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE and (closing.data, closing.extra) == (1003, "text frames only")


async def test_the_keepalive_timer_runs(make_node: NodeFactory) -> None:
    """sechat.md §5.6: the node's own timer keeps idle sockets fed (the test above calls it directly)."""
    node = await make_node(sechat_keepalive=0.2)
    bot = await node.signed_in("Bot")
    room = await node.room()
    async with bot.session.ws_connect(await _socket_url(bot, room)) as ws:
        frame = await _next_frame(ws)
        assert node.runtime.hub is not None
        assert frame == {f"r{room}": {"t": node.runtime.hub.last_event_id, "d": 0}}


async def test_a_kick_is_one_frame_of_a_leave_and_an_access_change(node: Node) -> None:
    """sechat.md §6.2: Tunaki's client knows a kick by a frame whose events are exactly a 4 and a 15."""
    owner = await node.signed_in("Owner")
    member = await node.signed_in("Member")
    assert owner.user is not None and member.user is not None
    room = await node.room(owner=owner.user)
    await member.post(f"/chats/{room}/events", {})
    async with (
        owner.session.ws_connect(await _socket_url(owner, room)) as watching,
        member.session.ws_connect(await _socket_url(member, room)) as kicked,
    ):
        await eventually(
            lambda: node.runtime.sechat_sockets is not None and node.runtime.sechat_sockets.open_sockets == 2
        )
        response = await owner.post(f"/rooms/kickmute/{room}", {"userId": member.user.id})
        assert response.status == 200, await response.text()
        for ws in (watching, kicked):
            left, access = await _next_events(ws, room)
            assert (left["event_type"], left["user_id"]) == (4, member.user.id)
            assert (access["event_type"], access["target_user_id"], access["content"]) == (
                15,
                member.user.id,
                "priv 1 created",
            )


# The notices sochat4j recognises moved messages by (sechat.md §6.2), as it matches them.
MOVED_OUT = re.compile(
    r'^&rarr; <i><a href=".*?">\d+ messages?</a> moved to <a href=".*?/rooms/(\d+)/.*?">(.*?)</a></i>$'
)
MOVED_IN = re.compile(r'^&larr; <i>\d+ messages? moved from <a href=".*?/rooms/(\d+)/.*?">(.*?)</a></i>$')


async def test_moved_messages_arrive_with_their_notice_in_one_frame(node: Node) -> None:
    """sechat.md §6.2: sochat4j pairs the 19s and 20s with the mover's notice of the same frame."""
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    room = await node.room(owner=owner.user)
    trash = await node.room("Trash Can", owner=owner.user)
    ids = [await _post(owner, room, text) for text in ("a", "b")]
    await owner.post("/ws-auth", {"roomid": trash})
    async with owner.session.ws_connect(await _socket_url(owner, room)) as ws:
        response = await owner.post(f"/admin/movePosts/{room}", {"ids": ",".join(map(str, ids)), "to": trash})
        assert (response.status, await response.text()) == (200, "2")
        parts: dict[str, list[dict[str, Any]]] = {}
        while len(parts) < 2:
            frame = await _next_frame(ws)
            parts |= {key: part["e"] for key, part in frame.items() if part.get("e")}
        out, into = parts[f"r{room}"], parts[f"r{trash}"]
        assert sorted(e["message_id"] for e in out if e["event_type"] == 19) == ids
        assert sorted(e["message_id"] for e in into if e["event_type"] == 20) == ids
        assert all(e["moved"] is True for e in out + into if e["event_type"] in (19, 20))
        [out_notice] = [e for e in out if e["event_type"] == 1]
        [in_notice] = [e for e in into if e["event_type"] == 1]
        out_match, in_match = MOVED_OUT.match(out_notice["content"]), MOVED_IN.match(in_notice["content"])
        assert out_match is not None and out_match.groups() == (str(trash), "Trash Can")
        assert in_match is not None and in_match.groups() == (str(room), "Sandbox")


async def test_a_replayed_reply_is_filed_under_every_room_as_a_live_one(node: Node) -> None:
    """sechat.md §5.4: ``?l=`` replays a reply (18) the way it arrives live, under each of the user's rooms."""
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    room = await node.room()
    other = await node.room("Other")
    question = await _post(alice, room, "question?")
    await bob.post(f"/chats/{room}/events", {})
    url = await _socket_url(alice, room)
    await alice.post("/ws-auth", {"roomid": other})
    before = await node.service.queries.last_event_id()
    answer = await _post(bob, room, f":{question} answer")
    async with alice.session.ws_connect(f"{url}?l={before}") as ws:
        frame = await _next_frame(ws)
    assert [(e["event_type"], e["message_id"]) for e in frame[f"r{room}"]["e"]] == [(18, answer), (1, answer)]
    assert [(e["event_type"], e["message_id"]) for e in frame[f"r{other}"]["e"]] == [(18, answer)]


async def test_a_replay_brings_pings_from_rooms_the_user_has_left(node: Node) -> None:
    """A ping from a room the user is no longer in reaches them live; a ``?l=`` replay brings it too."""
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    room, elsewhere = await node.room(), await node.room("Elsewhere")
    await alice.post(f"/chats/{elsewhere}/events", {})  # Alice was there, so she stays pingable
    await alice.post(f"/chats/leave/{elsewhere}")
    url = await _socket_url(alice, room)
    before = await node.service.queries.last_event_id()
    pings = [await _post(bob, elsewhere, f"@Alice look {n}") for n in (1, 2)]
    async with alice.session.ws_connect(f"{url}?l={before}") as ws:
        frame = await _next_frame(ws)
    for key in (f"r{room}", f"r{elsewhere}"):
        assert [(e["event_type"], e["message_id"]) for e in frame[key]["e"]] == [(8, pings[0]), (8, pings[1])]
