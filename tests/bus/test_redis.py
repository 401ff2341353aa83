"""The Redis bus on a network: deployments kept apart by prefix, connections killed, Redis restarted.

Whatever happens to Redis, a node's hub ends up delivering every committed event
once, in order: the bus tells it when it may have missed something and the hub
reads the store (docs/design/bus.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from hubbub import metrics
from hubbub.bus.redis import RedisBus
from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import RoomId
from hubbub.errors import ConfigError
from hubbub.fanout.hub import Hub
from hubbub.fanout.sequencer import Batch
from hubbub.store.base import WriteTx
from hubbub.store.sqlite import SqliteStore
from tests.bus.test_contract import batch, receive
from tests.fakes import TIMEOUT, eventually
from tests.ports import free_port
from tests.redis_support import PrivateRedis, kill_clients


async def connect(url: str, prefix: str) -> RedisBus:
    return await RedisBus.connect(url, prefix=prefix, reconnect_seconds=0.05, timeout_seconds=TIMEOUT)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    engine = SqliteStore.open(tmp_path / "shared.sqlite3")
    yield engine
    await engine.close()


class RecordingFanout:
    def __init__(self) -> None:
        self.ids: list[int] = []

    def deliver(self, batch: Batch) -> int:
        self.ids.extend(event.id for event in batch)
        return 1


async def commit_and_publish(store: SqliteStore, bus: RedisBus, count: int) -> list[Event]:
    def work(tx: WriteTx) -> list[Event]:
        return [
            tx.append(NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=1, room_id=RoomId(1))) for _ in range(count)
        ]

    events = await store.write(work)
    await bus.publish(events)
    return events


async def test_deployments_with_different_prefixes_do_not_hear_each_other(redis_url: str, redis_prefix: str) -> None:
    ours, theirs = await connect(redis_url, redis_prefix), await connect(redis_url, redis_prefix + "other:")
    listening = ours.subscribe(max_pending=100)
    await theirs.publish(batch(1))
    mine = await connect(redis_url, redis_prefix)
    await mine.publish(batch(2))
    assert await receive(listening, 1) == [[2]]
    for bus in (ours, theirs, mine):
        await bus.close()


async def test_an_unreachable_redis_is_refused_at_start_with_its_address() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(ConfigError, match=f"cannot reach the bus at {url}"):
        await RedisBus.connect(url, prefix="x:", timeout_seconds=0.5)


async def test_killed_connections_make_the_subscriber_catch_up_and_publishes_go_on(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "hubbub.bus")
    publisher, other = await connect(redis_url, redis_prefix), await connect(redis_url, redis_prefix)
    subscription = other.subscribe(max_pending=1000)
    await publisher.publish(batch(1))
    assert await receive(subscription, 1) == [[1]]

    # Both listening connections and the one publishing connection in use so far.
    assert await kill_clients(redis_url, f"{redis_prefix}bus") == 3
    await publisher.publish(batch(2))  # a killed publishing connection is replaced, not an error
    await eventually(lambda: subscription.lagged)
    assert "lost the bus" in caplog.text
    await eventually(lambda: other.connected)
    assert "bus is back; catching up from the store" in caplog.text
    subscription.clear_lag()
    await publisher.publish(batch(3))
    got = await receive(subscription, 1)
    if got == [[2]]:  # batch 2 may have reached the new subscription too; the hub drops a repeat
        got = await receive(subscription, 1)
    assert got == [[3]]
    await publisher.close()
    await other.close()


async def test_while_redis_is_down_nodes_go_on_alone_and_hear_each_other_again_after(
    private_redis: PrivateRedis,
) -> None:
    publisher, other = await connect(private_redis.url, "p:"), await connect(private_redis.url, "p:")
    here, there = publisher.subscribe(max_pending=1000), other.subscribe(max_pending=1000)
    failures = metrics.BUS_PUBLISH_FAILURES._value.get()

    private_redis.stop()
    await eventually(lambda: not other.connected and there.lagged)
    assert not await other.reachable()
    await publisher.publish(batch(1))  # committed events are never an error for the caller
    assert await receive(here, 1) == [[1]]  # this node's own clients still get them at once
    assert metrics.BUS_PUBLISH_FAILURES._value.get() > failures
    there.clear_lag()
    await eventually(lambda: there.lagged)  # re-asserted while Redis stays away: the hub keeps reading the store

    private_redis.start()
    there.clear_lag()
    await eventually(lambda: publisher.connected and other.connected)
    assert await other.reachable()
    assert there.lagged  # told to read the store for what it missed while Redis was away
    there.clear_lag()  # as the hub does once it has
    await publisher.publish(batch(2))
    # The batch kept while Redis was down is resent before the new one; it reaches the other node
    # only if that node had resubscribed by then (if not, the node reads it from the store).
    got = await receive(there, 1)
    if got == [[1]]:
        got = await receive(there, 1)
    assert got == [[2]]
    await publisher.close()
    await other.close()


async def test_a_node_whose_redis_connections_are_killed_mid_stream_misses_nothing(
    redis_url: str, redis_prefix: str, store: SqliteStore
) -> None:
    node_a, node_b = await connect(redis_url, redis_prefix), await connect(redis_url, redis_prefix)
    seen_a, seen_b = RecordingFanout(), RecordingFanout()
    hub_a = Hub(bus=node_a, store=store, fanouts=[seen_a])
    hub_b = Hub(bus=node_b, store=store, fanouts=[seen_b])
    await hub_a.start()
    await hub_b.start()
    catch_ups = metrics.BUS_CATCH_UPS._value.get()
    committed: list[int] = []
    for round_ in range(30):
        committed += [event.id for event in await commit_and_publish(store, node_a if round_ % 2 else node_b, 5)]
        if round_ % 7 == 3:
            await kill_clients(redis_url, f"{redis_prefix}bus")
    await eventually(lambda: seen_a.ids == committed and seen_b.ids == committed)
    assert metrics.BUS_CATCH_UPS._value.get() > catch_ups
    for hub in (hub_a, hub_b):
        await hub.stop()
    for bus in (node_a, node_b):
        await bus.close()


async def test_a_foreign_message_on_the_channel_is_skipped_with_a_warning(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await connect(redis_url, redis_prefix)
    subscription = bus.subscribe(max_pending=100)
    sender = Redis.from_url(redis_url)
    await sender.publish(f"{redis_prefix}events", b"hello")
    await sender.publish(f"{redis_prefix}events", b"1 0123456789abcdef {not json")
    await sender.aclose()
    other = await connect(redis_url, redis_prefix)
    await other.publish(batch(5))
    assert await receive(subscription, 1) == [[5]]
    assert "not a version-1 hubbub batch" in caplog.text
    assert "malformed hubbub batch" in caplog.text
    await bus.close()
    await other.close()


async def test_a_redis_that_stops_answering_is_noticed_by_its_silence(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await RedisBus.connect(private_redis.url, prefix="p:", reconnect_seconds=0.05, timeout_seconds=0.2)
    subscription = bus.subscribe(max_pending=10)
    private_redis.pause()  # connections stay open; nothing comes back, not even to a ping
    await eventually(lambda: not bus.connected and subscription.lagged)
    failures = metrics.BUS_PUBLISH_FAILURES._value.get()
    await bus.publish(batch(1))  # kept for later at once: the bus knows Redis is gone, so it does not try
    assert metrics.BUS_PUBLISH_FAILURES._value.get() == failures + 1
    assert "could not publish" not in caplog.text
    assert await receive(subscription, 1) == [[1]]
    private_redis.resume()
    other = await connect(private_redis.url, "p:")
    listening = other.subscribe(max_pending=10)
    await eventually(lambda: bus.connected)  # ... and the kept batch is sent again, once
    await bus.publish(batch(2))
    got = await receive(listening, 1)
    if got == [[1]]:  # the resend reached the other node too (it had subscribed in time)
        got = await receive(listening, 1)
    assert got == [[2]]
    await bus.close()
    await other.close()
