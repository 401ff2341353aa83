"""Bench only: synchronous units of work on the event loop, awaiting an asynchronous driver inside them.

The alternative design bench/store_drivers.py measures against the shipped one (a
synchronous psycopg connection on a writer thread); docs/design/postgres.md has the
numbers.

A unit of work is a plain function (``work(tx)``), but a network driver's calls are
coroutines. ``run_sync`` runs the function in a greenlet on the event loop's own
thread; inside it, ``wait_for`` hands an awaitable back to ``run_sync``, which
awaits it like any coroutine (the loop serves everyone else meanwhile) and resumes
the function with the result, or with the exception.

Why not a worker thread with a synchronous driver: every round trip would then wake
the worker, which must take the GIL back from the event loop thread; while the loop
is busy (serving HTTP) that costs up to the interpreter's switch interval (5 ms) per
round trip, and a post makes several (measured in docs/design/postgres.md). On the
loop's thread there is nobody to take the GIL from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import greenlet

from hubbub.errors import LocalError
from hubbub.store.sql import SqlTx
from hubbub.store.writer import WriteSession, commit_group

__all__ = ["LoopGroupWriter", "run_sync", "wait_for"]

T = TypeVar("T")


class _UnitGreenlet(greenlet.greenlet):  # type: ignore[misc]
    """The greenlet ``run_sync`` runs a function in; ``wait_for`` knows it by its class."""


def wait_for(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` on the event loop from inside a function ``run_sync`` is running.

    Raises:
        LocalError: Called anywhere else (a bug: it would block or deadlock).
        Whatever ``awaitable`` raises.
    """
    current = greenlet.getcurrent()
    if not isinstance(current, _UnitGreenlet):
        raise LocalError("wait_for called outside run_sync")
    return current.parent.switch(awaitable)  # type: ignore[no-any-return]


async def run_sync(function: Callable[..., T], *args: Any) -> T:
    """Run ``function(*args)`` to its end on this thread, awaiting what it passes to ``wait_for``."""
    unit = _UnitGreenlet(function, greenlet.getcurrent())
    request = unit.switch(*args)
    while not unit.dead:
        try:
            value = await request
        except BaseException as error:  # into the function, at its wait_for
            request = unit.throw(error)
        else:
            request = unit.switch(value)
    return request  # type: ignore[no-any-return]


class LoopGroupWriter:
    """Group commit on the event loop: one task commits what is queued, the units run in a greenlet.

    For network drivers (store/bridge.py says why not a thread); the session's methods
    call ``bridge.wait_for``. Same guarantees as ``GroupWriter``.
    """

    def __init__(self, session: WriteSession, *, max_group: int) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._session = session
        self._max_group = max_group
        self._queue: list[tuple[Callable[[SqlTx], Any], asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, work: Callable[[SqlTx], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="hubbub-writer")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
            try:
                outcomes = await run_sync(commit_group, self._session, [work for work, _ in group])
            except BaseException as error:  # never leave callers waiting on a writer that stopped
                outcomes = [(False, error)] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if not future.done():
                    succeeded, value = outcome
                    if succeeded:
                        future.set_result(value)
                    else:
                        future.set_exception(value)

    async def close(self) -> None:
        """Finish what is queued, then close the session."""
        if self._task is not None:
            await asyncio.shield(self._task)
        await run_sync(self._session.close)
