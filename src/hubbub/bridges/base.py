"""The bridge protocol: what one network implements, and the runner that keeps it connected.

A network module provides a ``Bridge`` (one connection to one channel, as one account)
and registers a factory in ``manager.NETWORK_BRIDGES``. The bridge only moves lines:

- ``connect()`` opens the connection (raise on failure; the runner retries),
- ``lines()`` yields what the channel says, as ``IncomingLine``s, until the
  connection drops (return or raise; the runner reconnects),
- ``write(kind, text)`` says something in the channel,
- ``viewer_count()`` says how many watch or sit in the channel (None: the network does not tell),
- ``close()`` ends it (idempotent).

``BridgeRunner`` does everything else once for every network: it reconnects with
exponential backoff (capped, with jitter), reports ``ready`` while connected, drops a
line whose ``remote_id`` it has already delivered (a network that replays on
reconnect must not show a line twice; the memory of ids is bounded), and queues
writes in a bounded outbox; a reader's viewer count is asked for every ``viewcount_every``
seconds while connected and reported when it changed. Lines go to a ``LineSink`` (the manager hands them to
``service.stream_chat.from_network``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol

__all__ = ["Backoff", "Bridge", "BridgeRunner", "IncomingLine", "LineSink", "renew_forever"]

log = logging.getLogger("hubbub.bridges")

SEEN_IDS: Final = 4096  # remote ids remembered per runner, for duplicates after a reconnect
OUTBOX: Final = 256  # lines waiting to be written per runner; more are dropped (and logged)


@dataclass(frozen=True, slots=True)
class IncomingLine:
    """One line said in the remote channel. ``remote_id`` names it on its network (dedupe)."""

    kind: str  # "text" or "emote"
    text: str
    from_name: str
    from_id: int | str  # as the network types it: Twitch's are strings, hubbub's numbers
    remote_id: str | None = None
    picture: str | None = None


class Bridge(Protocol):
    """One connection to one channel of one network, as one account."""

    async def connect(self) -> None: ...

    def lines(self) -> AsyncIterator[IncomingLine]: ...

    async def write(self, kind: str, text: str) -> None: ...

    async def viewer_count(self) -> int | None: ...

    async def close(self) -> None: ...


LineSink = Callable[[IncomingLine], Awaitable[None]]
ViewcountSink = Callable[[int], Awaitable[None]]
VIEWCOUNT_SECONDS: Final = 60.0  # how often a reader asks its network (multistreamer's Twitch poll)


@dataclass(slots=True)
class Backoff:
    """Seconds to wait before reconnect attempt ``n``: ``first * 2**n`` up to ``cap``, +-``jitter`` share."""

    first: float = 1.0
    cap: float = 60.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        base = min(self.cap, self.first * float(1 << min(attempt, 30)))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


class BridgeRunner:
    """Keeps one bridge connected while it runs; reads into ``sink``; writes from a bounded outbox."""

    def __init__(
        self,
        bridge: Bridge,
        sink: LineSink | None,
        *,
        name: str,
        backoff: Backoff | None = None,
        on_ready: Callable[[bool], None] | None = None,
        on_viewcount: ViewcountSink | None = None,
        viewcount_every: float = VIEWCOUNT_SECONDS,
    ) -> None:
        self.bridge = bridge
        self.name = name
        self._sink = sink  # None: a writer only (no reader: its lines are not shown twice)
        self._backoff = backoff or Backoff()
        self._on_ready = on_ready
        self._on_viewcount = on_viewcount
        self._viewcount_every = viewcount_every
        self.viewer_count: int | None = None  # the last count reported
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(OUTBOX)
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.ready = False
        self.connections = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"bridge-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.bridge.close()
        self._set_ready(False)

    async def wait_ready(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
            return True
        except TimeoutError:
            return False

    def write(self, kind: str, text: str) -> bool:
        """Queue a line; False when the outbox is full (the line is dropped, never blocking a socket)."""
        try:
            self._outbox.put_nowait((kind, text))
            return True
        except asyncio.QueueFull:
            log.warning("bridge %s: outbox full, dropping a line", self.name)
            return False

    def _set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            if ready:
                self._connected.set()
            else:
                self._connected.clear()
            if self._on_ready is not None:
                self._on_ready(ready)

    def seen(self, remote_id: str | None) -> bool:
        """Remember ``remote_id``; True if it was delivered before."""
        if remote_id is None:
            return False
        if remote_id in self._seen:
            self._seen.move_to_end(remote_id)
            return True
        self._seen[remote_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        return False

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self.bridge.connect()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                delay = self._backoff.delay(attempt)
                log.warning("bridge %s: connecting failed (%s); retrying in %.1fs", self.name, error, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self.connections += 1
            self._set_ready(True)
            helpers = [asyncio.create_task(self._write_loop())]
            if self._on_viewcount is not None and self._sink is not None:
                helpers.append(asyncio.create_task(self._viewcount_loop(self._on_viewcount)))
            try:
                await self._read_loop()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("bridge %s: connection lost (%s)", self.name, error)
            finally:
                for helper in helpers:
                    helper.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await helper
                self._set_ready(False)
                with contextlib.suppress(Exception):
                    await self.bridge.close()
            await asyncio.sleep(self._backoff.delay(0))

    async def _read_loop(self) -> None:
        if self._sink is None:
            await asyncio.Event().wait()  # a writer only: stay connected until stopped
        assert self._sink is not None
        async for line in self.bridge.lines():
            if self.seen(line.remote_id):
                continue
            try:
                await self._sink(line)
            except Exception:
                log.exception("bridge %s: a line could not be shown", self.name)

    async def _viewcount_loop(self, report: ViewcountSink) -> None:
        """Ask soon after connecting (a channel's member list comes just after joining), then every
        ``viewcount_every`` seconds; report only a known count that changed."""
        await asyncio.sleep(min(self._viewcount_every, 1.0))
        while True:
            try:
                count = await self.bridge.viewer_count()
                if count is not None and count != self.viewer_count:
                    await report(count)
                    self.viewer_count = count
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("bridge %s: the viewer count could not be read (%s)", self.name, error)
            await asyncio.sleep(self._viewcount_every)

    async def _write_loop(self) -> None:
        while True:
            kind, text = await self._outbox.get()
            try:
                await self.bridge.write(kind, text)
            except Exception as error:
                log.warning("bridge %s: writing failed (%s); the line is dropped", self.name, error)


async def renew_forever(renew: Callable[[], Awaitable[None]], seconds: float, what: str) -> None:
    """Call ``renew`` every ``seconds`` until cancelled (a lease's keeper); a failure is logged and
    the next round tries again (the store may be away for a moment)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await renew()
        except Exception:
            log.exception("renewing %s failed", what)
