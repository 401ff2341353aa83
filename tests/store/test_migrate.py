"""store/migrate.py: the SQL migrations, applied by yoyo to a file that has only the older ones."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from yoyo import get_backend, read_migrations

from hubbub.core.markup import render_message
from hubbub.store.migrate import MIGRATIONS_DIR, migrate

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
