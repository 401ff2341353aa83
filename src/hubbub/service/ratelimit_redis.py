"""Rate limits shared by every node: one token bucket per key in Redis, updated atomically by a Lua script.

The script does in one step what ``MemoryRateLimiter`` does in process (refill
since the last update, never backwards; take a token or refuse; refund), so the
two engines pass one contract suite (tests/service/test_ratelimit.py). Time comes
from the node's clock, as in memory; nodes keep their clocks in step with NTP,
and a node whose clock is behind can only be more generous, never lock anyone
out. A bucket's key expires once it would be full again anyway, so Redis holds
only buckets in use. Keys are ``<redis_prefix>rl:<limit name>:<key>``.

When Redis does not answer, a limiter falls back to a bucket of its own in this
process (logged once per outage, counted in ``hubbub_rate_limit_fallbacks_total``)
and tries Redis again after ``retry_seconds``: limits degrade to per node, they
do not disappear, and requests do not wait on a dead server one by one.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hubbub import metrics
from hubbub.core.clock import Clock
from hubbub.errors import RateLimited
from hubbub.service.ratelimit import MemoryRateLimiter, Ticket, check_limit, retry_after

__all__ = ["RedisLimits", "RedisRateLimiter"]

log = logging.getLogger("hubbub.ratelimit")

# KEYS[1]: the bucket. ARGV: burst, tokens per second, now (seconds), 1 to take or -1 to refund,
# seconds until the key may expire. Returns {1 taken / 0 refused, tokens left as a string}.
_TOKEN_BUCKET: Final = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local take = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if take < 0 then
  if tokens == nil then return {1, tostring(burst)} end
  tokens = math.min(burst, tokens + 1)
  redis.call('HSET', KEYS[1], 't', tostring(tokens))
  return {1, tostring(tokens)}
end
if tokens == nil then
  tokens = burst
else
  local elapsed = now - updated
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tokens + elapsed * rate)
end
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(now))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {taken, tostring(tokens)}
"""
EXPIRY_MARGIN_SECONDS: Final = 60  # beyond the time to refill completely (clocks of nodes differ a little)


class _RedisTicket:
    def __init__(self, limiter: RedisRateLimiter, key: str) -> None:
        self._limiter = limiter
        self._key = key
        self._spent = True

    async def refund(self) -> None:
        if self._spent:
            self._spent = False
            await self._limiter.refund(self._key)


class RedisRateLimiter:
    def __init__(self, limits: RedisLimits, name: str, *, burst: int, per_second: float) -> None:
        check_limit(burst, per_second)
        self._limits = limits
        self._name = name
        self._prefix = f"{limits.prefix}rl:{name}:"
        self._burst = burst
        self._rate = per_second
        self._expiry = int(burst / per_second) + 1 + EXPIRY_MARGIN_SECONDS
        self._fallback = MemoryRateLimiter(burst=burst, per_second=per_second, clock=limits.clock, name=name)
        self._refusals = metrics.RATE_LIMIT_REFUSALS.labels(limit=name)

    @property
    def name(self) -> str:
        return self._name

    async def _run(self, key: str, take: int) -> tuple[bool, float] | None:
        """The script's answer, or None when Redis is (recently found) unreachable."""
        result: Any = await self._limits.call(
            self._prefix + key, self._burst, self._rate, self._limits.clock.now(), take, self._expiry
        )
        if result is None:
            return None
        taken, tokens = result
        return bool(taken), float(tokens)

    async def acquire(self, key: str) -> Ticket:
        answer = await self._run(key, 1)
        if answer is None:
            return self._fallback.acquire_now(key)
        taken, tokens = answer
        if not taken:
            self._refusals.inc()
            raise RateLimited(retry_after(tokens, self._rate))
        return _RedisTicket(self, key)

    async def refund(self, key: str) -> None:
        if await self._run(key, -1) is None:
            self._fallback.refund_now(key)


class RedisLimits:
    """The limiters of one node, on the Redis server every node shares."""

    def __init__(self, client: Redis, *, prefix: str, clock: Clock, retry_seconds: float) -> None:
        self.prefix = prefix
        self.clock = clock
        self._client = client
        self._script = client.register_script(_TOKEN_BUCKET)
        self._retry_seconds = retry_seconds
        self._down_until = 0.0

    def limiter(self, name: str, *, burst: int, per_second: float) -> RedisRateLimiter:
        return RedisRateLimiter(self, name, burst=burst, per_second=per_second)

    async def call(self, key: str, *args: float) -> Any:
        """Run the bucket script, or return None while Redis is considered down."""
        if time.monotonic() < self._down_until:
            metrics.RATE_LIMIT_FALLBACKS.inc()
            return None
        try:
            result = await self._script(keys=[key], args=list(args))
        except (RedisError, OSError) as error:
            if not self._down_until:
                log.warning("rate limits: Redis unreachable (%s); each node counts alone until it is back", error)
            self._down_until = time.monotonic() + self._retry_seconds
            metrics.RATE_LIMIT_FALLBACKS.inc()
            return None
        if self._down_until:
            log.warning("rate limits: Redis is back; limits hold across nodes again")
            self._down_until = 0.0
        return result

    async def close(self) -> None:
        await self._client.aclose()
