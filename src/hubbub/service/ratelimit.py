"""Token-bucket rate limiting, per key (a user id, an e-mail address, a client address).

``RateLimiter`` is the seam: a bucket per key holds up to ``burst`` tokens and
refills at ``per_second``. ``acquire`` either takes a token and returns a
``Ticket`` (which the caller refunds when the request is refused for another
reason, so a rejected request changes no state) or raises ``RateLimited`` with the
whole seconds until a token is back. A clock that steps backwards refills nothing
and takes nothing away.

Engines: ``MemoryRateLimiter`` (this process; the default) and
``service/ratelimit_redis.py`` (one bucket per key for every node sharing a Redis
server). A ``Limits`` factory makes every named limiter of a node; the
composition root picks it once (``hubbub.app``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from hubbub import metrics
from hubbub.core.clock import Clock
from hubbub.errors import RateLimited

__all__ = [
    "Limits",
    "LoginLimits",
    "MemoryLimits",
    "MemoryRateLimiter",
    "RateLimiter",
    "Ticket",
    "check_limit",
    "retry_after",
]


class Ticket(Protocol):
    async def refund(self) -> None:
        """Give the token back (at most once, however often it is called)."""
        ...


class RateLimiter(Protocol):
    @property
    def name(self) -> str:
        """What the limit is for ("message", "login"...): its label in ``hubbub_rate_limit_refusals_total``."""
        ...

    async def acquire(self, key: str) -> Ticket:
        """Take a token for ``key``.

        Raises:
            RateLimited: The bucket is empty; ``retry_after`` says for how many seconds.
        """
        ...


class Limits(Protocol):
    """Makes a node's named limiters, all on one engine."""

    def limiter(self, name: str, *, burst: int, per_second: float) -> RateLimiter: ...

    async def close(self) -> None: ...


def check_limit(burst: int, per_second: float) -> None:
    """Raises: ValueError for a bucket that could never hold a token."""
    if burst < 1 or per_second <= 0:
        raise ValueError("a rate limit needs burst >= 1 and per_second > 0")


def retry_after(tokens: float, per_second: float) -> int:
    """Whole seconds until a bucket holding ``tokens`` has one (never 0)."""
    return max(1, math.ceil((1.0 - tokens) / per_second))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class _MemoryTicket:
    def __init__(self, limiter: MemoryRateLimiter, key: str) -> None:
        self._limiter = limiter
        self._key = key
        self._spent = True

    async def refund(self) -> None:
        self.refund_now()

    def refund_now(self) -> None:
        if self._spent:
            self._spent = False
            self._limiter.refund_now(self._key)


class MemoryRateLimiter:
    """Buckets in this process. The table is bounded: the least recently used keys are forgotten
    first, which can only ever be generous."""

    def __init__(
        self, *, burst: int, per_second: float, clock: Clock, max_keys: int = 100_000, name: str = "limit"
    ) -> None:
        check_limit(burst, per_second)
        self._name = name
        self._burst = float(burst)
        self._rate = per_second
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._refusals = metrics.RATE_LIMIT_REFUSALS.labels(limit=name)

    @property
    def name(self) -> str:
        return self._name

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=self._burst, updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            # A wall clock can step back (NTP); that must not drain the bucket.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = now
        return bucket

    async def acquire(self, key: str) -> _MemoryTicket:
        return self.acquire_now(key)

    def acquire_now(self, key: str) -> _MemoryTicket:
        """``acquire`` without awaiting (this engine never waits)."""
        bucket = self._bucket(key)
        if bucket.tokens < 1.0:
            self._refusals.inc()
            raise RateLimited(retry_after(bucket.tokens, self._rate))
        bucket.tokens -= 1.0
        return _MemoryTicket(self, key)

    async def refund(self, key: str) -> None:
        self.refund_now(key)

    def refund_now(self, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self._burst, bucket.tokens + 1.0)


class MemoryLimits:
    """Every limiter in this process: right for one node (each node of several would count alone)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def limiter(self, name: str, *, burst: int, per_second: float) -> MemoryRateLimiter:
        return MemoryRateLimiter(burst=burst, per_second=per_second, clock=self._clock, name=name)

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The buckets a login attempt draws from, right password or wrong.

    Per (client address, account) the tightest, so that guessing one account's password
    from one address stops soon without locking anyone else on that address out; per
    account, so that guessing from many addresses stops too; per client address a much
    higher ceiling, because behind a proxy every user has the same address.
    """

    per_address_account: RateLimiter
    per_account: RateLimiter
    per_address: RateLimiter

    async def acquire(self, *, address: str, account: str) -> list[Ticket]:
        """Take one token from each bucket, or none at all.

        Raises:
            RateLimited: One of the buckets is empty (the others are left as they were).
        """
        tickets: list[Ticket] = []
        try:
            for limiter, key in (
                (self.per_address_account, f"{address} {account}"),
                (self.per_account, account),
                (self.per_address, address),
            ):
                tickets.append(await limiter.acquire(key))
        except RateLimited:
            for ticket in tickets:
                await ticket.refund()
            raise
        return tickets
