"""The ``Bus`` seam: every batch of events committed on any node reaches every node's hub.

A batch is the events one transaction appended, in id order; it travels whole,
so that a reply's targeted event and the message event it belongs to reach
clients in one frame. A bus is at-most-once: a subscriber that falls more than
its bound behind is told so (``Subscription.lagged``) instead of growing memory,
and catches up from the store, which stays the source of truth. An engine that
may have missed batches for its own reasons (a lost connection) says so the same
way. Engines: ``memory`` (one process) and ``redis`` (several nodes; see
docs/design/bus.md). tests/bus/test_contract.py holds both to one contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hubbub.core.events import Event

__all__ = ["Bus", "Subscription"]


class Subscription(Protocol):
    """One consumer's view of the bus."""

    @property
    def lagged(self) -> bool:
        """True once batches were dropped because this consumer fell behind its bound."""
        ...

    def clear_lag(self) -> None:
        """Acknowledge a lag after catching up from the store."""
        ...

    async def next_batch(self, timeout: float | None = None) -> Sequence[Event] | None:
        """The next published batch, or None when ``timeout`` seconds pass first or the subscription closes."""
        ...

    def ready_batch(self) -> Sequence[Event] | None:
        """The next batch if one is already here, else None; never waits (the hub takes a backlog at once)."""
        ...

    def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, events: Sequence[Event]) -> None:
        """Hand one committed batch to every subscriber on every node."""
        ...

    def subscribe(self, *, max_pending: int) -> Subscription:
        """Start receiving batches published from now on; at most ``max_pending`` events are buffered."""
        ...

    async def reachable(self) -> bool:
        """True when the engine's server answers now (``GET /readyz``); the in-process bus always is."""
        ...

    async def close(self) -> None: ...
