"""The default engine: one SQLite file in WAL mode, one writer thread, a few reader threads.

Only this single-node engine's writer touches the database for writes, so write
transactions are serialised and event ids commit in order. Units of work that queue
up while the writer is busy commit together (group commit): each runs in its own
savepoint, so one that fails is rolled back alone, and each caller is answered
only once the shared commit is done. Committing is the writer's biggest single
cost, so under load this raises throughput without changing what anyone sees. Readers see consistent
snapshots (WAL) and never block the writer. Other processes (the CLI) may write
to the same file at the same time; SQLite's lock and ``busy_timeout`` serialise
them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from hubbub.store.base import ReadTx, Store, WriteTx
from hubbub.store.migrate import migrate
from hubbub.store.sql import SqlDialect, SqlTx

__all__ = ["SqliteStore"]

T = TypeVar("T")
Outcome = tuple[bool, Any]  # (succeeded, result or exception)

SQLITE: Final = SqlDialect("sqlite", integrity_errors=(sqlite3.IntegrityError,))
BUSY_TIMEOUT_MS: Final = 10_000  # how long a writer waits for another process's lock
MAX_GROUP: Final = 64  # units of work committed together at most


@dataclass(slots=True)
class _Queued:
    work: Callable[[SqlTx], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], outcome: Outcome) -> None:
    if future.done():  # the caller was cancelled; the work is done (or not) all the same
        return
    succeeded, value = outcome
    if succeeded:
        future.set_result(value)
    else:
        future.set_exception(value)


class SqliteStore:
    """A ``Store`` over one SQLite file."""

    def __init__(self, path: Path, *, readers: int = 2) -> None:
        self._path = path
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="hubbub-sqlite-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="hubbub-sqlite-reader")
        self._queue: list[_Queued] = []
        self._queue_lock = threading.Lock()
        self._draining = False

    @classmethod
    def open(cls, path: Path, *, readers: int = 2) -> SqliteStore:
        """Create the file and its directory if needed and bring the schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path = path.resolve()
        # WAL is a property of the file: set it before yoyo's own connection touches it.
        bootstrap = sqlite3.connect(path, isolation_level=None)
        try:
            bootstrap.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(bootstrap)
        finally:
            bootstrap.close()
        migrate(f"sqlite:///{path}")
        return cls(path, readers=readers)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _run(self, work: Callable[[SqlTx], T], begin: str) -> T:
        connection = self._connection()
        cursor = connection.cursor()
        cursor.execute(begin)
        try:
            result = work(SqlTx(cursor, SQLITE))
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        return result

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run, work, "BEGIN")

    async def write(self, work: Callable[[WriteTx], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._queue_lock:
            self._queue.append(_Queued(work, future, loop))
            start, self._draining = not self._draining, True
        if start:
            self._writer.submit(self._drain)
        return await future

    def _drain(self) -> None:
        """On the writer thread: commit what is queued, a group at a time, until nothing is."""
        while True:
            with self._queue_lock:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                if not group:
                    self._draining = False
                    return
            try:
                outcomes = self._commit_group([q.work for q in group])
            except BaseException as error:  # never leave callers waiting on a writer that stopped
                outcomes = [(False, error)] * len(group)
            for queued, outcome in zip(group, outcomes, strict=True):
                with contextlib.suppress(RuntimeError):  # that event loop has closed: nobody waits any more
                    queued.loop.call_soon_threadsafe(_settle, queued.future, outcome)

    def _commit_group(self, units: list[Callable[[SqlTx], Any]]) -> list[Outcome]:
        if len(units) == 1:  # nobody else waiting: no savepoint needed
            try:
                return [(True, self._run(units[0], "BEGIN IMMEDIATE"))]
            except Exception as error:
                return [(False, error)]
        connection: sqlite3.Connection | None = None
        outcomes: list[Outcome] = []
        try:
            connection = self._connection()
            cursor = connection.cursor()
            tx = SqlTx(cursor, SQLITE)
            cursor.execute("BEGIN IMMEDIATE")
            for work in units:
                cursor.execute("SAVEPOINT unit")
                try:
                    result = work(tx)
                except Exception as error:
                    cursor.execute("ROLLBACK TO unit")
                    cursor.execute("RELEASE unit")
                    outcomes.append((False, error))
                else:
                    cursor.execute("RELEASE unit")
                    outcomes.append((True, result))
            cursor.execute("COMMIT")
        except Exception as error:  # the database (or the commit) failed: nothing of the group was kept
            if connection is not None and connection.in_transaction:
                connection.rollback()
            return [(False, error)] * len(units)
        return outcomes

    def write_blocking(self, work: Callable[[WriteTx], T]) -> T:
        """Run a unit of work from synchronous code (the CLI), on the writer thread."""
        return self._writer.submit(self._run, work, "BEGIN IMMEDIATE").result()

    def read_blocking(self, work: Callable[[ReadTx], T]) -> T:
        return self._readers.submit(self._run, work, "BEGIN").result()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.close_blocking)

    def close_blocking(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch the file to WAL unless it already is.

    Switching needs an exclusive lock, and SQLite reports "database is locked" at
    once instead of waiting out ``busy_timeout`` when another process (a running
    server, a second CLI call) holds the file; so look first, and retry briefly.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_: type[Store] = SqliteStore
