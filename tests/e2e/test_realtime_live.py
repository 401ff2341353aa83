"""The realtime topic feed over real websockets, on the gateway port and on the HTTP port.

Each test follows one behaviour of shared/protocol/realtime.md §A.8 (numbered in the test's
docstring) or the publish API of docs/dialects/realtime.md. Nothing sleeps to synchronise:
frames are awaited with ``TIMEOUT``; server-side state (a subscribe processed, a close
noticed) is awaited with ``eventually``; heartbeats are driven by calling
``RealtimeSockets.beat`` directly; and silence is shown with a marker: the socket also
subscribes to ``MARK``, an item is published there last, and it must be the next frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from base64 import b64encode
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import websocket

from hubbub.core.models import RoomAccess
from hubbub.dialects.realtime.routes import RealtimeSockets
from hubbub.fanout.topics import TopicFanout, TopicSubscriber
from tests.conftest import Browser, Node, NodeFactory
from tests.fakes import TIMEOUT, eventually

MARK = "hubbub-test-marker"
HB = '{"action":"hb","data":"hb"}'
KEY = b64encode(b"0123456789abcdef").decode()

# realtime.md §A.4.1: what SmokeDetector and FireAlarm read from 155-questions-active.
QUESTION: dict[str, Any] = {
    "siteBaseHostAddress": "biology.stackexchange.com",
    "id": 17647,
    "titleEncodedFancy": "Meaning of &#8220;auto&#8221; in autophosphorylation",
    "bodySummary": "why this process called Auto? \u201cauto\u201d ...",
    "tags": ["cell-signaling"],
    "lastActivityDate": 1401048843,
    "url": "http://biology.stackexchange.com/questions/17647/meaning-of-auto",
    "ownerUrl": "http://biology.stackexchange.com/users/6524/n00b",
    "ownerDisplayName": "N00B",
    "apiSiteParameter": "biology",
}
# §A.4.2 (id a string, siteid a number, fetch a boolean) and §A.4.4.
NEWEST: dict[str, Any] = {
    "id": "23859640",
    "body": '<div class="question-summary" id="question-summary-23859640">...</div>',
    "tags": ["java", "jfreechart"],
    "siteid": 1,
    "fetch": False,
}
REVIEW: dict[str, Any] = {"i": 5, "u": 3305005, "html": '<a href="/users/3305005/x">x</a>'}


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def wire(topic: str, data: object) -> str:
    """The exact frame text a subscriber of ``topic`` gets for ``data`` (§A.3: data encoded twice)."""
    return compact({"action": topic, "data": compact(data)})


# --- plumbing -----------------------------------------------------------------------------------


@pytest.fixture(params=["gateway", "http"])
def port(request: pytest.FixtureRequest) -> str:
    """Which port the socket is opened on: the picows gateway, or aiohttp's endpoint on the HTTP port."""
    return str(request.param)


def port_number(node: Node, port: str) -> int:
    return node.runtime.ws_port if port == "gateway" else node.runtime.http_port


def feed_url(node: Node, port: str, query: str = "") -> str:
    return f"ws://127.0.0.1:{port_number(node, port)}/{query}"


def topics_of(node: Node) -> TopicFanout:
    assert node.runtime.topics is not None
    return node.runtime.topics


def sockets_of(node: Node) -> RealtimeSockets:
    assert node.runtime.realtime_sockets is not None
    return node.runtime.realtime_sockets


async def subscribed(node: Node, topic: str, count: int = 1) -> None:
    """Wait until the server has processed subscribes to ``topic`` from ``count`` sockets."""
    fanout = topics_of(node)
    await eventually(lambda: len(fanout.topic_subscribers(topic)) == count)


async def heard_from(subscriber: TopicSubscriber, since: float) -> None:
    """Wait until the server has read a frame from ``subscriber`` sent after ``since``."""
    await eventually(lambda: subscriber.last_inbound > since)


async def next_text(ws: aiohttp.ClientWebSocketResponse) -> str:
    async with asyncio.timeout(TIMEOUT):
        message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return str(message.data)


async def next_item(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, Any]:
    """The next frame as a consumer reads it: ``action`` and ``json.loads(data)``."""
    frame = json.loads(await next_text(ws))
    assert list(frame) == ["action", "data"] and isinstance(frame["data"], str), frame
    return frame["action"], json.loads(frame["data"])


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    async with asyncio.timeout(TIMEOUT):
        message = await ws.receive()
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return ws.close_code


@dataclass
class Publisher:
    """A program with a ``publish`` token, talking to ``POST /api/v1/publish``."""

    session: aiohttp.ClientSession
    url: str
    token: str

    async def publish(self, topic: str, data: object) -> int:
        """Publish; the number of sockets the item reached."""
        response = await self.post({"topic": topic, "data": data})
        assert response.status == 200, await response.text()
        body = await response.json()
        assert list(body) == ["subscribers"]
        return int(body["subscribers"])

    async def post(self, body: object, *, token: str | None = None, raw: bytes | None = None) -> aiohttp.ClientResponse:
        headers = {
            "Authorization": f"Bearer {self.token if token is None else token}",
            "Content-Type": "application/json",
        }
        return await self.session.post(self.url, data=compact(body).encode() if raw is None else raw, headers=headers)

    async def mark(self, *sockets: aiohttp.ClientWebSocketResponse) -> None:
        """Publish the marker; it must be the next frame on every socket (so nothing else came first)."""
        assert await self.publish(MARK, {"mark": True}) >= len(sockets)
        for ws in sockets:
            assert await next_text(ws) == wire(MARK, {"mark": True})


async def publisher_for(node: Node) -> Publisher:
    token, _ = await node.service.tokens.create("tests", "publish")
    client = await node.browser()
    return Publisher(client.session, node.base + "/api/v1/publish", token)


@pytest.fixture
async def publisher(node: Node) -> Publisher:
    return await publisher_for(node)


@pytest.fixture
async def anonymous(node: Node) -> Browser:
    """A client with no cookies: sockets it opens are not signed in."""
    return await node.browser()


@contextlib.asynccontextmanager
async def feed(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with session.ws_connect(url, **kwargs) as ws:
        yield ws


async def raw_handshake(port: int, headers: Sequence[tuple[str, str]], target: str = "/") -> int:
    """Send a websocket upgrade with exactly these extra headers (duplicates included); the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {KEY}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        async with asyncio.timeout(TIMEOUT):
            status = await reader.readline()
        return int(status.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def masked_text_frame(text: str) -> bytes:
    """One client-to-server text frame (clients must mask, RFC 6455 §5.3)."""
    payload = text.encode("utf-8")
    assert len(payload) < 126
    mask = b"\x11\x22\x33\x44"
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def never_reading_client(port: int, topic: str) -> socket.socket:
    """A websocket client that subscribes to ``topic`` and then never reads (a slow consumer)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(TIMEOUT)
    raw.connect(("127.0.0.1", port))
    raw.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = raw.recv(1)
        assert chunk, response
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    raw.sendall(masked_text_frame(topic))
    return raw


# --- 1-5: subscribing and delivery --------------------------------------------------------------


async def test_a_published_item_arrives_double_encoded_with_types_intact(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """§A.8 1: bare-text subscribe; the item arrives as {"action":topic,"data":"<json>"}."""
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await ws.send_str("155-questions-active")
        await subscribed(node, "155-questions-active")
        assert await publisher.publish("155-questions-active", QUESTION) == 1
        text = await next_text(ws)
        assert text == wire("155-questions-active", QUESTION)
        assert text.startswith('{"action":"155-questions-active","data":"{\\"siteBaseHostAddress\\":')
        item = json.loads(json.loads(text)["data"])
        assert item == QUESTION
        assert type(item["id"]) is int and type(item["lastActivityDate"]) is int
        assert item["tags"] == ["cell-signaling"] and item["bodySummary"].endswith("\u201cauto\u201d ...")


def smokedetector(url: str, answered: list[str]) -> dict[str, Any]:
    """SmokeDetector's ws.py loop, with websocket-client as it uses it: answer hb, decode data twice.

    The extra ``Origin`` header makes websocket-client send Origin twice, as the 2014 comment
    in realtime.md §A.1 reports of the Python client.
    """
    ws = websocket.create_connection(url, timeout=TIMEOUT, header=["Origin: https://stackexchange.com"])
    try:
        ws.send("155-questions-active")
        for _ in range(10):
            a = ws.recv()
            assert isinstance(a, str)  # a text frame
            action = json.loads(a)["action"]
            if action == "hb":
                ws.send("hb")
                answered.append(a)
            elif action == "155-questions-active":
                data = json.loads(json.loads(a)["data"])
                assert isinstance(data, dict)
                return data
        raise AssertionError("no item in ten frames")
    finally:
        ws.close()


async def test_a_smokedetector_style_consumer(node: Node, port: str, publisher: Publisher) -> None:
    """§A.8 1 and 7 with the client library SmokeDetector uses, heartbeat answered on the way."""
    before = time.monotonic()
    answered: list[str] = []
    consumer = asyncio.create_task(asyncio.to_thread(smokedetector, feed_url(node, port), answered))
    await subscribed(node, "155-questions-active")
    [subscriber] = topics_of(node).all_subscribers()
    beat_at = time.monotonic()
    assert sockets_of(node).beat(before) == 1
    await heard_from(subscriber, beat_at)  # its "hb" answer was read
    assert await publisher.publish("155-questions-active", QUESTION) == 1
    async with asyncio.timeout(TIMEOUT):
        assert await consumer == QUESTION
    assert answered == [HB]


async def test_three_topics_in_one_burst_all_deliver_and_nothing_answers(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """§A.8 2: several subscribe frames back to back right after open, no acknowledgement."""
    topics = ["1-questions-newest-tag-java", "1-review-dashboard-update", "155-questions-active"]
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        for topic in topics:
            await ws.send_str(topic)
        for topic in topics:
            await subscribed(node, topic)
        assert await publisher.publish(topics[0], NEWEST) == 1
        assert await publisher.publish(topics[1], REVIEW) == 1
        assert await publisher.publish(topics[2], QUESTION) == 1
        # The first frame is the first item: no reply was sent to any subscribe.
        action, newest = await next_item(ws)
        assert (action, newest) == (topics[0], NEWEST)
        assert type(newest["id"]) is str and type(newest["siteid"]) is int and newest["fetch"] is False
        assert await next_item(ws) == (topics[1], REVIEW)
        assert await next_item(ws) == (topics[2], QUESTION)


async def test_items_of_every_frame_length_arrive_whole_to_every_socket(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """Items whose frames use each of RFC 6455's three payload lengths (7, 16 and 64 bits: an item
    of quotes, which the second encoding escapes, passes 65,535 bytes) reach two sockets intact."""
    topic = "1-questions-newest"
    items: list[object] = [{"i": 1}, {"text": "x" * 300}, [""] * 20_000]
    async with (
        feed(anonymous.session, feed_url(node, port)) as first,
        feed(anonymous.session, feed_url(node, port)) as second,
    ):
        for ws in (first, second):
            await ws.send_str(topic)
        await subscribed(node, topic, count=2)
        lengths = []
        for item in items:
            assert await publisher.publish(topic, item) == 2
            for ws in (first, second):
                text = await next_text(ws)
                assert text == wire(topic, item)
            lengths.append(len(text.encode()))
        assert lengths[0] < 126 <= lengths[1] < 1 << 16 <= lengths[2]


async def test_unsubscribe_stops_delivery_and_resubscribe_works(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """§A.8 3: -topic stops delivery; unsubscribing an unknown topic is silent; resubscribing works."""
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await ws.send_str("1-question-42")
        await ws.send_str(MARK)
        await subscribed(node, MARK)
        assert await publisher.publish("1-question-42", {"a": "score", "id": 42, "score": 3}) == 1
        assert await next_item(ws) == ("1-question-42", {"a": "score", "id": 42, "score": 3})
        await ws.send_str("-never-subscribed")
        await ws.send_str("-1-question-42")
        await subscribed(node, "1-question-42", 0)
        assert await publisher.publish("1-question-42", {"a": "score", "id": 42, "score": 4}) == 0
        await publisher.mark(ws)
        await ws.send_str(" 1-question-42\n")
        await subscribed(node, "1-question-42")
        assert await publisher.publish("1-question-42", {"a": "score", "id": 42, "score": 5}) == 1
        assert await next_item(ws) == ("1-question-42", {"a": "score", "id": 42, "score": 5})
        await publisher.mark(ws)


async def test_nothing_is_replayed(node: Node, port: str, anonymous: Browser, publisher: Publisher) -> None:
    """§A.7 11: a topic delivers only what happens after the subscribe was processed."""
    assert await publisher.publish("1-questions-active", {"before": True}) == 0
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await ws.send_str("1-questions-active")
        await ws.send_str(MARK)
        await subscribed(node, MARK)
        await publisher.mark(ws)


async def test_a_duplicate_subscribe_delivers_once(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """§A.8 4: set semantics per connection."""
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        for text in ["155-questions-active", "155-questions-active", " 155-questions-active\r\n", MARK]:
            await ws.send_str(text)
        await subscribed(node, MARK)
        assert topics_of(node).subscriptions == 2
        assert await publisher.publish("155-questions-active", QUESTION) == 1
        assert await next_text(ws) == wire("155-questions-active", QUESTION)
        await publisher.mark(ws)


async def test_unknown_topics_are_silent_and_the_connection_stays_open(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """§A.8 5: no frame for a topic nothing feeds (or for nonsense); a later topic works."""
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        for text in ["155-posts-active", "1-questions-active", '{"action":"155-questions-active"}', "\u2603", "-"]:
            await ws.send_str(text)
        await ws.send_str("155-questions-active")
        await subscribed(node, "155-questions-active")
        assert not ws.closed
        assert await publisher.publish("155-questions-active", QUESTION) == 1
        assert await next_text(ws) == wire("155-questions-active", QUESTION)


async def test_a_query_string_is_ignored(node: Node, port: str, anonymous: Browser, publisher: Publisher) -> None:
    """§A.7 1: ``/?anything`` is the same socket."""
    async with feed(anonymous.session, feed_url(node, port, "?since=1&client=x")) as ws:
        await ws.send_str("155-questions-active")
        await subscribed(node, "155-questions-active")
        assert await publisher.publish("155-questions-active", QUESTION) == 1
        assert await next_text(ws) == wire("155-questions-active", QUESTION)


# --- 6-8: heartbeats ----------------------------------------------------------------------------


async def test_the_heartbeat_frame(node: Node, port: str, anonymous: Browser) -> None:
    """§A.8 6: exactly {"action":"hb","data":"hb"}."""
    before = time.monotonic()
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await eventually(lambda: topics_of(node).subscribers == 1)
        assert sockets_of(node).beat(before) == 1
        assert await next_text(ws) == HB


async def test_the_legacy_heartbeat_has_empty_data(make_node: NodeFactory, port: str) -> None:
    """§A.8 6: realtime_hb_data="" sends the 2014 form."""
    node = await make_node(realtime_hb_data="")
    client = await node.browser()
    before = time.monotonic()
    async with feed(client.session, feed_url(node, port)) as ws:
        await eventually(lambda: topics_of(node).subscribers == 1)
        assert sockets_of(node).beat(before) == 1
        assert await next_text(ws) == '{"action":"hb","data":""}'


async def test_the_heartbeat_timer_runs(make_node: NodeFactory, port: str) -> None:
    """§A.7 6: the node's own timer sends heartbeats (the other tests call ``beat`` themselves)."""
    node = await make_node(realtime_hb_interval=0.05)
    client = await node.browser()
    async with feed(client.session, feed_url(node, port)) as ws:
        assert await next_text(ws) == HB


@pytest.mark.parametrize(
    "answer",
    ["hb", "pong", "", '{"action":"hb","data":"hb"}', " hb\r\n"],
    ids=["hb", "pong", "empty", "json", "hb-with-whitespace"],
)
async def test_every_heartbeat_spelling_keeps_a_connection_and_silence_closes_it(
    node: Node, port: str, anonymous: Browser, publisher: Publisher, answer: str
) -> None:
    """§A.8 7 and 8: an answering client outlives >= 3 heartbeats, a silent one is closed with 1001
    at the second; heartbeat answers never become topics."""
    fanout, sockets = topics_of(node), sockets_of(node)
    previous = time.monotonic()
    async with feed(anonymous.session, feed_url(node, port)) as answering:
        await eventually(lambda: fanout.subscribers == 1)
        [subscriber] = fanout.all_subscribers()
        async with feed(anonymous.session, feed_url(node, port)) as silent:
            await eventually(lambda: fanout.subscribers == 2)
            for heartbeat in range(4):
                now = time.monotonic()
                assert sockets.beat(previous) == (2 if heartbeat == 0 else 1)
                previous = now
                if heartbeat == 0:
                    assert await next_text(silent) == HB
                elif heartbeat == 1:  # silent through a whole interval: closed when the next one is due
                    assert await closed_with(silent) == 1001
                assert await next_text(answering) == HB
                await answering.send_str(answer)
                await heard_from(subscriber, now)
            await eventually(lambda: fanout.subscribers == 1)
        assert not answering.closed
        assert subscriber.topics == set() and fanout.subscriptions == 0
        # Nothing subscribed "hb" or "pong": items published there reach no one.
        await answering.send_str(MARK)
        await subscribed(node, MARK)
        assert await publisher.publish("hb", {"not": "a topic"}) == 0
        assert await publisher.publish("pong", {"not": "a topic"}) == 0
        await publisher.mark(answering)


async def test_any_frame_counts_as_liveness(node: Node, port: str, anonymous: Browser) -> None:
    """§A.7 4: a client that only sends commands between heartbeats is alive too."""
    fanout, sockets = topics_of(node), sockets_of(node)
    previous = time.monotonic()
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await eventually(lambda: fanout.subscribers == 1)
        [subscriber] = fanout.all_subscribers()
        for command in ["1-question-1", "-1-question-1", "-never-subscribed"]:
            now = time.monotonic()
            assert sockets.beat(previous) == 1
            previous = now
            assert await next_text(ws) == HB
            await ws.send_str(command)
            await heard_from(subscriber, now)
        assert not ws.closed


async def test_silent_clients_stay_when_closing_is_off(make_node: NodeFactory, port: str) -> None:
    """§A.7 7: realtime_close_silent=False keeps clients that never answer."""
    node = await make_node(realtime_close_silent=False)
    client = await node.browser()
    previous = time.monotonic()
    async with feed(client.session, feed_url(node, port)) as ws:
        await eventually(lambda: topics_of(node).subscribers == 1)
        for _ in range(3):
            now = time.monotonic()
            assert sockets_of(node).beat(previous) == 1
            previous = now
            assert await next_text(ws) == HB


# --- 9: origins ---------------------------------------------------------------------------------


ORIGIN_CASES = [
    pytest.param([], id="none"),
    pytest.param([("Origin", "https://127.0.0.1")], id="socket-host"),
    pytest.param([("Origin", "https://evil.example")], id="foreign"),
    pytest.param([("Origin", "null")], id="null"),
    pytest.param([("Origin", "https://a.example"), ("Origin", "https://b.example")], id="duplicated"),
]


@pytest.mark.parametrize("headers", ORIGIN_CASES)
async def test_any_origin_is_accepted_by_default(node: Node, port: str, headers: list[tuple[str, str]]) -> None:
    """§A.8 9, and §A.7 2: no Origin required, any accepted, a duplicated one tolerated."""
    assert await raw_handshake(port_number(node, port), headers) == 101


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([("Origin", "http://ok.example")], 101),
        ([("Origin", "http://ok.example/")], 101),
        ([("Origin", "http://ok.example"), ("Origin", "http://evil.example")], 101),  # the first one counts
        ([("Origin", "http://evil.example"), ("Origin", "http://ok.example")], 403),
        ([("Origin", "http://evil.example")], 403),
        ([("Origin", "https://ok.example")], 403),
        ([], 403),
    ],
    ids=["listed", "trailing-slash", "listed-first", "listed-second", "foreign", "other-scheme", "none"],
)
async def test_the_origin_allowlist(
    make_node: NodeFactory, port: str, headers: list[tuple[str, str]], status: int
) -> None:
    """§A.8 9: with ws_allowed_origins set, other origins get HTTP 403 before the upgrade."""
    node = await make_node(ws_allowed_origins="http://ok.example")
    assert await raw_handshake(port_number(node, port), headers) == status


async def test_an_allowed_origin_gets_a_working_socket(make_node: NodeFactory, port: str) -> None:
    node = await make_node(ws_allowed_origins="http://ok.example")
    publisher = await publisher_for(node)
    client = await node.browser()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.session.ws_connect(feed_url(node, port), headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    async with feed(client.session, feed_url(node, port), headers={"Origin": "http://ok.example"}) as ws:
        await ws.send_str("155-questions-active")
        await subscribed(node, "155-questions-active")
        assert await publisher.publish("155-questions-active", QUESTION) == 1
        assert await next_text(ws) == wire("155-questions-active", QUESTION)


# --- 10: user topics and room activity ----------------------------------------------------------


async def _realtime_token_url(browser: Browser) -> str:
    response = await browser.post("/realtime/auth")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert set(body) == {"token", "url"} and body["url"].endswith(f"/?token={body['token']}")
    return str(body["url"])


def _user_id(browser: Browser) -> int:
    assert browser.user is not None
    return browser.user.id


async def test_topbar_reaches_only_its_signed_in_owner(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """§A.8 10: via the session cookie and via ?token=; others get silence; 1 then 0 after ack."""
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    bob_id, alice_id = _user_id(bob), _user_id(alice)
    topbar, inbox = f"{bob_id}-topbar", f"{bob_id}-inbox"
    room = await node.room()
    await bob.post(f"/chats/{room}/events", {})  # Bob was in the room lately, so he can be pinged
    token_url = (await _realtime_token_url(bob)).replace(f":{node.runtime.ws_port}/", f":{port_number(node, port)}/")
    url = feed_url(node, port)
    async with contextlib.AsyncExitStack() as stack:
        by_cookie = await stack.enter_async_context(feed(bob.session, url))
        by_token = await stack.enter_async_context(feed(anonymous.session, token_url))
        other_user = await stack.enter_async_context(feed(alice.session, url))
        nobody = await stack.enter_async_context(feed(anonymous.session, url))
        for ws in (by_cookie, by_token, other_user, nobody):
            for topic in (topbar, inbox, MARK):
                await ws.send_str(topic)
        await subscribed(node, MARK, 4)

        # The cookie is checked after the upgrade: wait until both of Bob's sockets are his.
        def users() -> list[int]:
            return sorted((s.user_id or 0) for s in topics_of(node).topic_subscribers(topbar))

        await eventually(lambda: users() == sorted([bob_id, bob_id, alice_id, 0]))

        response = await alice.post(f"/chats/{room}/messages/new", {"text": "@bob have a look"})
        assert response.status == 200, await response.text()
        message = (await response.json())["id"]
        for ws in (by_cookie, by_token):
            assert await next_text(ws) == wire(topbar, {"Inbox": {"UnreadInboxCount": 1}})
            assert await next_item(ws) == (inbox, 1)
        response = await bob.post("/messages/ack", {"id": message})
        assert response.status == 200, await response.text()
        for ws in (by_cookie, by_token):
            assert await next_text(ws) == wire(topbar, {"Inbox": {"UnreadInboxCount": 0}})
            assert await next_item(ws) == (inbox, 0)
        await publisher.mark(by_cookie, by_token, other_user, nobody)


async def test_bad_and_expired_realtime_tokens_are_refused(node: Node, port: str, anonymous: Browser) -> None:
    bob = await node.signed_in("Bob")
    url = (await _realtime_token_url(bob)).replace(f":{node.runtime.ws_port}/", f":{port_number(node, port)}/")
    for bad in (feed_url(node, port, "?token=nope"), url + "x"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await anonymous.session.ws_connect(bad)
        assert refused.value.status == 403
    node.clock.advance(node.service.settings.ws_token_ttl_seconds + 1)
    with pytest.raises(aiohttp.WSServerHandshakeError) as expired:
        await anonymous.session.ws_connect(url)
    assert expired.value.status == 403
    response = await anonymous.post("/realtime/auth", {"fkey": "x"})
    assert response.status != 200  # only a signed-in user gets a token


async def test_a_page_on_another_origin_gets_an_anonymous_socket(node: Node, port: str, publisher: Publisher) -> None:
    """The acct cookie signs a socket in only from hubbub's own pages, or from a program (no Origin).

    A page elsewhere could otherwise read the user's unread counts through their browser's
    cookie. Its socket still opens and still gets public topics, only not as the user.
    """
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    bob_id = _user_id(bob)
    topbar = f"{bob_id}-topbar"
    room = await node.room()
    await bob.post(f"/chats/{room}/events", {})  # Bob was in the room lately, so he can be pinged
    url = feed_url(node, port)
    own_page = f"http://127.0.0.1:{node.runtime.http_port}"
    async with contextlib.AsyncExitStack() as stack:
        foreign = await stack.enter_async_context(feed(bob.session, url, origin="https://evil.example"))
        sandboxed = await stack.enter_async_context(feed(bob.session, url, origin="null"))
        neighbour = await stack.enter_async_context(feed(bob.session, url, origin="http://127.0.0.1:1"))
        own = await stack.enter_async_context(feed(bob.session, url, origin=own_page))
        program = await stack.enter_async_context(feed(bob.session, url))
        sockets = (foreign, sandboxed, neighbour, own, program)
        for ws in sockets:
            for topic in (topbar, "155-questions-active", MARK):
                await ws.send_str(topic)
        await subscribed(node, MARK, len(sockets))

        def users() -> list[int]:
            return sorted((s.user_id or 0) for s in topics_of(node).topic_subscribers(topbar))

        await eventually(lambda: users() == [0, 0, 0, bob_id, bob_id])
        response = await alice.post(f"/chats/{room}/messages/new", {"text": "@bob have a look"})
        assert response.status == 200, await response.text()
        for ws in (own, program):
            assert await next_text(ws) == wire(topbar, {"Inbox": {"UnreadInboxCount": 1}})
        assert await publisher.publish("155-questions-active", QUESTION) == len(sockets)
        for ws in sockets:  # for the anonymous three this is the first frame: no count came before it
            assert await next_text(ws) == wire("155-questions-active", QUESTION)
        await publisher.mark(*sockets)


async def _post(browser: Browser, room: int, text: str) -> int:
    response = await browser.post(f"/chats/{room}/messages/new", {"text": text})
    assert response.status == 200, await response.text()
    return int((await response.json())["id"])


async def test_room_activity_for_public_rooms_only(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """Posted, edited, starred and deleted messages of a public room; silence for a private one."""
    owner = await node.signed_in("Owner")
    fan = await node.signed_in("Fan")
    assert owner.user is not None
    public = await node.room("Public")
    private = await node.room("Secret", owner=owner.user, access=RoomAccess.PRIVATE)
    topic = f"{public}-room-activity"
    async with feed(owner.session, feed_url(node, port)) as ws:  # signed in, and the private room's owner
        await ws.send_str(f"{private}-room-activity")
        await ws.send_str(topic)
        await subscribed(node, topic)
        await _post(owner, private, "not for the feed")
        message = await _post(owner, public, "hello **feed**")
        action, posted = await next_item(ws)
        assert action == topic
        assert posted == {
            "a": "message-posted",
            "id": message,
            "roomid": public,
            "acctid": owner.user.id,
            "userName": "Owner",
            "content": "hello <b>feed</b>",
            "stars": 0,
            "pins": 0,
            "edits": 0,
            "time": int(node.clock.now()),
            "eventid": posted["eventid"],
        }
        assert (await owner.post(f"/messages/{message}", {"text": "hello again"})).status == 200
        _, edited = await next_item(ws)
        assert (edited["a"], edited["id"], edited["content"], edited["edits"]) == (
            "message-edited",
            message,
            "hello again",
            1,
        )
        assert edited["eventid"] > posted["eventid"]
        assert (await fan.post(f"/messages/{message}/star")).status == 200
        _, starred = await next_item(ws)
        assert (starred["a"], starred["id"], starred["stars"]) == ("message-starred", message, 1)
        assert "acctid" not in starred and "userName" not in starred
        assert (await owner.post(f"/messages/{message}/delete")).status == 200
        _, deleted = await next_item(ws)
        assert (deleted["a"], deleted["id"], deleted["acctid"]) == ("message-deleted", message, owner.user.id)
        assert "content" not in deleted
        await ws.send_str(MARK)
        await subscribed(node, MARK)
        await publisher.mark(ws)


async def test_room_activity_stops_when_the_room_turns_private(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    room = await node.room("Public", owner=owner.user)
    topic = f"{room}-room-activity"
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await ws.send_str(topic)
        await ws.send_str(MARK)
        await subscribed(node, topic)
        await node.service.rooms.update_room(
            owner.user.id, room, name="Public", description="", tags="", access=RoomAccess.PRIVATE
        )
        await subscribed(node, topic, 0)
        await _post(owner, room, "private now")
        await ws.send_str(topic)  # and it cannot be subscribed again
        await ws.send_str(f"-{MARK}")
        await ws.send_str(MARK)
        await eventually(lambda: topics_of(node).subscriptions == 1)
        await publisher.mark(ws)
        await eventually(lambda: sockets_of(node).idle)  # the room check is over
        await node.service.rooms.update_room(
            owner.user.id, room, name="Public", description="", tags="", access=RoomAccess.PUBLIC
        )
        await ws.send_str(topic)  # public again: the same subscribe works now
        await subscribed(node, topic)
        message = await _post(owner, room, "public again")
        action, posted = await next_item(ws)
        assert (action, posted["a"], posted["id"]) == (topic, "message-posted", message)


# --- 12-15: load and resources ------------------------------------------------------------------


async def test_a_reconnect_storm_leaks_nothing(node: Node, port: str, anonymous: Browser, publisher: Publisher) -> None:
    """§A.8 12: 50 immediate connect + subscribe + close cycles; the counts come back to baseline."""
    fanout, sockets = topics_of(node), sockets_of(node)
    baseline = (fanout.subscribers, fanout.subscriptions, sockets.open_sockets)
    for cycle in range(50):
        async with feed(anonymous.session, feed_url(node, port)) as ws:
            await ws.send_str("155-questions-active")
            await ws.send_str(f"storm-{cycle}")
            await subscribed(node, f"storm-{cycle}")
    await eventually(lambda: (fanout.subscribers, fanout.subscriptions, sockets.open_sockets) == baseline)
    assert fanout.topic_subscribers("155-questions-active") == []
    assert await publisher.publish("155-questions-active", QUESTION) == 0
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await ws.send_str("155-questions-active")
        await subscribed(node, "155-questions-active")
        assert await publisher.publish("155-questions-active", QUESTION) == 1
        assert await next_text(ws) == wire("155-questions-active", QUESTION)


async def test_a_thousand_topics_with_churn(node: Node, port: str, anonymous: Browser, publisher: Publisher) -> None:
    """§A.8 13 and §A.7 8: 1000 topics on one socket, churn, then the bound ignores extras."""
    fanout = topics_of(node)
    limit = node.service.settings.realtime_max_topics
    assert limit == 1000
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        for n in range(limit):
            await ws.send_str(f"1-question-{n}")
        await eventually(lambda: fanout.subscriptions == limit)
        for n in range(0, limit, 2):  # drop the even ones, then take half of them back
            await ws.send_str(f"-1-question-{n}")
        for n in range(0, limit, 4):
            await ws.send_str(f"1-question-{n}")
        await eventually(lambda: fanout.subscriptions == limit * 3 // 4)
        for n in range(limit // 4 - 1):
            await ws.send_str(f"2-question-{n}")
        await ws.send_str(MARK)  # the 1000th topic
        await ws.send_str("over-the-limit")  # ignored: the set is full
        await ws.send_str(MARK)  # already there: not an extra
        await subscribed(node, MARK)
        await eventually(lambda: fanout.subscriptions == limit)
        assert fanout.topic_subscribers("over-the-limit") == []
        expected = {"1-question-1": 1, "1-question-2": 0, "1-question-4": 1, "1-question-999": 1, "2-question-0": 1}
        expected |= {"over-the-limit": 0, "2-question-248": 1, "2-question-249": 0}
        for topic, reach in expected.items():
            assert await publisher.publish(topic, {"topic": topic}) == reach, topic
        for topic in (t for t, reach in expected.items() if reach):
            assert await next_item(ws) == (topic, {"topic": topic})
        await publisher.mark(ws)
        await ws.send_str("-1-question-1")  # a free slot takes a new topic again
        await ws.send_str("over-the-limit")
        await subscribed(node, "over-the-limit")
        assert await publisher.publish("1-question-1", {}) == 0
        assert await publisher.publish("over-the-limit", {"now": "yes"}) == 1
        assert await next_item(ws) == ("over-the-limit", {"now": "yes"})


async def test_topics_too_long_to_ever_deliver_are_not_held(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """§A.7 8's bound is about memory: a topic longer than any publishable one (200 characters)
    is ignored rather than kept, so 1000 of them cannot pin 1000 x 64 KB on one socket."""
    fanout = topics_of(node)
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        for n in range(20):
            await ws.send_str(f"{n}-" + "x" * 60_000)
        await ws.send_str("y" * 200)  # the longest publishable topic is still a topic
        await ws.send_str(MARK)
        await subscribed(node, MARK)
        assert fanout.subscriptions == 2
        assert await publisher.publish("y" * 200, {"long": True}) == 1
        assert await next_item(ws) == ("y" * 200, {"long": True})


@pytest.mark.parametrize("port", ["gateway", "http"])
async def test_a_slow_consumer_is_dropped_and_others_get_everything(make_node: NodeFactory, port: str) -> None:
    """§A.8 14: a client that stops reading is disconnected; another on the same topic gets all."""
    node = await make_node(ws_send_buffer_bytes=32 * 1024, ws_socket_send_buffer_bytes=16 * 1024)
    publisher = await publisher_for(node)
    client = await node.browser()
    fanout = topics_of(node)
    slow = await asyncio.to_thread(never_reading_client, port_number(node, port), "155-questions-active")
    try:
        async with feed(client.session, feed_url(node, port)) as fast:
            await fast.send_str("155-questions-active")
            await subscribed(node, "155-questions-active", 2)
            # About 4 KB a frame: 120 of them (~500 KB) are far more than the 32 KB bound plus
            # the kernel's buffers hold, and little enough to stay quick.
            items = [dict(QUESTION, id=n, bodySummary="x" * 4000) for n in range(120)]
            reached = [await publisher.publish("155-questions-active", item) for item in items]
            assert reached[0] == 2
            for item in items:
                assert await next_item(fast) == ("155-questions-active", item)
            await eventually(lambda: fanout.subscribers == 1)
            assert await publisher.publish("155-questions-active", QUESTION) == 1
            assert await next_item(fast) == ("155-questions-active", QUESTION)
    finally:
        slow.close()


async def test_each_item_is_encoded_once_for_all_subscribers(
    node: Node, anonymous: Browser, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§A.8 15: one frame() call per item and topic, whatever the number of subscribers and ports."""
    fanout = topics_of(node)
    renderer: Any = fanout._renderer
    original = renderer.frame
    calls: list[str] = []

    def counting_frame(topic: str, payload: str) -> bytes:
        calls.append(topic)
        return bytes(original(topic, payload))

    monkeypatch.setattr(renderer, "frame", counting_frame)
    urls = [feed_url(node, "gateway"), feed_url(node, "http")] * 3
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(feed(anonymous.session, url)) for url in urls]
        for ws in sockets:
            await ws.send_str("155-questions-active")
        await subscribed(node, "155-questions-active", len(sockets))
        for n in range(3):
            assert await publisher.publish("155-questions-active", dict(QUESTION, id=n)) == len(sockets)
        assert await publisher.publish("1-questions-active", {}) == 0  # no subscriber: not even encoded
        assert calls == ["155-questions-active"] * 3
        for ws in sockets:
            for n in range(3):
                assert await next_text(ws) == wire("155-questions-active", dict(QUESTION, id=n))


# --- the publish API ----------------------------------------------------------------------------


async def test_publish_counts_the_sockets_it_reached(node: Node, anonymous: Browser, publisher: Publisher) -> None:
    assert await publisher.publish("1-questions-active", {"n": 0}) == 0
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(feed(anonymous.session, feed_url(node, port)))
            for port in ("gateway", "http", "gateway")
        ]
        for ws in sockets:
            await ws.send_str("1-questions-active")
            await ws.send_str("1-questions-active")
        await subscribed(node, "1-questions-active", 3)
        assert await publisher.publish("1-questions-active", {"n": 1}) == 3
        for data in ([1, "two", None], "text", 3.5, None, True):  # any JSON value, double-encoded as sent
            assert await publisher.publish("1-questions-active", data) == 3
        for ws in sockets:
            assert [await next_item(ws) for _ in range(6)] == [
                ("1-questions-active", value) for value in ({"n": 1}, [1, "two", None], "text", 3.5, None, True)
            ]


BAD_TOKEN_ERROR = {"error": "The bearer token is missing, unknown, revoked or not allowed to do this"}
CHARACTERS_ERROR = {"error": "topic may contain only letters, digits and . _ : - (and not start with - or .)"}


async def test_publish_refuses_without_a_live_token(node: Node, publisher: Publisher) -> None:
    body = compact({"topic": "155-questions-active", "data": {}}).encode()
    token, record = await node.service.tokens.create("revoked", "publish")
    await node.service.tokens.revoke(record.id)
    cases: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {"error": "Send Authorization: Bearer <token>"}),
        ({"Authorization": publisher.token}, {"error": "Send Authorization: Bearer <token>"}),
        ({"Authorization": f"Basic {publisher.token}"}, {"error": "Send Authorization: Bearer <token>"}),
        ({"Authorization": "Bearer"}, BAD_TOKEN_ERROR),
        ({"Authorization": "Bearer hbb_not-a-token"}, BAD_TOKEN_ERROR),
        ({"Authorization": f"Bearer {publisher.token}x"}, BAD_TOKEN_ERROR),
        ({"Authorization": f"Bearer {token}"}, BAD_TOKEN_ERROR),
    ]
    for headers, error in cases:
        response = await publisher.session.post(publisher.url, data=body, headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="hubbub"'
        assert response.content_type == "application/json"
        assert await response.json() == error, headers
    response = await publisher.session.post(
        publisher.url, data=body, headers={"Authorization": f"bearer {publisher.token}"}
    )
    assert response.status == 200 and await response.json() == {"subscribers": 0}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", {"error": "The body must be JSON"}),
        (b"topic=x&data=1", {"error": "The body must be JSON"}),
        (b'{"topic": "x", "data": 1', {"error": "The body must be JSON"}),
        (b"\xff\xfe", {"error": "The body must be JSON"}),
        (b'{"topic": "x", "data": NaN}', {"error": "The body must be JSON"}),  # NaN is not JSON: consumers would choke
        (b'{"topic": "x", "data": [Infinity]}', {"error": "The body must be JSON"}),
        (b'[{"topic": "x", "data": 1}]', {"error": 'The body must be a JSON object {"topic": ..., "data": ...}'}),
        (b'"x"', {"error": 'The body must be a JSON object {"topic": ..., "data": ...}'}),
        (b'{"topic": "x"}', {"error": "data is required (any JSON value)"}),
        (b'{"data": 1}', {"error": "topic must be a non-empty string"}),
        (b'{"topic": "", "data": 1}', {"error": "topic must be a non-empty string"}),
        (b'{"topic": 155, "data": 1}', {"error": "topic must be a non-empty string"}),
        (b'{"topic": "a b", "data": 1}', CHARACTERS_ERROR),
        (b'{"topic": "-155-questions-active", "data": 1}', CHARACTERS_ERROR),
        (b'{"topic": "hb\\n", "data": 1}', CHARACTERS_ERROR),
        (('{"topic": "' + "x" * 201 + '", "data": 1}').encode(), {"error": "topic must be at most 200 characters"}),
        (
            b'{"topic": "5-topbar", "data": 1}',
            {"error": "topic '5-topbar' is fed by hubbub itself and cannot be published to"},
        ),
        (
            b'{"topic": "5-inbox", "data": 1}',
            {"error": "topic '5-inbox' is fed by hubbub itself and cannot be published to"},
        ),
        (
            b'{"topic": "1-room-activity", "data": 1}',
            {"error": "topic '1-room-activity' is fed by hubbub itself and cannot be published to"},
        ),
    ],
)
async def test_publish_refuses_bad_bodies(publisher: Publisher, raw: bytes, error: dict[str, str]) -> None:
    response = await publisher.post(None, raw=raw)
    assert response.status == 400
    assert response.content_type == "application/json"
    assert await response.json() == error


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1024 * 1024])
async def test_publish_refuses_big_bodies(node: Node, publisher: Publisher, size: int) -> None:
    limit = node.service.settings.publish_max_bytes
    assert limit == 64 * 1024
    prefix = b'{"topic": "big", "data": "'
    exact = prefix + b"x" * (limit - len(prefix) - 2) + b'"}'
    assert len(exact) == limit
    response = await publisher.post(None, raw=exact)
    assert response.status == 200 and await response.json() == {"subscribers": 0}
    big = prefix + b"x" * (size - len(prefix) - 2) + b'"}'

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the size shows only while reading
        for start in range(0, len(big), 16 * 1024):
            yield big[start : start + 16 * 1024]

    for body in (big, chunked()):
        response = await publisher.session.post(
            publisher.url, data=body, headers={"Authorization": f"Bearer {publisher.token}"}
        )
        assert response.status == 413
        assert response.content_type == "application/json"
        assert await response.json() == {"error": f"The body may be at most {limit} bytes"}


async def test_publish_accepts_any_user_of_the_token(node: Node, publisher: Publisher, anonymous: Browser) -> None:
    """The token is the credential: no session cookie or fkey is needed (or looked at)."""
    signed = await node.signed_in("Someone")
    response = await signed.session.post(
        publisher.url,
        data=compact({"topic": "x", "data": 1}),
        headers={"Authorization": f"Bearer {publisher.token}"},
    )
    assert response.status == 200 and await response.json() == {"subscribers": 0}


async def test_room_activity_can_be_subscribed_once_the_room_is_public_again(
    node: Node, port: str, anonymous: Browser, publisher: Publisher
) -> None:
    """A refused (private) activity topic is not remembered as subscribed: asking again later works."""
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    room = await node.room("Secret", owner=owner.user, access=RoomAccess.PRIVATE)
    topic = f"{room}-room-activity"
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        await ws.send_str(topic)
        await ws.send_str(MARK)
        await subscribed(node, MARK)
        await publisher.mark(ws)
        await eventually(lambda: sockets_of(node).idle)  # the room check is over
        await node.service.rooms.update_room(
            owner.user.id, room, name="Secret", description="", tags="", access=RoomAccess.PUBLIC
        )
        await ws.send_str(topic)
        await subscribed(node, topic)
        message = await _post(owner, room, "public again")
        action, posted = await next_item(ws)
        assert (action, posted["a"], posted["id"]) == (topic, "message-posted", message)


async def test_room_activity_churn_reads_the_room_once(
    node: Node, port: str, anonymous: Browser, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribe/unsubscribe churn on a room's activity topic reads the room from the store at most
    once, not once per subscribe, and leaves nothing behind."""
    room = await node.room("Public")
    store = node.runtime.store
    assert store is not None
    reads: list[object] = []
    original = store.read

    async def counting_read(work: Any) -> Any:
        reads.append(work)
        return await original(work)

    monkeypatch.setattr(store, "read", counting_read)
    topic = f"{room}-room-activity"
    async with feed(anonymous.session, feed_url(node, port)) as ws:
        for _ in range(1000):
            await ws.send_str(topic)
            await ws.send_str(f"-{topic}")
        await ws.send_str(topic)
        await ws.send_str(MARK)
        await subscribed(node, MARK)
        await subscribed(node, topic)
        assert len(reads) <= 2  # one lookup, and perhaps one more for a subscribe made as it returned
        await eventually(lambda: sockets_of(node).idle)
    await eventually(lambda: sockets_of(node).open_sockets == 0)
    assert sockets_of(node).idle
    assert topics_of(node).subscriptions == 0
