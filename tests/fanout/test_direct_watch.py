"""The web feed's wake-ups: direct events wake their audience, presence wakes its watchers; bounded."""

from __future__ import annotations

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.fanout.direct_watch import DirectWatch

A, B, C = UserId(1), UserId(2), UserId(3)


def _event(kind: EventType, user: UserId, target: UserId | None = None, event_id: int = 1) -> Event:
    return Event(id=EventId(event_id), type=kind, time_stamp=1, user_id=user, target_user_id=target, data="idle")


async def test_presence_wakes_the_users_watching_and_nobody_else() -> None:
    watch = DirectWatch(per_user=4, total=10)
    async with watch.register(A, {B}) as wake_a, watch.register(C, ()) as wake_c:
        assert wake_a is not None and wake_c is not None
        assert watch.watchers_of(B) == 1
        assert watch.deliver((_event(EventType.PRESENCE_CHANGED, B),)) == 1
        assert await wake_a.wait(5)
        assert not await wake_c.wait(0)
    assert watch.waiting == 0 and watch.watchers_of(B) == 0


async def test_direct_events_wake_their_audience() -> None:
    watch = DirectWatch(per_user=4, total=10)
    async with watch.register(A) as wake_a, watch.register(B) as wake_b:
        assert wake_a is not None and wake_b is not None
        assert watch.deliver((_event(EventType.TYPING, A, B),)) == 1
        assert await wake_b.wait(5) and not await wake_a.wait(0)
        assert watch.deliver((_event(EventType.MESSAGE_POSTED, A, None, 2),)) == 0


async def test_waiters_are_bounded_per_user_and_in_all() -> None:
    watch = DirectWatch(per_user=1, total=2)
    async with watch.register(A, {B}) as first, watch.register(A, {B}) as second:
        assert first is not None and second is None  # over the per-user bound: answer at once
        async with watch.register(B) as third, watch.register(C) as fourth:
            assert third is not None and fourth is None  # over the total
        assert watch.watchers_of(B) == 1
    assert watch.waiting == 0 and watch.watchers_of(B) == 0


async def test_closing_wakes_everyone_and_refuses_new_waiters() -> None:
    watch = DirectWatch(per_user=4, total=10)
    async with watch.register(A, {B}) as wake:
        assert wake is not None
        watch.close()
        assert await wake.wait(5)
        async with watch.register(C) as late:
            assert late is None
    assert watch.waiting == 0
