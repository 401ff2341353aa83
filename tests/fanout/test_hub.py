"""The hub delivers every committed event once, in log order, whatever the bus does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path

import pytest

from hubbub import metrics
from hubbub.bus.memory import MemoryBus
from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.dialects.sechat.socket import SechatRenderer
from hubbub.fanout.hub import COALESCE_EVENTS, Hub
from hubbub.fanout.rooms import RoomFanout, RoomSubscriber
from hubbub.fanout.sequencer import Batch
from hubbub.store.base import WriteTx
from hubbub.store.sqlite import SqliteStore
from tests.fakes import TIMEOUT, eventually
from tests.fanout.test_rooms import RecordingConnection, _user


class RecordingFanout:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def deliver(self, batch: Batch) -> int:
        self.batches.append([event.id for event in batch])
        return len(batch)

    @property
    def ids(self) -> list[int]:
        return [i for batch in self.batches for i in batch]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    engine = SqliteStore.open(tmp_path / "hub.sqlite3")
    yield engine
    await engine.close()


async def _commit(store: SqliteStore, count: int, at: int = 100, room: int = 1) -> list[Event]:
    def work(tx: WriteTx) -> list[Event]:
        return [
            tx.append(NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=at, room_id=RoomId(room)))
            for _ in range(count)
        ]

    return await store.write(work)


async def _publish_at_once(bus: MemoryBus, batches: Sequence[Sequence[Event]]) -> None:
    """Publish ``batches`` so that all of them are queued before the hub's next turn, as when commits
    come faster than it delivers: started together, each publish offers its batch before any yields."""
    await asyncio.gather(*(bus.publish(batch) for batch in batches))


async def _hub(store: SqliteStore, bus: MemoryBus, fanout: RecordingFanout, **kwargs: int) -> Hub:
    hub = Hub(bus=bus, store=store, fanouts=[fanout], **kwargs)
    await hub.start()
    return hub


async def test_batches_published_out_of_order_are_delivered_in_order(store: SqliteStore) -> None:
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    first, second = await _commit(store, 2, at=1), await _commit(store, 1, at=2)
    await bus.publish(second)
    await bus.publish(first)
    await eventually(lambda: fanout.ids == [1, 2, 3])
    assert fanout.batches == [[1, 2, 3]]  # both were queued before the hub ran: one delivery
    await hub.stop()


async def test_on_the_in_process_bus_a_batch_is_delivered_before_its_publish_returns(store: SqliteStore) -> None:
    """The hub's turn comes before the publisher's next step: a post reaches the room's sockets
    before its author's request is answered, not after that answer is built and written."""
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    for at in range(3):
        await bus.publish(await _commit(store, 1, at=at))
        assert fanout.ids == list(range(1, at + 2))
    await hub.stop()


def _delivered_times(fanout: RecordingFanout, count: int) -> bool:
    return len(fanout.batches) == count


async def test_a_batch_that_arrives_alone_is_delivered_alone(store: SqliteStore) -> None:
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    for at in range(3):
        await bus.publish(await _commit(store, 2, at=at))
        await eventually(partial(_delivered_times, fanout, at + 1))
    assert fanout.batches == [[1, 2], [3, 4], [5, 6]]
    await hub.stop()


async def test_batches_queued_behind_a_slow_delivery_go_out_together_in_order_up_to_the_limit(
    store: SqliteStore,
) -> None:
    """A room too large to keep up with a burst: what queued meanwhile goes out in as few
    deliveries as the limit allows, each ending where a transaction ends, nothing lost or doubled."""
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    burst = [await _commit(store, 2, at=at) for at in range(40)]  # 80 events, 2 per transaction
    await _publish_at_once(bus, burst)  # all 40 queue before the hub runs
    await eventually(lambda: len(fanout.ids) == 80)
    assert fanout.ids == list(range(1, 81))
    assert [len(batch) for batch in fanout.batches] == [COALESCE_EVENTS, 80 - COALESCE_EVENTS]
    assert all(batch[-1] % 2 == 0 for batch in fanout.batches)  # no transaction split between deliveries
    large = await _commit(store, COALESCE_EVENTS + 5, at=50)
    after = await _commit(store, 1, at=51)
    await bus.publish(large)
    await bus.publish(after)
    await eventually(lambda: len(fanout.ids) == 80 + COALESCE_EVENTS + 6)
    assert fanout.batches[2:] == [[e.id for e in large], [after[0].id]]  # a large batch is never split
    await hub.stop()


async def test_batches_of_different_rooms_are_never_delivered_together(store: SqliteStore) -> None:
    """A socket in both rooms gets one frame per room, each under the delivery's last id: joined,
    room 2's event would come after room 1's later one, under a cursor past both."""
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    batches = [await _commit(store, 1, at=at, room=room) for at, room in enumerate((1, 1, 2, 1, 1))]
    await _publish_at_once(bus, batches)
    await eventually(lambda: len(fanout.ids) == 5)
    assert fanout.batches == [[1, 2], [3], [4, 5]]
    await hub.stop()


async def test_a_batch_that_changes_reach_is_never_delivered_with_another(store: SqliteStore) -> None:
    """A fan-out applies a leaving where its batch ends: joined with later batches, whoever left
    would get what was posted after."""
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)

    def leave(tx: WriteTx) -> list[Event]:
        return [tx.append(NewEvent(type=EventType.USER_LEFT, time_stamp=5, room_id=RoomId(1), user_id=UserId(7)))]

    before = [await _commit(store, 1, at=at) for at in range(2)]
    left = await store.write(leave)
    after = [await _commit(store, 1, at=at) for at in range(6, 8)]
    await _publish_at_once(bus, [*before, left, *after])
    await eventually(lambda: len(fanout.ids) == 5)
    assert fanout.batches == [[1, 2], [3], [4, 5]]
    await hub.stop()


async def test_a_batch_the_bus_never_carried_is_read_from_the_store(store: SqliteStore) -> None:
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    await _commit(store, 1, at=1)  # written by another process, e.g. the CLI
    later = await _commit(store, 1, at=2)
    await bus.publish(later)
    await eventually(lambda: fanout.ids == [1, 2])
    assert hub.last_event_id == 2
    await hub.stop()


async def test_a_lagging_hub_catches_up_from_the_store_without_duplicates(store: SqliteStore) -> None:
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout, max_pending=3)
    batches = [await _commit(store, 2, at=at) for at in range(20)]
    catch_ups = metrics.BUS_CATCH_UPS._value.get()
    await _publish_at_once(bus, batches)  # the hub cannot keep up
    await eventually(lambda: metrics.BUS_CATCH_UPS._value.get() > catch_ups)
    await eventually(lambda: len(fanout.ids) >= 40)
    assert fanout.ids == list(range(1, 41))
    await hub.stop()


async def test_a_lagging_hub_gives_whoever_left_nothing_posted_after_in_the_same_second(store: SqliteStore) -> None:
    """Caught up from the store, a leaving and the next post of the same second must not share a delivery."""
    bus, rooms = MemoryBus(), RoomFanout(SechatRenderer())
    leaver, stayer = RecordingConnection(), RecordingConnection()
    rooms.add(RoomSubscriber(leaver, _user(7), frozenset({RoomId(1)})))
    rooms.add(RoomSubscriber(stayer, _user(8), frozenset({RoomId(1)})))
    hub = Hub(bus=bus, store=store, fanouts=[rooms], max_pending=3)
    await hub.start()

    def leave(tx: WriteTx) -> list[Event]:
        return [tx.append(NewEvent(type=EventType.USER_LEFT, time_stamp=100, room_id=RoomId(1), user_id=UserId(7)))]

    batches = [await _commit(store, 1) for _ in range(6)]
    batches.append(await store.write(leave))
    batches.append(await _commit(store, 1))
    catch_ups = metrics.BUS_CATCH_UPS._value.get()
    await _publish_at_once(bus, batches)  # the hub lags and reads the store
    await eventually(lambda: metrics.BUS_CATCH_UPS._value.get() > catch_ups)
    await eventually(lambda: hub.last_event_id == 8)

    def ids(connection: RecordingConnection) -> list[int]:
        return [event["id"] for frame in connection.frames() for event in frame["r1"]["e"]]  # type: ignore[index]

    assert ids(stayer) == list(range(1, 9))
    assert ids(leaver) == list(range(1, 8))  # up to its own leaving, and not the post after it
    await hub.stop()


async def test_events_before_start_are_not_delivered_again(store: SqliteStore) -> None:
    old = await _commit(store, 2)
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    await bus.publish(old)
    new = await _commit(store, 1, at=5)
    await bus.publish(new)
    await eventually(lambda: fanout.ids == [3])
    await hub.stop()


async def test_delivered_reports_how_many_connections_a_feed_item_reached(store: SqliteStore) -> None:
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)

    def work(tx: WriteTx) -> list[Event]:
        return [tx.append(NewEvent(type=EventType.FEED_PUBLISHED, time_stamp=1, topic="t", data="1"))]

    batch = await store.write(work)
    await bus.publish(batch)
    assert await hub.delivered(EventId(batch[0].id), 5) == 1
    assert await hub.delivered(EventId(batch[0].id), 5) == 1  # asked again after delivery: remembered
    await hub.stop()


class JoiningFanout(RecordingFanout):
    """A fan-out a subscriber joins part-way; records what reached it after it joined."""

    def __init__(self) -> None:
        super().__init__()
        self.joined = False
        self.after_join: list[int] = []

    def deliver(self, batch: Batch) -> int:
        if self.joined:
            self.after_join += [event.id for event in batch]
        return super().deliver(batch)


async def test_a_subscriber_joining_gets_live_exactly_the_ids_after_the_cursor_join_returns(
    store: SqliteStore,
) -> None:
    bus, fanout = MemoryBus(), JoiningFanout()
    hub = await _hub(store, bus, fanout)
    delivered = await _commit(store, 2, at=1)
    await bus.publish(delivered)
    await eventually(lambda: hub.last_event_id == 2)
    committed = await _commit(store, 2, at=2)  # in the store, not yet pushed: live, not replayed

    def subscribe() -> None:
        fanout.joined = True

    live_from = hub.join(subscribe)
    await bus.publish(committed)
    await bus.publish(await _commit(store, 1, at=3))
    await eventually(lambda: len(fanout.ids) == 5)
    assert live_from == 2 and fanout.after_join == [3, 4, 5]
    await hub.stop()


async def test_reached_waits_for_the_hub_to_deliver_an_id(store: SqliteStore) -> None:
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    batch = await _commit(store, 2)
    assert await hub.reached(EventId(0), 0)
    assert not await hub.reached(EventId(2), 0)  # committed, but the hub has not seen it yet
    waiting = asyncio.create_task(hub.reached(EventId(2), 5))
    await bus.publish(batch)
    assert await waiting and fanout.ids == [1, 2]
    await hub.stop()


async def test_reached_covers_ids_read_back_from_the_store(store: SqliteStore) -> None:
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    first, second = await _commit(store, 1, at=1), await _commit(store, 1, at=2)
    # Event 1 never reaches the bus and is read back from the store after the gap wait.
    await bus.publish(second)
    assert await hub.reached(EventId(second[0].id), 5)
    assert fanout.ids == [first[0].id, second[0].id]
    await hub.stop()


async def test_waiting_for_an_id_the_bus_never_brings_reads_it_from_the_store(store: SqliteStore) -> None:
    # Another node committed it and its batch was lost on the way, at the log's tail: no later id
    # arrives to show the gap, yet a client that saw the id there resumes on this node.
    bus, fanout = MemoryBus(), RecordingFanout()
    hub = await _hub(store, bus, fanout)
    elsewhere = await _commit(store, 2, at=1)
    assert await hub.reached(elsewhere[-1].id, TIMEOUT)
    assert fanout.ids == [1, 2]
    await hub.stop()
