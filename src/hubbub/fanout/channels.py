"""Wake-ups for long polls on direct-conversation channels, bounded per user and per node.

``ChannelWaiters`` is a ``Fanout``: the hub hands it every committed batch, from this node or
any other (through the bus), in log order, and it wakes whoever waits on the users a
direct-conversation event is for (``core.direct.direct_audience``). A waiter never receives
data from here: it re-reads its channel from the store, the source of truth, so a wake-up that
comes early, late or twice cannot lose or double an entry.

A waiter is told in one of two ways. A task awaits the user's future (``current``): all waiters
of one user share it, so a wake-up is one ``set_result`` whatever the number of tabs. Code that
holds no task registers a ``Sleeper`` (``sleep``), called once at the next wake-up: no future,
no callback object, nothing per wait for the garbage collector but a dict entry
(``web.poll_connections`` holds thousands of polls this way). The waiter counts are bounded:
beyond ``per_user`` or ``total`` ``acquire`` refuses at once and the caller answers as if the
wait had timed out (comet: ``continue``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from hubbub import metrics
from hubbub.core.direct import direct_audience
from hubbub.core.events import Event
from hubbub.core.ids import UserId

__all__ = ["ChannelWaiters", "Sleeper", "Wake", "woken_within"]

log = logging.getLogger("hubbub.fanout")


class Sleeper(Protocol):
    """What ``ChannelWaiters.sleep`` registers: told once, by a plain call, at the next wake-up."""

    def woken(self) -> None:
        """Something for the user was delivered (runs inside ``deliver``: must not block or raise)."""


class Wake:
    """One registered waiter: ``wait`` returns True once an event for its user was delivered
    after it registered (or re-armed), False when ``timeout`` passes first."""

    __slots__ = ("_future", "_user_id", "_waiters")

    def __init__(self, waiters: ChannelWaiters, user_id: UserId) -> None:
        self._waiters = waiters
        self._user_id = user_id
        self._future = waiters.current(user_id)

    def rearm(self) -> None:
        """Wait for the next delivery from here on (call before reading what the last one brought)."""
        self._future = self._waiters.current(self._user_id)

    async def wait(self, timeout: float) -> bool:
        return await woken_within(self._future, timeout)


async def woken_within(future: asyncio.Future[None], timeout: float) -> bool:
    """True once ``future`` (a wake-up shared by every waiter of one user) is done, False when
    ``timeout`` passes first; shielded, so one waiter's timeout never cancels the others'."""
    if future.done():
        return True
    try:
        async with asyncio.timeout(timeout):
            await asyncio.shield(future)
    except TimeoutError:
        return False
    return True


class ChannelWaiters:
    def __init__(self, *, per_user: int, total: int) -> None:
        if per_user < 1 or total < 1:
            raise ValueError("waiter bounds must be at least 1")
        self._per_user = per_user
        self._total = total
        self._futures: dict[UserId, asyncio.Future[None]] = {}
        # One sleeper as itself, several (tabs) in a list: most users wait once, and a list per
        # user would be one more object for the collector per held poll.
        self._sleepers: dict[UserId, Sleeper | list[Sleeper]] = {}
        self._counts: dict[UserId, int] = {}
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def count(self, user_id: UserId) -> int:
        return self._counts.get(user_id, 0)

    def acquire(self, user_id: UserId) -> bool:
        """Count one more waiter for ``user_id``; False (counting nothing) over a bound: answer at once.

        Acquire (and take ``current``) *before* reading the channel: an entry committed after
        the read is then delivered after it and resolves the future.
        """
        if self._waiting >= self._total or self._counts.get(user_id, 0) >= self._per_user:
            return False
        self._counts[user_id] = self._counts.get(user_id, 0) + 1
        self._waiting += 1
        metrics.LONGPOLL_WAITERS.inc()
        return True

    def release(self, user_id: UserId) -> None:
        """Give back one waiter ``acquire`` counted (exactly once for each)."""
        metrics.LONGPOLL_WAITERS.dec()
        self._waiting -= 1
        left = self._counts[user_id] - 1
        if left:
            self._counts[user_id] = left
            return
        del self._counts[user_id]
        self._sleepers.pop(user_id, None)  # (each sleeper unsleeps before it releases)
        current = self._futures.pop(user_id, None)
        if current is not None and not current.done():
            current.cancel()

    @contextlib.asynccontextmanager
    async def register(self, user_id: UserId) -> AsyncIterator[Wake | None]:
        """``acquire`` for the length of a ``with`` block: a ``Wake``, or None over a bound."""
        if not self.acquire(user_id):
            yield None
            return
        try:
            yield Wake(self, user_id)
        finally:
            self.release(user_id)

    def current(self, user_id: UserId) -> asyncio.Future[None]:
        """The future the next delivery for ``user_id`` resolves (shared by all its waiters)."""
        future = self._futures.get(user_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._futures[user_id] = future
        return future

    def sleep(self, user_id: UserId, sleeper: Sleeper) -> None:
        """Call ``sleeper.woken()`` once at the next delivery for ``user_id`` (a task would take
        ``current`` instead). Like ``current``, register *before* reading the channel."""
        held = self._sleepers.get(user_id)
        if held is None:
            self._sleepers[user_id] = sleeper
        elif isinstance(held, list):
            if sleeper not in held:
                held.append(sleeper)
        elif held is not sleeper:
            self._sleepers[user_id] = [held, sleeper]

    def unsleep(self, user_id: UserId, sleeper: Sleeper) -> None:
        """Forget ``sleeper`` if it is still registered (its wait ended another way)."""
        held = self._sleepers.get(user_id)
        if held is sleeper:
            del self._sleepers[user_id]
        elif isinstance(held, list) and sleeper in held:
            held.remove(sleeper)
            if len(held) == 1:
                self._sleepers[user_id] = held[0]

    def wake(self, user_id: UserId) -> bool:
        future = self._futures.pop(user_id, None)
        woken = future is not None and not future.done()
        if woken:
            assert future is not None
            future.set_result(None)
        held = self._sleepers.pop(user_id, None)
        if held is None:
            return woken
        for sleeper in held if isinstance(held, list) else (held,):
            try:
                sleeper.woken()
            except Exception:  # one sleeper's bug must not keep the others (or the hub) from going on
                log.exception("a channel waiter failed to wake")
        return True

    def deliver(self, batch: Sequence[Event]) -> int:
        woken = 0
        for event in batch:
            for user_id in direct_audience(event):
                woken += self.wake(user_id)
        return woken
