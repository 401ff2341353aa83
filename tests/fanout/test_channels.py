"""Channel wake-ups: who a delivered batch wakes, and the bounds on waiters."""

from __future__ import annotations

import asyncio

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.fanout.channels import ChannelWaiters

A, B, C = UserId(1), UserId(2), UserId(3)


def _event(kind: EventType, user: UserId, target: UserId | None, event_id: int = 1) -> Event:
    return Event(id=EventId(event_id), type=kind, time_stamp=1, user_id=user, target_user_id=target)


async def test_a_message_wakes_both_ends_and_typing_the_recipient_only() -> None:
    waiters = ChannelWaiters(per_user=4, total=10)
    async with waiters.register(A) as wake_a, waiters.register(B) as wake_b, waiters.register(C) as wake_c:
        assert wake_a is not None and wake_b is not None and wake_c is not None
        assert waiters.deliver((_event(EventType.TYPING, A, B),)) == 1
        assert await wake_b.wait(5)
        assert not await wake_a.wait(0)
        assert waiters.deliver((_event(EventType.DIRECT_MESSAGE, C, A, 2),)) == 2
        assert await wake_a.wait(5) and await wake_c.wait(5)
        # Room events and presence wake nobody.
        assert waiters.deliver((_event(EventType.MESSAGE_POSTED, A, None, 3),)) == 0
    assert waiters.waiting == 0 and waiters.count(A) == 0


async def test_every_tab_of_a_user_wakes_at_once() -> None:
    waiters = ChannelWaiters(per_user=4, total=10)
    async with waiters.register(A) as first, waiters.register(A) as second:
        assert first is not None and second is not None
        tasks = [asyncio.create_task(w.wait(5)) for w in (first, second)]
        await asyncio.sleep(0)
        waiters.deliver((_event(EventType.DIRECT_MESSAGE, B, A),))
        assert await asyncio.gather(*tasks) == [True, True]


async def test_a_wake_before_the_wait_is_not_lost() -> None:
    waiters = ChannelWaiters(per_user=4, total=10)
    async with waiters.register(A) as wake:
        assert wake is not None
        waiters.deliver((_event(EventType.DIRECT_MESSAGE, B, A),))
        assert await wake.wait(0)
    # A registration after the wake needs a new one.
    async with waiters.register(A) as later:
        assert later is not None and not await later.wait(0)


async def test_waiters_are_bounded_per_user_and_in_total() -> None:
    waiters = ChannelWaiters(per_user=2, total=3)
    async with waiters.register(A) as a1, waiters.register(A) as a2, waiters.register(A) as a3:
        assert a1 is not None and a2 is not None and a3 is None
        async with waiters.register(B) as b1, waiters.register(C) as c1:
            assert b1 is not None and c1 is None
            assert waiters.waiting == 3
    assert waiters.waiting == 0


class Sleeper:
    """Counts its wake-ups; ``fail`` raises from each."""

    def __init__(self, *, fail: bool = False) -> None:
        self.woken_times = 0
        self._fail = fail

    def woken(self) -> None:
        self.woken_times += 1
        if self._fail:
            raise RuntimeError("a sleeper that fails")


async def test_sleepers_are_called_once_at_the_next_wake_up_beside_futures() -> None:
    waiters = ChannelWaiters(per_user=4, total=10)
    assert waiters.acquire(A) and waiters.acquire(A) and waiters.acquire(A) and waiters.acquire(B)
    first, second, failing, other = Sleeper(), Sleeper(), Sleeper(fail=True), Sleeper()
    for sleeper in (failing, first, first, second):  # a second ``sleep`` of one sleeper is one
        waiters.sleep(A, sleeper)
    waiters.sleep(B, other)
    future = waiters.current(A)
    assert waiters.deliver((_event(EventType.DIRECT_MESSAGE, C, A),)) == 1
    assert future.done()  # the task's way and the sleepers' at once
    assert (failing.woken_times, first.woken_times, second.woken_times, other.woken_times) == (1, 1, 1, 0)
    waiters.deliver((_event(EventType.DIRECT_MESSAGE, C, A, 2),))
    assert first.woken_times == 1  # once per ``sleep``
    waiters.sleep(A, first)
    waiters.sleep(A, second)
    waiters.unsleep(A, second)
    waiters.unsleep(A, second)  # no longer there: nothing
    waiters.unsleep(B, other)
    assert waiters.deliver((_event(EventType.DIRECT_MESSAGE, A, B, 3),)) == 1  # A's sleeper; B has none
    assert (first.woken_times, second.woken_times, other.woken_times) == (2, 1, 0)
    for user in (A, A, A, B):
        waiters.release(user)
    assert waiters.waiting == 0
