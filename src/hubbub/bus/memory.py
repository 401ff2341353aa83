"""In-process bus: the default. With this bus hubbub runs as a single node."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from hubbub.bus.base import Bus, Subscription
from hubbub.core.events import Event

__all__ = ["MemoryBus", "MemorySubscription"]


class MemorySubscription:
    def __init__(self, bus: MemoryBus, max_pending: int) -> None:
        self._bus = bus
        self._batches: deque[tuple[Event, ...]] = deque()
        self._pending_events = 0
        self._max_pending = max_pending
        self._wakeup = asyncio.Event()
        self._closed = False
        self.lagged = False

    def offer(self, batch: tuple[Event, ...]) -> None:
        if self._closed:
            return
        if self._pending_events + len(batch) > self._max_pending:
            self.lagged = True
            return
        self._batches.append(batch)
        self._pending_events += len(batch)
        self._wakeup.set()

    def clear_lag(self) -> None:
        self.lagged = False

    async def next_batch(self, timeout: float | None = None) -> Sequence[Event] | None:
        if not self._batches and not self._closed:
            self._wakeup.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        if not self._batches:
            return None
        batch = self._batches.popleft()
        self._pending_events -= len(batch)
        return batch

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        self._bus.unsubscribe(self)


class MemoryBus:
    """Delivers published batches to the subscribers of this process only."""

    def __init__(self) -> None:
        self._subscriptions: list[MemorySubscription] = []

    async def publish(self, events: Sequence[Event]) -> None:
        batch = tuple(events)
        for subscription in list(self._subscriptions):
            subscription.offer(batch)

    def subscribe(self, *, max_pending: int) -> MemorySubscription:
        subscription = MemorySubscription(self, max_pending)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: MemorySubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()


_bus: type[Bus] = MemoryBus
_subscription: type[Subscription] = MemorySubscription
