"""store/migrate.py: the SQL migrations, from one source for both engines: what they change in old data,
and that they are safe when several nodes start at once."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sqlite3
import threading
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import pytest
from yoyo import get_backend, read_migrations

from hubbub.core.markup import render_message
from hubbub.store.migrate import MIGRATION_LOCK_KEY, MIGRATIONS_DIR, migrate, migrate_postgresql, yoyo_uri
from tests.fakes import eventually

REL = 'rel="nofollow noopener noreferrer"'

# What hubbub stored before its HTML took Stack Exchange chat's shapes, and the sources it came from.
BEFORE_SE_SHAPES = [
    ("hello **world**", "hello <strong>world</strong>"),
    ("*it* and ***both***", "<em>it</em> and <em><strong>both</strong></em>"),
    (
        "[tag:python] [meta-tag:faq]",
        (
            f'<a href="/rooms?tag=python" {REL}><span class="ob-post-tag">python</span></a> '
            f'<a href="/rooms?tag=faq" {REL}><span class="ob-post-tag meta-tag">faq</span></a>'
        ),
    ),
    ("[**x**](http://a.example)", f'<a href="http://a.example" {REL}><strong>x</strong></a>'),
    ("`<strong>` stays", "<code>&lt;strong&gt;</code> stays"),
    ("a\nb", "<div class='full'>a <br> b</div>"),
]


def _migrate_up_to(uri: str, last: str) -> None:
    backend = get_backend(uri)
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            backend.apply_migrations(backend.to_apply(migrations.filter(lambda m: m.id <= last)))
    finally:
        backend.connection.close()


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A database at schema 0003 holding messages and revisions rendered the old way."""
    path = tmp_path / "old.sqlite3"
    _migrate_up_to(f"sqlite:///{path}", "0003.conversations")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for n, (source, content) in enumerate(BEFORE_SE_SHAPES, start=1):
            db.execute(
                "INSERT INTO messages (id, room_id, user_id, source, content, posted_at) VALUES (?, 1, 1, ?, ?, 1)",
                (n, source, content),
            )
            db.execute(
                "INSERT INTO revisions (message_id, revision, kind, source, content, user_id, at)"
                " VALUES (?, 0, 'posted', ?, ?, 1, 1)",
                (n, source, content),
            )
    return path


def test_stored_html_takes_se_chats_shapes(old_file: Path) -> None:
    assert migrate(f"sqlite:///{old_file}") >= 1
    with contextlib.closing(sqlite3.connect(old_file)) as db:
        messages = db.execute("SELECT source, content FROM messages ORDER BY id").fetchall()
        revisions = db.execute("SELECT source, content FROM revisions ORDER BY message_id").fetchall()
    # Exactly what the renderer makes of each source now.
    assert messages == revisions == [(source, render_message(source)) for source, _ in BEFORE_SE_SHAPES]


def test_it_runs_once(old_file: Path) -> None:
    migrate(f"sqlite:///{old_file}")
    assert migrate(f"sqlite:///{old_file}") == 0


def test_unread_counts_are_counted_from_the_inbox_kept_so_far(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    _migrate_up_to(f"sqlite:///{path}", "0008.stream-webhooks")
    # user 2: three unread items and one read; user 3: only read ones; user 4: one unread
    items = [(2, 1, True), (2, 2, False), (2, 3, True), (2, 4, True), (3, 5, False), (4, 6, True)]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO inbox (user_id, event_id, message_id, room_id, unread, at) VALUES (?, ?, ?, 1, ?, 1)",
            [(user, event, event, unread) for user, event, unread in items],
        )
    migrate(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as db:
        counts = db.execute("SELECT user_id, unread FROM inbox_counts ORDER BY user_id").fetchall()
    assert counts == [(2, 3), (4, 1)]


def test_message_counts_are_counted_from_the_messages_kept_so_far(tmp_path: Path) -> None:
    path = tmp_path / "counts.sqlite3"
    _migrate_up_to(f"sqlite:///{path}", "0014.room-lists")
    # user 2: two messages and a deleted one; user 3: none; user 4: one
    messages = [(2, False), (2, True), (2, False), (4, False)]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for user in (2, 3, 4):
            db.execute("INSERT INTO users (id, name, reputation, created_at) VALUES (?, ?, 1, 1)", (user, f"u{user}"))
        db.executemany(
            "INSERT INTO messages (id, room_id, user_id, source, content, posted_at, deleted)"
            " VALUES (?, 1, ?, 'x', 'x', 1, ?)",
            [(n, user, deleted) for n, (user, deleted) in enumerate(messages, start=1)],
        )
    migrate(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as db:
        counts = db.execute("SELECT id, message_count FROM users WHERE id > 1 ORDER BY id").fetchall()
    assert counts == [(2, 2), (3, 0), (4, 1)]


# Names and the keys a ping matches them by (core.mentions.ping_key): spaces removed, case-folded.
NAMES_AND_KEYS = [("Jon Skeet", "jonskeet"), ("Straße  Bob", "strassebob"), ("ÅSA", "åsa")]


def _users_before_ping_keys(execute: Any, count: int) -> None:
    """``count`` users written as before migration 0010, the last ones named as in NAMES_AND_KEYS."""
    names = [f"User {n}" for n in range(count - len(NAMES_AND_KEYS))] + [name for name, _ in NAMES_AND_KEYS]
    for n, name in enumerate(names, start=1):
        execute("INSERT INTO users (id, name, reputation, created_at) VALUES ({0}, {0}, 1, 1)", (n, name))


def test_ping_keys_are_filled_for_the_users_kept_so_far_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "ping-keys.sqlite3"
    _migrate_up_to(f"sqlite:///{path}", "0009.inbox-counts")
    count = 2_005  # past two of the migration's batches of 1,000
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        _users_before_ping_keys(lambda sql, params: db.execute(sql.replace("{0}", "?"), params), count)
    migrate(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as db:
        keys = dict(db.execute("SELECT name, ping_key FROM users WHERE id > 0").fetchall())
    assert len(keys) == count and keys["User 0"] == "user0" and keys["User 1999"] == "user1999"
    assert {name: keys[name] for name, _ in NAMES_AND_KEYS} == dict(NAMES_AND_KEYS)


def test_ping_keys_are_filled_for_the_users_kept_so_far_on_postgresql(postgres_server: Any) -> None:
    import psycopg

    url = postgres_server.empty_database()
    try:
        _migrate_up_to(yoyo_uri(url), "0009.inbox-counts")
        with psycopg.connect(url) as connection:
            _users_before_ping_keys(lambda sql, params: connection.execute(sql.replace("{0}", "%s"), params), 10)
        migrate_postgresql(url)
        keys = dict(_pg_rows(url, "SELECT name, ping_key FROM users WHERE id > 0"))
        assert keys["User 0"] == "user0" and {name: keys[name] for name, _ in NAMES_AND_KEYS} == dict(NAMES_AND_KEYS)
    finally:
        postgres_server.drop(url)


# Room names and the slugs their IRC channels are found by (core.models.room_slug).
NAMES_AND_SLUGS = [("Tavern on the Meta!", "tavern-on-the-meta"), ("Café Über", "cafe-uber"), ("漢字", "room{id}")]


def _rooms_before_slugs(execute: Any, count: int) -> None:
    """``count`` rooms written as before migration 0017, the last ones named as in NAMES_AND_SLUGS."""
    names = [f"Room {n}" for n in range(count - len(NAMES_AND_SLUGS))] + [name for name, _ in NAMES_AND_SLUGS]
    for n, name in enumerate(names, start=1):
        execute("INSERT INTO rooms (id, name, access, created_at) VALUES ({0}, {0}, 'public', 1)", (n, name))


def _expected_slugs(count: int) -> dict[str, str]:
    first = count - len(NAMES_AND_SLUGS) + 1
    return {name: slug.format(id=n) for n, (name, slug) in enumerate(NAMES_AND_SLUGS, start=first)}


def test_room_slugs_are_filled_for_the_rooms_kept_so_far_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "room-slugs.sqlite3"
    _migrate_up_to(f"sqlite:///{path}", "0016.rooms-by-activity")
    count = 2_005  # past two of the migration's batches of 1,000
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        _rooms_before_slugs(lambda sql, params: db.execute(sql.replace("{0}", "?"), params), count)
    migrate(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as db:
        slugs = dict(db.execute("SELECT name, slug FROM rooms").fetchall())
    assert len(slugs) == count and slugs["Room 0"] == "room-0" and slugs["Room 1999"] == "room-1999"
    assert {name: slugs[name] for name, _ in NAMES_AND_SLUGS} == _expected_slugs(count)


def test_room_slugs_are_filled_for_the_rooms_kept_so_far_on_postgresql(postgres_server: Any) -> None:
    import psycopg

    url = postgres_server.empty_database()
    try:
        _migrate_up_to(yoyo_uri(url), "0016.rooms-by-activity")
        with psycopg.connect(url) as connection:
            _rooms_before_slugs(lambda sql, params: connection.execute(sql.replace("{0}", "%s"), params), 10)
        migrate_postgresql(url)
        slugs = dict(_pg_rows(url, "SELECT name, slug FROM rooms"))
        assert slugs["Room 0"] == "room-0" and {name: slugs[name] for name, _ in NAMES_AND_SLUGS} == _expected_slugs(10)
    finally:
        postgres_server.drop(url)


STARTS = 6  # nodes starting at once
MIGRATIONS = sorted(path.stem for path in MIGRATIONS_DIR.iterdir() if path.suffix in (".sql", ".py"))


def _start_node(database: str, go: EventType, results: Any) -> None:
    """A node's start-up as far as migrating: wait for the others, then migrate."""
    go.wait()
    try:
        if database.startswith("postgresql://"):
            migrate_postgresql(database)
        else:
            migrate(f"sqlite:///{database}")
        results.put("ok")
    except Exception as error:
        results.put(f"{type(error).__name__}: {error}")


def _start_together(database: str) -> list[str]:
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    processes = [context.Process(target=_start_node, args=(database, go, results)) for _ in range(STARTS)]
    for process in processes:
        process.start()
    go.set()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
    return outcomes


def _pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


def test_nodes_starting_together_on_postgresql_apply_each_migration_once(postgres_server: Any) -> None:
    url = postgres_server.empty_database()
    assert _start_together(url) == ["ok"] * STARTS
    applied = _pg_rows(url, "SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")
    assert [row[0] for row in applied] == MIGRATIONS
    assert _pg_rows(url, "SELECT value FROM counters WHERE name = 'event'") == [(0,)]
    assert _pg_rows(url, "SELECT count(*) FROM users") == [(1,)]  # the Feeds account, inserted once


def test_nodes_starting_together_on_sqlite_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "together.sqlite3"
    assert _start_together(str(path)) == ["ok"] * STARTS
    with sqlite3.connect(path) as connection:
        applied = connection.execute("SELECT migration_id FROM _yoyo_migration ORDER BY migration_id").fetchall()
        assert [row[0] for row in applied] == MIGRATIONS
        assert connection.execute("SELECT count(*) FROM users").fetchall() == [(1,)]


def test_a_migrator_that_died_holding_yoyos_lock_blocks_nobody(postgres_server: Any) -> None:
    """yoyo's own lock is a row; a node killed mid-migration leaves it behind, and yoyo alone
    would refuse every later start (LockTimeout after 10 s) until someone runs ``yoyo break-lock``."""
    import psycopg

    url = postgres_server.database()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999)")
    assert migrate_postgresql(url) == 0
    assert _pg_rows(url, "SELECT count(*) FROM yoyo_lock") == [(0,)]


async def test_a_node_waits_for_another_nodes_migration(postgres_server: Any) -> None:
    import psycopg

    url = postgres_server.empty_database()
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))  # another node is migrating
        outcome: list[object] = []
        thread = threading.Thread(target=lambda: outcome.append(migrate_postgresql(url)))
        thread.start()
        try:

            def waiting() -> bool:
                rows = _pg_rows(
                    url,
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                    " WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = 'hubbub-migrate'",
                )
                return rows[0][0] == 1

            await eventually(waiting)
            assert outcome == []  # still waiting, not failed
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 60)
    assert outcome == [len(MIGRATIONS)]


def test_the_schema_is_the_same_on_both_engines(postgres_url: str, tmp_path: Path) -> None:
    """One set of migration files: both engines end with the same tables, columns and column order."""
    path = tmp_path / "schema.sqlite3"
    migrate(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if not row[0].startswith(("_yoyo", "yoyo", "sqlite_"))
        ]
        on_sqlite = {t: [row[1] for row in connection.execute(f"PRAGMA table_info({t})")] for t in tables}
    rows = _pg_rows(
        postgres_url,
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name NOT LIKE '%yoyo%' ORDER BY table_name, ordinal_position",
    )
    on_postgresql: dict[str, list[str]] = {}
    for table, column in rows:
        on_postgresql.setdefault(table, []).append(column)
    assert on_postgresql == on_sqlite
    assert on_sqlite["events"][0] == "id" and len(on_sqlite) >= 15
