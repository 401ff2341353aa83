"""Rate limiters: token buckets with refunds, driven by a fake clock; one suite for both engines.

Every test runs against the in-process limiter and the Redis one (under a key
prefix of its own on the shared server); the table bound is the in-process
engine's own (Redis expires idle buckets instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from hubbub.errors import RateLimited
from hubbub.service.ratelimit import MemoryLimits, MemoryRateLimiter, RateLimiter, Ticket
from tests.fakes import FakeClock

MakeLimiter = Callable[..., RateLimiter]


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[MakeLimiter]:
    if request.param == "memory":
        limits = MemoryLimits(clock)
    else:
        from hubbub.bus.redis import redis_client
        from hubbub.service.ratelimit_redis import RedisLimits

        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")
        client = redis_client(url, name=f"{prefix}limits", timeout=5.0, retries=1)
        limits = RedisLimits(client, prefix=prefix, clock=clock, retry_seconds=1.0)  # type: ignore[assignment]
    made = 0

    def make(clock: FakeClock, *, burst: int = 3, per_second: float = 1.0) -> RateLimiter:
        nonlocal made
        made += 1
        return limits.limiter(f"test{made}", burst=burst, per_second=per_second)

    yield make
    await limits.close()


async def drain(bucket: RateLimiter, key: str, count: int) -> list[Ticket]:
    return [await bucket.acquire(key) for _ in range(count)]


async def retry_after(bucket: RateLimiter, key: str) -> int:
    with pytest.raises(RateLimited) as caught:
        await bucket.acquire(key)
    return caught.value.retry_after


async def test_burst_then_refused(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=3)
    tickets = await drain(bucket, "user:1", 3)
    assert len(tickets) == 3
    with pytest.raises(RateLimited) as caught:
        await bucket.acquire("user:1")
    assert caught.value.retry_after == 1
    assert str(caught.value) == "You can perform this action again in 1 second."


async def test_refusal_text_is_plural_above_one_second(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=1, per_second=0.2)
    await bucket.acquire("k")
    with pytest.raises(RateLimited) as caught:
        await bucket.acquire("k")
    assert caught.value.retry_after == 5
    assert str(caught.value) == "You can perform this action again in 5 seconds."


async def test_tokens_refill_at_the_rate(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=2, per_second=1.0)
    await drain(bucket, "k", 2)
    clock.advance(0.5)
    assert await retry_after(bucket, "k") == 1
    clock.advance(0.5)
    await bucket.acquire("k")
    assert await retry_after(bucket, "k") == 1
    clock.advance(2.0)
    await drain(bucket, "k", 2)
    assert await retry_after(bucket, "k") == 1


async def test_retry_after_counts_down_in_whole_seconds(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=1, per_second=0.25)
    await bucket.acquire("k")
    assert await retry_after(bucket, "k") == 4
    clock.advance(1)
    assert await retry_after(bucket, "k") == 3
    clock.advance(1.5)
    assert await retry_after(bucket, "k") == 2  # 1.5 s left, rounded up
    clock.advance(1.25)
    assert await retry_after(bucket, "k") == 1  # 0.25 s left still says 1 second, never 0
    clock.advance(0.25)
    await bucket.acquire("k")


async def test_waiting_the_advertised_time_is_enough(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=1, per_second=0.3)
    await bucket.acquire("k")
    clock.advance(await retry_after(bucket, "k"))
    await bucket.acquire("k")


async def test_refusals_do_not_take_tokens(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=1, per_second=1.0)
    await bucket.acquire("k")
    for _ in range(8):
        assert await retry_after(bucket, "k") == 1
        clock.advance(0.0625)  # binary fractions keep the fake clock exact
    clock.advance(0.5)  # 1.0 s in total since the token was taken
    await bucket.acquire("k")


async def test_refill_is_capped_at_the_burst(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=3, per_second=10.0)
    await bucket.acquire("k")
    clock.advance(3600)
    await drain(bucket, "k", 3)
    assert await retry_after(bucket, "k") == 1


async def test_keys_are_independent(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=1)
    await bucket.acquire("user:1")
    await bucket.acquire("user:2")
    with pytest.raises(RateLimited):
        await bucket.acquire("user:1")
    with pytest.raises(RateLimited):
        await bucket.acquire("user:2")
    await bucket.acquire("user:3")


async def test_refund_gives_the_token_back(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=2)
    first = await bucket.acquire("k")
    await bucket.acquire("k")
    await first.refund()
    await bucket.acquire("k")
    with pytest.raises(RateLimited):
        await bucket.acquire("k")


async def test_a_ticket_refunds_at_most_once(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=3)
    ticket = await bucket.acquire("k")
    await drain(bucket, "k", 2)
    await ticket.refund()
    await ticket.refund()
    await ticket.refund()
    await bucket.acquire("k")
    with pytest.raises(RateLimited):
        await bucket.acquire("k")


async def test_refund_never_exceeds_the_burst(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=2)
    tickets = await drain(bucket, "k", 2)
    clock.advance(60)  # full again
    for ticket in tickets:
        await ticket.refund()
    await drain(bucket, "k", 2)
    with pytest.raises(RateLimited):
        await bucket.acquire("k")


async def test_refund_of_an_unknown_key_is_harmless(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=1)
    await bucket.refund("never-seen")  # type: ignore[attr-defined]
    await bucket.acquire("never-seen")
    with pytest.raises(RateLimited):
        await bucket.acquire("never-seen")


async def test_refund_only_affects_its_own_key(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=1)
    ticket = await bucket.acquire("a")
    await bucket.acquire("b")
    await ticket.refund()
    with pytest.raises(RateLimited):
        await bucket.acquire("b")
    await bucket.acquire("a")


# The in-process table is bounded (Redis expires idle buckets instead).


async def test_least_recently_used_keys_are_forgotten_first(clock: FakeClock) -> None:
    bucket = MemoryRateLimiter(burst=1, per_second=1.0, clock=clock, max_keys=2)
    await bucket.acquire("a")
    await bucket.acquire("b")
    with pytest.raises(RateLimited):
        await bucket.acquire("a")  # touching "a" makes "b" the least recently used
    await bucket.acquire("c")  # evicts "b", keeps "a"
    with pytest.raises(RateLimited):
        await bucket.acquire("a")
    await bucket.acquire("b")  # forgotten, so full again: forgetting is only ever generous


async def test_eviction_forgets_the_oldest_bucket(clock: FakeClock) -> None:
    bucket = MemoryRateLimiter(burst=1, per_second=1.0, clock=clock, max_keys=2)
    await bucket.acquire("a")
    await bucket.acquire("b")
    await bucket.acquire("c")  # table full: "a" is forgotten
    await bucket.acquire("a")  # so "a" starts full again
    with pytest.raises(RateLimited):
        await bucket.acquire("c")


async def test_refund_after_eviction_is_harmless(clock: FakeClock) -> None:
    bucket = MemoryRateLimiter(burst=1, per_second=1.0, clock=clock, max_keys=1)
    ticket = await bucket.acquire("a")
    await bucket.acquire("b")  # evicts "a"
    await ticket.refund()
    with pytest.raises(RateLimited):
        await bucket.acquire("b")


async def test_a_clock_stepping_back_does_not_lock_anyone_out(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=2, per_second=1.0)
    await bucket.acquire("k")
    clock.advance(-3600)  # e.g. the wall clock is corrected by NTP
    await bucket.acquire("k")
    assert await retry_after(bucket, "k") == 1
    clock.advance(1)
    await bucket.acquire("k")


async def test_fractional_rates(limiter: MakeLimiter, clock: FakeClock) -> None:
    bucket = limiter(clock, burst=10, per_second=1 / 6)  # 10 per minute
    await drain(bucket, "login:bob@example.org", 10)
    assert await retry_after(bucket, "login:bob@example.org") == 6
    clock.advance(6)
    await bucket.acquire("login:bob@example.org")


@pytest.mark.parametrize(("burst", "per_second"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -1.0)])
async def test_nonsense_limits_are_refused(limiter: MakeLimiter, burst: int, per_second: float) -> None:
    with pytest.raises(ValueError):
        limiter(FakeClock(), burst=burst, per_second=per_second)
