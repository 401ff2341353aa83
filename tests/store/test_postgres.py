"""What only the PostgreSQL engine has: connections that can break, a server that can be away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import EventId, RoomId
from hubbub.errors import ConfigError
from hubbub.store.base import WriteTx
from hubbub.store.postgres import PostgresStore, redacted


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    engine = PostgresStore.open(postgres_url, read_connections=2)
    yield engine
    await engine.close()


def _append(tx: WriteTx) -> int:
    return tx.append(NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=1, room_id=RoomId(1))).id


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


async def test_a_read_the_database_refuses_leaves_its_connection_usable(store: PostgresStore) -> None:
    import psycopg

    for _ in range(3):  # more than the pool's connections
        with pytest.raises(psycopg.errors.UndefinedTable):
            await store.read(lambda tx: tx._all("SELECT * FROM no_such_table"))
        with pytest.raises(KeyError):
            await store.read(lambda tx: {}["the unit's own bug"])
    assert await store.read(lambda tx: tx.last_event_id()) == 0


def test_an_unreachable_server_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        PostgresStore.open("postgresql://hubbub:s3cret@127.0.0.1:1/hubbub")
    assert "s3cret" not in str(raised.value) and "hubbub:***@127.0.0.1:1" in str(raised.value)
    assert redacted("postgresql://u@h/d") == "postgresql://u@h/d"
