"""The streams dialect against a running node (real HTTP port and gateway, real sockets): streams.md §B.12."""

from __future__ import annotations

import aiohttp
import pytest

from hubbub.core.streams import ChatLevel
from tests.conftest import PASSWORD, Node
from tests.dialects.streams.helpers import (
    StreamsUser,
    basic,
    nothing_more,
    receive,
    send,
    socket_url,
    streams_user,
)
from tests.fakes import TIMEOUT, eventually


async def _stream(owner: StreamsUser, name: str = "Show", **body: object) -> int:
    answer = await owner.ok("POST", "/api/v1/stream", {"name": name, **body})
    return int(answer["stream"]["id"])


async def _account(owner: StreamsUser, network: str, name: str) -> int:
    answer = await owner.ok("POST", "/api/v1/account", {"network": network, "name": name})
    return int(answer["account"]["id"])


async def test_auth_gives_a_stable_token_and_refuses_bad_credentials(node: Node) -> None:  # B.12 #1
    john = await streams_user(node, "John")
    assert len(john.token) == 20 and john.token == john.token.upper()
    assert john.user.email is not None
    async with john.http.get(
        node.base + "/api/v1/auth", headers={"Authorization": basic(john.user.email, PASSWORD)}
    ) as again:
        assert (await again.json()) == {"token": john.token}
    for header in (basic(john.user.email, "wrong"), "Basic !!!", "Bearer x", ""):
        async with john.http.get(node.base + "/api/v1/auth", headers={"Authorization": header}) as refused:
            assert refused.status == 401
            assert await refused.json() == {"error": "endpoint requires authorization"}


@pytest.mark.parametrize("port", ["gateway", "http"])
async def test_socket_is_refused_before_the_upgrade_without_leaking_existence(node: Node, port: str) -> None:  # #2
    john = await streams_user(node, "John")
    mallory = await streams_user(node, "Mallory")
    stream_id = await _stream(john)
    for url in (
        socket_url(node, stream_id, None, port=port),
        socket_url(node, stream_id, "0" * 20, port=port),
        socket_url(node, stream_id, "not-a-token", port=port),
        socket_url(node, stream_id, mallory.token, port=port),
        socket_url(node, stream_id + 1000, john.token, port=port),  # no such stream: the same answer
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await john.http.ws_connect(url)
        assert refused.value.status == 403, url
    # The body, as multistreamer sent it.
    http_url = socket_url(node, stream_id, mallory.token, port="http").replace("ws://", "http://")
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with john.http.get(http_url, headers=headers) as response:
        assert response.status == 403 and await response.text() == "Not authorized"
    socket = await john.socket(stream_id, port=port)
    await send(socket, type="status")
    assert (await receive(socket))["type"] == "status"


async def test_status_offline_live_and_read_only(node: Node) -> None:  # B.12 #2, #3
    john = await streams_user(node, "John")
    reader = await streams_user(node, "Reader")
    twitch = await _account(john, "twitch", "jprjrdev")
    other = await _account(john, "twitch", "gamethattunedev")
    stream_id = await _stream(
        john, accounts=[{"id": twitch}], shares=[{"chat_level": 1, "metadata_level": 0, "user": {"id": reader.id}}]
    )
    socket = await john.socket(stream_id)
    read_only = await reader.socket(stream_id, port="http")
    await send(socket, type="status")
    offline = await receive(socket)
    assert offline == {
        "type": "status",
        "status": {"data_pulling": False, "data_pushing": False, "data_incoming": False},
        "accounts": {
            "0": {
                "name": "John",
                "ready": True,
                "live": False,
                "writable": True,
                "network": {"name": "irc", "displayName": "IRC"},
            },
        },
    }
    assert await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True}) == {
        "status": {"data_incoming": False, "data_pushing": True, "data_pulling": False}
    }
    live = await receive(socket)  # pushed on going live, without asking
    assert live["status"]["data_pushing"] is True
    assert live["accounts"][str(twitch)] == {
        "name": "jprjrdev",
        "ready": True,
        "live": True,
        "writable": True,
        "network": {"name": "twitch", "displayName": "Twitch"},
    }
    assert live["accounts"][str(other)] == {
        "name": "gamethattunedev",
        "ready": False,
        "live": False,
        "writable": True,
        "network": {"name": "twitch", "displayName": "Twitch"},
    }
    theirs = await receive(read_only)
    assert theirs["accounts"][str(twitch)]["writable"] is False  # chat level 1
    assert theirs["accounts"]["0"]["name"] == "Reader"
    assert str(other) not in theirs["accounts"]
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": False})
    ended = await receive(socket)
    assert list(ended["accounts"]) == ["0"] and ended["status"]["data_pushing"] is False


async def test_local_text_reaches_every_socket_with_echo(node: Node) -> None:  # B.12 #4, #6, #7
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    twitch = await _account(john, "twitch", "jd")
    stream_id = await _stream(
        john, accounts=[{"id": twitch}], shares=[{"chat_level": 2, "metadata_level": 0, "user": {"id": bob.id}}]
    )
    mine, theirs = await john.socket(stream_id), await bob.socket(stream_id, port="http")
    await send(mine, type="text", account_id=0, cur_stream_account_id=0, text="hi a*b <x>")
    for socket in (mine, theirs):
        frame = await receive(socket)
        assert frame.pop("timestamp") > 1_000_000_000_000  # milliseconds
        assert isinstance(frame.pop("event_id"), int)
        assert frame == {
            "type": "text",
            "text": "hi a*b <x>",
            "markdown": "hi a\\*b &lt;x&gt;",
            "from": {"name": "John", "id": john.id},
            "account_id": 0,
            "network": "irc",
            "stream_id": stream_id,
        }
    # "/irc" forces the hubbub-native account whatever account the frame named.
    await send(theirs, type="emote", account_id=twitch, cur_stream_account_id=twitch, text="/irc waves")
    for socket in (mine, theirs):
        frame = await receive(socket)
        assert (frame["type"], frame["text"], frame["account_id"], frame["from"]["id"]) == ("emote", "waves", 0, bob.id)
        assert "uuid" not in frame


async def test_private_messages_reach_both_users_on_every_stream(node: Node) -> None:  # B.12 #5
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    carol = await streams_user(node, "Carol")
    first = await _stream(
        john,
        shares=[
            {"chat_level": 2, "metadata_level": 0, "user": {"id": bob.id}},
            {"chat_level": 2, "metadata_level": 0, "user": {"id": carol.id}},
        ],
    )
    second = await _stream(bob, "Bob's")
    mine, bobs_here, bobs_own, carols = (
        await john.socket(first),
        await bob.socket(first),
        await bob.socket(second),
        await carol.socket(first),
    )
    await send(mine, type="text", account_id=0, cur_stream_account_id=0, text="/msg bob hey there")
    for socket in (mine, bobs_here, bobs_own):
        frame = await receive(socket)
        assert frame["to"] == {"name": "Bob", "id": bob.id} and frame["text"] == "hey there"
        assert "stream_id" not in frame and frame["from"]["id"] == john.id
    await send(mine, type="text", account_id=0, cur_stream_account_id=0, text="/msg nobody hello")
    await nothing_more(carols, carol, first)  # Carol got neither
    await nothing_more(mine, john, first)  # and a /msg to nobody went nowhere


async def test_network_lines_without_a_writer_and_foreign_writers_are_dropped(node: Node) -> None:  # #8, #9
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    twitch = await _account(john, "twitch", "jd")
    bobs = await _account(bob, "twitch", "bobby")
    stream_id = await _stream(
        john, accounts=[{"id": twitch}], shares=[{"chat_level": 2, "metadata_level": 0, "user": {"id": bob.id}}]
    )
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
    socket = await bob.socket(stream_id)
    await send(socket, type="writer", account_id=twitch, cur_stream_account_id=twitch)  # not Bob's account
    await send(socket, type="writer", account_id=bobs, cur_stream_account_id=twitch)  # Twitch has no bridge here
    await send(socket, type="text", account_id=twitch, cur_stream_account_id=twitch, text="through John's")
    await send(socket, type="text", account_id=bobs, cur_stream_account_id=twitch, text="no writer")
    await nothing_more(socket, bob, stream_id)


async def test_viewcount_answers_with_known_counts(node: Node) -> None:  # B.12 #10
    john = await streams_user(node, "John")
    counted = await _account(john, "twitch", "jd")
    silent = await _account(john, "youtube", "jd")
    stream_id = await _stream(john, accounts=[{"id": counted}, {"id": silent}])
    socket = await john.socket(stream_id)
    await send(socket, type="viewcount")
    await nothing_more(socket, john, stream_id)  # offline: nothing to count
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
    assert (await receive(socket))["type"] == "status"
    await node.service.stream_chat.report_viewcount(stream_id, counted, 42)
    assert await receive(socket) == {
        "type": "viewcountresult",
        "viewer_count": 42,
        "stream_id": stream_id,
        "account_id": counted,
    }  # pushed
    await send(socket, type="viewcount")
    assert await receive(socket) == {
        "type": "viewcountresult",
        "viewer_count": 42,
        "stream_id": stream_id,
        "account_id": counted,
    }  # asked: only the account with a known count
    await nothing_more(socket, john, stream_id)


async def test_bad_frames_are_ignored_and_the_socket_stays(node: Node) -> None:  # B.12 #11
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    socket = await john.socket(stream_id)
    for text in (
        "{not json",
        "[1,2]",
        '"text"',
        '{"type":"nonsense"}',
        '{"type":5}',
        '{"type":"text"}',
        '{"type":"text","text":7}',
        '{"type":"text","text":"x","account_id":"zz"}',
        "[" * 5000,
    ):
        await socket.send_str(text)
    await nothing_more(socket, john, stream_id)
    assert not socket.closed


async def test_injected_messages_arrive_unchanged_and_need_write_level(node: Node) -> None:  # B.12 #12, #13
    john = await streams_user(node, "John")
    reader = await streams_user(node, "Reader")
    stream_id = await _stream(john, shares=[{"chat_level": 1, "metadata_level": 0, "user": {"id": reader.id}}])
    socket = await john.socket(stream_id)
    body = {
        "type": "text",
        "text": "from insta",
        "network": "instagram",
        "network_icon": "<svg/>",
        "network_icon_css": ".x{}",
        "from": {"name": "fan", "id": "abc"},
        "account_id": 0,
        "uuid": "drop me",
    }
    assert await john.ok("POST", f"/api/v1/stream/{stream_id}/msg", body) == {"status": "ok"}
    frame = await receive(socket)
    del body["uuid"]
    assert {k: frame[k] for k in body} == body and frame["stream_id"] == stream_id and "uuid" not in frame
    assert await reader.call("POST", f"/api/v1/stream/{stream_id}/msg", body) == (
        400,
        {"error": "unauthorized to use that stream"},
    )
    assert await john.call("POST", f"/api/v1/stream/{stream_id + 99}/msg", body) == (
        400,
        {"error": "unauthorized to use that stream"},
    )
    await john.ok("POST", f"/api/v1/stream/{stream_id}/msg", {**body, "relay": True})  # IRC-only: never shown
    await nothing_more(socket, john, stream_id)


async def test_taking_a_share_away_closes_the_socket_at_once(node: Node) -> None:
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    stream_id = await _stream(john, shares=[{"chat_level": 2, "metadata_level": 0, "user": {"id": bob.id}}])
    socket = await bob.socket(stream_id)
    await send(socket, type="status")
    assert (await receive(socket))["type"] == "status"
    await john.ok(
        "POST",
        f"/api/v1/stream/{stream_id}",
        {"shares": [{"chat_level": 0, "metadata_level": 0, "user": {"id": bob.id}}]},
    )
    closing = await socket.receive(timeout=TIMEOUT)
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await bob.socket(stream_id)
    assert ChatLevel.NONE == 0


async def test_resetting_the_token_closes_its_sockets(node: Node) -> None:
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    socket = await john.socket(stream_id)
    await send(socket, type="status")
    await receive(socket)
    new = await node.service.stream_tokens.reset_token(john.user.id)
    closing = await socket.receive(timeout=TIMEOUT)
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await john.socket(stream_id)
    john.token = new
    await john.socket(stream_id)


async def test_the_stream_is_one_conversation_with_its_room(node: Node) -> None:
    """Lines said on a stream socket are room messages (sechat, the web UI, the SDK see them), and room
    messages posted through sechat show on the stream as account "0"."""
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    stream = (
        await john.ok(
            "POST",
            "/api/v1/stream",
            {"name": "Show", "shares": [{"chat_level": 2, "metadata_level": 0, "user": {"id": bob.id}}]},
        )
    )["stream"]
    room = await node.service.context.store.read(lambda tx: tx.stream(stream["id"]))
    assert room is not None
    socket = await john.socket(stream["id"])
    await send(socket, type="text", account_id=0, cur_stream_account_id=0, text="from the stream")
    await send(socket, type="emote", account_id=0, cur_stream_account_id=0, text="waves")
    assert (await receive(socket))["text"] == "from the stream"
    emote = await receive(socket)
    assert (emote["type"], emote["text"]) == ("emote", "waves")
    messages = await node.service.context.store.read(lambda tx: tx.recent_messages(room.room_id, limit=10))
    assert [(m.user_id, m.source) for m in messages] == [(john.id, "from the stream"), (john.id, "*waves*")]

    await node.service.messages.post(bob.user.id, room.room_id, "hello from **sechat**")
    frame = await receive(socket)
    assert (frame["type"], frame["text"], frame["from"], frame["account_id"], frame["network"]) == (
        "text",
        "hello from sechat",
        {"name": "Bob", "id": bob.id},
        0,
        "irc",
    )
    assert frame["stream_id"] == stream["id"] and frame["timestamp"] % 1000 == 0
    # A line the room's rules refuse (over 500 characters on one line) is dropped; the socket stays.
    await send(socket, type="text", account_id=0, cur_stream_account_id=0, text="x" * 501)
    await nothing_more(socket, john, stream["id"])


async def test_writerresult_goes_to_the_asking_user_only(node: Node) -> None:  # B.12 #8
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    # A hubbub-network account whose server is not there: its bridges retry in the background.
    settings = {"base_url": "http://127.0.0.1:9", "room_id": "1", "email": "x@example.org", "password": "x"}
    target = (await john.ok("POST", "/api/v1/account", {"network": "hubbub", "name": "far", "settings": settings}))[
        "account"
    ]["id"]
    other = (await john.ok("POST", "/api/v1/account", {"network": "hubbub", "name": "alt", "settings": settings}))[
        "account"
    ]["id"]
    bobs = (await bob.ok("POST", "/api/v1/account", {"network": "hubbub", "name": "bobs", "settings": settings}))[
        "account"
    ]["id"]
    stream_id = await _stream(
        john, accounts=[{"id": target}], shares=[{"chat_level": 2, "metadata_level": 0, "user": {"id": bob.id}}]
    )
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
    mine, theirs = await john.socket(stream_id), await bob.socket(stream_id)
    bridges = node.runtime.bridges
    assert bridges is not None
    await send(theirs, type="writer", account_id=other, cur_stream_account_id=target)  # John's account: refused
    await send(mine, type="writer", account_id=other, cur_stream_account_id=target)
    assert await receive(mine) == {"type": "writerresult", "account_id": other, "cur_stream_account_id": target}
    await send(theirs, type="writer", account_id=bobs, cur_stream_account_id=target)  # Bob's own: his result
    assert await receive(theirs) == {"type": "writerresult", "account_id": bobs, "cur_stream_account_id": target}
    assert set(bridges.writers) == {(stream_id, target, other), (stream_id, target, bobs)}
    await nothing_more(mine, john, stream_id)  # John never saw Bob's result


async def test_a_sockets_lines_keep_their_order(node: Node) -> None:
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    socket = await john.socket(stream_id)
    for index in range(8):  # as fast as the client can send them, before the socket is even set up
        await send(
            socket, type="text" if index % 2 else "emote", account_id=0, cur_stream_account_id=0, text=f"line {index}"
        )
    assert [(await receive(socket))["text"] for _ in range(8)] == [f"line {index}" for index in range(8)]


async def test_an_idle_socket_holds_no_inbox_or_worker_and_its_next_frames_still_keep_their_order(node: Node) -> None:
    # An inbox queue and a task waiting on it would be about 4 KiB of every idle socket's memory:
    # they exist only while the socket has frames to handle (bench/streams.py measures the rest).
    streams = node.runtime.stream_sockets
    assert streams is not None
    john = await streams_user(node, "John")
    stream_id = await _stream(john)
    socket = await john.socket(stream_id)
    for burst in range(3):
        for index in range(6):
            await send(socket, type="text", account_id=0, cur_stream_account_id=0, text=f"line {burst}.{index}")
        assert [(await receive(socket))["text"] for _ in range(6)] == [f"line {burst}.{index}" for index in range(6)]
        await eventually(lambda: not streams._workers and not streams._inbox)
    assert streams.open_sockets == 1
