"""The hub: committed batches in, bytes on connections out, in log order, on every node.

Every node feeds its hub only from the bus, so events made here and on other
nodes take the same path. The hub puts batches in id order (``Sequencer``),
reads any gap or lag back from the store, and hands each batch to every dialect's
``Fanout``, which renders it once per audience and writes the same bytes to each
of its connections (shared/DESIGN.md, "encode once, send many").

When deliveries fall behind the commits (a large room under a burst of posts), the
batches that queued meanwhile go out together: one frame per connection carrying
them all, in order, instead of one frame each (``coalesce``). A connection's cost
is mostly per write, so a backlog then shrinks instead of growing. Only batches of
one room join, and never one that changes someone's reach (``_joining_room``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Final, Protocol

from hubbub import metrics
from hubbub.bus.base import Bus, Subscription
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId
from hubbub.core.visibility import access_change
from hubbub.fanout.sequencer import Batch, Sequencer, coalesce, group_into_batches
from hubbub.store.base import ReadTx, Store

__all__ = ["Fanout", "Hub"]

log = logging.getLogger("hubbub.hub")

GAP_WAIT_SECONDS: Final = 0.5  # how long a missing id may stay missing before the store is asked
CATCH_UP_PAGE: Final = 1000  # events read from the store per query when catching up
RECENT_REACH: Final = 1024  # feed items whose reach is remembered
# Events delivered together at most when batches queued up: a writer group's own batch can be
# this large already, so no frame grows past what one busy commit makes.
COALESCE_EVENTS: Final = 64


def _joining_room(batch: Batch) -> RoomId | None:
    """The room whose batches this one may share a delivery with, or None for none.

    Only batches of one room's events join: a socket carrying several rooms gets a frame per
    room, each with the delivery's last id as its cursor, so joined across rooms it would get
    a later room's events before an earlier one's, under a cursor past both. Never a batch that
    changes someone's reach: a fan-out applies such a change where its batch ends (a user who
    left gets their own 4, then nothing more), so joined, whoever left would get what came
    after. Nor one that publishes a feed item, whose reach is counted per delivery.
    """
    room = batch[0].room_id
    if room is None:
        return None
    for event in batch:
        if event.room_id != room or event.type is EventType.FEED_PUBLISHED or access_change(event) is not None:
            return None
    return room


def _events_after(since: EventId, tx: ReadTx) -> list[Event]:
    return tx.events_after(since, limit=CATCH_UP_PAGE)


class Fanout(Protocol):
    """One dialect's delivery: writes a batch to its connections; returns how many writes it made."""

    def deliver(self, batch: Batch) -> int: ...


class Hub:
    def __init__(self, *, bus: Bus, store: Store, fanouts: Sequence[Fanout], max_pending: int = 100_000) -> None:
        self._bus = bus
        self._store = store
        self._fanouts = list(fanouts)
        self._max_pending = max_pending
        self._sequencer = Sequencer(EventId(0))
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[EventId, list[asyncio.Future[int]]] = {}
        # Callers of reached(): (id, future), resolved once the hub has delivered up to the id.
        self._reach_waiters: list[tuple[EventId, asyncio.Future[None]]] = []
        # How many connections recent published feed items reached, for callers that ask late.
        self._reached: OrderedDict[EventId, int] = OrderedDict()
        self._arrived: dict[int, float] = {}  # first id of a held batch -> when it came (monotonic)
        self._stopping = False

    @property
    def last_event_id(self) -> EventId:
        """The newest event delivered to connections (the cursor keep-alive frames carry)."""
        return self._sequencer.last_released

    def join(self, subscribe: Callable[[], None]) -> EventId:
        """Register a subscriber (``subscribe`` adds it to a fan-out); return where its live delivery starts.

        Every id up to the returned one has been delivered, and every batch delivered after
        this call holds only larger ids (the sequencer releases in order and a batch is
        delivered to every fan-out at once, with no await in between). A subscriber that
        replays the log must therefore replay exactly up to this id (``fanout.handover``).
        """
        subscribe()
        return self._sequencer.last_released

    async def reached(self, event_id: EventId, timeout: float) -> bool:
        """Wait until the hub has delivered every id up to ``event_id``; False after ``timeout`` seconds."""
        if event_id <= self._sequencer.last_released:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (event_id, future)
        self._reach_waiters.append(entry)
        deadline = time.monotonic() + timeout
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(timeout, GAP_WAIT_SECONDS)):
                    await asyncio.shield(future)
                return True
            if timeout <= GAP_WAIT_SECONDS:
                return False
            # Nothing brought it: with several nodes the bus may have lost a batch at the tail of the
            # log, where no later id shows a gap. The store has it (the caller saw the id somewhere).
            await self._read_tail()
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await future
            return True
        except TimeoutError:
            return False
        finally:
            if entry in self._reach_waiters:
                self._reach_waiters.remove(entry)

    async def _read_tail(self) -> None:
        events = await self._read_after(self._sequencer.last_released)
        metrics.GAP_FILLS.inc(len(events))
        self._offer(group_into_batches(events), time.monotonic())

    def add_fanout(self, fanout: Fanout) -> None:
        self._fanouts.append(fanout)

    async def start(self) -> None:
        # Subscribe before reading the log's end, so that nothing committed in between is missed.
        self._subscription = self._bus.subscribe(max_pending=self._max_pending)
        last = await self._store.read(lambda tx: tx.last_event_id())
        self._sequencer = Sequencer(last)
        self._task = asyncio.create_task(self._run(), name="hubbub-hub")

    async def stop(self) -> None:
        self._stopping = True
        if self._subscription is not None:
            self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        for _, waiter in self._reach_waiters:
            waiter.cancel()

    async def delivered(self, event_id: EventId, timeout: float) -> int | None:
        """Wait until the hub has delivered ``event_id``; the number of connections its batch
        reached (None if that takes longer than ``timeout``, or for an old event that is not a
        recent feed item)."""
        if event_id <= self._sequencer.last_released:
            return self._reached.get(event_id)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event_id, []).append(future)
        metrics.LONGPOLL_WAITERS.inc()
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            metrics.LONGPOLL_WAITERS.dec()
            waiting = self._waiters.get(event_id)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[event_id]

    def _deliver(self, batch: Batch) -> None:
        metrics.EVENTS_DELIVERED.inc(len(batch))
        writes = 0
        for fanout in self._fanouts:
            try:
                writes += fanout.deliver(batch)
            except Exception:  # one dialect's bug must not stop delivery for the others
                log.exception("fan-out failed for events %d-%d", batch[0].id, batch[-1].id)
        metrics.FRAME_WRITES.inc(writes)
        for event in batch:
            if event.type is EventType.FEED_PUBLISHED:
                self._reached[event.id] = writes
                if len(self._reached) > RECENT_REACH:
                    self._reached.popitem(last=False)
            for future in self._waiters.pop(event.id, ()):
                if not future.done():
                    future.set_result(writes)

    def _offer(self, batches: Iterable[Sequence[Event]], arrived: float) -> None:
        released: list[Batch] = []
        for batch in batches:
            released.extend(self._sequencer.offer(batch))
            if batch and self._sequencer.held:  # waiting for a gap: remember since when, for the lag metric
                self._arrived.setdefault(batch[0].id, arrived)
        self._release(released, arrived)

    def _with_backlog(self, batch: Sequence[Event]) -> list[Sequence[Event]]:
        """``batch`` and the batches already queued behind it, up to ``COALESCE_EVENTS`` events in all."""
        assert self._subscription is not None
        batches = [batch]
        count = len(batch)
        while count < COALESCE_EVENTS and (more := self._subscription.ready_batch()) is not None:
            batches.append(more)
            count += len(more)
        return batches

    def _release(self, batches: Sequence[Batch], arrived: float) -> None:
        lagging = iter(batches)
        for joined in coalesce(batches, COALESCE_EVENTS, _joining_room) if len(batches) > 1 else batches:
            self._deliver(joined)
            delivered_at = time.monotonic()
            for batch in lagging:  # the batches this delivery carried, each timed from its own arrival
                metrics.FANOUT_LAG.observe(delivered_at - self._arrived.pop(batch[0].id, arrived))
                if batch[-1].id == joined[-1].id:
                    break
        if self._arrived and not self._sequencer.held:
            self._arrived.clear()
        if self._reach_waiters:  # also after a gap given up on, which releases no batch
            last = self._sequencer.last_released
            for event_id, future in self._reach_waiters:
                if event_id <= last and not future.done():
                    future.set_result(None)

    async def _read_after(self, since: EventId, through: EventId | None = None) -> list[Event]:
        events: list[Event] = []
        cursor = since
        while True:
            page = await self._store.read(partial(_events_after, cursor))
            if through is not None:
                page = [event for event in page if event.id <= through]
            events.extend(page)
            if len(page) < CATCH_UP_PAGE:
                return events
            cursor = EventId(page[-1].id)

    async def _catch_up(self) -> None:
        """The bus dropped batches for us: deliver everything committed since our last id from the store."""
        assert self._subscription is not None
        self._subscription.clear_lag()
        events = await self._read_after(self._sequencer.last_released)
        metrics.BUS_CATCH_UPS.inc()
        metrics.BUS_CAUGHT_UP_EVENTS.inc(len(events))
        if events:
            log.warning("the bus missed events for this node; caught up %d from the store", len(events))
        self._offer(group_into_batches(events), time.monotonic())

    async def _fill_gap(self, since: float) -> None:
        gap = self._sequencer.gap()
        if gap is None:
            return
        first, last = gap
        events = await self._read_after(EventId(first - 1), last)
        metrics.GAP_FILLS.inc(len(events))
        self._release(self._sequencer.fill(events, last), since)

    async def _run(self) -> None:
        assert self._subscription is not None
        gap_since: float | None = None
        while not self._stopping:
            timeout = None if gap_since is None else max(0.0, gap_since + GAP_WAIT_SECONDS - time.monotonic())
            batch = await self._subscription.next_batch(timeout)
            if self._stopping:
                return
            if self._subscription.lagged:
                await self._catch_up()
            if batch is not None:
                self._offer(self._with_backlog(batch), time.monotonic())
            if self._sequencer.gap() is None:
                gap_since = None
            elif gap_since is None:
                gap_since = time.monotonic()
            elif time.monotonic() - gap_since >= GAP_WAIT_SECONDS:
                await self._fill_gap(gap_since)
                gap_since = None
