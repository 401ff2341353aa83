"""service/ratelimit.py: token buckets with refunds, driven by a fake clock."""

from __future__ import annotations

import pytest

from hubbub.errors import RateLimited
from hubbub.service.ratelimit import RateLimiter, Ticket
from tests.fakes import FakeClock


def limiter(clock: FakeClock, *, burst: int = 3, per_second: float = 1.0, max_keys: int = 100_000) -> RateLimiter:
    return RateLimiter(burst=burst, per_second=per_second, clock=clock, max_keys=max_keys)


def drain(bucket: RateLimiter, key: str, count: int) -> list[Ticket]:
    return [bucket.acquire(key) for _ in range(count)]


def retry_after(bucket: RateLimiter, key: str) -> int:
    with pytest.raises(RateLimited) as caught:
        bucket.acquire(key)
    return caught.value.retry_after


def test_burst_then_refused() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=3)
    tickets = drain(bucket, "user:1", 3)
    assert all(isinstance(t, Ticket) for t in tickets)
    with pytest.raises(RateLimited) as caught:
        bucket.acquire("user:1")
    assert caught.value.retry_after == 1
    assert str(caught.value) == "You can perform this action again in 1 second."


def test_refusal_text_is_plural_above_one_second() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1, per_second=0.2)
    bucket.acquire("k")
    with pytest.raises(RateLimited) as caught:
        bucket.acquire("k")
    assert caught.value.retry_after == 5
    assert str(caught.value) == "You can perform this action again in 5 seconds."


def test_tokens_refill_at_the_rate() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=2, per_second=1.0)
    drain(bucket, "k", 2)
    clock.advance(0.5)
    assert retry_after(bucket, "k") == 1
    clock.advance(0.5)
    bucket.acquire("k")
    assert retry_after(bucket, "k") == 1
    clock.advance(2.0)
    drain(bucket, "k", 2)
    assert retry_after(bucket, "k") == 1


def test_retry_after_counts_down_in_whole_seconds() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1, per_second=0.25)
    bucket.acquire("k")
    assert retry_after(bucket, "k") == 4
    clock.advance(1)
    assert retry_after(bucket, "k") == 3
    clock.advance(1.5)
    assert retry_after(bucket, "k") == 2  # 1.5 s left, rounded up
    clock.advance(1.25)
    assert retry_after(bucket, "k") == 1  # 0.25 s left still says 1 second, never 0
    clock.advance(0.25)
    bucket.acquire("k")


def test_waiting_the_advertised_time_is_enough() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1, per_second=0.3)
    bucket.acquire("k")
    clock.advance(retry_after(bucket, "k"))
    bucket.acquire("k")


def test_refusals_do_not_take_tokens() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1, per_second=1.0)
    bucket.acquire("k")
    for _ in range(8):
        assert retry_after(bucket, "k") == 1
        clock.advance(0.0625)  # binary fractions keep the fake clock exact
    clock.advance(0.5)  # 1.0 s in total since the token was taken
    bucket.acquire("k")


def test_refill_is_capped_at_the_burst() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=3, per_second=10.0)
    bucket.acquire("k")
    clock.advance(3600)
    drain(bucket, "k", 3)
    assert retry_after(bucket, "k") == 1


def test_keys_are_independent() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1)
    bucket.acquire("user:1")
    bucket.acquire("user:2")
    with pytest.raises(RateLimited):
        bucket.acquire("user:1")
    with pytest.raises(RateLimited):
        bucket.acquire("user:2")
    bucket.acquire("user:3")


def test_refund_gives_the_token_back() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=2)
    first = bucket.acquire("k")
    bucket.acquire("k")
    first.refund()
    bucket.acquire("k")
    with pytest.raises(RateLimited):
        bucket.acquire("k")


def test_a_ticket_refunds_at_most_once() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=3)
    ticket = bucket.acquire("k")
    drain(bucket, "k", 2)
    ticket.refund()
    ticket.refund()
    ticket.refund()
    bucket.acquire("k")
    with pytest.raises(RateLimited):
        bucket.acquire("k")


def test_refund_never_exceeds_the_burst() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=2)
    tickets = drain(bucket, "k", 2)
    clock.advance(60)  # full again
    for ticket in tickets:
        ticket.refund()
    drain(bucket, "k", 2)
    with pytest.raises(RateLimited):
        bucket.acquire("k")


def test_refund_of_an_unknown_key_is_harmless() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1)
    bucket.refund("never-seen")
    bucket.acquire("never-seen")
    with pytest.raises(RateLimited):
        bucket.acquire("never-seen")


def test_refund_only_affects_its_own_key() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1)
    ticket = bucket.acquire("a")
    bucket.acquire("b")
    ticket.refund()
    with pytest.raises(RateLimited):
        bucket.acquire("b")
    bucket.acquire("a")


def test_least_recently_used_keys_are_forgotten_first() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1, max_keys=2)
    bucket.acquire("a")
    bucket.acquire("b")
    with pytest.raises(RateLimited):
        bucket.acquire("a")  # touching "a" makes "b" the least recently used
    bucket.acquire("c")  # evicts "b", keeps "a"
    with pytest.raises(RateLimited):
        bucket.acquire("a")
    bucket.acquire("b")  # forgotten, so full again: forgetting is only ever generous


def test_eviction_forgets_the_oldest_bucket() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1, max_keys=2)
    bucket.acquire("a")
    bucket.acquire("b")
    bucket.acquire("c")  # table full: "a" is forgotten
    bucket.acquire("a")  # so "a" starts full again
    with pytest.raises(RateLimited):
        bucket.acquire("c")


def test_refund_after_eviction_is_harmless() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=1, max_keys=1)
    ticket = bucket.acquire("a")
    bucket.acquire("b")  # evicts "a"
    ticket.refund()
    with pytest.raises(RateLimited):
        bucket.acquire("b")


def test_a_clock_stepping_back_does_not_lock_anyone_out() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=2, per_second=1.0)
    bucket.acquire("k")
    clock.advance(-3600)  # e.g. the wall clock is corrected by NTP
    bucket.acquire("k")
    assert retry_after(bucket, "k") == 1
    clock.advance(1)
    bucket.acquire("k")


def test_fractional_rates() -> None:
    clock = FakeClock()
    bucket = limiter(clock, burst=10, per_second=1 / 6)  # 10 per minute
    drain(bucket, "login:bob@example.org", 10)
    assert retry_after(bucket, "login:bob@example.org") == 6
    clock.advance(6)
    bucket.acquire("login:bob@example.org")


@pytest.mark.parametrize(("burst", "per_second"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -1.0)])
def test_nonsense_limits_are_refused(burst: int, per_second: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(burst=burst, per_second=per_second, clock=FakeClock())
