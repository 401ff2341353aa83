"""Rate limits in Redis: one bucket per key for every node, idle buckets expire, a lost Redis degrades to per node."""

from __future__ import annotations

import logging

import pytest
import redis

from hubbub import metrics
from hubbub.bus.redis import redis_client
from hubbub.errors import RateLimited
from hubbub.service.ratelimit_redis import RedisLimits
from tests.fakes import FakeClock
from tests.redis_support import PrivateRedis


def node_limits(url: str, prefix: str, clock: FakeClock) -> RedisLimits:
    return RedisLimits(
        redis_client(url, name=f"{prefix}limits", timeout=1.0, retries=1), prefix=prefix, clock=clock, retry_seconds=60
    )


async def test_two_nodes_draw_from_one_bucket(redis_url: str, redis_prefix: str, clock: FakeClock) -> None:
    node_a, node_b = node_limits(redis_url, redis_prefix, clock), node_limits(redis_url, redis_prefix, clock)
    on_a = node_a.limiter("message", burst=3, per_second=1.0)
    on_b = node_b.limiter("message", burst=3, per_second=1.0)
    await on_a.acquire("user:1")
    ticket = await on_b.acquire("user:1")
    await on_a.acquire("user:1")
    with pytest.raises(RateLimited):
        await on_b.acquire("user:1")
    await ticket.refund()  # a refund on one node frees a token for the other
    await on_a.acquire("user:1")
    other_limit = node_b.limiter("login", burst=1, per_second=1.0)
    await other_limit.acquire("user:1")  # limits with other names are other buckets
    await node_a.close()
    await node_b.close()


async def test_a_bucket_key_expires_once_it_would_be_full_again(
    redis_url: str, redis_prefix: str, clock: FakeClock
) -> None:
    limits = node_limits(redis_url, redis_prefix, clock)
    await limits.limiter("message", burst=10, per_second=1.0).acquire("user:7")
    with redis.Redis.from_url(redis_url) as client:
        ttl = client.ttl(f"{redis_prefix}rl:message:user:7")
    assert 10 < ttl <= 10 + 1 + 60
    await limits.close()


async def test_without_redis_each_node_limits_alone_and_says_so(
    private_redis: PrivateRedis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "hubbub.ratelimit")
    limits = node_limits(private_redis.url, "p:", clock)
    limiter = limits.limiter("message", burst=2, per_second=1.0)
    await limiter.acquire("user:1")
    fallbacks = metrics.RATE_LIMIT_FALLBACKS._value.get()
    private_redis.stop()
    await limiter.acquire("user:1")
    await limiter.acquire("user:1")  # the node's own bucket starts full: degraded, never locked out
    with pytest.raises(RateLimited):
        await limiter.acquire("user:1")
    assert metrics.RATE_LIMIT_FALLBACKS._value.get() >= fallbacks + 3
    assert caplog.text.count("Redis unreachable") == 1
    await limits.close()
