"""The hold wheel (web/poll_holds.py): which tick a hold ends on, and that each ends once, never early."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from hubbub.web.poll_holds import HoldWheel
from tests.fakes import TIMEOUT

TICK = 0.01  # seconds: short, so that the tests wait little


class Ended:
    """Which holds ended, and when; ``enough`` is set once ``expected`` have."""

    def __init__(self, expected: int) -> None:
        self.order: list[tuple[Recorder, float]] = []
        self.expected = expected
        self.enough = asyncio.Event()


class Recorder:
    """A holder that notes when its hold ended, and can fail."""

    def __init__(self, ended: Ended, *, fail: bool = False) -> None:
        self._ended = ended
        self._fail = fail

    def hold_ended(self) -> None:
        self._ended.order.append((self, time.monotonic()))
        if len(self._ended.order) >= self._ended.expected:
            self._ended.enough.set()
        if self._fail:
            raise RuntimeError("a holder that fails")


def test_a_hold_ends_on_a_tick_within_its_range_drawn_uniformly() -> None:
    wheel = HoldWheel(0.1)
    drawn = Counter(wheel.tick_between(1000.0, 1001.0) for _ in range(5000))
    assert set(drawn) == set(range(10_000, 10_011))  # every tick from 1000.0 to 1001.0, none outside
    assert min(drawn.values()) > 5000 / 11 * 0.7  # each about as often
    # A range no tick falls in (the same least and most hold) ends on the tick before its end.
    assert wheel.tick_between(1000.05, 1000.05) == 10_000
    assert all(1000.33 <= t * 0.1 <= 1000.78 for t in (wheel.tick_between(1000.33, 1000.78) for _ in range(100)))


async def test_holds_end_once_in_tick_order_never_before_their_tick() -> None:
    wheel = HoldWheel(TICK)
    ended = Ended(4)
    now = time.monotonic()
    first, second, dropped, last = (Recorder(ended) for _ in range(4))
    failing = Recorder(ended, fail=True)
    ticks = {first: wheel.tick_between(now + 0.02, now + 0.02), second: wheel.tick_between(now + 0.05, now + 0.05)}
    ticks[failing] = ticks[second]  # a failing holder does not keep its tick's others held
    ticks[last] = wheel.tick_between(now + 0.08, now + 0.08)
    for holder in (last, second, failing, first):
        wheel.add(ticks[holder], holder)
    wheel.add(ticks[second], dropped)
    wheel.discard(ticks[second], dropped)
    assert len(wheel) == 4
    async with asyncio.timeout(TIMEOUT):
        await ended.enough.wait()
    await asyncio.sleep(5 * TICK)  # (anything more would end by now)
    order = [holder for holder, _ in ended.order]
    assert order[0] is first and set(order[1:3]) == {second, failing} and order[3:] == [last]  # once each
    assert all(at >= ticks[holder] * TICK for holder, at in ended.order)
    assert len(wheel) == 0


async def test_a_hold_added_after_its_tick_ends_at_once_and_an_emptied_wheel_stops() -> None:
    wheel = HoldWheel(TICK)
    ended = Ended(1)
    late = Recorder(ended)
    wheel.add(wheel.tick_between(time.monotonic() - 1, time.monotonic() - 1), late)
    async with asyncio.timeout(TIMEOUT):
        await ended.enough.wait()
    held = Recorder(ended)
    tick = wheel.tick_between(time.monotonic() + 30, time.monotonic() + 30)
    wheel.add(tick, held)
    wheel.discard(tick, held)
    wheel.discard(tick, held)  # twice, or never added: nothing
    assert wheel._timer is None and len(wheel) == 0
