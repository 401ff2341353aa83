"""The streams JSON API's bodies and refusals (streams.md §B.7), the RTMP callbacks, and a slow socket."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time

from tests.conftest import Node, NodeFactory
from tests.dialects.streams.helpers import StreamsUser, receive, streams_user
from tests.fakes import TIMEOUT, eventually

NO_STREAM = (400, {"error": "unauthorized to access that stream"})
NOT_USABLE = (400, {"error": "unauthorized to use that stream"})


async def _stream(owner: StreamsUser, **body: object) -> dict[str, object]:
    answer = await owner.ok("POST", "/api/v1/stream", {"name": "Show", **body})
    stream = answer["stream"]
    assert isinstance(stream, dict)
    return stream


async def test_without_a_token_every_endpoint_answers_401(node: Node) -> None:
    john = await streams_user(node, "John")
    for method, path in (
        ("GET", "/api/v1/profile"),
        ("GET", "/api/v1/user"),
        ("GET", "/api/v1/stream"),
        ("POST", "/api/v1/stream"),
        ("PATCH", "/api/v1/stream/1"),
        ("POST", "/api/v1/stream/1/msg"),
    ):
        for headers in ({}, {"Authorization": "Bearer 0123456789ABCDEF0123"}, {"Authorization": "Basic x"}):
            async with john.http.request(method, node.base + path, headers=headers) as response:
                assert response.status == 401, (method, path, headers)
                assert await response.json() == {"error": "endpoint requires authorization"}
    # The wiki's header name works too.
    async with john.http.get(node.base + "/api/v1/profile", headers={"Authentication": f"Bearer {john.token}"}) as ok:
        assert ok.status == 200


async def test_profile_and_users(node: Node) -> None:
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    assert await john.ok("GET", "/api/v1/profile") == {"id": john.id, "username": "john", "access_token": john.token}
    for path in ("/api/v1/user", "/api/v1/users"):
        users = (await john.ok("GET", path))["users"]
        assert {"id": john.id, "username": "john", "access_token": john.token} in users
        assert {"id": bob.id, "username": "bob"} in users  # another's token is never shown


async def test_streams_crud_with_the_originals_bodies_and_errors(node: Node) -> None:
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    eve = await streams_user(node, "Eve")
    account = (
        await john.ok(
            "POST", "/api/v1/account", {"network": "twitch", "name": "jd", "http_url": "https://twitch.tv/jd"}
        )
    )["account"]
    assert account == {
        "id": account["id"],
        "user_id": john.id,
        "network": "twitch",
        "name": "jd",
        "slug": "jd",
        "http_url": "https://twitch.tv/jd",
        "settings": {},
    }
    stream = await _stream(
        john, accounts=[{"id": account["id"]}], shares=[{"chat_level": 2, "metadata_level": 1, "user": {"id": bob.id}}]
    )
    stream_id = stream["id"]
    assert stream["name"] == "Show" and stream["slug"] == "show" and stream["live"] is False
    assert stream["accounts"] == [account] and isinstance(stream["uuid"], str)
    assert stream["shares"] == [{"chat_level": 2, "metadata_level": 1, "user": {"id": bob.id, "username": "bob"}}]

    # Shared: Bob sees it (without the stream key: he may not edit it), Eve does not.
    seen = (await bob.ok("GET", f"/api/v1/stream/{stream_id}"))["stream"]
    assert seen["chat_level"] == 2 and seen["metadata_level"] == 1 and "uuid" not in seen
    assert [s["id"] for s in (await bob.ok("GET", "/api/v1/stream"))["streams"]] == [stream_id]
    assert await eve.call("GET", f"/api/v1/stream/{stream_id}") == (
        400,
        {"error": "unauthorized to access that stream"},
    )
    assert await eve.call("GET", f"/api/v1/stream/{stream_id + 50}") == (
        400,
        {"error": "unauthorized to access that stream"},
    )  # the same answer: no existence leak
    assert (await eve.ok("GET", "/api/v1/stream")) == {"streams": []}

    # Editing: metadata level 2 only; the content type must be exactly application/json.
    assert await bob.call("POST", f"/api/v1/stream/{stream_id}", {"name": "Mine"}) == (
        401,
        {"error": "unauthorized to edit stream"},
    )
    assert await john.call("POST", f"/api/v1/stream/{stream_id}", {"name": "x"}, **{"Content-Type": "text/plain"}) == (
        400,
        {"error": "content-type must be application/json"},
    )
    assert await john.call("POST", "/api/v1/stream", {}) == (400, {"error": "name needed when making new stream"})
    assert await john.call("POST", "/api/v1/stream", {"name": "x", "accounts": [{"id": 999}]}) == (
        400,
        {"error": "unauthorized to use that account"},
    )
    renamed = (await john.ok("POST", f"/api/v1/stream/{stream_id}", {"name": "Late Show"}))["stream"]
    assert (renamed["name"], renamed["slug"]) == ("Late Show", "late-show")

    # Live state: metadata level 2; the answer is the status.
    assert await bob.call("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True}) == (
        400,
        {"error": "unauthorized to use that stream"},
    )
    assert await john.call("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": "yes"}) == (
        400,
        {"error": "data_pushing must be true or false"},
    )
    assert await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pulling": True}) == {
        "status": {"data_incoming": False, "data_pushing": False, "data_pulling": True}
    }

    # Accounts: only one's own.
    assert await bob.call("GET", f"/api/v1/account/{account['id']}") == (
        400,
        {"error": "unauthorized to access that account"},
    )
    assert await bob.call("DELETE", f"/api/v1/account/{account['id']}") == (
        400,
        {"error": "unauthorized to use that account"},
    )
    changed = await john.ok("POST", f"/api/v1/account/{account['id']}", {"settings": {"name": "jd2", "k": "v"}})
    assert changed["account"]["name"] == "jd2" and changed["account"]["settings"] == {"k": "v", "name": "jd2"}

    # Deleting: the owner only; then it is gone for everyone.
    assert await bob.call("DELETE", f"/api/v1/stream/{stream_id}") == (
        400,
        {"error": "unauthorized to use that stream"},
    )
    assert await john.ok("DELETE", f"/api/v1/stream/{stream_id}") == {"status": "success"}
    assert await john.call("GET", f"/api/v1/stream/{stream_id}") == (
        400,
        {"error": "unauthorized to access that stream"},
    )
    assert await john.ok("DELETE", f"/api/v1/account/{account['id']}") == {"status": "success"}
    assert await john.ok("GET", "/api/v1/account") == {"accounts": []}


async def test_a_refused_request_changes_nothing(node: Node) -> None:
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    stream = await _stream(john)
    before = await node.service.context.store.read(lambda tx: tx.last_event_id())
    for call in (
        bob.call("POST", f"/api/v1/stream/{stream['id']}", {"name": "Hijacked"}),
        bob.call("PATCH", f"/api/v1/stream/{stream['id']}", {"data_pushing": True}),
        bob.call("POST", f"/api/v1/stream/{stream['id']}/msg", {"type": "text", "text": "x"}),
        john.call("POST", f"/api/v1/stream/{stream['id']}", {"shares": [{"user": {"id": 999}, "chat_level": 2}]}),
        john.call("POST", f"/api/v1/stream/{stream['id']}/msg", {"type": "nope", "text": "x"}),
        john.call("POST", "/api/v1/account", {"network": "myspace", "name": "x"}),
    ):
        status, _ = await call
        assert status in {400, 401}
    assert await node.service.context.store.read(lambda tx: tx.last_event_id()) == before
    assert (await john.ok("GET", f"/api/v1/stream/{stream['id']}"))["stream"]["name"] == "Show"


async def test_rtmp_callbacks(make_node: NodeFactory) -> None:
    node = await make_node(streams_rtmp_secret="s3cret")
    john = await streams_user(node, "John")
    stream = await _stream(john)
    url = node.base + "/rtmp/on_publish"
    for query, form, status in (
        ("", {"name": stream["uuid"]}, 403),
        ("?secret=wrong", {"name": stream["uuid"]}, 403),
        ("?secret=s3cret", {"name": "unknown"}, 404),
        ("?secret=s3cret", {}, 400),
        ("?secret=s3cret", {"name": stream["uuid"], "app": "live"}, 200),
    ):
        async with john.http.post(url + query, data=form) as response:
            assert response.status == status, (query, form)
    assert (await john.ok("GET", f"/api/v1/stream/{stream['id']}"))["stream"]["live"] is True
    async with john.http.post(node.base + "/rtmp/on_publish_done?secret=s3cret", data={"name": stream["uuid"]}) as done:
        assert done.status == 200
    assert (await john.ok("GET", f"/api/v1/stream/{stream['id']}"))["stream"]["status"] == {
        "data_pulling": False,
        "data_pushing": False,
        "data_incoming": False,
    }


async def _socket_that_never_reads(node: Node, stream_id: int, token: str) -> asyncio.StreamWriter:
    """A websocket opened by hand that reads nothing after the 101 (its reader's buffer fills, then TCP stops)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: it sets the TCP window
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", node.runtime.ws_port))
    reader, writer = await asyncio.open_connection(sock=raw, limit=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/{stream_id}?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return writer


async def test_a_socket_that_stops_reading_is_dropped_and_stalls_nobody(make_node: NodeFactory) -> None:
    node = await make_node(ws_send_buffer_bytes=64 * 1024, ws_socket_send_buffer_bytes=16 * 1024)
    john = await streams_user(node, "John")
    stream_id = int((await _stream(john))["id"])
    reader = await john.socket(stream_id)
    line = "x" * 8000

    async def burst(tag: str, count: int) -> float:
        """Post ``count`` lines one after another while ``reader`` reads; seconds until it has them all."""

        async def read_all() -> None:
            got = 0
            while got < count:
                if (await receive(reader))["text"].startswith(f"{tag} "):
                    got += 1

        began = time.monotonic()
        reading = asyncio.create_task(read_all())
        for i in range(count):
            await john.ok("POST", f"/api/v1/stream/{stream_id}/msg", {"type": "text", "text": f"{tag} {i} {line}"})
        await reading
        return time.monotonic() - began

    baseline = await burst("baseline", 200)
    stalled = await _socket_that_never_reads(node, stream_id, john.token)
    try:
        loaded = await burst("loaded", 200)
        streams = node.runtime.stream_sockets
        assert streams is not None
        await eventually(lambda: streams.open_sockets == 1)  # the stalled one was let go (1008)
    finally:
        stalled.close()
    assert loaded < 10 * baseline + TIMEOUT, (baseline, loaded)
    assert not reader.closed


async def test_ids_beyond_64_bits_are_refused_not_500(node: Node) -> None:
    john = await streams_user(node, "John")
    assert await john.call("POST", "/api/v1/stream", {"name": "x", "accounts": [{"id": 2**80}]}) == (
        400,
        {"error": "unauthorized to use that account"},
    )
    status, _ = await john.call("POST", "/api/v1/stream", {"name": "x", "shares": [{"user": {"id": -(2**70)}}]})
    assert status == 400
