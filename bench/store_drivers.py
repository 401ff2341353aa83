"""Which PostgreSQL driver for the store: psycopg 3 or asyncpg, measured through the store's write path.

hubbub's units of work are synchronous functions run on a writer thread with group
commit (src/hubbub/store/writer.py). Each driver is measured *under that contract*:

- ``psycopg``: the shipped engine (hubbub.store.postgres): a synchronous psycopg
  connection on the writer thread.
- ``asyncpg``: the same writer thread, group commit, advisory lock and SQL, but each
  statement goes to an asyncpg connection that lives on an event loop of its own
  (asyncpg has no synchronous API), and the writer thread waits for the result.
- ``sqlite``: the default engine, as the reference.

For each, ``--posters`` concurrent posters (default 16) call the real
``Service.messages.post`` (the unit the HTTP handler runs) ``--posts`` times in all,
each poster waiting for its post before the next. Also printed: the drivers' own
round trip for one small prepared query, outside any unit of work.

Loopback only: the PostgreSQL server at ``--server`` (an admin URL); the bench creates
its own database there and drops it at the end. Needs ``pip install -e '.[postgres,bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from hubbub.bus.memory import MemoryBus
from hubbub.core.clock import SystemClock
from hubbub.core.ids import RoomId, UserId
from hubbub.service.service import Service
from hubbub.settings import Settings
from hubbub.store.base import ReadTx, Store, WriteTx
from hubbub.store.migrate import migrate_postgresql
from hubbub.store.postgres import WRITE_LOCK_KEY, PostgresStore
from hubbub.store.sql import SqlDialect, SqlTx
from hubbub.store.sqlite import SqliteStore
from hubbub.store.writer import GroupWriter

sys.path.insert(0, str(Path(__file__).parent))
from _common import fmt_ms, percentile, print_table

T = TypeVar("T")
ASYNCPG = SqlDialect("postgresql-asyncpg", paramstyle="numeric", array_membership=True)
SETTINGS = Settings(
    message_rate_burst=10**9,
    message_rate_per_second=10**9,
    password_time_cost=1,
    password_memory_kib=1024,
    duplicate_window_seconds=0,
)


class _Bridge:
    """An event loop on its own thread, for asyncpg; blocking calls into it from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="asyncpg-loop", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _AsyncpgCursor:
    """The DB-API cursor the SQL layer expects, over one asyncpg connection on the bridge loop."""

    def __init__(self, bridge: _Bridge, connection: Any) -> None:
        self._bridge = bridge
        self._connection = connection
        self._statements: dict[str, Any] = {}
        self._rows: list[Any] = []
        self.rowcount = -1

    async def _run(self, sql: str, params: Sequence[Any]) -> tuple[list[Any], str]:
        statement = self._statements.get(sql)
        if statement is None:
            statement = self._statements[sql] = await self._connection.prepare(sql)
        rows = await statement.fetch(*params)
        return rows, statement.get_statusmsg()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _AsyncpgCursor:
        if (not params and ";" in sql) or sql.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            status = self._bridge.call(self._connection.execute(sql))
            self._rows = []
        else:
            self._rows, status = self._bridge.call(self._run(sql, params))
        last = status.rsplit(" ", 1)[-1]
        self.rowcount = int(last) if last.isdigit() else -1
        return self

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)


class _AsyncpgWriteSession:
    def __init__(self, bridge: _Bridge, connection: Any) -> None:
        self._cursor = _AsyncpgCursor(bridge, connection)

    def begin(self) -> SqlTx:
        self._cursor.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        return SqlTx(self._cursor, ASYNCPG)

    def savepoint(self) -> None:
        self._cursor.execute("SAVEPOINT unit")

    def release(self) -> None:
        self._cursor.execute("RELEASE SAVEPOINT unit")

    def rollback_to(self) -> None:
        self._cursor.execute("ROLLBACK TO SAVEPOINT unit")
        self._cursor.execute("RELEASE SAVEPOINT unit")

    def commit(self) -> None:
        self._cursor.execute("COMMIT")

    def abort(self) -> None:
        self._cursor.execute("ROLLBACK")

    def close(self) -> None:
        pass


class AsyncpgStore:
    """The PostgreSQL store with asyncpg in place of psycopg (bench only)."""

    def __init__(self, url: str, readers: int = 4) -> None:
        import asyncpg

        self._bridge = _Bridge()
        self._writer_connection = self._bridge.call(asyncpg.connect(url))
        self._reader_connections = [self._bridge.call(asyncpg.connect(url)) for _ in range(readers)]
        self._free: list[_AsyncpgCursor] = [_AsyncpgCursor(self._bridge, c) for c in self._reader_connections]
        self._free_lock = threading.Lock()
        self._writer = GroupWriter(
            _AsyncpgWriteSession(self._bridge, self._writer_connection), max_group=64, thread_name="asyncpg-writer"
        )
        self._readers = concurrent.futures.ThreadPoolExecutor(readers)

    def _read(self, work: Callable[[SqlTx], T]) -> T:
        with self._free_lock:
            cursor = self._free.pop()
        try:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return work(SqlTx(cursor, ASYNCPG))
            finally:
                cursor.execute("ROLLBACK")
        finally:
            with self._free_lock:
                self._free.append(cursor)

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read, work)

    async def write(self, work: Callable[[WriteTx], T]) -> T:
        return await self._writer.write(work)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._writer.close)
        self._readers.shutdown()
        for connection in [self._writer_connection, *self._reader_connections]:
            self._bridge.call(connection.close())
        self._bridge.close()


_: type[Store] = AsyncpgStore


async def post_through_service(store: Store, posters: int, posts: int) -> tuple[float, list[float]]:
    """``posters`` users post ``posts`` messages in all to one room; returns (seconds, latencies)."""
    service = Service(store=store, bus=MemoryBus(), clock=SystemClock(), settings=SETTINGS)
    await service.start()
    users = [
        await service.accounts.create_user(f"poster{i}", email=f"poster{i}@bench.invalid", password="bench-password")
        for i in range(posters)
    ]
    room = await service.rooms.create_room("bench")
    for user in users:  # warm up: enter the room, prepare the statements
        await service.messages.post(UserId(user.id), RoomId(room.id), "warm-up")
    latencies: list[float] = []
    per_poster = posts // posters

    async def poster(user_id: UserId, index: int) -> None:
        for n in range(per_poster):
            started = time.perf_counter()
            await service.messages.post(user_id, RoomId(room.id), f"bench {index}-{n}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(poster(UserId(u.id), i) for i, u in enumerate(users)))
    return time.perf_counter() - started, latencies


def round_trips_psycopg(url: str, count: int) -> float:
    with psycopg.connect(url, autocommit=True) as connection:
        for _ in range(count // 10):  # let psycopg prepare it
            connection.execute("SELECT value FROM counters WHERE name = %s", ("event",)).fetchone()
        started = time.perf_counter()
        for _ in range(count):
            connection.execute("SELECT value FROM counters WHERE name = %s", ("event",)).fetchone()
        return (time.perf_counter() - started) / count


async def round_trips_asyncpg(url: str, count: int) -> tuple[float, float]:
    """(native: awaited on its own loop, bridged: called from a thread as the store's units would)."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        statement = await connection.prepare("SELECT value FROM counters WHERE name = $1")
        started = time.perf_counter()
        for _ in range(count):
            await statement.fetchrow("event")
        native = (time.perf_counter() - started) / count
    finally:
        await connection.close()
    bridge = _Bridge()
    try:
        bridged_connection = bridge.call(asyncpg.connect(url))
        cursor = _AsyncpgCursor(bridge, bridged_connection)

        def run() -> float:
            cursor.execute("SELECT value FROM counters WHERE name = $1", ("event",))
            started = time.perf_counter()
            for _ in range(count):
                cursor.execute("SELECT value FROM counters WHERE name = $1", ("event",)).fetchone()
            return (time.perf_counter() - started) / count

        bridged = await asyncio.get_running_loop().run_in_executor(None, run)
        bridge.call(bridged_connection.close())
    finally:
        bridge.close()
    return native, bridged


def _with_database(admin_url: str, name: str) -> str:
    return f"{admin_url.rpartition('/')[0]}/{name}"


async def _measure(name: str, open_store: Callable[[], Awaitable[Store]], args: argparse.Namespace) -> list[str]:
    store = await open_store()
    try:
        seconds, latencies = await post_through_service(store, args.posters, args.posts)
    finally:
        await store.close()
    latencies.sort()
    rate = len(latencies) / seconds
    return [
        name,
        f"{len(latencies)}",
        f"{seconds:.2f}",
        f"{rate:,.0f}",
        fmt_ms(percentile(latencies, 0.5)),
        fmt_ms(percentile(latencies, 0.99)),
    ]


async def bench(args: argparse.Namespace) -> int:
    results: dict[str, list[list[str]]] = {}
    trials = args.trials
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-drivers-") as tmp:
        for trial in range(trials):
            for name in args.drivers:
                database = f"hubbub_bench_{uuid.uuid4().hex[:10]}"
                url = _with_database(args.server, database)
                if name != "sqlite":
                    with psycopg.connect(args.server, autocommit=True) as admin:
                        admin.execute(f'CREATE DATABASE "{database}"')
                try:
                    if name == "sqlite":
                        path = Path(tmp) / f"{database}.sqlite3"

                        async def opener(path: Path = path) -> Store:
                            return SqliteStore.open(path)

                    elif name == "psycopg":

                        async def opener(url: str = url) -> Store:
                            return PostgresStore.open(url)

                    else:

                        async def opener(url: str = url) -> Store:
                            migrate_postgresql(url)
                            return AsyncpgStore(url)

                    row = await _measure(name, opener, args)
                    results.setdefault(name, []).append(row)
                    print(f"# trial {trial + 1}/{trials}: {'  '.join(row)}", flush=True)
                finally:
                    if name != "sqlite":
                        with psycopg.connect(args.server, autocommit=True) as admin:
                            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(f"\n{args.posters} concurrent posters through Service.messages.post (median of {trials} trials)")
    rows = []
    medians: dict[str, float] = {}
    for name, trial_rows in results.items():
        by_rate = sorted(trial_rows, key=lambda r: float(r[3].replace(",", "")))
        median = by_rate[len(by_rate) // 2]
        medians[name] = float(median[3].replace(",", ""))
        rows.append(median)
    reference = medians.get("sqlite")
    print_table(["store", "posts", "seconds", "posts/s", "p50 ms", "p99 ms"], rows)
    if reference:
        for name, rate in medians.items():
            if name != "sqlite":
                print(f"{name} posts/s as a share of sqlite's: {rate / reference:.2f}x")
    if "psycopg" in medians and "asyncpg" in medians:
        print(f"psycopg over asyncpg under the store contract: {medians['psycopg'] / medians['asyncpg']:.2f}x")

    database = f"hubbub_bench_{uuid.uuid4().hex[:10]}"
    url = _with_database(args.server, database)
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        migrate_postgresql(url)
        psycopg_rt = round_trips_psycopg(url, args.round_trips)
        native, bridged = await round_trips_asyncpg(url, args.round_trips) if "asyncpg" in args.drivers else (0, 0)
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(f"\none prepared single-row query, {args.round_trips} times, outside any unit of work (us per query)")
    print_table(
        ["driver", "us/query"],
        [
            ["psycopg (sync, calling thread)", f"{psycopg_rt * 1e6:.0f}"],
            *(
                [
                    ["asyncpg (awaited on its loop)", f"{native * 1e6:.0f}"],
                    ["asyncpg (from a thread, via its loop)", f"{bridged * 1e6:.0f}"],
                ]
                if "asyncpg" in args.drivers
                else []
            ),
        ],
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="psycopg vs asyncpg (and SQLite) under hubbub's store contract (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--posters", type=int, default=16, help="concurrent posters")
    parser.add_argument("--posts", type=int, default=3000, help="posts in all per trial")
    parser.add_argument("--trials", type=int, default=3, help="trials per driver (the median is reported)")
    parser.add_argument("--round-trips", type=int, default=5000, help="queries for the round-trip line")
    parser.add_argument(
        "--drivers", nargs="+", default=["sqlite", "psycopg", "asyncpg"], choices=["sqlite", "psycopg", "asyncpg"]
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(bench(args))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
