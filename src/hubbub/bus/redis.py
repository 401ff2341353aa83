"""The Redis bus: every node's committed batches reach every other node through one pub/sub channel.

Why pub/sub and not streams: docs/design/bus.md. In short, the store is the
source of truth and each node's hub already puts batches in order and reads any
gap from the store, so the bus only needs to be fast, and to say when it may have
missed something. Pub/sub loses messages only while a subscriber is not
connected (Redis also disconnects a subscriber that falls too far behind its
output buffer), so every (re)subscription after the first, and every failed
reconnect attempt, marks the local subscriptions ``lagged``: the hub then reads
the store, and while Redis stays away it does so once per
``bus_reconnect_seconds`` (live delivery degrades to polling the store).

A node's own batches reach its own hub at once, in process, and again from Redis,
where they are skipped unread (each message names its publishing bus). A batch
that cannot be published goes into a bounded backlog that is sent, in order,
before anything newer once Redis answers again; subscribers drop ids they have
already released, so a resend is harmless.

Every key and channel starts with ``redis_prefix``, so several deployments (or
test runs) can share one Redis server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hubbub import metrics
from hubbub.bus.base import Bus
from hubbub.bus.local import LocalSubscription
from hubbub.bus.wire import WireError, decode_batch, encode_batch, origin_of
from hubbub.core.events import Event
from hubbub.errors import ConfigError

__all__ = ["RedisBus", "redis_client"]

log = logging.getLogger("hubbub.bus")

CHANNEL: Final = "events"  # after the prefix


def redis_client(url: str, *, name: str, timeout: float, retries: int) -> Redis:
    """A client for ``url`` whose connections carry ``name`` (``CLIENT LIST``) and give up after ``timeout``.

    ``retries`` extra attempts on a fresh connection when one fails (a connection
    the server closed is only noticed when used).
    """
    return Redis.from_url(
        url,
        client_name=name,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


class RedisBus:
    """A ``Bus`` over one Redis server, shared by every node of a deployment."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        reconnect_seconds: float,
        timeout_seconds: float,
        publish_backlog: int,
    ) -> None:
        self._url = url
        self._channel = f"{prefix}{CHANNEL}"
        self._name = f"{prefix}bus"
        self._origin = secrets.token_hex(8)
        self._origin_bytes = self._origin.encode("ascii")
        self._reconnect_seconds = reconnect_seconds
        self._timeout = timeout_seconds
        self._publisher = redis_client(url, name=self._name, timeout=timeout_seconds, retries=1)
        # The subscriber reports every failure at once: this class does its reconnecting.
        self._listener = redis_client(url, name=self._name, timeout=timeout_seconds, retries=0)
        self._subscriptions: list[LocalSubscription] = []
        self._backlog: deque[bytes] = deque(maxlen=publish_backlog)
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._connected = False
        self._closing = False

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        prefix: str,
        reconnect_seconds: float = 1.0,
        timeout_seconds: float = 2.0,
        publish_backlog: int = 1000,
    ) -> RedisBus:
        """Subscribe to the deployment's channel and return once Redis has confirmed it.

        Raises:
            ConfigError: Redis does not answer within ``timeout_seconds``.
        """
        bus = cls(
            url,
            prefix=prefix,
            reconnect_seconds=reconnect_seconds,
            timeout_seconds=timeout_seconds,
            publish_backlog=publish_backlog,
        )
        bus._task = asyncio.create_task(bus._listen(), name="hubbub-redis-bus")
        try:
            async with asyncio.timeout(timeout_seconds):
                await bus._subscribed.wait()
        except TimeoutError:
            await bus.close()
            raise ConfigError(f"cannot reach the bus at {url} (no answer in {timeout_seconds:g} s)") from None
        return bus

    @property
    def connected(self) -> bool:
        return self._connected

    # publishing

    async def publish(self, events: Sequence[Event]) -> None:
        batch = tuple(events)
        if not batch:
            return
        for subscription in list(self._subscriptions):
            subscription.offer(batch)
        message = encode_batch(batch, origin=self._origin, published_at=time.time())
        if not self._connected:
            # Known lost (the subscription noticed): do not make every post wait out a dead server.
            self._keep(message)
        elif self._backlog:  # keep the order: what waits goes first
            self._keep(message)
            await self._flush()
        elif not await self._send(message):
            self._keep(message)

    async def _send(self, message: bytes) -> bool:
        try:
            await self._publisher.publish(self._channel, message)
        except (RedisError, OSError) as error:
            log.warning("could not publish to the bus (%s); kept for a retry", error)
            return False
        return True

    def _keep(self, message: bytes) -> None:
        metrics.BUS_PUBLISH_FAILURES.inc()
        if len(self._backlog) == self._backlog.maxlen:
            # Other nodes still find these events: as a gap before the next id, or on reconnecting.
            log.warning("bus publish backlog full (%d batches): dropping the oldest", self._backlog.maxlen)
        self._backlog.append(message)

    async def _flush(self) -> None:
        """Send the backlog in order; stop at the first failure (the next publish or reconnect tries again)."""
        if self._flushing.locked():
            return
        async with self._flushing:
            while self._backlog:
                if not await self._send(self._backlog[0]):
                    return
                self._backlog.popleft()

    # receiving

    def subscribe(self, *, max_pending: int) -> LocalSubscription:
        subscription = LocalSubscription(max_pending, self._unsubscribe)
        self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: LocalSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def _mark_lagged(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.mark_lagged()

    def _receive(self, data: bytes) -> None:
        if origin_of(data) == self._origin_bytes:
            return  # delivered in process when it was published
        try:
            batch, published_at = decode_batch(data)
        except WireError as error:
            log.warning("ignoring a message on %s: %s", self._channel, error)
            return
        metrics.BUS_LAG.observe(max(0.0, time.time() - published_at))
        for subscription in list(self._subscriptions):
            subscription.offer(batch)

    async def _listen(self) -> None:
        """Stay subscribed: on any failure, mark every subscription lagged and try again."""
        while not self._closing:
            pubsub = self._listener.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                await self._pump(pubsub)
            except (RedisError, OSError) as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from error  # the client library turned a cancel into an error
                if self._connected:
                    log.warning("lost the bus (%s); catching up from the store until it is back", error)
                self._set_connected(False)
                if self._subscribed.is_set():
                    self._mark_lagged()  # the hub reads the store now, and again after each failed attempt
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed in newer redis releases
            if not self._closing:
                await asyncio.sleep(self._reconnect_seconds)

    async def _pump(self, pubsub: PubSub) -> None:
        ping_sent = False
        while not self._closing:
            message: Any = await pubsub.get_message(timeout=self._timeout)
            if message is None:
                if ping_sent:
                    raise ConnectionError(f"no answer from Redis in {2 * self._timeout:g} s")
                await pubsub.ping()
                ping_sent = True
                continue
            ping_sent = False
            kind = message["type"]
            if kind == "message":
                self._receive(message["data"])
            elif kind == "subscribe":
                self._set_connected(True)
                if self._subscribed.is_set():
                    # Anything published while we were away is in the store: make the hub read it.
                    log.warning("bus is back; catching up from the store")
                    self._mark_lagged()
                self._subscribed.set()
                await self._flush()

    def _set_connected(self, connected: bool) -> None:
        self._connected = connected
        metrics.BUS_CONNECTED.set(1 if connected else 0)

    async def reachable(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self._publisher.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subscription in list(self._subscriptions):
            subscription.close()
        for client in (self._publisher, self._listener):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
        self._set_connected(False)


_bus: type[Bus] = RedisBus
