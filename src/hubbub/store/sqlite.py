"""The default engine: one SQLite file in WAL mode, one writer, a few reader threads.

Only this single-node engine's writer touches the database for writes, so write
transactions are serialised and event ids commit in order. Units of work that queue
up while the writer is busy commit together (``store/writer.py``, group commit).
Readers see consistent snapshots (WAL) and never block the writer. Other processes
(the CLI) may write to the same file at the same time; SQLite's lock and
``busy_timeout`` serialise them too.

With ``synchronous = normal`` a commit waits for nothing, so groups commit on the caller's
event loop, and the one-statement lookups (every signed-in request's session) run there
too: no thread hands the interpreter lock back and forth for them. Those connections
never wait for a lock: if another process holds it, the group goes to the writer thread
and the lookup to a reader thread, which wait there (docs/design/ordering.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from hubbub.errors import ConfigError
from hubbub.settings import SqliteSynchronous
from hubbub.store.base import ReadTx, Store, WriteTx
from hubbub.store.migrate import migrate
from hubbub.store.reader_threads import ReaderThreads
from hubbub.store.sql import SQLITE, SqlTx
from hubbub.store.sqlite_checkpoints import Checkpointer
from hubbub.store.write_queue import GroupWriter, WriterBusy

__all__ = ["BackupReport", "SqliteStore", "backup", "connect"]

T = TypeVar("T")

BUSY_TIMEOUT_MS: Final = 10_000  # how long a writer waits for another process's lock
MAX_GROUP: Final = 64  # units of work committed together at most


def connect(
    path: Path, *, synchronous: SqliteSynchronous = "normal", busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """A connection to the file set up as hubbub's queries expect (autocommit; transactions are explicit).

    ``synchronous``: with ``normal`` a commit is written to the WAL file but flushed to the disk
    only at checkpoints, so a power loss can undo the last commits (never reorder them); with
    ``full`` every commit waits for the disk (docs/configuration.md).
    ``busy_timeout_ms``: how long a statement waits for another process's lock before it fails.
    """
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    # SQLite's own lower() folds ASCII only; search must fold like PostgreSQL's (dialect.py).
    connection.create_function(SQLITE.lower, 1, _lower, deterministic=True)
    return connection


def _lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "another connection holds the lock" (what a connection that never waits gets)."""
    return isinstance(error, sqlite3.OperationalError) and (getattr(error, "sqlite_errorcode", 0) & 0xFF) in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


class _Connections:
    """One connection per thread, all closed together."""

    def __init__(self, path: Path, synchronous: SqliteSynchronous, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self._path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []

    def get(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = connect(self._path, synchronous=self._synchronous, busy_timeout_ms=self._busy_timeout_ms)
            # the store's ``Checkpointer`` copies the WAL, never a commit (store/sqlite_checkpoints.py)
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def cursor(self) -> sqlite3.Cursor:
        """This thread's one cursor, for every transaction it runs in turn. CPython's sqlite3 keeps
        a weak reference to each cursor a connection makes and drops the dead ones only at every
        200th: with a cursor per transaction, each store read left one object behind for the
        garbage collector, outliving its young generations (bench/poll_objects.py)."""
        cursor: sqlite3.Cursor | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.get().cursor()
        return cursor

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()


class _SqliteWriteSession:
    """Write transactions on the writing thread's connection (``BEGIN IMMEDIATE`` takes the file's write lock).

    Its commits never checkpoint: ``checkpoints`` does that on its own thread (store/sqlite_checkpoints.py).
    """

    reads_ahead = False  # in-process: a read costs no round trip, so each unit reads as it runs

    def __init__(self, connections: _Connections, checkpoints: Checkpointer, *, inline: bool = False) -> None:
        """``inline``: this session runs on event loops (``connections`` never wait for a lock),
        and says so with ``WriterBusy`` when the lock is taken."""
        self._connections = connections
        self._checkpoints = checkpoints
        self._inline = inline
        self._cursor: sqlite3.Cursor | None = None

    def begin(self) -> SqlTx:
        cursor = self._connections.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if self._inline and _is_busy(error):
                raise WriterBusy from error
            raise
        self._cursor = cursor
        return SqlTx(cursor, SQLITE)

    def _run(self, sql: str) -> None:
        assert self._cursor is not None
        self._cursor.execute(sql)

    def savepoint(self) -> None:
        self._run("SAVEPOINT unit")

    def release(self) -> None:
        self._run("RELEASE unit")

    def release_unconfirmed(self) -> None:
        self.release()  # SQLite answers at once: a statement that failed has raised already

    def confirm(self, send_next: Callable[[], None]) -> None:
        send_next()  # the released unit's statements were answered (and any refusal raised) already

    def retryable(self, error: BaseException) -> bool:
        return False

    def rollback_to(self) -> None:
        self._run("ROLLBACK TO unit")
        self._run("RELEASE unit")

    def commit(self) -> None:
        self._run("COMMIT")
        self._cursor = None
        self._checkpoints.committed()

    def abort(self) -> None:
        self._cursor = None
        connection = self._connections.get()
        if connection.in_transaction:
            connection.rollback()

    def close(self) -> None:
        self._cursor = None


class SqliteStore:
    """A ``Store`` over one SQLite file."""

    def __init__(self, path: Path, *, readers: int = 2, synchronous: SqliteSynchronous = "normal") -> None:
        self._path = path
        self._connections = _Connections(path, synchronous)
        # the event loops' own: they never wait for a lock, the threads above do (module docstring)
        self._on_loop = _Connections(path, synchronous, busy_timeout_ms=0)
        self._checkpoints = Checkpointer(path, lambda at: connect(at, synchronous=synchronous))
        inline = _SqliteWriteSession(self._on_loop, self._checkpoints, inline=True) if synchronous == "normal" else None
        self._writer = GroupWriter(
            _SqliteWriteSession(self._connections, self._checkpoints),
            max_group=MAX_GROUP,
            thread_name="hubbub-sqlite-writer",
            inline=inline,
        )
        self._readers = ReaderThreads(readers, self._read, thread_name="hubbub-sqlite-reader")

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    def open(cls, path: Path, *, readers: int = 2, synchronous: SqliteSynchronous = "normal") -> SqliteStore:
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
        return cls(path, readers=readers, synchronous=synchronous)

    def _read(self, work: Callable[[SqlTx], T]) -> T:
        cursor = self._connections.cursor()
        cursor.execute("BEGIN")
        try:
            return work(SqlTx(cursor, SQLITE))
        finally:
            cursor.execute("ROLLBACK")  # nothing to keep: reads only

    def _look_up(self, work: Callable[[SqlTx], T], connections: _Connections | None = None) -> T:
        # With no BEGIN, SQLite runs the one statement in a read transaction of its own, which
        # lasts until the statement is done: a unit that read one row of several would leave its
        # snapshot open on this idle thread, and no checkpoint could copy the WAL past it.
        cursor = (connections or self._connections).cursor()
        try:
            return work(SqlTx(cursor, SQLITE, one_statement=True))
        finally:
            with contextlib.suppress(sqlite3.Error):
                cursor.fetchall()

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        return await self._readers.run(work)

    async def lookup(self, work: Callable[[ReadTx], T]) -> T:
        """On this event loop: one statement of an indexed row costs less than handing it to a thread.
        If another process's lock is in the way, a reader thread waits for it instead."""
        try:
            return self._look_up(work, self._on_loop)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
        return await self._readers.run(work, runner=self._look_up)

    async def write(self, work: Callable[[WriteTx], T], *, prefetch: Callable[[WriteTx], None] | None = None) -> T:
        return await self._writer.write(work, prefetch)

    def write_blocking(self, work: Callable[[WriteTx], T]) -> T:
        """Run a unit of work from synchronous code (the CLI), on the writer thread."""
        return self._writer.write_blocking(work)

    def read_blocking(self, work: Callable[[ReadTx], T]) -> T:
        return self._readers.run_blocking(work)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.close_blocking)

    @property
    def checkpoints(self) -> Checkpointer:
        return self._checkpoints

    def close_blocking(self) -> None:
        self._writer.close()
        self._checkpoints.close()
        self._readers.close()
        self._connections.close()
        self._on_loop.close()


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    bytes: int
    last_event_id: int


def backup(source: Path, target: Path) -> BackupReport:
    """Copy the database at ``source`` to a new file ``target`` while servers keep using it.

    SQLite's online backup API copies every page in one step, inside one read
    transaction: the copy is one consistent snapshot, and in WAL mode writers go on
    meanwhile. The copy is written next to ``target`` as ``<name>.partial``, checked
    (``PRAGMA quick_check``), switched to a self-contained rollback journal, and only
    then renamed to ``target``, so a ``target`` that exists is a complete backup.

    Raises:
        ConfigError: ``source`` is not a hubbub database, ``target`` exists, or the copy fails its check.
    """
    if not source.is_file():
        raise ConfigError(f"no SQLite database at {source}")
    if target.exists():
        raise ConfigError(f"{target} exists; hubbub backup never overwrites (remove it or pick another name)")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    original = connect(source)
    try:
        if original.execute("SELECT 1 FROM sqlite_master WHERE name = 'counters'").fetchone() is None:
            raise ConfigError(f"{source} is not a hubbub database (it has no counters table)")
        copy = sqlite3.connect(partial)
        try:
            original.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")
            check = str(copy.execute("PRAGMA quick_check").fetchone()[0])
            last = int(copy.execute("SELECT value FROM counters WHERE name = 'event'").fetchone()[0])
        finally:
            copy.close()
    finally:
        original.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise ConfigError(f"the copy of {source} failed its integrity check: {check}")
    os.replace(partial, target)
    return BackupReport(target, target.stat().st_size, last)


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
            if not _is_busy(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_: type[Store] = SqliteStore
