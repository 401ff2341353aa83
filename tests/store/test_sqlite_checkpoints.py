"""store/sqlite_checkpoints.py: the WAL is copied into the database by its own thread, never inside a commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from hubbub.store.sqlite import SqliteStore, connect
from hubbub.store.sqlite_checkpoints import Checkpointer
from tests.fakes import eventually

# SQLite's own automatic checkpoint copies the WAL once it holds this many pages.
SQLITE_AUTOCHECKPOINT_PAGES = 1000


def _scratch(tx: Any) -> None:
    tx._cursor.execute("CREATE TABLE IF NOT EXISTS scratch (payload BLOB NOT NULL)")


def _insert_page(tx: Any) -> None:
    tx._cursor.execute("INSERT INTO scratch (payload) VALUES (zeroblob(4096))")


def _count(tx: Any) -> int:
    return int(tx._cursor.execute("SELECT count(*) FROM scratch").fetchone()[0])


def _wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as probe:
        return int(probe.execute("PRAGMA page_size").fetchone()[0])


async def test_commits_never_checkpoint_and_the_thread_copies_everything_once_it_may(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "hubbub.sqlite3")
    wal = tmp_path / "hubbub.sqlite3-wal"
    held = threading.Event()
    real_checkpoint = store.checkpoints.checkpoint

    def held_checkpoint() -> tuple[int, int]:
        held.wait(30)
        return real_checkpoint()

    store.checkpoints.checkpoint = held_checkpoint  # type: ignore[method-assign]
    try:
        await store.write(_scratch)
        commits = 2 * SQLITE_AUTOCHECKPOINT_PAGES
        for _ in range(commits):
            await store.write(_insert_page)
        # Every commit is still in the WAL: none of them stopped to copy it (SQLite's own
        # checkpoint would have, and the WAL would then have started again from its beginning).
        assert wal.stat().st_size > 1.5 * SQLITE_AUTOCHECKPOINT_PAGES * _page_size(store.path)
        held.set()
        await eventually(lambda: store.checkpoints.checkpoints >= 1)
        frames, copied = real_checkpoint()
        assert frames == copied > SQLITE_AUTOCHECKPOINT_PAGES
        assert await store.read(_count) == commits
    finally:
        held.set()
        await store.close()
    with sqlite3.connect(tmp_path / "hubbub.sqlite3") as after:  # all of it reached the database file
        assert after.execute("SELECT count(*) FROM scratch").fetchone()[0] == commits


def test_a_commit_wakes_the_thread_which_checkpoints_at_most_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite3"
    writer = connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (x INTEGER)")
    checkpoints = Checkpointer(path, connect, interval=3600)
    try:
        assert checkpoints.checkpoints == 0  # nothing committed since it started: it waits
        writer.execute("INSERT INTO t VALUES (1)")
        checkpoints.committed()
        _wait_until(lambda: checkpoints.checkpoints == 1)
        for value in range(2, 50):
            writer.execute("INSERT INTO t VALUES (?)", (value,))
            checkpoints.committed()
        assert checkpoints.checkpoints == 1  # the next one waits out the interval
    finally:
        checkpoints.close()  # does not wait out the interval either
        writer.close()
    assert not checkpoints._thread.is_alive()


def _pages_left() -> float:
    value = REGISTRY.get_sample_value("hubbub_sqlite_wal_pages_left")
    assert value is not None
    return value


def test_pages_a_reader_still_needs_are_left_for_later_and_the_gauge_says_how_many(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite3"
    writer, reader = connect(path), connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (payload BLOB)")
    checkpoints = Checkpointer(path, connect, interval=3600)
    timed_before = REGISTRY.get_sample_value("hubbub_sqlite_checkpoint_seconds_count") or 0
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()  # a snapshot from before the writes below
        for _ in range(20):
            writer.execute("INSERT INTO t VALUES (zeroblob(4096))")
        frames, copied = checkpoints.checkpoint()
        assert copied < frames
        assert _pages_left() == frames - copied
        reader.execute("ROLLBACK")
        frames, copied = checkpoints.checkpoint()
        assert frames == copied
        assert _pages_left() == 0
        assert REGISTRY.get_sample_value("hubbub_sqlite_checkpoint_seconds_count") == timed_before + 2
    finally:
        checkpoints.close()
        reader.close()
        writer.close()


async def test_a_lookup_that_reads_one_row_of_several_leaves_no_snapshot_behind(tmp_path: Path) -> None:
    """A lookup runs outside a transaction: its statement's own read transaction must end with the
    lookup, or the idle reader thread would keep every later commit in the WAL."""
    store = SqliteStore.open(tmp_path / "lookup.sqlite3", readers=1)
    try:
        await store.write(_scratch)
        for _ in range(3):
            await store.write(_insert_page)
        assert await store.lookup(lambda tx: tx._one("SELECT rowid FROM scratch ORDER BY rowid")) is not None
        for _ in range(20):
            await store.write(_insert_page)
        frames, copied = store.checkpoints.checkpoint()
        assert frames > 0 and copied == frames
    finally:
        await store.close()
