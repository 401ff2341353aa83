"""Stream webhooks end to end: a running node posts multistreamer's bodies to a real receiver on 127.0.0.1.

The receiver (tests/bridges/webhook_receiver.py) is an aiohttp server on a free port. Streams
go live and offline through the JSON API; comments arrive as a bridge hands them over
(``stream_chat.from_network``) and through ``POST /api/v1/stream/:id/msg``; lines typed into
hubbub's own chat must not fire.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hubbub.bridges.webhooks import LEASE_SECONDS, WebhookDelivery
from hubbub.core.ids import EventId, UserId
from tests.bridges.webhook_receiver import HANG, Receiver
from tests.conftest import Node, NodeFactory
from tests.dialects.streams.helpers import StreamsUser, receive, send, streams_user
from tests.fakes import TIMEOUT, eventually
from tests.redis_support import delete_prefix

QUICK = {"webhooks_retry_seconds": 0.01}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def _show(john: StreamsUser) -> tuple[int, dict[str, Any]]:
    account = (
        await john.ok(
            "POST", "/api/v1/account", {"network": "twitch", "name": "jd", "http_url": "https://twitch.tv/jd"}
        )
    )["account"]
    stream = (await john.ok("POST", "/api/v1/stream", {"name": "My Show", "accounts": [{"id": account["id"]}]}))[
        "stream"
    ]
    return int(stream["id"]), account


async def _hook(user: StreamsUser, stream_id: int, url: str, kind: str = "raw", **body: Any) -> dict[str, Any]:
    answer = await user.ok("POST", f"/api/v1/stream/{stream_id}/webhook", {"url": url, "type": kind, **body})
    hook = answer["webhook"]
    assert isinstance(hook, dict)
    return hook


def _count(result: str) -> float:
    return REGISTRY.get_sample_value("hubbub_webhook_calls_total", {"result": result}) or 0.0


async def test_live_offline_and_network_comments_post_the_exact_bodies(
    make_node: NodeFactory, receiver: Receiver
) -> None:
    node = await make_node(**QUICK)
    john = await streams_user(node, "John")
    stream_id, account = await _show(john)
    raw = await _hook(john, stream_id, receiver.url("/raw"), notes="everything")
    await _hook(john, stream_id, receiver.url("/discord"), "discord")
    await _hook(john, stream_id, receiver.url("/ends"), events={"stream:start": False, "stream:end": True})
    user = {"id": john.id, "username": "john"}
    stream = {"id": stream_id, "slug": "my-show", "name": "My Show"}
    assert raw["events"] == {"stream:start": True, "stream:end": True, "comment:in": True}

    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
    [start] = await receiver.wait_for("/raw", 1)
    assert start.content_type == "application/json"
    assert start.body == {
        "hook_type": "stream:start",
        "accounts": [
            {
                "id": account["id"],
                "network": {"displayname": "Twitch", "name": "twitch"},
                "slug": "jd",
                "name": "jd",
                "http_url": "https://twitch.tv/jd",
            }
        ],
        "user": user,
        "stream": stream,
    }
    [discord_start] = await receiver.wait_for("/discord", 1)
    assert discord_start.body == {"content": "john is now streaming! https://twitch.tv/jd", "username": "john"}

    # A line a bridge read on its network, then one injected through the API.
    await node.service.stream_chat.from_network(
        stream_id, account["id"], kind="text", text="hi *all*", from_name="viewer", from_id="42"
    )
    injected = {"type": "emote", "text": "waves", "network": "instagram", "from": {"name": "ig", "id": 7}}
    assert await john.ok("POST", f"/api/v1/stream/{stream_id}/msg", injected) == {"status": "ok"}
    _, network_line, api_line = await receiver.wait_for("/raw", 3)
    assert network_line.body == {
        "hook_type": "comment:in",
        "type": "text",
        "text": "hi *all*",
        "markdown": "hi \\*all\\*",
        "from": {"name": "viewer", "id": "42"},
        "network": {"displayname": "Twitch", "name": "twitch"},
        "account": {"id": account["id"]},
        "stream": {"id": stream_id},
        "user": {"username": "john", "id": john.id},
    }
    assert api_line.body == {
        "hook_type": "comment:in",
        "type": "emote",
        "text": "waves",
        "from": {"name": "ig", "id": 7},
        "network": {"displayname": "instagram", "name": "instagram"},
        "account": {},
        "stream": {"id": stream_id},
        "user": {"username": "john", "id": john.id},
    }
    _, discord_line, _ = await receiver.wait_for("/discord", 3)
    assert discord_line.body == {"content": "hi *all*", "username": "viewer @ Twitch"}

    # A line typed into hubbub's own chat (account "0") reaches the sockets and no hook.
    socket = await john.socket(stream_id)
    await send(socket, type="text", account_id=0, cur_stream_account_id=0, text="local line")
    frame = await receive(socket)
    assert frame["text"] == "local line" and frame["account_id"] == 0
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": False})
    *_, end = await receiver.wait_for("/raw", 4)  # per hook in log order: the local line would come before
    assert end.body == {"hook_type": "stream:end", "user": user, "stream": stream}
    [only_end] = await receiver.wait_for("/ends", 1)
    assert only_end.body == end.body
    *_, discord_end = await receiver.wait_for("/discord", 4)
    assert discord_end.body == {"content": "john has stopped streaming", "username": "john"}
    assert [len(receiver.at(p)) for p in ("/raw", "/discord", "/ends")] == [4, 4, 1]


async def test_only_editors_manage_hooks_and_refused_input_changes_nothing(node: Node) -> None:
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")  # reads and writes the chat, may not edit the stream
    carol = await streams_user(node, "Carol")  # may edit the stream
    eve = await streams_user(node, "Eve")  # nothing to do with it
    stream_id, _ = await _show(john)
    shares = [
        {"chat_level": 2, "metadata_level": 1, "user": {"id": bob.id}},
        {"chat_level": 1, "metadata_level": 2, "user": {"id": carol.id}},
    ]
    await john.ok("POST", f"/api/v1/stream/{stream_id}", {"shares": shares})
    hook = await _hook(carol, stream_id, "https://hooks.example/a", "discord", events=["comment:in"], notes="n")
    assert hook["events"] == {"stream:start": False, "stream:end": False, "comment:in": True}
    base = f"/api/v1/stream/{stream_id}/webhook"

    async def hooks() -> Any:
        return (await john.ok("GET", base))["webhooks"]

    before = await hooks()
    assert before == [hook]
    not_editor = (401, {"error": "unauthorized to edit stream"})
    not_yours = (400, {"error": "unauthorized to use that stream"})
    body = {"url": "https://evil.example/", "type": "raw"}
    for user, refusal in ((bob, not_editor), (eve, not_yours)):
        assert await user.call("GET", base) == refusal
        assert await user.call("POST", base, body) == refusal
        assert await user.call("POST", f"{base}/{hook['id']}", body) == refusal
        assert await user.call("DELETE", f"{base}/{hook['id']}") == refusal
    for bad, message in (
        ({"url": "ftp://x.example/", "type": "raw"}, "url must start with http:// or https://"),
        ({"url": "https://x.example/", "type": "slack"}, 'type must be "discord" or "raw"'),
        ({"url": "https://x.example/", "type": "raw", "events": ["stream:begin"]}, "events may only be"),
        ({"url": "https://x.example/", "type": "raw", "notes": "x" * 501}, "notes may have at most 500"),
        ({"type": "raw"}, "a webhook needs a url and a type"),
        ({"url": "https://x.example/" + "a" * 2048, "type": "raw"}, "url may have at most 2048"),
    ):
        status, answer = await john.call("POST", base, bad)
        assert status == 400 and answer["error"].startswith(message), (bad, answer)
        if "url" in bad:  # a change may leave the url out; every other refusal holds for it too
            status, answer = await john.call("POST", f"{base}/{hook['id']}", bad)
            assert status == 400 and answer["error"].startswith(message), (bad, answer)
    assert await john.call("POST", base, body, **{"Content-Type": "text/plain"}) == (
        400,
        {"error": "content-type must be application/json"},
    )
    assert await john.call("POST", f"{base}/999999", body) == (400, {"error": "no such webhook on that stream"})
    other_id, _ = await _show(john)
    assert await john.call("DELETE", f"/api/v1/stream/{other_id}/webhook/{hook['id']}") == (
        400,
        {"error": "no such webhook on that stream"},
    )
    assert await hooks() == before

    # The stream object shows hooks to editors only.
    assert (await bob.ok("GET", f"/api/v1/stream/{stream_id}"))["stream"]["webhooks"] == []
    assert (await carol.ok("GET", f"/api/v1/stream/{stream_id}"))["stream"]["webhooks"] == before
    changed = (await john.ok("POST", f"{base}/{hook['id']}", {"type": "raw", "events": []}))["webhook"]
    assert changed["type"] == "raw" and changed["url"] == hook["url"] and changed["notes"] == "n"
    assert not any(changed["events"].values())
    for n in range(19):
        await _hook(john, stream_id, f"https://hooks.example/{n}")
    status, answer = await john.call("POST", base, body)
    assert status == 400 and "at most 20 webhooks" in answer["error"]
    assert await john.ok("DELETE", f"{base}/{hook['id']}") == {"status": "success"}
    assert len(await hooks()) == 19
    assert await john.ok("DELETE", f"/api/v1/stream/{stream_id}") == {"status": "success"}
    assert await node.service.context.store.read(lambda tx: tx.stream_webhooks(stream_id)) == []


async def _chat_round(john: StreamsUser, node: Node, stream_id: int, socket: Any, tag: str, count: int) -> float:
    """Inject ``count`` lines and return how long until the socket has had them all."""
    started = time.monotonic()
    for n in range(count):
        await node.service.stream_chat.inject(UserId(john.id), stream_id, {"type": "text", "text": f"{tag}{n}"})
    seen = 0
    while seen < count:
        frame = await receive(socket)
        if frame.get("text", "").startswith(tag):
            seen += 1
    return time.monotonic() - started


async def test_a_hanging_or_failing_receiver_does_not_delay_chat(make_node: NodeFactory, receiver: Receiver) -> None:
    node = await make_node(webhooks_timeout=TIMEOUT * 6, webhooks_retry_seconds=0.05)
    john = await streams_user(node, "John")
    stream_id, _ = await _show(john)
    socket = await john.socket(stream_id)
    baseline = await _chat_round(john, node, stream_id, socket, "before", 30)

    await _hook(john, stream_id, receiver.answer("/hang", HANG), events=["comment:in"])
    await _hook(john, stream_id, receiver.answer("/fail", 500), events=["comment:in"])
    hooked = await _chat_round(john, node, stream_id, socket, "after", 30)
    # Every line reached the socket while the first call to the hanging receiver was still open
    # (its timeout is a minute: a delivery waiting on it would take that long) ...
    assert receiver.open_requests == 1 and len(receiver.at("/hang")) == 1
    await receiver.wait_for("/fail", 2)  # ... and the failing one was being retried meanwhile.
    print(
        f"chat round: {baseline * 1000:.1f} ms without hooks, {hooked * 1000:.1f} ms with a hanging and a failing one"
    )
    assert hooked < 5 * baseline + 1.0, (baseline, hooked)


async def test_retries_honour_retry_after_and_give_up(make_node: NodeFactory, receiver: Receiver) -> None:
    node = await make_node(webhooks_retries=2, **QUICK)
    john = await streams_user(node, "John")
    stream_id, _ = await _show(john)
    await _hook(john, stream_id, receiver.answer("/flaky", 500, 503, 204), events=["stream:start"])
    await _hook(
        john, stream_id, receiver.answer("/busy", 429, 204, headers={"Retry-After": "1"}), events=["stream:start"]
    )
    await _hook(john, stream_id, receiver.answer("/gone", 404), events=["stream:start"])
    await _hook(john, stream_id, receiver.answer("/down", 500), events=["stream:start"])
    delivered, failed = _count("delivered"), _count("failed")
    await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
    flaky = await receiver.wait_for("/flaky", 3)
    assert flaky[0].body == flaky[2].body  # the same call, tried again
    first, second = await receiver.wait_for("/busy", 2)
    assert second.at - first.at >= 1.0  # its Retry-After, not the 10 ms backoff
    await receiver.wait_for("/down", 3)
    await eventually(lambda: _count("delivered") - delivered == 2 and _count("failed") - failed == 2)
    assert len(receiver.at("/gone")) == 1  # a 404 is not tried again
    assert len(receiver.at("/down")) == 3  # the first attempt and two retries
    assert len(receiver.at("/flaky")) == 3


async def test_the_queue_bound_holds_under_a_flood(make_node: NodeFactory, receiver: Receiver) -> None:
    node = await make_node(webhooks_queue_max=20, webhooks_queue_per_hook=5, webhooks_timeout=TIMEOUT * 6)
    john = await streams_user(node, "John")
    stream_id, _ = await _show(john)
    await _hook(john, stream_id, receiver.answer("/hang", HANG), events=["comment:in"])
    delivery = node.runtime.webhooks
    hub = node.runtime.hub
    assert delivery is not None and hub is not None
    dropped = _count("dropped")
    last = EventId(0)
    for n in range(200):
        await node.service.stream_chat.inject(UserId(john.id), stream_id, {"type": "text", "text": f"flood {n}"})
        assert delivery.pending <= 20
    last = await node.service.context.store.read(lambda tx: tx.last_event_id())
    assert await hub.reached(last, TIMEOUT)
    await eventually(lambda: receiver.open_requests == 1 and delivery.pending == 5)
    # One call hangs at the receiver, five wait behind it; every other line was dropped, and counted.
    assert delivery.dropped == 194 and _count("dropped") - dropped == 194
    assert len(receiver.at("/hang")) == 1


async def test_one_node_of_a_cluster_posts_and_another_takes_over(node: Node, receiver: Receiver) -> None:
    john = await streams_user(node, "John")
    stream_id, _ = await _show(john)
    await _hook(john, stream_id, receiver.url("/hook"))
    first, hub = node.runtime.webhooks, node.runtime.hub
    assert first is not None and hub is not None and first.holding
    second = WebhookDelivery(node.service)  # another node on the same store and log
    hub.add_fanout(second)
    await second.start()
    try:
        assert not second.holding
        await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
        await receiver.wait_for("/hook", 1)

        # The holder dies without giving its lease back: nobody posts until the lease lapses.
        await first.stop()
        await node.service.webhooks.claim_delivery(first.node, LEASE_SECONDS)
        await second.renew()
        assert not second.holding
        await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": False})
        node.clock.advance(LEASE_SECONDS + 1)
        await second.renew()
        assert second.holding
        await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
        calls = await receiver.wait_for("/hook", 2)
        assert [c.body["hook_type"] for c in calls] == ["stream:start", "stream:start"]  # the end fell in the gap
        last = await node.service.context.store.read(lambda tx: tx.last_event_id())
        assert await hub.reached(last, TIMEOUT)
        assert len(receiver.at("/hook")) == 2  # each call once, not once per node
    finally:
        await second.stop()


async def test_two_real_nodes_post_each_call_once(
    make_node: NodeFactory, receiver: Receiver, postgres_url: str, redis_url: str
) -> None:
    """Two nodes on one PostgreSQL database and one Redis bus: both hubs see every event, one posts."""
    shared = {"database": postgres_url, "bus": redis_url, "redis_prefix": f"hubbub-test-{uuid.uuid4().hex[:12]}:"}
    a, b = await make_node(**shared), await make_node(**shared)
    try:
        john = await streams_user(a, "John")
        stream_id, account = await _show(john)
        await _hook(john, stream_id, receiver.url("/hook"), events=["stream:start", "comment:in"])
        holders = [n.runtime.webhooks is not None and n.runtime.webhooks.holding for n in (a, b)]
        assert holders == [True, False]
        await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
        # A comment appended on the node that does not post.
        await b.service.stream_chat.from_network(
            stream_id, account["id"], kind="text", text="via b", from_name="v", from_id="1"
        )
        calls = await receiver.wait_for("/hook", 2)
        last = await a.service.context.store.read(lambda tx: tx.last_event_id())
        for node in (a, b):
            assert node.runtime.hub is not None and await node.runtime.hub.reached(last, TIMEOUT)
        assert [c.body["hook_type"] for c in calls] == ["stream:start", "comment:in"]
        assert len(receiver.at("/hook")) == 2
    finally:
        delete_prefix(redis_url, shared["redis_prefix"])
