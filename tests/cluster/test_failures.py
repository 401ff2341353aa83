"""A cluster losing a node (SIGKILL) or its Redis loses no acknowledged message and repeats none."""

from __future__ import annotations

import asyncio
import re

from tests.cluster.clients import ChatUser, Reader, receive_until
from tests.cluster.conftest import MakeCluster, sign_in
from tests.cluster.harness import Cluster
from tests.cluster.test_nodes import on_node
from tests.fakes import TIMEOUT
from tests.redis_support import PrivateRedis


async def history(user: ChatUser, room: int) -> list[int]:
    """Every posted message id of the room, from the store, through nginx, page after page."""
    ids, cursor = [], 0
    while True:
        page, next_cursor = await user.poll(room, cursor)
        ids += page
        if not page or next_cursor == cursor:
            return ids
        cursor = next_cursor


def assert_exactly_once_in_order(seen: list[int], acknowledged: set[int]) -> None:
    assert len(seen) == len(set(seen)), "a message arrived twice"
    assert seen == sorted(seen), "messages arrived out of order"
    assert acknowledged <= set(seen), f"acknowledged but never delivered: {sorted(acknowledged - set(seen))}"


async def test_a_node_killed_mid_stream_loses_no_acknowledged_message_and_its_clients_resume_elsewhere(
    make_cluster: MakeCluster, users: list[ChatUser]
) -> None:
    cluster = make_cluster(3)
    room = cluster.create_room("Kill")
    posters = [await sign_in(cluster, users, f"Poster{i}") for i in range(3)]
    readers = [await Reader(await sign_in(cluster, users, f"Reader{i}"), room).begin() for i in range(3)]
    acknowledged: set[int] = set()
    killed = asyncio.Event()

    async def post_many(poster: ChatUser, count: int) -> None:
        for n in range(count):
            posted = await poster.post(room, f"{poster.email} {n}")
            if posted is not None:
                acknowledged.add(posted)
            if len(acknowledged) >= 60 and not killed.is_set():
                killed.set()
                cluster.nodes[1].kill()

    reading = [asyncio.create_task(reader.read_until({-1})) for reader in readers]  # read until cancelled
    await asyncio.gather(*(post_many(poster, 60) for poster in posters))
    assert killed.is_set() and not cluster.nodes[1].alive
    for task in reading:
        task.cancel()
    await asyncio.gather(*reading, return_exceptions=True)
    for reader in readers:
        try:
            await reader.read_until(acknowledged)
        except TimeoutError:
            missing = sorted(acknowledged - set(reader.seen))
            raise AssertionError(f"never delivered: {missing} (cursor {reader.cursor})\n{cluster.logs()}") from None
        assert_exactly_once_in_order(reader.seen, acknowledged)
    stored = await history(posters[0], room)
    assert_exactly_once_in_order(stored, acknowledged)
    assert sum(reader.reconnects for reader in readers) >= 1  # somebody was on the killed node


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match is not None, name
    return float(match.group(1))


async def test_losing_redis_degrades_live_delivery_and_nodes_catch_up_from_the_store(
    make_cluster: MakeCluster, users: list[ChatUser], private_redis: PrivateRedis
) -> None:
    cluster: Cluster = make_cluster(2, bus_url=private_redis.url)
    room = cluster.create_room("No Redis")
    alice = await sign_in(cluster, users, "Alice")
    bob = await sign_in(cluster, users, "Bob")
    on_a, on_b = (alice.on(node.base) for node in cluster.nodes)
    sockets = [await bob.session.ws_connect(on_node(await bob.socket_url(room), cluster, i)) for i in (0, 1)]
    sent = [await on_a.post(room, "before")]
    private_redis.stop()
    readiness = await bob.session.get(cluster.nodes[1].base + "/readyz")
    assert readiness.status == 503
    assert "bus: unreachable" in await readiness.text()
    sent += [await (on_a if n % 2 else on_b).post(room, f"without Redis {n}") for n in range(6)]
    assert None not in sent  # posting goes on: the store takes every write
    for ws in sockets:  # both nodes deliver everything, each reading what the other wrote from the store
        assert await receive_until(ws, room, set(sent)) == sent  # type: ignore[arg-type]
    private_redis.start()
    async with asyncio.timeout(TIMEOUT):
        while (await bob.session.get(cluster.nodes[1].base + "/readyz")).status != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the node reconnects on its own schedule; nothing to wait on here
    after = [await on_a.post(room, "with Redis again")]
    for ws in sockets:
        assert await receive_until(ws, room, set(after)) == after  # type: ignore[arg-type]
        await ws.close()
    said = [(record["level"], record["logger"], record["message"]) for record in cluster.log_records(1)]
    assert any(level == "warning" and message.startswith("lost the bus") for level, _, message in said)
    assert any("caught up" in message for _, logger, message in said if logger == "hubbub.hub")
    assert ("warning", "hubbub.bus", "bus is back; catching up from the store") in said
    scraped = await (await bob.session.get(cluster.nodes[1].base + "/metrics")).text()
    assert _metric(scraped, "hubbub_bus_caught_up_events_total") >= 3
    assert _metric(scraped, "hubbub_bus_connected") == 1
