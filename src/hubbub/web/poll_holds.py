"""When held comet polls end their hold: one coarse clock per HTTP port instead of a timer per poll.

A poll's hold is 45-55 s, uniform (docs/dialects/comet.md, "The long poll"). A timer per held
poll (``loop.call_later``) was three objects for the garbage collector per poll: asyncio's handle,
uvloop's timer and the bound method it calls; and every re-poll made three new ones, which
outlived the young generations and so brought on the full collections that pause a node holding
thousands of polls. ``HoldWheel`` keeps the polls in sets by the tick their hold ends on
(``HOLD_TICK_SECONDS``) and runs one timer, for the next tick that has any; a poll costs a set
entry. A hold ends on a tick drawn uniformly from those within the hold's range, so it is never
shorter than the range's start, never longer than its end, and uniform at the tick's resolution
(Zulip draws whole seconds, ``45 + randint(0, 10)``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import random
import time
from typing import Final, Protocol

__all__ = ["HOLD_TICK_SECONDS", "HoldWheel", "Holder"]

log = logging.getLogger("hubbub.comet")

# Fine enough that the polls whose holds end together are few (10,000 polls held 45-55 s end
# about 20 to a tick), coarse enough that the wheel's own timer costs nothing.
HOLD_TICK_SECONDS: Final = 0.1


class Holder(Protocol):
    """What is held: told once when the tick it was added at comes."""

    def hold_ended(self) -> None: ...


class HoldWheel:
    """Holders by the tick their hold ends on (``time.monotonic() / tick``, rounded), and one timer."""

    def __init__(self, tick: float = HOLD_TICK_SECONDS) -> None:
        self._tick = tick
        self._holders: dict[int, set[Holder]] = {}
        self._ticks: list[int] = []  # a heap of the keys of _holders (and of some emptied since)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick = 0

    def __len__(self) -> int:
        return sum(len(holders) for holders in self._holders.values())

    def tick_between(self, earliest: float, latest: float) -> int:
        """A tick at or after ``earliest`` and at or before ``latest`` (``time.monotonic``), drawn
        uniformly; when no tick falls between them, the last one before ``latest``."""
        first = math.ceil(earliest / self._tick)
        last = math.floor(latest / self._tick)
        return last if first > last else random.randint(first, last)

    def add(self, tick: int, holder: Holder) -> None:
        """Call ``holder.hold_ended()`` once ``tick`` has come (at once if it has already)."""
        holders = self._holders.get(tick)
        if holders is None:
            holders = self._holders[tick] = set()
            heapq.heappush(self._ticks, tick)
        holders.add(holder)
        if self._timer is None or tick < self._timer_tick:
            self._schedule(tick)

    def discard(self, tick: int, holder: Holder) -> None:
        """Forget ``holder`` (its hold ended otherwise); nothing if it is not held at ``tick``."""
        holders = self._holders.get(tick)
        if holders is None:
            return
        holders.discard(holder)
        if not holders:
            del self._holders[tick]
            if not self._holders:
                self.close()  # nothing held: no timer, and no stale ticks
                self._ticks.clear()

    def close(self) -> None:
        """Stop the timer (shutting down: what is still held is closed by its connection)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, tick: int) -> None:
        self.close()
        delay = max(0.0, tick * self._tick - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)
        self._timer_tick = tick

    def _fire(self) -> None:
        self._timer = None
        now = time.monotonic()
        ticks = self._ticks
        # A loop timer may fire a little early (uvloop counts whole milliseconds from the start of
        # its pass): only ticks that have come end holds, so a hold is never cut short.
        while ticks and ticks[0] * self._tick <= now:
            for holder in self._holders.pop(heapq.heappop(ticks), ()):
                try:
                    holder.hold_ended()
                except Exception:  # one poll's failure must not keep the others held
                    log.exception("ending a comet poll's hold failed")
        while ticks and ticks[0] not in self._holders:
            heapq.heappop(ticks)  # emptied by ``discard`` before its time
        if ticks:
            self._schedule(ticks[0])  # (also when a holder added one meanwhile: the earliest first)
