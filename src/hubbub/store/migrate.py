"""Schema migrations, applied with yoyo-migrations from the SQL files in ``store/migrations``.

Both engines run the same files: the schema is written in the SQL SQLite and
PostgreSQL share (``store/sql/dialect.py`` lists what that is), so a migration is
one file, not one per engine. ``migrate`` is idempotent and safe when several
processes call it at once (a server and a CLI command, or several nodes starting
together):

- SQLite: yoyo's lock table, inside the file's own write lock;
- PostgreSQL: first a session-level advisory lock (``pg_advisory_lock``) on a
  connection of its own, then yoyo's lock table. The advisory lock waits as long
  as another node migrates (yoyo alone gives up after 10 s), and the server
  releases it when its holder's connection ends, so a node killed mid-migration
  blocks nobody; a yoyo lock row found while holding it can only be left over
  from such a node, and is removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from yoyo import get_backend, read_migrations

from hubbub.errors import ConfigError

__all__ = ["MIGRATIONS_DIR", "MIGRATION_LOCK_KEY", "fill_from_names", "migrate", "migrate_postgresql"]

log = logging.getLogger("hubbub.store")

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY: Final = 0x6875_6262_7562_0002  # "hubbub" + 2: the advisory lock around migrating
MIGRATION_LOCK_WAIT_SECONDS: Final = 600  # another node's migration may take this long before we give up
FILL_BATCH: Final = 1000  # rows a migration that computes a column in Python reads at a time


def fill_from_names(connection: Any, table: str, column: str, value: Callable[[int, str], str]) -> None:
    """In a migration step: set ``column`` of every row of ``table`` to ``value(id, name)``, in batches.

    For what only Python computes (case folding, Unicode normalisation), which neither engine's
    SQL does; ``connection`` is yoyo's, SQLite's or psycopg's.
    """
    marker = "?" if type(connection).__module__.startswith("sqlite3") else "%s"
    cursor = connection.cursor()
    after = None
    while True:
        if after is None:
            cursor.execute(f"SELECT id, name FROM {table} ORDER BY id LIMIT {FILL_BATCH}")
        else:
            cursor.execute(f"SELECT id, name FROM {table} WHERE id > {marker} ORDER BY id LIMIT {FILL_BATCH}", (after,))
        rows = cursor.fetchall()
        if not rows:
            return
        cursor.executemany(
            f"UPDATE {table} SET {column} = {marker} WHERE id = {marker}",
            [(value(id_, name), id_) for id_, name in rows],
        )
        after = rows[-1][0]


def migrate(uri: str) -> int:
    """Apply every pending migration to the database at ``uri`` (a yoyo URI); return how many ran."""
    backend = get_backend(uri)
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        if pending:
            # One line for what yoyo logs step by step (at debug: hubbub.cli.logs).
            log.info("database schema: applied %d migration(s), %s", len(pending), ", ".join(m.id for m in pending))
        return len(pending)
    finally:
        backend.connection.close()


def yoyo_uri(url: str) -> str:
    """The yoyo URI for a ``postgresql://`` URL (yoyo drives psycopg 3 under ``postgresql+psycopg``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql+psycopg://{rest}"


def migrate_postgresql(url: str) -> int:
    """``migrate`` for a PostgreSQL database, serialised across nodes by an advisory lock."""
    import psycopg

    with psycopg.connect(url, autocommit=True, application_name="hubbub-migrate") as lock:
        lock.execute(f"SET lock_timeout = '{MIGRATION_LOCK_WAIT_SECONDS}s'")
        try:
            lock.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable as error:
            raise ConfigError(
                f"another hubbub node has been migrating the database for {MIGRATION_LOCK_WAIT_SECONDS} s; "
                "look for it (pg_stat_activity, application_name 'hubbub-migrate')"
            ) from error
        # Holding the lock, nobody else migrates: a yoyo lock row is a dead node's leftover.
        exists = lock.execute("SELECT to_regclass('yoyo_lock') IS NOT NULL").fetchone()
        if exists is not None and exists[0]:
            lock.execute("DELETE FROM yoyo_lock")
        try:
            return migrate(yoyo_uri(url))
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
