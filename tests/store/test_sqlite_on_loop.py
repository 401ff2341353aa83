"""SQLite with ``synchronous = normal`` commits and looks up on the caller's event loop, and a lock
held by another process never stalls that loop: the group waits on the writer thread instead,
the lookup on a reader thread, and nothing is lost or reordered meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import RoomId
from hubbub.store.sql import SQLITE, SqlTx
from hubbub.store.sqlite import SqliteStore, connect
from hubbub.store.write_queue import GATHER_TURNS


def _event(room: int) -> NewEvent:
    return NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=100, room_id=RoomId(room), room_name="r")


def _append(room: int) -> Callable[[Any], int]:
    return lambda tx: int(tx.append(_event(room)).id)


def _thread(tx: Any) -> int:
    return threading.get_ident()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    engine = SqliteStore.open(tmp_path / "on-loop.sqlite3")
    yield engine
    await engine.close()


@pytest.mark.parametrize("mode", ["normal", "full"])
async def test_normal_commits_on_the_callers_thread_and_full_on_the_writer_thread(mode: str, tmp_path: Path) -> None:
    engine = SqliteStore.open(tmp_path / "modes.sqlite3", synchronous=mode)  # type: ignore[arg-type]
    try:
        here = threading.get_ident()
        writers = {await engine.write(_thread) for _ in range(3)}
        assert writers == ({here} if mode == "normal" else writers - {here})
        assert len(writers) == 1  # one writer either way
        assert await engine.lookup(_thread) == here  # a lookup costs no wait for the disk in either mode
    finally:
        await engine.close()


async def test_a_lock_held_elsewhere_does_not_stall_the_loop_and_the_writes_wait_for_it_in_order(
    store: SqliteStore,
) -> None:
    first = await store.write(_append(1))
    other = connect(store.path)  # stands for another process (the CLI): the lock is the file's
    try:
        other.execute("BEGIN IMMEDIATE")
        theirs = SqlTx(other.cursor(), SQLITE)
        their_id = int(theirs.append(_event(2)).id)
        theirs.flush_ids()
        waiting = [asyncio.create_task(store.write(_append(3))) for _ in range(5)]
        # The loop keeps turning while they wait: had a write waited for the lock on the loop, this
        # would resume only after busy_timeout, with the writes failed ("database is locked").
        for _ in range(50):
            await asyncio.sleep(0)
        assert not any(task.done() for task in waiting)
        assert await store.lookup(_thread) == threading.get_ident()  # reads are not in the lock's way
        other.execute("COMMIT")
    finally:
        other.close()
    ids = await asyncio.wait_for(asyncio.gather(*waiting), 30)
    assert their_id == first + 1
    assert ids == list(range(their_id + 1, their_id + 6))  # after theirs, in the order they came
    # the thread stood in for that one group: the next write is the loop's again
    assert await store.write(_thread) == threading.get_ident()
    logged = await store.read(lambda tx: [(e.id, e.room_id) for e in tx.events_after(0, limit=50)])
    assert logged[:7] == [(first, 1), (their_id, 2)] + [(i, 3) for i in ids]


async def test_a_lookup_refused_for_a_lock_runs_on_a_reader_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = threading.get_ident()
    assert await store.lookup(_thread) == here
    refusals = 0

    def locked(tx: Any) -> int:
        nonlocal refusals
        if threading.get_ident() == here:
            refusals += 1
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise busy
        return threading.get_ident()

    assert await store.lookup(locked) != here
    assert refusals == 1

    def broken(tx: Any) -> int:
        raise sqlite3.OperationalError("no such table: nowhere")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):  # any other error is the caller's
        await store.lookup(broken)


async def test_closing_finishes_the_writes_already_queued_and_refuses_later_ones(store: SqliteStore) -> None:
    queued = [asyncio.create_task(store.write(_append(4))) for _ in range(20)]
    await asyncio.sleep(0)  # they are queued, not yet committed
    await store.close()
    ids = [task.result() for task in queued]
    assert ids == list(range(1, 21))
    with pytest.raises(RuntimeError, match="closed"):
        await store.write(_append(5))


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every COMMIT the store's connections run (opened after this fixture)."""
    seen: list[str] = []
    real = sqlite3.connect

    def connecting(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real(*args, **kwargs)
        connection.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
        return connection

    monkeypatch.setattr(sqlite3, "connect", connecting)
    return seen


async def _after_turns(turns: int, work: Callable[[], Any]) -> Any:
    for _ in range(turns):
        await asyncio.sleep(0)
    return await work()


async def test_writes_that_reach_the_store_over_the_next_turns_commit_as_one_group(
    commits: list[str], tmp_path: Path
) -> None:
    """As posts do: aiohttp takes each request read in one turn to its handler over a few more."""
    engine = SqliteStore.open(tmp_path / "gather.sqlite3")
    try:
        await engine.write(_append(1))
        commits.clear()
        staggered = [_after_turns(n % 3, lambda: engine.write(_append(2))) for n in range(12)]  # 0-2 turns late
        ids = await asyncio.gather(*staggered)
        assert sorted(ids) == list(range(2, 14))
        assert len(commits) == 1  # a group run at once held the first turn's writes only: 3 commits
    finally:
        await engine.close()


async def test_a_lone_write_waits_a_few_turns_of_the_loop_and_no_time(store: SqliteStore) -> None:
    await store.write(_append(1))
    turns = 0
    writing = asyncio.ensure_future(store.write(_append(1)))
    while not writing.done():
        await asyncio.sleep(0)
        turns += 1
    await writing
    assert turns <= GATHER_TURNS + 3
