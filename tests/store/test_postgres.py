"""What only the PostgreSQL engine has: connections that can break, a server that can be away."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import EventId, RoomId
from hubbub.core.models import RoomAccess
from hubbub.errors import ConfigError
from hubbub.store.base import WriteTx
from hubbub.store.postgres import PostgresStore, redacted
from hubbub.store.sql import POSTGRESQL
from hubbub.store.sql.posting import _USERS_IN_ROOMS


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    engine = PostgresStore.open(postgres_url, read_connections=2)
    yield engine
    await engine.close()


def _append(tx: WriteTx) -> int:
    return tx.append(NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=1, room_id=RoomId(1))).id


def _backends(
    url: str,
    sql: str = "SELECT pid, state, backend_xmin IS NULL FROM pg_stat_activity",
    application_name: str = "hubbub-reader",
) -> list[Any]:
    """The rows of ``sql`` over this database's backends of ``application_name``."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        return admin.execute(
            f"{sql} WHERE application_name = %s AND datname = current_database()", (application_name,)
        ).fetchall()


def _eventually(check: Any, seconds: float = 10.0) -> bool:
    """Whether ``check()`` holds within ``seconds`` (the server notices a closed session on its own time)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _fails_in_python(tx: Any) -> None:
    raise LookupError("the unit's own bug")


def _terminate(url: str, application_name: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (application_name,),
        ).fetchall()
    return len(rows)


async def test_the_writer_reconnects_after_its_connection_is_killed(store: PostgresStore, postgres_url: str) -> None:
    assert await store.write(_append) == 1
    assert _terminate(postgres_url, "hubbub-writer") == 1
    outcomes: list[Any] = []
    for _ in range(2):  # the first write may meet the dead connection; the next one reconnects
        try:
            outcomes.append(await store.write(_append))
        except Exception as error:
            outcomes.append(error)
    assert outcomes[-1] in (2, 3) and all(isinstance(o, (int, Exception)) for o in outcomes)
    events = await store.read(lambda tx: tx.events_after(EventId(0), limit=10))
    assert [e.id for e in events] == list(range(1, len(events) + 1))  # no hole, whatever failed


async def test_readers_recover_after_their_connections_are_killed(store: PostgresStore, postgres_url: str) -> None:
    await store.write(_append)
    assert await store.read(lambda tx: tx.last_event_id()) == 1
    assert _terminate(postgres_url, "hubbub-reader") == 2
    seen: list[Any] = []
    for _ in range(4):
        try:
            seen.append(await store.read(lambda tx: tx.last_event_id()))
        except Exception as error:
            seen.append(error)
    assert seen[-1] == 1  # the pool replaced the dead connections


async def test_a_read_whose_backend_dies_under_it_fails_alone(store: PostgresStore) -> None:
    import psycopg

    await store.write(_append)
    for _ in range(3):  # more than the readers' connections
        with pytest.raises(psycopg.OperationalError):
            await store.read(lambda tx: tx._all("SELECT pg_terminate_backend(pg_backend_pid()), pg_sleep(1)"))
        assert await store.read(lambda tx: tx.last_event_id()) == 1


async def test_a_read_whose_connection_died_while_idle_runs_on_a_new_one(
    store: PostgresStore, postgres_url: str
) -> None:
    assert await store.read(lambda tx: tx.last_event_id()) == 0
    killed = {pid for pid, *_ in _backends(postgres_url)}
    assert _terminate(postgres_url, "hubbub-reader") == 2
    assert _eventually(lambda: not killed & {pid for pid, *_ in _backends(postgres_url)})
    # Nothing was in flight: no read fails, whichever thread (and so connection) it lands on.
    assert [await store.read(lambda tx: tx.last_event_id()) for _ in range(6)] == [0] * 6
    assert len({pid for pid, *_ in _backends(postgres_url)} - killed) >= 1


async def test_a_read_the_database_refuses_leaves_its_connection_usable(store: PostgresStore) -> None:
    import psycopg

    for _ in range(3):  # more than the pool's connections
        with pytest.raises(psycopg.errors.UndefinedTable):
            await store.read(lambda tx: tx._all("SELECT * FROM no_such_table"))
        with pytest.raises(KeyError):
            await store.read(lambda tx: {}["the unit's own bug"])
    assert await store.read(lambda tx: tx.last_event_id()) == 0


async def test_a_unit_that_fails_in_python_mid_read_leaves_its_connection_usable(store: PostgresStore) -> None:
    await store.write(_append)

    def fetched_then_raises(tx: Any) -> None:
        assert tx.last_event_id() == 1
        raise LookupError("the unit's own bug, after a query")

    def sent_then_raises(tx: Any) -> None:
        tx._execute("SELECT pg_sleep(0.01)")  # its answer never read
        raise LookupError("the unit's own bug, its query unanswered")

    for _ in range(3):  # more than the readers' connections
        for unit in (fetched_then_raises, sent_then_raises):
            with pytest.raises(LookupError):
                await store.read(unit)
            assert await store.read(lambda tx: tx.last_event_id()) == 1


async def test_a_unit_that_leaves_an_answer_unread_gets_its_own_error(store: PostgresStore) -> None:
    import psycopg

    def refused_unread(tx: Any) -> str:
        tx._execute("SELECT * FROM no_such_table")  # sent, never fetched
        return "no error seen"

    def answered_unread(tx: Any) -> str:
        tx._execute("SELECT 1")
        return "unread"

    for _ in range(3):
        # Its error is this unit's, not the next one's.
        with pytest.raises(psycopg.errors.UndefinedTable):
            await store.read(refused_unread)
        assert await store.read(lambda tx: tx.last_event_id()) == 0
        assert await store.read(answered_unread) == "unread"
        assert await store.read(lambda tx: 0) == 0  # no statement at all
        assert await store.read(lambda tx: tx.last_event_id()) == 0


async def test_a_lookup_runs_outside_any_transaction_and_a_read_inside_its_own(store: PostgresStore) -> None:
    def isolation(tx: Any) -> str:
        return str(tx._scalar("SELECT current_setting('transaction_isolation')"))

    for _ in range(3):  # every reader connection, in either order
        assert await store.lookup(isolation) == "read committed"  # the server's default: no BEGIN was sent
        assert await store.read(isolation) == "repeatable read"


async def test_a_lookup_whose_connection_died_while_idle_runs_on_a_new_one(
    store: PostgresStore, postgres_url: str
) -> None:
    assert await store.lookup(lambda tx: tx.last_event_id()) == 0
    killed = {pid for pid, *_ in _backends(postgres_url, application_name="hubbub-lookup")}
    assert len(killed) == 1  # one lookup at a time uses one connection
    assert _terminate(postgres_url, "hubbub-lookup") == 1
    assert _eventually(
        lambda: not killed & {pid for pid, *_ in _backends(postgres_url, application_name="hubbub-lookup")}
    )
    assert [await store.lookup(lambda tx: tx.last_event_id()) for _ in range(6)] == [0] * 6


async def test_a_lookup_the_database_refuses_leaves_its_connection_usable(store: PostgresStore) -> None:
    import asyncpg

    for _ in range(3):
        with pytest.raises(asyncpg.exceptions.UndefinedTableError):
            await store.lookup(lambda tx: tx._all("SELECT * FROM no_such_table"))
        with pytest.raises(asyncpg.exceptions.UndefinedTableError):
            await store.lookup(lambda tx: tx._execute("SELECT * FROM no_such_table") and "unread")
        assert await store.lookup(lambda tx: tx.last_event_id()) == 0
        assert await store.read(lambda tx: tx.last_event_id()) == 0


async def test_reads_at_once_each_get_their_own_answers(store: PostgresStore) -> None:
    # A read's ROLLBACK is answered while the next read on its connection is being sent: that
    # answer must not be taken for the next unit's (the unit's cursor is not the one ROLLBACK uses).
    import asyncio

    from hubbub.core.ids import UserId

    await store.write(_append)
    reads = [store.read(lambda tx: (tx.last_event_id(), tx.user(UserId(1)))) for _ in range(400)]
    assert set(await asyncio.gather(*reads)) == {(1, None)}


async def test_a_reader_is_idle_between_reads_and_holds_no_snapshot(store: PostgresStore, postgres_url: str) -> None:
    # The ROLLBACK and the sync that end a read are sent without waiting for their answers: they
    # must still have reached the server, or the idle-in-transaction timeout would end the session.
    for _ in range(4):
        await store.read(lambda tx: tx.last_event_id())
        await store.lookup(lambda tx: tx.last_event_id())
    assert _eventually(lambda: {(state, no_xmin) for _, state, no_xmin in _backends(postgres_url)} == {("idle", True)})


async def test_closing_the_store_leaves_no_reader_connections(postgres_url: str) -> None:
    before = {pid for pid, *_ in _backends(postgres_url)}
    engine = PostgresStore.open(postgres_url, read_connections=3)
    for _ in range(6):
        await engine.read(lambda tx: tx.last_event_id())
    with pytest.raises(LookupError):
        await engine.read(_fails_in_python)
    ours = {pid for pid, *_ in _backends(postgres_url)} - before
    assert len(ours) == 3  # one per reader thread, opened with the store
    await engine.close()
    assert _eventually(lambda: not ours & {pid for pid, *_ in _backends(postgres_url)})


async def test_lookups_on_two_event_loops_each_use_their_own_connections_and_close_with_the_store(
    postgres_url: str,
) -> None:
    # The websocket gateway's loop runs on a thread of its own and looks sessions up too: asyncpg
    # connections belong to the loop that opened them.
    import asyncio
    import threading

    engine = PostgresStore.open(postgres_url, read_connections=2)
    concurrent = [engine.lookup(lambda tx: tx._scalar("SELECT pg_backend_pid() FROM pg_sleep(0.05)")) for _ in range(2)]
    here = set(await asyncio.gather(*concurrent))
    assert len(here) == 2  # two lookups at once: both of this loop's connections
    there: set[int] = set()
    thread = threading.Thread(
        target=lambda: there.add(asyncio.run(engine.lookup(lambda tx: tx._scalar("SELECT pg_backend_pid()"))))
    )
    thread.start()
    thread.join(10)
    assert len(there) == 1 and not there & here
    ours = {pid for pid, *_ in _backends(postgres_url, application_name="hubbub-lookup")}
    assert here | there <= ours
    await engine.close()
    assert _eventually(
        lambda: not ours & {pid for pid, *_ in _backends(postgres_url, application_name="hubbub-lookup")}
    )


def test_an_unreachable_server_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        PostgresStore.open("postgresql://hubbub:s3cret@127.0.0.1:1/hubbub")
    assert "s3cret" not in str(raised.value) and "hubbub:***@127.0.0.1:1" in str(raised.value)
    assert redacted("postgresql://u@h/d") == "postgresql://u@h/d"


async def test_the_writer_plans_each_statement_once(store: PostgresStore) -> None:
    # Left to choose, the server plans a prepared statement anew at each of its first five runs,
    # and may go on doing so for good (the group read, a join of seven tables, was re-planned at
    # every group); the writer holds the cluster-wide lock meanwhile (docs/design/postgres.md).
    for _ in range(12):
        await store.write(_append)

    def plans(tx: WriteTx) -> list[Any]:
        return tx._all(  # type: ignore[attr-defined]
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )

    prepared = await store.write(plans)
    assert any("INSERT INTO events" in statement for statement, _, _ in prepared)
    assert [(statement, custom) for statement, _, custom in prepared if custom] == []


async def test_the_group_read_looks_every_part_up_by_key_whatever_the_tables_sizes(
    store: PostgresStore, postgres_url: str
) -> None:
    # The writer plans each statement once (the test above). Joined plainly, the group read's plan
    # made while ``messages`` held a few thousand rows hashed the whole table at every run.
    import psycopg

    def fill(tx: WriteTx) -> None:
        users = [
            tx.insert_user(name=f"u{n}", email=None, password_hash="x", reputation=1, is_moderator=False, now=1)
            for n in range(20)
        ]
        room = tx.insert_room(name="r", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
        for n in range(4_000):
            user = users[n % len(users)]
            tx.insert_message(
                room_id=room.id,
                user_id=user.id,
                source="hi",
                content="hi",
                posted_at=n,
                parent_id=None,
                show_parent=False,
            )

    await store.write(fill)
    group_read = POSTGRESQL.adapt(_USERS_IN_ROOMS).replace("%s", "$1", 1).replace("%s", "$2", 1)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("SET plan_cache_mode = force_generic_plan")  # as the writer plans
        connection.execute(f"PREPARE group_read(bigint[], bigint[]) AS {group_read}")
        plan = "\n".join(
            row[0] for row in connection.execute("EXPLAIN EXECUTE group_read('{1,2,3,4,5,6}', '{1,1,1,1,1,1}')")
        )
    # A table of one page may be read whole (users here: CREATE INDEX in migration 0010 recorded
    # its one row, and such a plan is made again once autovacuum's ANALYZE records more); the
    # 4,000 messages must be looked up by key.
    assert "Seq Scan on messages" not in plan and "Hash" not in plan, plan


async def test_a_refusal_that_arrives_while_the_next_unit_is_sent_fails_only_its_unit(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # psycopg reads whatever answers have come in each time it sends: the server's refusal of a
    # unit released unconfirmed can surface while the next unit's SAVEPOINT and prefetch go out,
    # not only at the wait after them. Here every answer is made to arrive first (CI saw it by chance).
    import asyncio
    import select
    import threading

    import psycopg

    from hubbub.core.ids import MessageId, UserId
    from hubbub.store import postgres

    def setup(tx: WriteTx) -> UserId:
        user = tx.insert_user(name="Jon", email=None, password_hash="", reputation=1, is_moderator=False, now=1)
        tx.add_star(MessageId(1), user.id, 1)
        return user.id

    user_id = await store.write(setup)
    release_unconfirmed = postgres._PostgresWriteSession.release_unconfirmed

    def answered_before_the_next_unit(session: Any) -> None:
        release_unconfirmed(session)
        connection = session._connection
        connection.pgconn.send_flush_request()  # the server sends every answer so far at once
        connection.pgconn.flush()
        select.select([connection.fileno()], [], [], 5.0)

    monkeypatch.setattr(postgres._PostgresWriteSession, "release_unconfirmed", answered_before_the_next_unit)
    started = threading.Event()

    def hold(tx: WriteTx) -> None:  # keeps the writer busy until every other unit has queued behind it
        started.set()
        time.sleep(0.3)

    def prefetch(tx: Any) -> None:
        tx.prefetch_user_in_room(user_id, RoomId(1))

    def appends(refuse: bool) -> Any:
        def work(tx: WriteTx) -> int:
            tx.user_in_room(user_id, RoomId(1))
            event_id = _append(tx)
            if refuse:
                tx.add_star(MessageId(1), user_id, 2)  # the primary key refuses it, after the unit returned
            return event_id

        return work

    holding = asyncio.ensure_future(store.write(hold))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    units = [appends(False), appends(True), appends(False), appends(True), appends(False)]
    outcomes = await asyncio.gather(*(store.write(u, prefetch=prefetch) for u in units), return_exceptions=True)
    await holding
    assert [type(outcome) for outcome in outcomes[1::2]] == [psycopg.errors.UniqueViolation] * 2
    assert outcomes[0::2] == [1, 2, 3]
    assert await store.read(lambda tx: tx.last_event_id()) == 3
