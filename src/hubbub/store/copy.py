"""Copy a hubbub SQLite database into PostgreSQL (``hubbub migrate``): resumable, then verified.

The copy goes table by table (a table before those whose foreign keys name it),
each in primary-key order, in batches; each batch commits in the target together
with how far that table has got (``meta`` rows ``migration.progress.<table>``), so
a run that is interrupted (Ctrl-C, a crash, a lost connection) continues where it
stopped when started again. Rows are upserted, so a batch copied twice is harmless.

Which targets it accepts:

- an empty hubbub database (migrated, nothing in it but what migrating puts there
  and what a node's start writes to ``meta``): it first records the source's
  ``database_id`` there (``migration.source``), then copies;
- a previous partial run of the *same* source: it resumes; but if the source has
  moved on since (its counters differ from those recorded), the partial copy may be
  stale, so it empties the target and starts over, and says so;
- anything else is refused, and nothing is written.

The source is read in one transaction (one consistent snapshot), so a server still
writing to it cannot tear the copy; but what it writes after the snapshot is not
copied, so stop the server first: if the source's counters (every change appends an
event, so they move with every change that matters) have moved by the end of the
run, the run fails. At the end
every table's row count, the number of events, the last event id and every counter
are compared; only then is the copy marked complete (``migration.complete``).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from hubbub.errors import ConfigError

__all__ = ["CopyReport", "copy_sqlite_to_postgresql"]

BATCH_ROWS: Final = 2000  # rows per target transaction (and per progress record)
SOURCE_KEY: Final = "migration.source"
COUNTERS_KEY: Final = "migration.source_counters"
PROGRESS_PREFIX: Final = "migration.progress."
COMPLETE_KEY: Final = "migration.complete"
DATABASE_ID: Final = "database_id"
_INTERNAL: Final = ("sqlite_", "_yoyo", "yoyo_")


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # primary-key columns, in key order


@dataclass(frozen=True, slots=True)
class CopyReport:
    source_id: str
    resumed: bool
    started_over: bool
    already_complete: bool
    rows: dict[str, int]  # per table, in the target after the copy
    events: int
    last_event_id: int


class CopyRefused(ConfigError):
    """The target is not something ``hubbub migrate`` may write to, or the source changed under it."""


def _source_tables(source: sqlite3.Connection) -> list[Table]:
    names = [
        str(row[0])
        for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if not str(row[0]).startswith(_INTERNAL)
    ]
    tables: dict[str, Table] = {}
    references: dict[str, set[str]] = {}
    for name in names:
        info = source.execute(f'PRAGMA table_info("{name}")').fetchall()
        key = tuple(str(row[1]) for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        if not key:
            raise CopyRefused(f"table {name} has no primary key; hubbub migrate cannot copy it resumably")
        tables[name] = Table(name, tuple(str(row[1]) for row in info), key)
        references[name] = {str(row[2]) for row in source.execute(f'PRAGMA foreign_key_list("{name}")')}
    ordered: list[Table] = []
    while references:
        ready = sorted(n for n, deps in references.items() if not (deps & references.keys()) or deps == {n})
        if not ready:
            raise CopyRefused(f"foreign keys between {sorted(references)} form a cycle")
        for name in ready:
            ordered.append(tables[name])
            del references[name]
    return ordered


def _counters(source: sqlite3.Connection) -> dict[str, int]:
    return {str(name): int(value) for name, value in source.execute("SELECT name, value FROM counters")}


class _Target:
    """The PostgreSQL side: one autocommit connection, explicit transactions."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.psycopg = psycopg
        self.connection = psycopg.connect(url, autocommit=True, application_name="hubbub-migrate-copy")

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection.transaction():
            yield self.connection.cursor()

    def meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def tables(self) -> dict[str, dict[str, str]]:
        rows = self.connection.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        ).fetchall()
        found: dict[str, dict[str, str]] = {}
        for table, column, data_type in rows:
            found.setdefault(str(table), {})[str(column)] = str(data_type)
        return found

    def counters(self) -> dict[str, int]:
        rows = self.connection.execute("SELECT name, value FROM counters").fetchall()
        return {str(name): int(value) for name, value in rows}

    def count(self, table: str) -> int:
        row = self.connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0

    def is_empty(self, tables: Sequence[Table]) -> bool:
        """Nothing in it but what migrating and a node's first start put there."""
        for table in tables:
            if table.name == "meta":
                continue
            if table.name == "counters":
                row = self.connection.execute("SELECT count(*) FROM counters WHERE value <> 0").fetchone()
            elif table.name == "users":
                row = self.connection.execute("SELECT count(*) FROM users WHERE id > 0").fetchone()
            else:
                row = self.connection.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()
            if row is not None and int(row[0]) > 0:
                return False
        return True


def _upsert_sql(table: Table) -> str:
    columns = ", ".join(f'"{c}"' for c in table.columns)
    marks = ", ".join(["%s"] * len(table.columns))
    key = ", ".join(f'"{c}"' for c in table.key)
    rest = [c for c in table.columns if c not in table.key]
    action = "DO NOTHING" if not rest else "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
    return f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks}) ON CONFLICT ({key}) {action}'


def _converters(table: Table, target_types: dict[str, str]) -> list[Callable[[Any], Any]]:
    def keep(value: Any) -> Any:
        return value

    def to_bool(value: Any) -> Any:
        return None if value is None else bool(value)

    return [to_bool if target_types[c] == "boolean" else keep for c in table.columns]


def copy_sqlite_to_postgresql(
    source_path: Path, target_url: str, *, batch_rows: int = BATCH_ROWS, report: Callable[[str], None] = print
) -> CopyReport:
    """Copy the SQLite database at ``source_path`` into the PostgreSQL database at ``target_url``.

    Both are first brought to the current schema (the source as ``hubbub serve`` would).

    Raises:
        ConfigError: The source is missing, the target is not empty and not a partial copy of
            this source, the schemas differ, the source changed during the copy, or the copy does
            not verify.
    """
    from hubbub.store.migrate import migrate_postgresql
    from hubbub.store.sqlite import SqliteStore, connect

    if not source_path.is_file():
        raise CopyRefused(f"no SQLite database at {source_path}")
    SqliteStore.open(source_path).close_blocking()  # the current schema
    migrate_postgresql(target_url)
    source = connect(source_path)
    target = _Target(target_url)
    try:
        source.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (DATABASE_ID, uuid.uuid4().hex)
        )
        source.execute("BEGIN")  # one snapshot for the whole run
        source_id = str(source.execute("SELECT value FROM meta WHERE key = ?", (DATABASE_ID,)).fetchone()[0])
        tables = _source_tables(source)
        counters = _counters(source)
        target_tables = target.tables()
        for table in tables:
            missing = set(table.columns) - set(target_tables.get(table.name, {}))
            if missing:
                raise CopyRefused(f"the target's {table.name} lacks {sorted(missing)}: run the same hubbub version")

        recorded = target.meta(SOURCE_KEY)
        recorded_counters = json.loads(target.meta(COUNTERS_KEY) or "{}")
        counters_copied = target.meta(PROGRESS_PREFIX + "counters") is not None
        resumed = started_over = False
        if recorded is None:
            if not target.is_empty(tables):
                raise CopyRefused(
                    "the target database is not empty and holds no partial copy of this source; "
                    "hubbub migrate writes only to an empty database (or resumes its own run)"
                )
        elif recorded != source_id:
            raise CopyRefused(f"the target holds a copy of another database ({recorded}), not of {source_id}")
        elif counters_copied and target.counters() != recorded_counters:
            raise CopyRefused(
                "the target has been written to since hubbub migrate copied into it (is a node running on it?); "
                "hubbub migrate will not overwrite it"
            )
        elif target.meta(COMPLETE_KEY) is not None:
            if recorded_counters != counters:
                raise CopyRefused(
                    "the target holds a complete copy of this source, which has changed since; "
                    "hubbub migrate will not overwrite a completed copy (copy into an empty database instead)"
                )
            report("the target already holds a complete copy of this source; checking it again")
            return replace(
                _verify(source, target, tables, counters, source_id, resumed=True, started_over=False),
                already_complete=True,
            )
        elif recorded_counters != counters:
            report("the source has changed since the interrupted run: emptying the target and starting over")
            names = ", ".join(f'"{t.name}"' for t in tables)
            with target.transaction() as cursor:
                cursor.execute(f"TRUNCATE {names}")
            started_over = True
        else:
            resumed = True
            report("resuming an interrupted copy of this source")
        with target.transaction() as cursor:
            for key, value in ((SOURCE_KEY, source_id), (COUNTERS_KEY, json.dumps(counters, sort_keys=True))):
                cursor.execute(
                    "INSERT INTO meta (key, value) VALUES (%s, %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            cursor.execute("DELETE FROM meta WHERE key = %s", (COMPLETE_KEY,))

        for table in tables:
            _copy_table(source, target, table, target_tables[table.name], batch_rows, report)
        latest = connect(source_path)  # outside our snapshot: what has been committed since
        try:
            moved = _counters(latest) != counters
        finally:
            latest.close()
        if moved:
            raise CopyRefused(
                "the source was written to during the copy (is hubbub serve still running on it?); "
                "stop it and run hubbub migrate again"
            )
        result = _verify(source, target, tables, counters, source_id, resumed=resumed, started_over=started_over)
        with target.transaction() as cursor:
            cursor.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (COMPLETE_KEY, json.dumps({"at": int(time.time()), "events": result.events})),
            )
        return result
    finally:
        if source.in_transaction:
            source.execute("ROLLBACK")
        source.close()
        target.close()


def _copy_table(
    source: sqlite3.Connection,
    target: _Target,
    table: Table,
    target_types: dict[str, str],
    batch_rows: int,
    report: Callable[[str], None],
) -> None:
    total = int(source.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])
    progress_key = PROGRESS_PREFIX + table.name
    recorded = target.meta(progress_key)
    progress: Any = None if recorded is None else json.loads(recorded)
    if progress == "done":
        report(f"{table.name}: {total} rows (copied in an earlier run)")
        return
    after: list[Any] | None = progress
    columns = ", ".join(f'"{c}"' for c in table.columns)
    key = ", ".join(f'"{c}"' for c in table.key)
    marks = ", ".join("?" * len(table.key))
    upsert = _upsert_sql(table)
    convert = _converters(table, target_types)
    key_positions = [table.columns.index(c) for c in table.key]
    done = (
        0
        if after is None
        else int(source.execute(f'SELECT count(*) FROM "{table.name}" WHERE ({key}) <= ({marks})', after).fetchone()[0])
    )
    while True:
        if after is None:
            rows = source.execute(f'SELECT {columns} FROM "{table.name}" ORDER BY {key} LIMIT ?', (batch_rows,))
        else:
            rows = source.execute(
                f'SELECT {columns} FROM "{table.name}" WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT ?',
                (*after, batch_rows),
            )
        batch = rows.fetchall()
        with target.transaction() as cursor:
            if batch:
                cursor.executemany(upsert, [[f(v) for f, v in zip(convert, row, strict=True)] for row in batch])
                after = [batch[-1][i] for i in key_positions]
            finished = len(batch) < batch_rows
            cursor.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (progress_key, json.dumps("done" if finished else after)),
            )
        done += len(batch)
        if finished:
            report(f"{table.name}: {done} rows")
            return
        report(f"{table.name}: {done}/{total} rows")


def _verify(
    source: sqlite3.Connection,
    target: _Target,
    tables: Sequence[Table],
    counters: dict[str, int],
    source_id: str,
    *,
    resumed: bool,
    started_over: bool,
) -> CopyReport:
    problems: list[str] = []
    rows: dict[str, int] = {}
    for table in tables:
        expected = int(source.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])
        if table.name == "meta":  # the target also holds the migration's own records (and maybe more)
            for key, value in source.execute("SELECT key, value FROM meta"):
                if target.meta(str(key)) != str(value):
                    problems.append(f"meta {key!r} differs")
            rows[table.name] = expected
            continue
        got = target.count(table.name)
        rows[table.name] = got
        if got != expected:
            problems.append(f"{table.name}: {got} rows, the source has {expected}")
    got_counters = target.counters()
    if got_counters != counters:
        problems.append(f"counters differ: {got_counters} vs {counters}")
    events, last = source.execute("SELECT count(*), coalesce(max(id), 0) FROM events").fetchone()
    row = target.connection.execute("SELECT count(*), coalesce(max(id), 0) FROM events").fetchone()
    if row is None or (int(row[0]), int(row[1])) != (int(events), int(last)):
        problems.append(f"events: {row} in the target, ({events}, {last}) in the source")
    if int(last) != counters.get("event", 0):
        problems.append(f"the last event id {last} is not the event counter {counters.get('event')}")
    if problems:
        raise CopyRefused("the copy does not verify: " + "; ".join(problems))
    return CopyReport(
        source_id=source_id,
        resumed=resumed,
        started_over=started_over,
        already_complete=False,
        rows=rows,
        events=int(events),
        last_event_id=int(last),
    )
