"""Token-bucket rate limiting, per key (a user id, an e-mail address, a client address).

A bucket holds up to ``burst`` tokens and refills at ``per_second``. ``acquire``
either takes a token and returns a ``Ticket`` (which the caller refunds when the
request is refused for another reason, so a rejected request changes no state) or
raises ``RateLimited`` with the whole seconds until a token is back. A clock that
steps backwards refills nothing and takes nothing away. The table of
buckets is bounded: the least recently used keys are forgotten first, which can
only ever be generous.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from hubbub.core.clock import Clock
from hubbub.errors import RateLimited

__all__ = ["LoginLimits", "RateLimiter", "Ticket"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class Ticket:
    """One taken token; ``refund`` gives it back (at most once)."""

    def __init__(self, limiter: RateLimiter, key: str) -> None:
        self._limiter = limiter
        self._key = key
        self._spent = True

    def refund(self) -> None:
        if self._spent:
            self._spent = False
            self._limiter.refund(self._key)


class RateLimiter:
    def __init__(self, *, burst: int, per_second: float, clock: Clock, max_keys: int = 100_000) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_second > 0")
        self._burst = float(burst)
        self._rate = per_second
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

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

    def acquire(self, key: str) -> Ticket:
        """Take a token for ``key``.

        Raises:
            RateLimited: The bucket is empty; ``retry_after`` says for how many seconds.
        """
        bucket = self._bucket(key)
        if bucket.tokens < 1.0:
            raise RateLimited(max(1, math.ceil((1.0 - bucket.tokens) / self._rate)))
        bucket.tokens -= 1.0
        return Ticket(self, key)

    def refund(self, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self._burst, bucket.tokens + 1.0)


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

    def acquire(self, *, address: str, account: str) -> list[Ticket]:
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
                tickets.append(limiter.acquire(key))
        except RateLimited:
            for ticket in tickets:
                ticket.refund()
            raise
        return tickets
