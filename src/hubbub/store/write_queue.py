"""The queue of units waiting to be written, and who commits it: a writer thread, or the caller's event loop.

``Store.write`` callers queue their unit of work; one drain at a time takes what is queued
(up to ``max_group`` units) and commits it as one group (``commit_group``, store/writer.py),
then answers every caller. By default the drain runs on the store's one writer thread.

An engine whose commit costs no wait at all (SQLite with ``synchronous = normal``: the WAL
write goes to the page cache) also hands in an *inline* session: groups then run on the
caller's event loop, one group per turn of the loop, and no thread takes the interpreter lock
in between (with the process free on both cores, handing the lock to and from a writer
thread cost more than the posts' own work; docs/design/ordering.md). A group waits
``GATHER_TURNS`` turns of the loop before it runs (unless it is full): aiohttp takes a request
from its bytes to its handler over several callbacks, so the posts read in one turn reach
the writer over the next turns, and a group that ran at once held about 4 of 16 posts waiting
(bench/post_messages.py, 16 posters). A commit costs about the same for one post as for
sixteen (a page of the WAL per b-tree changed), and groups of 16 took 15-25% less server CPU
per post. On a loop with nothing else to do, three turns are microseconds. The inline session never
waits for a lock: when another process holds the database's, it raises ``WriterBusy`` before
anything ran, and that group goes to the writer thread, which waits; what queued meanwhile
goes back to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from hubbub.store.answers import settle
from hubbub.store.sql import SqlTx
from hubbub.store.writer import Outcome, Prefetch, WriteSession, commit_group

__all__ = ["GATHER_TURNS", "GroupWriter", "WriterBusy"]

T = TypeVar("T")

GATHER_TURNS: Final = 3  # turns of the loop an inline group waits for more units (module docstring)


class WriterBusy(BaseException):
    """An inline session's ``begin``: another process holds the write lock; nothing of the group ran.

    A ``BaseException`` so that it passes through ``commit_group``, which answers every
    ``Exception`` as the group's failure: this one only means "run the group elsewhere".
    """


@dataclass(slots=True)
class _Queued:
    work: Callable[[SqlTx], Any]
    prefetch: Prefetch | None
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle_all(settled: list[tuple[asyncio.Future[Any], Outcome]]) -> None:
    for future, (succeeded, value) in settled:
        settle(future, succeeded, value)


class GroupWriter:
    """Commits whatever queued up together, on one writer thread or (``inline``) on the callers' event loop."""

    def __init__(
        self, session: WriteSession, *, max_group: int, thread_name: str, inline: WriteSession | None = None
    ) -> None:
        """``inline``: the session that runs groups on the caller's event loop (module docstring)."""
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._session = session
        self._inline = inline
        self._max_group = max_group
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._queue: list[_Queued] = []
        self._queue_lock = threading.Lock()
        self._closed = False
        self._idle = threading.Event()  # set: nothing queued and no drain running (clear: one drain is)
        self._idle.set()
        self._inline_loop: asyncio.AbstractEventLoop | None = None  # the loop whose turn runs the next group

    async def write(self, work: Callable[[SqlTx], T], prefetch: Prefetch | None = None) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._queue_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._queue.append(_Queued(work, prefetch, future, loop))
            start = self._idle.is_set()
            if start:
                self._idle.clear()
                if self._inline is not None:
                    self._inline_loop = loop
        if start:
            if self._inline is None:
                self._thread.submit(self._drain)
            else:  # after the callbacks already due, and GATHER_TURNS turns more: their writes join this group
                loop.call_soon(self._gather, loop, GATHER_TURNS)
        return await future

    def write_blocking(self, work: Callable[[SqlTx], T]) -> T:
        """Run one unit from synchronous code, on the writer thread, in its own transaction."""
        succeeded, value = self._thread.submit(commit_group, self._session, [work]).result()[0]
        if not succeeded:
            raise value
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Refuse new units, finish what is queued (inline groups on their loop), then close the sessions.

        Called off the event loops that write (``Store.close`` runs it on an executor thread),
        since it waits for their inline groups to end.
        """
        with self._queue_lock:
            self._closed = True
        while not self._idle.wait(0.05):
            loop = self._inline_loop
            if loop is not None and (not loop.is_running() or _running_loop() is loop):
                # its loop will not come back for them (stopped, or blocked in this very call):
                # the thread commits them instead, and the loop's turn, if it comes, finds nothing to do
                with self._queue_lock:
                    self._inline_loop = None
                self._thread.submit(self._drain)
        self._thread.shutdown(wait=True)
        self._session.close()
        if self._inline is not None:
            self._inline.close()

    def _take_group(self) -> list[_Queued]:
        """Up to ``max_group`` queued units, oldest first (with ``_queue_lock`` held)."""
        group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
        return group

    def _end_if_empty(self) -> bool:
        """With ``_queue_lock`` held: end the drain if nothing is queued; whether something is."""
        if self._queue:
            return True
        self._idle.set()
        return False

    def _next_group(self) -> list[_Queued]:
        """The next group; none ends the drain."""
        with self._queue_lock:
            self._end_if_empty()
            return self._take_group()

    def _more(self) -> bool:
        """After a group: whether the drain goes on (else it has ended)."""
        with self._queue_lock:
            return self._end_if_empty()

    def _drain(self) -> None:
        """On the writer thread: commit what is queued, a group at a time, until nothing is."""
        while group := self._next_group():
            self._commit_on_thread(group)

    def _commit_on_thread(self, group: list[_Queued]) -> None:
        try:
            outcomes = commit_group(self._session, [q.work for q in group], [q.prefetch for q in group])
        except BaseException as error:  # never leave callers waiting on a writer that stopped
            outcomes = [(False, error)] * len(group)
        _answer(group, outcomes, None)

    def _drain_busy(self, group: list[_Queued], loop: asyncio.AbstractEventLoop) -> None:
        """On the writer thread: commit the group that found the lock taken (waiting for it), then
        give what queued meanwhile back to ``loop``: the thread stands in for one group only."""
        self._commit_on_thread(group)
        if not self._more():
            return
        if self._inline_loop is loop:  # else ``close`` gave the queue to the thread
            try:
                loop.call_soon_threadsafe(self._drain_inline, loop)
                return
            except RuntimeError:  # that loop has closed: the thread commits the rest
                pass
        self._drain()

    def _gather(self, loop: asyncio.AbstractEventLoop, turns: int) -> None:
        """On ``loop``: let ``turns`` more turns go by while units queue (unless a group is full), then drain."""
        if turns > 0 and len(self._queue) < self._max_group:
            loop.call_soon(self._gather, loop, turns - 1)
        else:
            self._drain_inline(loop)

    def _drain_inline(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: commit one group with the inline session, then come back for the next after
        what else is due, so that requests go on between groups."""
        with self._queue_lock:
            if self._inline_loop is not loop:  # ``close`` gave the queue to the thread
                return
            group = self._take_group()
        assert self._inline is not None
        try:
            outcomes = commit_group(self._inline, [q.work for q in group], [q.prefetch for q in group])
        except WriterBusy:  # another process writes: the thread waits for the lock, the loop does not
            self._thread.submit(self._drain_busy, group, loop)
            return
        except Exception as error:
            outcomes = [(False, error)] * len(group)
        _answer(group, outcomes, loop)
        if self._more():
            loop.call_soon(self._drain_inline, loop)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _answer(group: list[_Queued], outcomes: list[Outcome], running: asyncio.AbstractEventLoop | None) -> None:
    """Settle each unit's future: at once on ``running`` (the loop this runs on), else through its own loop.

    One wake-up per other event loop for the whole group, not one per unit: each is a write
    to the loop's wake-up pipe and a turn of the loop.
    """
    answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Outcome]]] = {}
    for queued, outcome in zip(group, outcomes, strict=True):
        answers.setdefault(queued.loop, []).append((queued.future, outcome))
    for loop, settled in answers.items():
        if loop is running:
            _settle_all(settled)
        else:
            with contextlib.suppress(RuntimeError):  # that event loop has closed: nobody waits any more
                loop.call_soon_threadsafe(_settle_all, settled)
