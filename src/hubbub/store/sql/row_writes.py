"""Statements that write one row by its key, which a group of units may send once for all its rows.

Every post writes the same five rows: its message, its event, its author's membership of the
room, the author's row and the room's. Run as they come, that is five statements per post
on the serial writer, each a round of the driver's Python and of the server's planner and
executor while the cluster-wide write lock is held (docs/design/postgres.md). Where a group's
reads go ahead (PostgreSQL; store/writer.py), its units run without savepoints and without
statements of their own to wait for, and they *defer* these writes (``SqlBase._write_row``):
each kind goes out once at the group's end, with every row of the group in it, in one
statement that reads its rows from one JSON parameter (``json_to_recordset``: one fixed
statement, prepared once, and one string for the driver to send; arrays, one per column,
cost psycopg's Python more than the statements they replace). Where an engine defers
nothing, or a group has one row of a kind, the one-row statement runs (``executemany``).
SQLite defers nothing: it reads as it goes, and each read would send the rows first anyway.

A deferred write is what the unit asked for, only later, so nothing may look at the tables
in between: any other statement sends the deferred rows first (``SqlBase._execute``), and so
does the end of the group. Rows of one shape with the same key keep their first place and
their last value: a shape writes the same columns every time, so the last one is what the
transaction means. A table may have two shapes, its whole row and the part of it that posting
changes (so that a post rewrites no index on the rest); the same row in the second shape
sends what was deferred so far first, so the two writes keep their order. An error in a
deferred row shows at that flush or at the commit; the writer then runs the group again unit
by unit, in savepoints, where nothing is deferred and the unit that caused it fails alone.

One thing moves: a constraint is checked against the group's rows at its end, not after each
unit, so a row that clashed only with a value a later unit of the group replaced would pass.
None of these statements changes a unique column (an address is set when a user is made,
by ``insert_user``, which is not deferred); a new one that does must not be a ``RowWrite``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DeferredRowsFailed", "RowWrite"]

Mode = Literal["insert", "upsert", "update"]


class DeferredRowsFailed(Exception):
    """Sending a group's deferred rows failed: which unit asked for the row is not known here.

    The writer answers it by running the group again in savepoints (store/writer.py)."""


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed as itself: a dict key per shape
class RowWrite:
    """One statement shape: ``columns`` are (name, SQL type) in the order of its parameters.

    ``update`` sets every column but the ``key`` columns, which must come last; ``upsert``
    inserts, or on a clash of the key updates every other column.
    """

    table: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    mode: Mode
    one: str = field(init=False)  # the statement for one row, ``?`` placeholders
    many: str = field(init=False)  # the statement for many rows: one parameter, their JSON (``rows_json``)
    _names: tuple[str, ...] = field(init=False)
    _key_at: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = [name for name, _ in self.columns]
        if not self.key or not set(self.key) <= set(names):
            raise ValueError(f"{self.table}: the key must be among the columns")
        values = [name for name in names if name not in self.key]
        listed = ", ".join(names)
        typed = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        from_json = f"json_to_recordset(?::json) AS v({typed})"
        if self.mode == "update":
            if tuple(names[-len(self.key) :]) != self.key:
                raise ValueError(f"{self.table}: an update's key columns come last")
            where = " AND ".join(f"{name} = ?" for name in self.key)
            one = f"UPDATE {self.table} SET " + ", ".join(f"{name} = ?" for name in values) + f" WHERE {where}"
            join = " AND ".join(f"{self.table}.{name} = v.{name}" for name in self.key)
            many = (
                f"UPDATE {self.table} SET "
                + ", ".join(f"{name} = v.{name}" for name in values)
                + f" FROM {from_json} WHERE {join}"
            )
        else:
            one = f"INSERT INTO {self.table} ({listed}) VALUES ({', '.join('?' * len(names))})"
            many = f"INSERT INTO {self.table} ({listed}) SELECT {listed} FROM {from_json}"
            if self.mode == "upsert":
                clash = f" ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET " + ", ".join(
                    f"{name} = excluded.{name}" for name in values
                )
                one += clash
                many += clash
        object.__setattr__(self, "one", one)
        object.__setattr__(self, "many", many)
        object.__setattr__(self, "_names", tuple(names))
        object.__setattr__(self, "_key_at", tuple(names.index(name) for name in self.key))

    def key_of(self, params: tuple[object, ...]) -> tuple[object, ...]:
        """The key of the row that ``params`` (one row's parameters) write."""
        return tuple(params[index] for index in self._key_at)

    def rows_json(self, rows: Iterable[tuple[object, ...]]) -> str:
        """The parameter of ``many``: ``rows`` (each one row's parameters) as a JSON array of objects."""
        return json.dumps([dict(zip(self._names, row, strict=True)) for row in rows], ensure_ascii=False)
