"""``Store.lookup`` on PostgreSQL: a read of one statement, run on the caller's event loop through asyncpg.

Every signed-in request looks its session up, so a lookup's cost is in every request's. Handed
to a reader thread (``store/postgres.py``), a lookup's CPU went mostly to the interpreter lock
passing between that thread and the event loop: 260-280 us per lookup with the threads free to
run on both cores, 27 context switches each, against 28 us through asyncpg on the loop itself
(docs/design/postgres.md). A lookup needs neither of what the threads are there for: it is one
statement, so no transaction and no pipeline, and it is short.

A unit of work is synchronous, so it cannot await its statement. It runs twice instead:

1. against a ``_Capture`` cursor, which takes the unit's statement and stops the unit there
   (``_Captured``): nothing of the unit after its statement runs without the answer;
2. the statement runs on one of the loop's connections (``$1`` placeholders);
3. the unit runs again against a ``_Replay`` cursor holding the answer, and must ask for the same
   statement (units are plain functions of what they read; another statement is a ``LocalError``).

asyncpg connections belong to the event loop that opened them, so each loop that looks up (a
node has one; tests and tools may have more) has its own few (``_LoopConnections``), opened at
its first lookup and taken in turn; a connection found dead is replaced and the lookup runs
once more, which is safe since it wrote nothing. asyncpg checks each parameter against the type
the server gives it in the prepared statement: a lookup passes ints for integer columns and
strings for text, as the store's SQL does everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import asyncpg

from hubbub.errors import LocalError
from hubbub.store.base import ReadTx
from hubbub.store.sql import SqlDialect, SqlTx

__all__ = ["Lookups"]

T = TypeVar("T")

NUMERIC: Final = SqlDialect("postgresql", paramstyle="numeric", array_membership=True)
# What a dead connection looks like to asyncpg: the server went away, or the socket did.
_GONE: Final = (asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InterfaceError, OSError)


class _Captured(BaseException):  # not an Exception: a unit that catches those must not catch this
    """The unit's statement is taken: stop the unit before it reads an answer it cannot have yet."""


class _ReadingCursor:
    """What both of a lookup's cursors refuse: a lookup only reads."""

    def executemany(self, sql: str, params_seq: Sequence[Sequence[Any]], /) -> Any:
        raise LocalError("a lookup only reads")


class _Capture(_ReadingCursor):
    """A cursor that keeps the one statement a lookup runs."""

    def __init__(self) -> None:
        self.statement: tuple[str, tuple[Any, ...]] | None = None

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any:
        self.statement = (sql, tuple(params))
        raise _Captured

    def fetchone(self) -> Any:
        raise LocalError("a lookup's unit read before it ran its statement")

    fetchall = fetchone


class _Replay(_ReadingCursor):
    """A cursor that answers the captured statement with the rows the server returned."""

    def __init__(self, statement: tuple[str, tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> None:
        self._statement = statement
        self._rows = rows

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any:
        if (sql, tuple(params)) != self._statement:
            raise LocalError("a lookup's unit asked for another statement the second time it ran")
        return self

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)


class _LoopConnections:
    """One event loop's asyncpg connections, each lent to one lookup at a time."""

    def __init__(self, url: str, size: int, timeout: float) -> None:
        self._url = url
        self._timeout = timeout
        self._free: asyncio.LifoQueue[asyncpg.Connection | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._free.put_nowait(None)  # a place for a connection, opened when first used
        self._open: set[asyncpg.Connection] = set()

    async def fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        connection = await self._free.get()
        try:
            for attempt in (1, 2):
                if connection is None or connection.is_closed():
                    connection = await self._connect()
                try:
                    return [tuple(record) for record in await connection.fetch(sql, *params)]
                except _GONE:
                    self._drop(connection)
                    connection = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        finally:
            self._free.put_nowait(connection)

    async def _connect(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(
            self._url, timeout=self._timeout, server_settings={"application_name": "hubbub-lookup"}
        )
        self._open.add(connection)
        return connection

    def _drop(self, connection: asyncpg.Connection) -> None:
        self._open.discard(connection)
        connection.terminate()

    async def close(self) -> None:
        for connection in list(self._open):
            with contextlib.suppress(Exception):
                await connection.close(timeout=self._timeout)
        self._open.clear()

    def terminate(self) -> None:
        """Close from another thread than the loop's: no goodbye to the server, just the sockets."""
        for connection in list(self._open):
            with contextlib.suppress(Exception):
                connection.terminate()
        self._open.clear()


class Lookups:
    """``Store.lookup`` for ``PostgresStore``: ``size`` connections per event loop that looks up."""

    def __init__(self, url: str, *, size: int, timeout: float) -> None:
        self._url = url
        self._size = size
        self._timeout = timeout
        self._loops: dict[asyncio.AbstractEventLoop, _LoopConnections] = {}
        self._lock = threading.Lock()  # a loop on another thread may look up too

    async def run(self, work: Callable[[ReadTx], T]) -> T:
        capture = _Capture()
        try:
            return work(SqlTx(capture, NUMERIC, one_statement=True))  # it ran no statement at all
        except _Captured:
            pass
        assert capture.statement is not None
        sql, params = capture.statement
        rows = await self._connections().fetch(sql, params)
        return work(SqlTx(_Replay(capture.statement, rows), NUMERIC, one_statement=True))

    def _connections(self) -> _LoopConnections:
        loop = asyncio.get_running_loop()
        connections = self._loops.get(loop)
        if connections is None:
            with self._lock:
                connections = self._loops.setdefault(loop, _LoopConnections(self._url, self._size, self._timeout))
        return connections

    def _take_all(self) -> dict[asyncio.AbstractEventLoop, _LoopConnections]:
        with self._lock:
            loops, self._loops = self._loops, {}
        return loops

    async def close(self) -> None:
        """Close the calling loop's connections, and end those of loops on other threads."""
        here = asyncio.get_running_loop()
        for loop, connections in self._take_all().items():
            if loop is here:
                await connections.close()
            else:
                connections.terminate()

    def terminate(self) -> None:
        """End every loop's connections without a goodbye (from synchronous code)."""
        for connections in self._take_all().values():
            connections.terminate()
