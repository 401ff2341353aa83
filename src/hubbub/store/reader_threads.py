"""Store reads on a few threads of their own, each answer handed straight to the waiting event loop.

Every signed-in request reads its session, so a read's own cost counts on the event loop.
``loop.run_in_executor`` pays for a ``concurrent.futures`` future, a work item and a
chained asyncio future on top of the read; here a read is one tuple on a queue, and the
reader thread settles the caller's asyncio future with one ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from hubbub.store.answers import settle
from hubbub.store.sql import SqlTx

__all__ = ["ReaderThreads"]

T = TypeVar("T")
Work = Callable[[SqlTx], Any]
Runner = Callable[[Work], Any]
_Job = tuple[Runner, Work, "asyncio.Future[Any] | Future[Any]", "asyncio.AbstractEventLoop | None"]


class ReaderThreads:
    """``count`` threads that run units of reading work in the order they come, started on the first.

    ``runner`` is the engine's: it runs one unit in a read transaction on the calling thread.
    ``initializer`` runs once on each thread before its first unit (PostgreSQL binds the
    thread's connection there).
    """

    def __init__(
        self,
        count: int,
        runner: Callable[[Work], Any],
        *,
        thread_name: str,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a store needs at least one reader thread")
        self._count = count
        self._runner = runner
        self._thread_name = thread_name
        self._initializer = initializer
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, work: Callable[[SqlTx], T], *, runner: Runner | None = None) -> T:
        """Run ``work`` on a reader thread and return what it returns (or raise what it raised).

        ``runner``: another of the engine's ways to run a unit, instead of its read transaction.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put((runner or self._runner, work, future, loop))
        return await future

    def run_blocking(self, work: Callable[[SqlTx], T]) -> T:
        """The same from synchronous code (the CLI), waiting on this thread."""
        future: Future[T] = Future()
        self._put((self._runner, work, future, None))
        return future.result()

    def close(self) -> None:
        """Finish the jobs already queued, then end the threads."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()

    def _put(self, job: _Job) -> None:
        with self._lock:  # so that no job is queued behind the threads' ends by ``close``
            if self._closed:
                raise RuntimeError("the store is closed")
            if not self._threads:
                for index in range(self._count):
                    thread = threading.Thread(target=self._serve, name=f"{self._thread_name}_{index}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
            self._jobs.put(job)

    def _serve(self) -> None:
        if self._initializer is not None:
            self._initializer()
        while (job := self._jobs.get()) is not None:
            runner, work, future, loop = job
            try:
                value, succeeded = runner(work), True
            except BaseException as error:  # the caller gets it, whatever it is; the thread goes on
                value, succeeded = error, False
            if loop is None:  # run_blocking's: its caller waits on this future itself
                settle(future, succeeded, value)
            else:
                with contextlib.suppress(RuntimeError):  # that event loop has closed: nobody waits any more
                    loop.call_soon_threadsafe(settle, future, succeeded, value)
            del job, runner, work, future, value  # hold nothing of a finished read while waiting for the next
