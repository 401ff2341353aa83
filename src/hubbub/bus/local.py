"""What every bus engine shares on the receiving side: a bounded per-consumer queue that knows it lagged.

A ``LocalSubscription`` holds batches for one consumer (a node's hub) up to
``max_pending`` events. Past that it drops the batch and sets ``lagged``: the
consumer then reads what it missed from the store. An engine that knows it may
have missed batches for its own reasons (the Redis bus after a reconnect) calls
``mark_lagged``, which also wakes a consumer that is waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from hubbub.core.events import Event

__all__ = ["LocalSubscription"]


class LocalSubscription:
    def __init__(self, max_pending: int, on_close: Callable[[LocalSubscription], None]) -> None:
        self._batches: deque[tuple[Event, ...]] = deque()
        self._pending_events = 0
        self._max_pending = max_pending
        self._wakeup = asyncio.Event()
        self._closed = False
        self._on_close = on_close
        self.lagged = False

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, batch: tuple[Event, ...]) -> None:
        """Queue a batch, or drop it and note the lag when the consumer is too far behind."""
        if self._closed:
            return
        if self._pending_events + len(batch) > self._max_pending:
            self.mark_lagged()
            return
        self._batches.append(batch)
        self._pending_events += len(batch)
        self._wakeup.set()

    def mark_lagged(self) -> None:
        self.lagged = True
        self._wakeup.set()

    def clear_lag(self) -> None:
        self.lagged = False

    async def next_batch(self, timeout: float | None = None) -> Sequence[Event] | None:
        if not self._batches and not self._closed and not self.lagged:
            self._wakeup.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        return self.ready_batch()

    def ready_batch(self) -> Sequence[Event] | None:
        if not self._batches:
            return None
        batch = self._batches.popleft()
        self._pending_events -= len(batch)
        return batch

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._wakeup.set()
            self._on_close(self)
