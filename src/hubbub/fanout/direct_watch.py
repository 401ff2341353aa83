"""Wake-ups for the web UI's and the SDK's long polls on a user's direct-conversation events.

``DirectWatch`` is a ``Fanout`` like ``channels.ChannelWaiters``: the hub hands it every committed
batch from any node (through the bus), in log order. It wakes a waiting user for every event of
their ``direct_audience`` (messages, typing, contact changes, read markers) and, unlike the comet
channel waiters, for a ``PRESENCE_CHANGED`` of anyone the waiter said it watches (its contacts
when it registered): the web UI shows presence live. A user's own presence change wakes nobody:
no page shows it live, and a waking poll would itself be a sighting. The waiter then re-reads
``Direct.events_after`` from the store, so an early, late or doubled wake-up loses and doubles
nothing, and a presence change of someone who stopped being a contact is filtered there.

Bounded like the channel waiters: beyond ``per_user`` or ``total`` waiters, ``register`` yields
None and the caller answers at once with what the store has; so it does once ``close`` (a
stopping node) has woken everyone, so no held request delays the shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence

from hubbub import metrics
from hubbub.core.direct import direct_audience
from hubbub.core.events import Event, EventType
from hubbub.core.ids import UserId
from hubbub.fanout.channels import woken_within

__all__ = ["DirectWake", "DirectWatch"]


class DirectWake:
    """One registered waiter: ``wait`` returns True once something for it was delivered after it
    registered, False when ``timeout`` passes first. One wake-up per registration: register
    again (and read the store again) to wait for the next."""

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self._future = future

    async def wait(self, timeout: float) -> bool:
        return await woken_within(self._future, timeout)


class DirectWatch:
    def __init__(self, *, per_user: int, total: int) -> None:
        if per_user < 1 or total < 1:
            raise ValueError("waiter bounds must be at least 1")
        self._per_user = per_user
        self._total = total
        self._futures: dict[UserId, asyncio.Future[None]] = {}
        self._counts: dict[UserId, int] = {}
        # watched user -> waiting user -> how many of that user's waiters watch them
        self._watchers: dict[UserId, dict[UserId, int]] = {}
        self._waiting = 0
        self._closed = False

    def close(self) -> None:
        """Wake every waiter and refuse new ones (the node is stopping: its polls answer now)."""
        self._closed = True
        for user_id in list(self._futures):
            self.wake(user_id)

    @property
    def waiting(self) -> int:
        return self._waiting

    def watchers_of(self, user_id: UserId) -> int:
        """How many users wait on ``user_id``'s presence (for tests: nothing is left behind)."""
        return len(self._watchers.get(user_id, ()))

    @contextlib.asynccontextmanager
    async def register(self, user_id: UserId, watching: Iterable[UserId] = ()) -> AsyncIterator[DirectWake | None]:
        """Register a waiter for ``user_id`` that also wakes when a ``watching`` user's presence
        changes (None: over a bound). Register before reading the store, then wait."""
        if self._closed or self._waiting >= self._total or self._counts.get(user_id, 0) >= self._per_user:
            yield None
            return
        future = self._futures.get(user_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._futures[user_id] = future
        watched = frozenset(watching) - {user_id}
        self._counts[user_id] = self._counts.get(user_id, 0) + 1
        for other in watched:
            counts = self._watchers.setdefault(other, {})
            counts[user_id] = counts.get(user_id, 0) + 1
        self._waiting += 1
        metrics.LONGPOLL_WAITERS.inc()
        try:
            yield DirectWake(future)
        finally:
            metrics.LONGPOLL_WAITERS.dec()
            self._waiting -= 1
            for other in watched:
                counts = self._watchers[other]
                if counts[user_id] > 1:
                    counts[user_id] -= 1
                else:
                    del counts[user_id]
                    if not counts:
                        del self._watchers[other]
            left = self._counts[user_id] - 1
            if left:
                self._counts[user_id] = left
            else:
                del self._counts[user_id]
                current = self._futures.pop(user_id, None)
                if current is not None and not current.done():
                    current.cancel()

    def wake(self, user_id: UserId) -> bool:
        future = self._futures.pop(user_id, None)
        if future is None or future.done():
            return False
        future.set_result(None)
        return True

    def deliver(self, batch: Sequence[Event]) -> int:
        woken = 0
        for event in batch:
            for user_id in direct_audience(event):
                woken += self.wake(user_id)
            if event.type is EventType.PRESENCE_CHANGED and event.user_id is not None:
                for watcher in list(self._watchers.get(event.user_id, ())):
                    woken += self.wake(watcher)
        return woken
