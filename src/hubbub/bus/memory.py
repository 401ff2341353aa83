"""In-process bus: the default. With this bus hubbub runs as a single node."""

from __future__ import annotations

from collections.abc import Sequence

from hubbub.bus.base import Bus, Subscription
from hubbub.bus.local import LocalSubscription
from hubbub.core.events import Event

__all__ = ["MemoryBus"]


class MemoryBus:
    """Delivers published batches to the subscribers of this process only."""

    def __init__(self) -> None:
        self._subscriptions: list[LocalSubscription] = []

    async def publish(self, events: Sequence[Event]) -> None:
        batch = tuple(events)
        if not batch:
            return
        for subscription in list(self._subscriptions):
            subscription.offer(batch)

    def subscribe(self, *, max_pending: int) -> LocalSubscription:
        subscription = LocalSubscription(max_pending, self._unsubscribe)
        self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: LocalSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    async def reachable(self) -> bool:
        return True

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()


_bus: type[Bus] = MemoryBus
_subscription: type[Subscription] = LocalSubscription
