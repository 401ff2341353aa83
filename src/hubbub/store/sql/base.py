"""The plumbing every group of queries shares: one cursor, one dialect, id counters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hubbub.errors import LocalError
from hubbub.store.sql.dialect import SqlDialect
from hubbub.store.sql.rows import Cursor


class SqlBase:
    """Executes adapted SQL on one transaction's cursor."""

    def __init__(self, cursor: Cursor, dialect: SqlDialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self._cursor.execute(self._dialect.adapt(sql), tuple(params))
        return self._cursor

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._execute(sql, params).fetchall()

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._one(sql, params)
        return None if row is None else row[0]

    def _next_id(self, counter: str) -> int:
        row = self._one("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", (counter,))
        if row is None:
            raise LocalError(f"counter {counter!r} missing; was the schema migrated?")
        return int(row[0])
