"""The Bus contract: one suite, run against the in-process bus and the Redis bus.

A "node" here is one bus handle: for the in-process bus every node shares the one
bus of this process; for Redis each node is its own ``RedisBus`` connection under
this test's key prefix on the shared server. Tests that are about a network
(prefixes, lost connections, a Redis restart) are in ``test_redis.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hubbub.bus.base import Bus, Subscription
from hubbub.bus.memory import MemoryBus
from hubbub.bus.redis import RedisBus
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from tests.fakes import TIMEOUT

OpenNode = Callable[[], Awaitable[Bus]]


@pytest.fixture(params=["memory", "redis"])
async def open_node(request: pytest.FixtureRequest) -> AsyncIterator[OpenNode]:
    opened: list[Bus] = []
    shared = MemoryBus()

    async def open_memory() -> Bus:
        return shared

    async def open_redis() -> Bus:
        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")
        bus = await RedisBus.connect(url, prefix=prefix, reconnect_seconds=0.05, timeout_seconds=TIMEOUT)
        opened.append(bus)
        return bus

    yield open_memory if request.param == "memory" else open_redis
    for bus in opened:
        await bus.close()
    await shared.close()


def event(event_id: int, **fields: object) -> Event:
    values: dict[str, object] = {"type": EventType.MESSAGE_POSTED, "time_stamp": 1_790_000_000, "room_id": RoomId(1)}
    values.update(fields)
    return Event(id=EventId(event_id), **values)  # type: ignore[arg-type]


def batch(*ids: int) -> tuple[Event, ...]:
    return tuple(event(i) for i in ids)


async def receive(subscription: Subscription, count: int) -> list[list[int]]:
    batches = []
    for _ in range(count):
        got = await subscription.next_batch(TIMEOUT)
        assert got is not None, f"only {len(batches)} of {count} batches arrived"
        batches.append([e.id for e in got])
    return batches


async def test_a_batch_reaches_a_subscriber_on_the_same_node_whole(open_node: OpenNode) -> None:
    bus = await open_node()
    subscription = bus.subscribe(max_pending=100)
    await bus.publish(batch(1, 2, 3))
    assert await receive(subscription, 1) == [[1, 2, 3]]
    subscription.close()


async def test_a_batch_reaches_every_node_in_publish_order(open_node: OpenNode) -> None:
    publisher, other = await open_node(), await open_node()
    here, there = publisher.subscribe(max_pending=100), other.subscribe(max_pending=100)
    for first in range(1, 40, 2):
        await publisher.publish(batch(first, first + 1))
    expected = [[i, i + 1] for i in range(1, 40, 2)]
    assert await receive(here, 20) == expected
    assert await receive(there, 20) == expected


async def test_every_field_of_an_event_survives_the_trip(open_node: OpenNode) -> None:
    publisher, other = await open_node(), await open_node()
    subscription = other.subscribe(max_pending=100)
    sent = event(
        7,
        type=EventType.MESSAGE_REPLY,
        room_name="Ünïcode ☃ room",
        user_id=UserId(3),
        user_name='Jon "Skeet"',
        target_user_id=UserId(-2),
        message_id=MessageId(99),
        content="<b>hi</b> \n\u2028 🐍",
        parent_id=MessageId(98),
        show_parent=True,
        message_edits=2,
        message_stars=5,
        message_owner_stars=1,
        moved=True,
        topic="stackoverflow.com-questions-active",
        data='{"a": [1, 2]}',
    )
    await publisher.publish((sent, event(8, type=EventType.INBOX_CHANGED, room_id=None, data="3")))
    got = await subscription.next_batch(TIMEOUT)
    assert got is not None
    assert list(got) == [sent, event(8, type=EventType.INBOX_CHANGED, room_id=None, data="3")]
    assert type(got[0].type) is EventType


async def test_a_subscription_sees_only_what_is_published_after_it(open_node: OpenNode) -> None:
    bus = await open_node()
    await bus.publish(batch(1))
    subscription = bus.subscribe(max_pending=100)
    await bus.publish(batch(2))
    assert await receive(subscription, 1) == [[2]]
    assert await subscription.next_batch(0.05) is None


async def test_waiting_with_nothing_published_times_out_with_none(open_node: OpenNode) -> None:
    bus = await open_node()
    subscription = bus.subscribe(max_pending=100)
    assert await subscription.next_batch(0.01) is None
    assert not subscription.lagged


async def test_a_subscriber_past_its_bound_is_told_it_lagged_and_keeps_what_it_had(open_node: OpenNode) -> None:
    publisher, other = await open_node(), await open_node()
    slow = other.subscribe(max_pending=4)
    watcher = other.subscribe(max_pending=100)
    for first in range(1, 9, 2):  # 4 batches of 2 events: the slow one takes 2 batches, then lags
        await publisher.publish(batch(first, first + 1))
    assert len(await receive(watcher, 4)) == 4  # everything has reached the node
    assert slow.lagged
    assert await receive(slow, 2) == [[1, 2], [3, 4]]
    assert await slow.next_batch(0.01) is None
    slow.clear_lag()
    assert not slow.lagged
    await publisher.publish(batch(9))
    assert await receive(slow, 1) == [[9]]


async def test_a_closed_subscription_gets_nothing_and_the_others_go_on(open_node: OpenNode) -> None:
    publisher, other = await open_node(), await open_node()
    closed, open_ = other.subscribe(max_pending=100), other.subscribe(max_pending=100)
    closed.close()
    await publisher.publish(batch(1))
    assert await closed.next_batch(0.01) is None
    assert await receive(open_, 1) == [[1]]


async def test_an_empty_publish_is_nothing(open_node: OpenNode) -> None:
    bus = await open_node()
    subscription = bus.subscribe(max_pending=100)
    await bus.publish(())
    await bus.publish(batch(1))
    assert await receive(subscription, 1) == [[1]]


async def test_a_connected_bus_is_reachable(open_node: OpenNode) -> None:
    assert await (await open_node()).reachable()
