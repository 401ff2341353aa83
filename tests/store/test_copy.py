"""``hubbub migrate``'s copy: SQLite into PostgreSQL, resumable, verified, refusing what it must not touch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hubbub.bus.memory import MemoryBus
from hubbub.core.ids import EventId
from hubbub.core.models import AccessLevel, RoomAccess
from hubbub.errors import ConfigError
from hubbub.service.service import Service
from hubbub.store.base import ReadTx, Store
from hubbub.store.copy import copy_sqlite_to_postgresql
from hubbub.store.postgres import PostgresStore
from hubbub.store.sqlite import SqliteStore
from tests import fakes
from tests.fakes import FakeClock


async def _populate(path: Path, *, posts: int = 40, tag: str = "") -> None:
    """A source with a bit of everything: users, rooms, grants, kicks, posts, replies, edits, stars, tokens."""
    store = SqliteStore.open(path)
    clock = FakeClock()
    service = Service(store=store, bus=MemoryBus(), clock=clock, settings=fakes.test_settings(path.parent))
    try:
        await service.start()
        ann = await service.accounts.create_user("Ann", email=f"ann{tag}@example.org", password="password-1")
        bob = await service.accounts.create_user("Bob", email=f"bob{tag}@example.org", password="password-2")
        den = await service.rooms.create_room("Den", owner_id=ann.id, tags="python bots")
        quiet = await service.rooms.create_room("Quiet", access=RoomAccess.PRIVATE, owner_id=ann.id)
        await service.rooms.set_access(ann.id, quiet.id, bob.id, AccessLevel.READ_WRITE)
        await service.accounts.open_session(bob)
        await service.tokens.create("feeder", "publish")
        first = None
        for i in range(posts):
            author = ann if i % 2 else bob
            posted = await service.messages.post(author.id, den.id, f"message {i} @Ann" if i % 5 == 0 else f"m {i}")
            assert posted.message is not None
            first = first or posted.message
            clock.advance(1)
        assert first is not None
        await service.messages.post(ann.id, quiet.id, f":{first.id} a reply in private")
        await service.messages.toggle_star(ann.id, first.id)
        await service.messages.edit(bob.id, first.id, "message 0, edited")
        await service.rooms.kick(ann.id, den.id, bob.id)
    finally:
        await store.close()


async def _snapshot(store: Store) -> dict[str, Any]:
    def read(tx: ReadTx) -> dict[str, Any]:
        rooms = tx.list_rooms()
        return {
            "events": tx.events_after(EventId(0), limit=100_000),
            "users": tx.list_users(),
            "rooms": rooms,
            "messages": [tx.recent_messages(r.id, limit=1000, include_deleted=True) for r in rooms],
            "grants": [tx.access_grants(r.id) for r in rooms],
            "tokens": tx.api_tokens(),
            "secret": tx.meta("secret"),
            "last_event_id": tx.last_event_id(),
            "last_message_id": tx.last_message_id(),
        }

    return await store.read(read)


def _copy(source: Path, target: str, **kwargs: Any) -> Any:
    return copy_sqlite_to_postgresql(source, target, report=lambda line: None, **kwargs)


async def test_the_copy_reads_back_the_same_on_postgresql(tmp_path: Path, postgres_server: Any) -> None:
    source = tmp_path / "old.sqlite3"
    await _populate(source)
    target = postgres_server.empty_database()
    report = await asyncio.to_thread(_copy, source, target)
    sqlite, postgresql = SqliteStore.open(source), PostgresStore.open(target)
    try:
        expected, copied = await _snapshot(sqlite), await _snapshot(postgresql)
        assert copied == expected and len(expected["events"]) > 40
        assert report.events == len(expected["events"]) and report.last_event_id == expected["last_event_id"]
        assert not report.resumed and not report.already_complete
        # The copy goes on where the source stopped: the next event takes the next id.
        next_id = await postgresql.write(lambda tx: tx.last_event_id())
        assert next_id == expected["last_event_id"]
    finally:
        await sqlite.close()
        await postgresql.close()
    again = await asyncio.to_thread(_copy, source, target)
    assert again.already_complete and again.events == report.events


async def test_an_interrupted_copy_resumes_where_it_stopped(tmp_path: Path, postgres_server: Any) -> None:
    source = tmp_path / "old.sqlite3"
    await _populate(source, posts=60)
    target = postgres_server.empty_database()
    lines: list[str] = []

    def interrupt(line: str) -> None:
        lines.append(line)
        if line.startswith("events:"):  # part of the way through the events
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await asyncio.to_thread(copy_sqlite_to_postgresql, source, target, batch_rows=25, report=interrupt)
    lines.clear()
    report = await asyncio.to_thread(copy_sqlite_to_postgresql, source, target, batch_rows=25, report=lines.append)
    assert report.resumed and lines[0] == "resuming an interrupted copy of this source"
    assert any(line.endswith("(copied in an earlier run)") for line in lines)
    sqlite, postgresql = SqliteStore.open(source), PostgresStore.open(target)
    try:
        assert await _snapshot(postgresql) == await _snapshot(sqlite)
    finally:
        await sqlite.close()
        await postgresql.close()


async def test_a_source_changed_since_the_interruption_is_copied_again_from_scratch(
    tmp_path: Path, postgres_server: Any
) -> None:
    source = tmp_path / "old.sqlite3"
    await _populate(source, posts=30)
    target = postgres_server.empty_database()

    def interrupt(line: str) -> None:
        if line.startswith("events:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await asyncio.to_thread(copy_sqlite_to_postgresql, source, target, batch_rows=10, report=interrupt)
    await _populate(source, posts=3, tag="-later")  # the old server ran a while longer
    lines: list[str] = []
    report = await asyncio.to_thread(copy_sqlite_to_postgresql, source, target, batch_rows=10, report=lines.append)
    assert report.started_over and "starting over" in lines[0]
    sqlite, postgresql = SqliteStore.open(source), PostgresStore.open(target)
    try:
        assert await _snapshot(postgresql) == await _snapshot(sqlite)
    finally:
        await sqlite.close()
        await postgresql.close()


async def test_a_target_that_is_not_empty_is_refused_untouched(tmp_path: Path, postgres_server: Any) -> None:
    source = tmp_path / "old.sqlite3"
    await _populate(source, posts=2)
    target = postgres_server.database()
    store = PostgresStore.open(target)
    try:
        await store.write(
            lambda tx: tx.insert_user(
                name="Zed", email="zed@example.org", password_hash="", reputation=1, is_moderator=False, now=1
            )
        )
        before = await _snapshot(store)
        with pytest.raises(ConfigError, match="not empty"):
            await asyncio.to_thread(_copy, source, target)
        assert await _snapshot(store) == before
    finally:
        await store.close()


async def test_a_partial_copy_of_another_source_is_refused(tmp_path: Path, postgres_server: Any) -> None:
    first, second = tmp_path / "a" / "one.sqlite3", tmp_path / "b" / "two.sqlite3"
    for path in (first, second):
        path.parent.mkdir()
        await _populate(path, posts=20)
    target = postgres_server.empty_database()

    def interrupt(line: str) -> None:
        if line.startswith("events:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await asyncio.to_thread(copy_sqlite_to_postgresql, first, target, batch_rows=10, report=interrupt)
    with pytest.raises(ConfigError, match="copy of another database"):
        await asyncio.to_thread(_copy, second, target)


async def test_a_completed_copy_in_use_is_never_overwritten(tmp_path: Path, postgres_server: Any) -> None:
    source = tmp_path / "old.sqlite3"
    await _populate(source, posts=5)
    target = postgres_server.empty_database()
    await asyncio.to_thread(_copy, source, target)
    store = PostgresStore.open(target)
    try:
        await store.write(
            lambda tx: (
                tx.set_meta("x", "y")
                or tx.insert_room(name="New", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
            )
        )
    finally:
        await store.close()
    with pytest.raises(ConfigError, match="written to since"):
        await asyncio.to_thread(_copy, source, target)


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no SQLite database"):
        _copy(tmp_path / "nothing.sqlite3", "postgresql://postgres@127.0.0.1:1/none")
    assert not (tmp_path / "nothing.sqlite3").exists()
