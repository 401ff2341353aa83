"""Which PostgreSQL driver, and where units run: measured through the store's write path.

hubbub's units of work are synchronous functions (``work(tx)``) committed in groups
(src/hubbub/store/writer.py). Each variant below runs the same SQL, the same group
commit, savepoints and advisory lock; only the driver and the thread differ:

- ``sqlite``: the default engine (a writer thread), the reference.
- ``psycopg``: what ships (hubbub.store.postgres): a synchronous psycopg connection
  on a writer thread, pipeline mode, reads on reader threads.
- ``psycopg-loop``: psycopg's asynchronous connection, pipeline mode, units run on
  the event loop's own thread in a greenlet (bench/_bridge.py), so no round trip
  has to take the GIL back from the loop.
- ``asyncpg``: asyncpg on the same greenlet bridge (it has no synchronous API, and no
  pipeline mode for a sequence of different statements, so each one waits).

For each, ``--posters`` concurrent posters (default 16) call the real
``Service.messages.post`` (the unit the HTTP handler runs), ``--posts`` posts in all,
each poster waiting for its post before the next. This runs twice: with an idle event
loop, and with the loop kept ``--busy`` (default 50%) busy by other work, as it is
when it also serves HTTP. The median of ``--trials`` is printed, then each driver's own
round trip for one small prepared query.

Loopback only: the PostgreSQL server at ``--server`` (an admin URL); the bench makes its
own databases there and drops them. Needs ``pip install -e '.[postgres,bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.types.numeric import Int8Dumper
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from hubbub.bus.memory import MemoryBus
from hubbub.core.clock import SystemClock
from hubbub.core.ids import RoomId, UserId
from hubbub.service.service import Service
from hubbub.settings import Settings
from hubbub.store.base import ReadTx, Store, WriteTx
from hubbub.store.migrate import migrate_postgresql
from hubbub.store.postgres import WRITE_LOCK_KEY, PostgresStore
from hubbub.store.sql import POSTGRESQL, SqlDialect, SqlTx
from hubbub.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).parent))
from _bridge import LoopGroupWriter, run_sync, wait_for
from _common import cpu_seconds_of, fmt_ms, percentile, print_table

T = TypeVar("T")
ASYNCPG = SqlDialect("postgresql-asyncpg", paramstyle="numeric", array_membership=True)
SETTINGS = Settings(
    message_rate_burst=10**9,
    message_rate_per_second=10**9,
    password_time_cost=1,
    password_memory_kib=1024,
    duplicate_window_seconds=0,
)
VARIANTS = ("sqlite", "psycopg", "psycopg-loop", "asyncpg")


# psycopg, asynchronous, units on the event loop in a greenlet -------------------------------------------------

IDLE_IN_TRANSACTION_MS = 30_000
MAX_GROUP = 64
CONNECT_TIMEOUT_SECONDS = 10
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_IDLE = psycopg.pq.TransactionStatus.IDLE


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    # Every int goes as int8 (psycopg picks int2/int4/int8 by value otherwise), so each
    # statement is prepared once whatever the magnitudes of its parameters.
    connection.adapters.register_dumper(int, Int8Dumper)
    # SET rather than a connection option, which would replace options the URL may carry.
    await connection.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")


async def _connect(url: str, application_name: str) -> psycopg.AsyncConnection[Any]:
    connection = await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name=application_name, connect_timeout=CONNECT_TIMEOUT_SECONDS
    )
    await _configure(connection)
    return connection


class _Cursor:
    """The synchronous DB-API cursor the SQL layer expects, over an asynchronous one (store/bridge.py)."""

    def __init__(self, cursor: psycopg.AsyncCursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> _Cursor:
        wait_for(self._cursor.execute(sql, params))
        return self

    def fetchone(self) -> Any:
        return wait_for(self._cursor.fetchone())

    def fetchall(self) -> list[Any]:
        return wait_for(self._cursor.fetchall())


class _PostgresWriteSession:
    """Write transactions on the node's writer connection, in pipeline mode; reopened after it breaks.

    In pipeline mode a statement whose results nobody fetches (BEGIN, the lock, SAVEPOINT,
    INSERT, UPDATE) is sent without waiting for the server; a fetch, the end of a unit
    (``release``) and ``commit`` wait for everything sent so far. An error is therefore
    raised at the latest by the ``release`` of the unit that caused it, so it is still
    that unit alone that fails. Its methods run inside ``bridge.run_sync``.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._pipeline: contextlib.AsyncExitStack | None = None
        self._syncer: psycopg.AsyncPipeline | None = None
        self._cursor: _Cursor | None = None

    def begin(self) -> SqlTx:
        connection = self._connection
        if connection is None or connection.closed or connection.broken:
            connection = self._connection = wait_for(_connect(self._url, "hubbub-writer"))
        stack = contextlib.AsyncExitStack()
        self._syncer = wait_for(stack.enter_async_context(connection.pipeline()))
        self._pipeline = stack
        cursor = self._cursor = _Cursor(connection.cursor())
        cursor.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        return SqlTx(cursor, POSTGRESQL)

    def _send(self, sql: str) -> None:
        assert self._cursor is not None
        self._cursor.execute(sql)

    def _sync(self) -> None:
        assert self._syncer is not None
        wait_for(self._syncer.sync())

    def savepoint(self) -> None:
        self._send("SAVEPOINT unit")

    def release(self) -> None:
        self._send("RELEASE SAVEPOINT unit")
        self._sync()

    def rollback_to(self) -> None:
        with contextlib.suppress(psycopg.Error):  # the unit's own failure, already raised to it
            self._sync()
        self._send("ROLLBACK TO SAVEPOINT unit")
        self._send("RELEASE SAVEPOINT unit")
        self._sync()

    def commit(self) -> None:
        self._send("COMMIT")
        self._end_pipeline()

    def _end_pipeline(self) -> None:
        stack, self._pipeline, self._syncer, self._cursor = self._pipeline, None, None, None
        if stack is not None:
            wait_for(stack.aclose())  # waits for every result; raises the first error

    def abort(self) -> None:
        connection = self._connection
        with contextlib.suppress(psycopg.Error):  # the error that made us abort, or a broken connection
            self._end_pipeline()
        if connection is None or connection.closed:
            return
        try:
            if connection.info.transaction_status != _IDLE:
                wait_for(connection.execute("ROLLBACK"))
        except psycopg.Error:  # the connection is gone; the server rolls back on its own
            wait_for(connection.close())

    def close(self) -> None:
        self._pipeline = self._syncer = self._cursor = None
        if self._connection is not None:
            wait_for(self._connection.close())
            self._connection = None


class LoopPsycopgStore:
    """psycopg's asynchronous connection, units on the event loop in a greenlet."""

    def __init__(self, url: str, read_connections: int = 4) -> None:
        self._url = url
        self._read_connections = read_connections
        self._pool: AsyncConnectionPool[Any] | None = None
        self._pool_lock = asyncio.Lock()
        self._writer = LoopGroupWriter(_PostgresWriteSession(url), max_group=MAX_GROUP)

    async def _readers(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                        self._url,
                        min_size=self._read_connections,
                        max_size=self._read_connections,
                        kwargs={
                            "autocommit": True,
                            "application_name": "hubbub-reader",
                            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                        },
                        configure=_configure,
                        name="hubbub-readers",
                        open=False,
                    )
                    try:
                        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
                    except PoolTimeout as error:
                        await pool.close()
                        raise RuntimeError(f"cannot open connections to {self._url}") from error
                    self._pool = pool
        return self._pool

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        pool = await self._readers()
        async with pool.connection() as connection:
            try:
                # In pipeline mode BEGIN goes out with the first query, and ROLLBACK with nothing after it.
                async with connection.pipeline():
                    cursor = connection.cursor()
                    await cursor.execute(_BEGIN_READ)
                    try:
                        return await run_sync(work, SqlTx(_Cursor(cursor), POSTGRESQL))
                    finally:
                        if not connection.broken:
                            await cursor.execute("ROLLBACK")  # nothing to keep: reads only
            finally:
                if not connection.broken and connection.info.transaction_status != _IDLE:
                    await connection.execute("ROLLBACK")  # the unit failed before ours was sent

    async def write(self, work: Callable[[WriteTx], T], *, prefetch: Callable[[WriteTx], None] | None = None) -> T:
        return await self._writer.write(work)  # nothing is sent ahead: each unit's first query waits

    async def close(self) -> None:
        await self._writer.close()
        if self._pool is not None:
            with contextlib.suppress(psycopg.Error):
                await self._pool.close()
            self._pool = None


# asyncpg, on the event loop through the same greenlet bridge ----------------------------------------------------


class _AsyncpgCursor:
    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._statements: dict[str, Any] = {}
        self._rows: list[Any] = []

    async def _run(self, sql: str, params: Sequence[Any]) -> list[Any]:
        statement = self._statements.get(sql)
        if statement is None:
            statement = self._statements[sql] = await self._connection.prepare(sql)
        return list(await statement.fetch(*params))

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> _AsyncpgCursor:
        if not params and sql.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            wait_for(self._connection.execute(sql))
            self._rows = []
        else:
            self._rows = wait_for(self._run(sql, params))
        return self

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)


class _AsyncpgWriteSession:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Any = None
        self._cursor: _AsyncpgCursor | None = None

    def begin(self) -> SqlTx:
        import asyncpg

        if self._connection is None:
            self._connection = wait_for(asyncpg.connect(self._url))
            self._cursor = _AsyncpgCursor(self._connection)
        assert self._cursor is not None
        self._cursor.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        self._cursor.execute("SELECT pg_advisory_xact_lock($1)", (WRITE_LOCK_KEY,))
        return SqlTx(self._cursor, ASYNCPG)

    def _send(self, sql: str) -> None:
        assert self._cursor is not None
        self._cursor.execute(sql)

    def savepoint(self) -> None:
        self._send("SAVEPOINT unit")

    def release(self) -> None:
        self._send("RELEASE SAVEPOINT unit")

    def rollback_to(self) -> None:
        self._send("ROLLBACK TO SAVEPOINT unit")
        self._send("RELEASE SAVEPOINT unit")

    def commit(self) -> None:
        self._send("COMMIT")

    def abort(self) -> None:
        self._send("ROLLBACK")

    def close(self) -> None:
        if self._connection is not None:
            wait_for(self._connection.close())


class AsyncpgStore:
    """asyncpg on the event loop, units in a greenlet (the shipped design with the other driver)."""

    def __init__(self, url: str, readers: int = 4) -> None:
        self._url = url
        self._readers = readers
        self._pool: Any = None
        self._writer = LoopGroupWriter(_AsyncpgWriteSession(url), max_group=64)

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        import asyncpg

        if self._pool is None:
            self._pool = await asyncpg.create_pool(self._url, min_size=self._readers, max_size=self._readers)
        async with self._pool.acquire() as connection:
            await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return await run_sync(work, SqlTx(_AsyncpgCursor(connection), ASYNCPG))
            finally:
                await connection.execute("ROLLBACK")

    async def write(self, work: Callable[[WriteTx], T], *, prefetch: Callable[[WriteTx], None] | None = None) -> T:
        return await self._writer.write(work)  # nothing is sent ahead: each unit's first query waits

    async def close(self) -> None:
        await self._writer.close()
        if self._pool is not None:
            await self._pool.close()


_: type[Store] = AsyncpgStore
__: type[Store] = LoopPsycopgStore


# The measurement ------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def busy_loop(fraction: float) -> AsyncIterator[None]:
    """Keep the event loop ``fraction`` busy with plain Python work, in 1 ms slices (what serving HTTP does)."""
    stop = asyncio.Event()

    async def burn() -> None:
        pause = 0.001 * (1 - fraction) / fraction
        while not stop.is_set():
            until = time.perf_counter() + 0.001
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(pause)

    task = asyncio.create_task(burn()) if fraction > 0 else None
    try:
        yield
    finally:
        stop.set()
        if task is not None:
            await task


def backend_cpu_seconds(url: str | None) -> float:
    """CPU the PostgreSQL server processes serving ``url``'s database have used so far (Linux /proc)."""
    if url is None:
        return 0.0
    with psycopg.connect(url, autocommit=True) as connection:
        pids = [
            int(row[0])
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds_of(pid)
    return total


@dataclass
class Measured:
    seconds: float
    latencies: list[float]
    client_cpu: float  # this process, every thread: the store's driver, the units, the posters
    server_cpu: float  # PostgreSQL's processes for this database


async def post_through_service(store: Store, posters: int, posts: int, busy: float, url: str | None = None) -> Measured:
    """``posters`` users post ``posts`` messages in all to one room."""
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

    server0 = backend_cpu_seconds(url)
    async with busy_loop(busy):
        client0, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(poster(UserId(u.id), i) for i, u in enumerate(users)))
        seconds, client = time.perf_counter() - started, time.process_time() - client0
    return Measured(seconds, latencies, client, backend_cpu_seconds(url) - server0)


def _with_database(admin_url: str, name: str) -> str:
    return f"{admin_url.rpartition('/')[0]}/{name}"


@contextlib.contextmanager
def _database(admin_url: str) -> Any:
    name = f"hubbub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _with_database(admin_url, name)
        migrate_postgresql(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(variant: str, args: argparse.Namespace, busy: float, tmp: Path) -> Measured:
    """One variant, on a fresh database."""
    url: str | None = None
    with contextlib.ExitStack() as stack:
        if variant == "sqlite":
            store: Store = SqliteStore.open(tmp / f"{uuid.uuid4().hex}.sqlite3")
        else:
            url = stack.enter_context(_database(args.server))
            store = {"psycopg": PostgresStore.open, "psycopg-loop": LoopPsycopgStore, "asyncpg": AsyncpgStore}[variant](
                url
            )
        try:
            measured = await post_through_service(store, args.posters, args.posts, busy, url)
        finally:
            await store.close()
    latencies = sorted(measured.latencies)
    rate = len(latencies) / measured.seconds
    print(
        f"# {variant:15} loop {busy:.0%} busy: {rate:7,.0f} posts/s  p50 {fmt_ms(percentile(latencies, 0.5))} ms"
        f"  p99 {fmt_ms(percentile(latencies, 0.99))} ms  CPU/post: this process "
        f"{1e6 * measured.client_cpu / len(latencies):.0f} us, "
        f"PostgreSQL {1e6 * measured.server_cpu / len(latencies):.0f} us",
        flush=True,
    )
    return measured


def round_trip_psycopg(url: str, count: int) -> float:
    with psycopg.connect(url, autocommit=True) as connection:
        for _ in range(10):  # prepared after a few runs
            connection.execute("SELECT value FROM counters WHERE name = %s", ("event",)).fetchone()
        started = time.perf_counter()
        for _ in range(count):
            connection.execute("SELECT value FROM counters WHERE name = %s", ("event",)).fetchone()
        return (time.perf_counter() - started) / count


async def round_trip_async(url: str, count: int, driver: str) -> float:
    if driver == "asyncpg":
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            statement = await connection.prepare("SELECT value FROM counters WHERE name = $1")
            started = time.perf_counter()
            for _ in range(count):
                await statement.fetchrow("event")
            return (time.perf_counter() - started) / count
        finally:
            await connection.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as aconnection:
        for _ in range(10):
            await (await aconnection.execute("SELECT value FROM counters WHERE name = %s", ("event",))).fetchone()
        started = time.perf_counter()
        for _ in range(count):
            await (await aconnection.execute("SELECT value FROM counters WHERE name = %s", ("event",))).fetchone()
        return (time.perf_counter() - started) / count


async def bench(args: argparse.Namespace) -> int:
    conditions = [0.0, args.busy] if args.busy > 0 else [0.0]
    rates: dict[tuple[str, float], list[float]] = {}
    cpu: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-drivers-") as tmp:
        for trial in range(args.trials):
            print(f"# trial {trial + 1}/{args.trials}", flush=True)
            for busy in conditions:
                for variant in args.variants:
                    measured = await measure(variant, args, busy, Path(tmp))
                    posts = len(measured.latencies)
                    rates.setdefault((variant, busy), []).append(posts / measured.seconds)
                    if busy == 0:  # with a busy loop, this process's CPU includes the busy work
                        cpu.setdefault(variant, []).append((measured.client_cpu / posts, measured.server_cpu / posts))

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    print(f"\nposts/s, {args.posters} concurrent posters through Service.messages.post, median of {args.trials}")
    header = [
        "store",
        *(f"loop {busy:.0%} busy" for busy in conditions),
        *(f"vs sqlite ({busy:.0%})" for busy in conditions),
    ]
    rows = []
    for variant in args.variants:
        values = [median(rates[(variant, busy)]) for busy in conditions]
        ratios = [
            f"{value / median(rates[('sqlite', busy)]):.2f}x" if "sqlite" in args.variants else "-"
            for value, busy in zip(values, conditions, strict=True)
        ]
        rows.append([variant, *(f"{v:,.0f}" for v in values), *ratios])
    print_table(header, rows)

    print("\nCPU per post with an idle loop (median; machine load does not change CPU time much, unlike rates)")
    cpu_rows = []
    for variant in args.variants:
        client = median([c for c, _ in cpu[variant]])
        server = median([s for _, s in cpu[variant]])
        cpu_rows.append([variant, f"{client * 1e6:.0f}", f"{server * 1e6:.0f}", f"{(client + server) * 1e6:.0f}"])
    print_table(["store", "this process us", "PostgreSQL us", "total us"], cpu_rows)

    with _database(args.server) as url:
        lines = [["psycopg, synchronous", f"{round_trip_psycopg(url, args.round_trips) * 1e6:.0f}"]]
        lines.append(["psycopg, asynchronous", f"{await round_trip_async(url, args.round_trips, 'psycopg') * 1e6:.0f}"])
        if "asyncpg" in args.variants:
            lines.append(["asyncpg", f"{await round_trip_async(url, args.round_trips, 'asyncpg') * 1e6:.0f}"])
    print(f"\none prepared single-row query, {args.round_trips} times in a row, idle loop (us per query)")
    print_table(["driver", "us/query"], lines)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="PostgreSQL drivers under hubbub's store contract, with SQLite as reference (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--posters", type=int, default=16, help="concurrent posters")
    parser.add_argument("--posts", type=int, default=2000, help="posts in all per measurement")
    parser.add_argument("--trials", type=int, default=3, help="trials (the median is reported)")
    parser.add_argument("--busy", type=float, default=0.5, help="share of the loop's time spent on other work; 0: off")
    parser.add_argument("--round-trips", type=int, default=3000, help="queries for the round-trip lines")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args()
    if not 0 <= args.busy < 1:
        parser.error("--busy must be in [0, 1)")
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(bench(args))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
