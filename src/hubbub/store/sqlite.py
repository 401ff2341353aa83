"""The default engine: one SQLite file in WAL mode, one writer thread, a few reader threads.

Only this single-node engine's writer touches the database for writes, so write
transactions are serialised and event ids commit in order. Readers see consistent
snapshots (WAL) and never block the writer. Other processes (the CLI) may write
to the same file at the same time; SQLite's lock and ``busy_timeout`` serialise
them too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from hubbub.store.base import ReadTx, Store, WriteTx
from hubbub.store.migrate import migrate
from hubbub.store.sql import SqlDialect, SqlTx

__all__ = ["SqliteStore"]

T = TypeVar("T")

SQLITE: Final = SqlDialect("sqlite", integrity_errors=(sqlite3.IntegrityError,))
BUSY_TIMEOUT_MS: Final = 10_000  # how long a writer waits for another process's lock


class SqliteStore:
    """A ``Store`` over one SQLite file."""

    def __init__(self, path: Path, *, readers: int = 2) -> None:
        self._path = path
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="hubbub-sqlite-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="hubbub-sqlite-reader")

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
        return await loop.run_in_executor(self._writer, self._run, work, "BEGIN IMMEDIATE")

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
