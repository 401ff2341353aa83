"""store/writer.py's group commit on SQLite, statement by statement: savepoints only when one is needed.

A group of several units first runs with no savepoint (two statements per unit saved); a
unit refused before it wrote fails alone without them, and only a unit that fails after
writing makes the group run again, each unit in its savepoint. The outcome is the same as
with savepoints from the start: the others commit, the failing one leaves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import RoomId
from hubbub.store.sql import SqlTx
from hubbub.store.sqlite import SqliteStore, _Connections, _SqliteWriteSession, connect
from hubbub.store.sqlite_checkpoints import Checkpointer
from hubbub.store.writer import commit_group

Unit = Callable[[SqlTx], Any]


def _event(room: int) -> NewEvent:
    return NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=100, room_id=RoomId(room), room_name="r")


def _append(room: int) -> Unit:
    return lambda tx: tx.append(_event(room)).id


def _refused_before_writing(tx: SqlTx) -> None:
    tx.last_event_id()
    raise ValueError("refused")


def _refused_after_writing(tx: SqlTx) -> None:
    tx.append(_event(99))
    raise ValueError("refused halfway")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[_SqliteWriteSession, list[str]]]:
    path = tmp_path / "groups.sqlite3"
    SqliteStore.open(path).close_blocking()
    connections = _Connections(path, "normal")
    statements: list[str] = []
    connections.get().set_trace_callback(statements.append)  # this thread's connection is the writer's
    checkpoints = Checkpointer(path, connect)
    try:
        yield _SqliteWriteSession(connections, checkpoints), statements
    finally:
        checkpoints.close()
        connections.close()


def _rooms_logged(session: _SqliteWriteSession) -> list[tuple[int, int | None]]:
    tx = session.begin()
    try:
        return [(event.id, event.room_id) for event in tx.events_after(0, limit=50)]  # type: ignore[arg-type]
    finally:
        session.abort()


def _savepoints(statements: list[str]) -> int:
    return sum(statement.startswith("SAVEPOINT") for statement in statements)


def test_a_group_of_units_runs_in_one_transaction_without_savepoints(session: tuple[Any, list[str]]) -> None:
    writer, statements = session
    outcomes = commit_group(writer, [_append(1), _append(2), _append(3)])
    assert outcomes == [(True, 1), (True, 2), (True, 3)]
    assert _savepoints(statements) == 0
    assert sum(statement == "COMMIT" for statement in statements) == 1
    assert _rooms_logged(writer) == [(1, 1), (2, 2), (3, 3)]


def test_a_unit_refused_before_it_wrote_fails_alone_and_its_ids_are_reused(session: tuple[Any, list[str]]) -> None:
    writer, statements = session
    outcomes = commit_group(writer, [_append(1), _refused_before_writing, _append(2)])
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert isinstance(outcomes[1][1], ValueError)
    assert _savepoints(statements) == 0
    assert _rooms_logged(writer) == [(1, 1), (2, 2)]


def test_a_unit_that_fails_after_writing_runs_the_group_again_in_savepoints(session: tuple[Any, list[str]]) -> None:
    writer, statements = session
    outcomes = commit_group(writer, [_append(1), _refused_after_writing, _append(2)])
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert outcomes[0] == (True, 1) and outcomes[2] == (True, 2)  # the failed unit's id is taken back
    assert statements.count("ROLLBACK") == 1  # the first attempt, undone whole
    assert _savepoints(statements) == 3  # then one savepoint per unit
    assert _rooms_logged(writer) == [(1, 1), (2, 2)]


def test_a_statement_the_database_refuses_fails_only_its_unit(session: tuple[Any, list[str]]) -> None:
    writer, statements = session
    commit_group(writer, [lambda tx: tx.add_star(1, 2, 5)])  # type: ignore[arg-type]

    def star_again(tx: SqlTx) -> None:
        tx.append(_event(7))
        tx.add_star(1, 2, 6)  # type: ignore[arg-type]  # the primary key refuses it

    outcomes = commit_group(writer, [_append(1), star_again, _append(2)])
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert _savepoints(statements) == 3
    assert _rooms_logged(writer) == [(1, 1), (2, 2)]
