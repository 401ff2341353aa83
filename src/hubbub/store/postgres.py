"""The scale-out engine: PostgreSQL through psycopg 3, shared by any number of nodes.

Needs the ``postgres`` extra (``pip install 'hubbub[postgres]'``); ``app.open_store``
imports this module only for ``postgresql://`` URLs. The driver and the threading
were chosen by measurement (bench/store_drivers.py, docs/design/postgres.md): units
of work are synchronous functions, and a synchronous psycopg connection on a worker
thread, in pipeline mode, ran them faster than psycopg's or asyncpg's asynchronous
connections on the event loop, above all while the loop is busy.

- Writes: one writer thread per node with one connection in pipeline mode, and the
  same group commit as SQLite (``store/writer.py``). Every write transaction starts by taking
  one transaction-scoped advisory lock, the same for every node, so write
  transactions are serialised cluster-wide exactly as SQLite's single writer
  serialises them: event ids stay dense and become visible strictly in commit
  order, and the units (written for a serial writer) never race each other.
  docs/design/ordering.md gives the argument.
- Reads: ``read_connections`` reader threads, each with a connection of its own kept
  in pipeline mode (``_Reader``, reopened after it breaks), each unit in one
  ``REPEATABLE READ READ ONLY`` transaction: one snapshot, which never blocks or is
  blocked by the writers, and one wait for the server per unit.
- Lookups (reads of one statement, such as every signed-in request's session): on the
  caller's event loop through asyncpg (``store/pg_lookups.py``), where handing them to a
  reader thread cost several times their own work in passing the interpreter lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, Final, TypeVar

import psycopg
from psycopg.types.numeric import Int8Dumper

from hubbub.errors import ConfigError
from hubbub.store.base import ReadTx, Store, WriteTx
from hubbub.store.migrate import migrate_postgresql
from hubbub.store.pg_lookups import Lookups
from hubbub.store.reader_threads import ReaderThreads
from hubbub.store.sql import POSTGRESQL, SqlTx
from hubbub.store.sql.base import COUNTERS
from hubbub.store.write_queue import GroupWriter
from hubbub.store.writer import UnitRefused

__all__ = ["WRITE_LOCK_KEY", "PostgresStore", "connect", "redacted"]

T = TypeVar("T")

WRITE_LOCK_KEY: Final = 0x6875_6262_7562_0001  # "hubbub" + 1: the cluster-wide write (append) lock
MAX_GROUP: Final = 64  # units of work committed together at most
# A node that stops mid-transaction (paused, partitioned) holds the write lock: the server ends
# its session after this long idle inside a transaction, so the other nodes go on.
IDLE_IN_TRANSACTION_MS: Final = 30_000
CONNECT_TIMEOUT_SECONDS: Final = 10

_BEGIN_READ: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _configure(connection: psycopg.Connection[Any]) -> None:
    # Every int goes as int8 (psycopg picks int2/int4/int8 by value otherwise), so each
    # statement is prepared once whatever the magnitudes of its parameters.
    connection.adapters.register_dumper(int, Int8Dumper)
    # SET rather than a connection option, which would replace options the URL may carry.
    connection.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")


def connect(url: str, *, application_name: str = "hubbub") -> psycopg.Connection[Any]:
    """An autocommit connection set up as hubbub's queries expect (transactions are explicit)."""
    connection = psycopg.connect(
        url,
        autocommit=True,
        application_name=application_name,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )
    _configure(connection)
    return connection


class _PostgresWriteSession:
    """Write transactions on the writer thread's connection, in pipeline mode; reopened after it breaks.

    In pipeline mode a statement whose results nobody fetches (BEGIN, the lock, SAVEPOINT,
    INSERT, UPDATE) is sent without waiting for the server; a fetch, the end of a unit
    (``release``) and ``commit`` wait for everything sent so far. An error is therefore
    raised at the latest by the ``release`` of the unit that caused it, so it is still
    that unit alone that fails. It can also be raised sooner: psycopg reads the answers
    already in whenever it sends, so a unit released unconfirmed can be refused while the
    next unit's start is being sent, which ``confirm`` counts as that unit's refusal.

    A failed statement makes the server skip everything sent after it up to the next sync,
    PREPAREs too, while psycopg counts a statement as prepared once it has sent the PREPARE:
    with the savepoint statements prepared, a RELEASE sent after a refused unit failed later
    with "prepared statement does not exist" (tests/store/test_contract.py). So the session's
    own statements are never prepared, and after any failed statement it stops preparing the
    units' statements for the rest of the transaction and reconnects after it (a fresh set).
    """

    reads_ahead = True

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: psycopg.Connection[Any] | None = None
        self._cursor: psycopg.Cursor[Any] | None = None
        self._pipeline: contextlib.ExitStack | None = None
        self._syncer: psycopg.Pipeline | None = None
        self._released: psycopg.Cursor[Any] | None = None  # where the unconfirmed RELEASE's answer lands
        self._failed = False  # a statement of this transaction failed (see the class docstring)

    def begin(self) -> SqlTx:
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = self._connect()
        stack = contextlib.ExitStack()
        self._syncer = stack.enter_context(self._connection.pipeline())
        self._pipeline = stack
        cursor = self._connection.cursor()
        cursor.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        # Read under the lock like any statement after it, but without a round trip of its own:
        # the answer is there by the time the transaction hands out its first id.
        counters = self._connection.cursor()
        counters.execute(COUNTERS)
        self._cursor = cursor
        return SqlTx(cursor, POSTGRESQL, counters=counters, side=self._connection.cursor())

    def _connect(self) -> psycopg.Connection[Any]:
        connection = connect(self._url, application_name="hubbub-writer")
        try:
            # The writer runs a few statement shapes, each looked up by key, thousands of times,
            # while it holds the cluster-wide lock. Left to choose, the server re-planned the group
            # read (a join of seven tables) at every run, which made it 4 to 6 times as slow
            # (docs/design/postgres.md): plan each statement once, at its first run.
            connection.execute("SET plan_cache_mode = force_generic_plan")
        except psycopg.Error:
            connection.close()
            raise
        return connection

    def _send(self, sql: str) -> None:
        assert self._cursor is not None
        self._cursor.execute(sql, prepare=False)  # no parameters: nothing to gain from preparing

    def _sync(self) -> None:
        assert self._syncer is not None
        try:
            self._syncer.sync()
        except psycopg.Error:
            self._stop_preparing()
            raise

    def _stop_preparing(self) -> None:
        if self._connection is not None:
            self._connection.prepare_threshold = None
        self._failed = True

    def savepoint(self) -> None:
        self._send("SAVEPOINT unit")

    def release(self) -> None:
        self._send("RELEASE SAVEPOINT unit")
        self._sync()

    def retryable(self, error: BaseException) -> bool:
        connection = self._connection
        return (
            isinstance(error, psycopg.Error)
            and not isinstance(error, psycopg.OperationalError)
            and connection is not None
            and not connection.closed
            and not connection.broken
        )

    def release_unconfirmed(self) -> None:
        assert self._connection is not None
        self._released = self._connection.cursor()
        self._released.execute("RELEASE SAVEPOINT unit", prepare=False)

    def confirm(self, send_next: Callable[[], None]) -> None:
        released, self._released = self._released, None
        failure: psycopg.Error | None = None
        try:
            send_next()
        except psycopg.Error as error:
            # psycopg reads the answers already in each time it sends: a statement sent earlier
            # failed, and the server skips everything after it up to the sync below.
            self._stop_preparing()
            failure = error
        try:
            self._sync()
        except psycopg.Error as error:
            failure = failure or error
        if failure is None:
            return
        # psycopg attaches an answer to its cursor only if the statement succeeded: no answer
        # to the RELEASE means it was skipped, after a statement of the unit failed.
        if released is not None and released.pgresult is None:
            raise UnitRefused(failure) from failure
        raise failure

    def rollback_to(self) -> None:
        with contextlib.suppress(psycopg.Error):  # the unit's own failure, already raised to it
            self._sync()
        assert self._connection is not None
        if self._connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            self._stop_preparing()  # a statement failed (and the unit's own fetch raised it)
        self._send("ROLLBACK TO SAVEPOINT unit")
        self._send("RELEASE SAVEPOINT unit")
        self._sync()

    def commit(self) -> None:
        self._send("COMMIT")
        self._end_pipeline()

    def _end_pipeline(self) -> None:
        stack, self._pipeline, self._cursor, self._syncer = self._pipeline, None, None, None
        self._released = None
        try:
            if stack is not None:
                stack.close()  # waits for every result; raises the first error
        finally:
            if self._failed and self._connection is not None:
                self._connection.close()  # the next transaction reconnects, preparing again
            self._failed = False

    def abort(self) -> None:
        connection = self._connection
        with contextlib.suppress(psycopg.Error):  # the error that made us abort, or a broken connection
            self._end_pipeline()
        if connection is None or connection.closed:
            return
        try:
            status = connection.info.transaction_status
            if status == psycopg.pq.TransactionStatus.INERROR:
                connection.close()  # a statement failed (class docstring); the server rolls back
            elif status != psycopg.pq.TransactionStatus.IDLE:
                connection.execute("ROLLBACK")
        except psycopg.Error:  # the connection is gone; the server rolls back on its own
            connection.close()

    def close(self) -> None:
        self._pipeline = self._cursor = self._syncer = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Reader:
    """One reader thread's connection, in pipeline mode for its whole life; reopened after it breaks.

    A unit costs one wait for the server: ``BEGIN`` goes out with the unit's first query,
    whose fetch waits, and ``ROLLBACK`` and a sync go out after the unit without waiting.
    Their answers are read with the next unit's first answer (or never: nothing is done
    with them). The sync ends the unit's segment of the pipeline, so the server is idle
    between units and an error in one unit cannot make the server skip the next one.

    That is sound only if everything the unit sent has been answered by the time it
    returns; otherwise an error a statement caused would be raised to the next unit's
    caller. A unit that leaves an answer unread therefore waits for the end of its
    transaction (the old way: one more wait), and so does a unit that fails, which also
    rolls back outside the pipeline if its ``ROLLBACK`` was skipped after a refused
    statement. Whatever is left in doubt after that (a broken connection, a state other
    than idle) closes the connection; the next unit opens a new one.

    ``BEGIN`` and ``ROLLBACK`` go on a cursor of their own: psycopg attaches an answer to the
    cursor that sent its statement whenever it arrives, and the last unit's ``ROLLBACK`` is
    often answered while the next unit's query is being sent, which on a shared cursor
    would stand in for that query's answer.

    Only the owning thread uses it, except ``close``, which runs after the threads ended.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: psycopg.Connection[Any] | None = None
        self._pipeline: psycopg.Pipeline | None = None
        self._stack: contextlib.ExitStack | None = None  # holds the pipeline open
        self._cursor: psycopg.Cursor[Any] | None = None  # the units'
        self._control: psycopg.Cursor[Any] | None = None  # BEGIN and ROLLBACK (class docstring)

    def connect(self) -> None:
        """Open the connection now, if it is not open (else the first unit opens it)."""
        if self.broken:
            self._open()

    def _open(self) -> None:
        self.close()
        connection = connect(self._url, application_name="hubbub-reader")
        try:
            self._enter_pipeline(connection)
        except psycopg.Error:
            connection.close()
            raise
        self._connection = connection
        self._cursor = connection.cursor()
        self._control = connection.cursor()

    def _enter_pipeline(self, connection: psycopg.Connection[Any]) -> None:
        stack = contextlib.ExitStack()
        self._pipeline = stack.enter_context(connection.pipeline())
        self._stack = stack

    def _begin(self) -> None:
        if self.broken:
            self._open()
        assert self._control is not None
        try:
            self._control.execute(_BEGIN_READ, prepare=False)
        except psycopg.OperationalError:
            # Nothing but the connection's end can fail here (the last unit's answers are never
            # errors): it broke while idle, and this unit has not run yet, so a new connection
            # serves it. A pool hands its dead connections out first; a reader thread may meet
            # its own only much later, and that read must not be the one to fail.
            self._open()
            assert self._control is not None
            self._control.execute(_BEGIN_READ, prepare=False)

    @property
    def broken(self) -> bool:
        """Whether the connection is gone, or was never opened (the next unit opens a new one);
        psycopg closes a connection that broke."""
        return self._connection is None or self._connection.closed

    def run(self, work: Callable[[SqlTx], T]) -> T:
        """Run ``work`` in a read-only snapshot of its own; its errors are raised to this caller only."""
        try:
            self._begin()
            cursor, control, pipeline = self._cursor, self._control, self._pipeline
            assert cursor is not None and control is not None and pipeline is not None
            result = work(SqlTx(cursor, POSTGRESQL))
            if pipeline.result_queue:  # a statement of the unit not answered yet: its error is the unit's
                control.execute("ROLLBACK", prepare=False)
                pipeline.sync()
                return result
        except BaseException:
            self._recover()
            raise
        self._end_without_waiting(control, pipeline)
        return result

    def _end_without_waiting(self, control: psycopg.Cursor[Any], pipeline: psycopg.Pipeline) -> None:
        connection = control.connection
        try:
            control.execute("ROLLBACK", prepare=False)
            # Pipeline.sync() would wait for the answers; psycopg has no public call that only
            # sends a sync, so this does what sync() does up to the wait (tests/store/test_postgres.py
            # checks the server is idle after a read).
            with connection.lock:
                pipeline._enqueue_sync()
                connection.wait(pipeline._communicate_gen())
        except psycopg.Error:
            # Everything the unit read was answered already, so its result stands; only the
            # connection is in doubt (it broke): the next unit opens a new one.
            self.close()

    def _recover(self) -> None:
        """After a failed unit: end its transaction and keep the connection, or close it."""
        connection, control, stack = self._connection, self._control, self._stack
        if connection is None or control is None or stack is None or connection.closed:
            self.close()
            return
        self._stack = self._pipeline = None
        try:
            # Errors here are the unit's own, raised to it already (or a pending answer of its refused
            # statement, which psycopg may raise while sending the ROLLBACK, sent all the same).
            with contextlib.suppress(psycopg.Error):
                control.execute("ROLLBACK", prepare=False)  # skipped by the server after a refused statement
            with contextlib.suppress(psycopg.Error):
                stack.close()  # leaves pipeline mode: a sync, then waits for every answer
            if connection.closed or connection.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF:
                self.close()
                return
            if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                connection.execute("ROLLBACK")
            if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self.close()
                return
            self._enter_pipeline(connection)
        except psycopg.Error:
            self.close()

    def close(self) -> None:
        """Close the connection (without reading what is left in the pipeline: nothing is pending)."""
        connection, stack = self._connection, self._stack
        self._connection = self._cursor = self._control = self._pipeline = self._stack = None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()
        if stack is not None:
            # Leave pipeline mode on the closed connection: no round trip, and nothing left for the
            # garbage collector, whose exit of the pipeline would log an error.
            with contextlib.suppress(psycopg.Error):
                stack.close()


class PostgresStore:
    """A ``Store`` over one PostgreSQL database, shared with the other nodes."""

    def __init__(self, url: str, *, read_connections: int = 4) -> None:
        self._url = url
        # One reader per thread; a thread takes one from the spares when it starts (``_bind_reader``).
        self._all_readers = [_Reader(url) for _ in range(read_connections)]
        self._spare_readers = list(self._all_readers)
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._writer = GroupWriter(_PostgresWriteSession(url), max_group=MAX_GROUP, thread_name="hubbub-pg-writer")
        self._readers = ReaderThreads(
            read_connections, self._read, thread_name="hubbub-pg-reader", initializer=self._bind_reader
        )
        self._lookups = Lookups(url, size=read_connections, timeout=CONNECT_TIMEOUT_SECONDS)

    @classmethod
    def open(cls, url: str, *, read_connections: int = 4) -> PostgresStore:
        """Bring the schema up to date (waiting for any node already doing so) and connect.

        Raises:
            ConfigError: The server cannot be reached or refuses the connection.
        """
        try:
            migrate_postgresql(url)
            store = cls(url, read_connections=read_connections)
        except psycopg.OperationalError as error:
            raise ConfigError(f"cannot use the database {redacted(url)}: {_first_line(error)}") from error
        try:
            for reader in store._all_readers:  # all of them now, as a pool would: a bad URL fails here
                reader.connect()
        except psycopg.OperationalError as error:
            store.close_blocking()
            raise ConfigError(f"cannot open connections to {redacted(url)}: {_first_line(error)}") from error
        return store

    def _bind_reader(self) -> None:
        with self._readers_lock:
            if not self._spare_readers:  # not expected: there is one thread per reader
                self._all_readers.append(_Reader(self._url))
                self._spare_readers.append(self._all_readers[-1])
            self._local.reader = self._spare_readers.pop()

    def _read(self, work: Callable[[SqlTx], T]) -> T:
        reader: _Reader = self._local.reader
        return reader.run(work)

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        return await self._readers.run(work)

    async def lookup(self, work: Callable[[ReadTx], T]) -> T:
        return await self._lookups.run(work)

    async def write(self, work: Callable[[WriteTx], T], *, prefetch: Callable[[WriteTx], None] | None = None) -> T:
        return await self._writer.write(work, prefetch)

    def write_blocking(self, work: Callable[[WriteTx], T]) -> T:
        """Run a unit of work from synchronous code, on the writer thread."""
        return self._writer.write_blocking(work)

    def read_blocking(self, work: Callable[[ReadTx], T]) -> T:
        return self._readers.run_blocking(work)

    async def close(self) -> None:
        await self._lookups.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.close_blocking)

    def close_blocking(self) -> None:
        self._lookups.terminate()
        self._writer.close()
        self._readers.close()
        with self._readers_lock:
            for reader in self._all_readers:
                reader.close()


_: type[Store] = PostgresStore
