"""The plumbing every group of queries shares: one cursor, one dialect, id counters.

Ids (events, messages, users, rooms, ...) come from the ``counters`` table, never
from an engine's auto-increment. A write transaction holds its engine's write lock
from its first statement (store/writer.py), so nobody else can move a counter
while it runs: it reads the counters once, hands ids out itself, and writes the
new values back just before it commits (``flush_ids``). A savepoint rolled back
takes its ids back with it (``id_mark``/``id_restore``), so ids stay dense.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import Room
from hubbub.errors import LocalError
from hubbub.store.sql.dialect import SqlDialect
from hubbub.store.sql.group_reads import GroupReads, writes_a_read_table
from hubbub.store.sql.row_writes import DeferredRowsFailed, RowWrite
from hubbub.store.sql.rows import Cursor

COUNTERS: Final = "SELECT name, value FROM counters"


class SqlBase:
    """Executes adapted SQL on one transaction's cursor."""

    def __init__(
        self,
        cursor: Cursor,
        dialect: SqlDialect,
        *,
        counters: Cursor | None = None,
        side: Cursor | None = None,
        one_statement: bool = False,
    ) -> None:
        """``counters``: a cursor on which the engine already sent ``COUNTERS`` (under the write lock);
        ``side``: one for a query sent ahead whose answer is read later (``read_group_ahead``);
        ``one_statement``: refuse a second statement (``Store.lookup``, which runs outside a transaction)."""
        self._cursor = cursor
        self._statements_left = 1 if one_statement else -1  # -1: no limit
        self._side = side
        self._dialect = dialect
        self._counters_sent = counters
        self._counters: dict[str, int] | None = None  # read on first use
        self._changed: frozenset[str] = frozenset()  # counters to write back
        self._prefetched: tuple[object, ...] | None = None  # the query sent ahead, its answer not yet read
        self._group: GroupReads | None = None  # what the writer's group read together (group_reads.py)
        self._deferring = False  # row writes wait for the group's end (row_writes.py)
        self._deferred: dict[RowWrite, dict[tuple[object, ...], tuple[object, ...]]] = {}
        self.writes = 0  # statements run that are not plain reads (store/writer.py: is there anything to undo?)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run a statement. Its results are there once fetched; a statement nobody fetches from
        may be sent without waiting (PostgreSQL pipelines writes), and an error it causes is then
        raised by a later statement or at the end of the unit of work (store/writer.py)."""
        if self._deferred:  # nothing may look at the tables before the rows deferred so far are there
            self._send_deferred()
        self._prefetched = None  # the cursor's answer is this statement's now
        if self._statements_left >= 0:
            if self._statements_left == 0:
                raise LocalError("a lookup runs one statement: two would see two snapshots (use Store.read)")
            self._statements_left = 0
        if not sql.startswith("SELECT"):
            self.writes += 1
            if self._group is not None and writes_a_read_table(sql):
                self._group = None
        self._cursor.execute(self._dialect.adapt(sql), tuple(params))
        return self._cursor

    def defer_row_writes(self) -> None:
        """From now on, send ``_write_row`` rows at the group's end, each shape once (row_writes.py)."""
        self._deferring = True

    def _write_row(self, statement: RowWrite, params: tuple[object, ...]) -> None:
        """Write one row by its key: now, or where the writer defers rows, at the group's end."""
        if not self._deferring:
            self._execute(statement.one, params)
            return
        self.writes += 1
        key = statement.key_of(params)
        for other, rows in self._deferred.items():
            if other is not statement and other.table == statement.table and key in rows:
                # the same row in another shape: the order of the two writes is the order they came in
                self._send_deferred()
                break
        self._deferred.setdefault(statement, {})[key] = params

    def _send_deferred(self) -> None:
        deferred, self._deferred = self._deferred, {}
        self._prefetched = None
        try:
            for statement, rows in deferred.items():
                if len(rows) > 1 and self._dialect.pipelined:
                    self._cursor.execute(self._dialect.adapt(statement.many), (statement.rows_json(rows.values()),))
                else:
                    self._cursor.executemany(self._dialect.adapt(statement.one), list(rows.values()))
        except Exception as error:
            raise DeferredRowsFailed(str(error)) from error

    def _group_wrote_room(self, room: Room) -> None:
        if self._group is not None:
            self._group.wrote_room(room)

    def _group_wrote_user(self, user_id: UserId) -> None:
        if self._group is not None:
            self._group.wrote_user(user_id)

    def _group_wrote_user_in_room(self, user_id: UserId, room_id: RoomId) -> None:
        if self._group is not None:
            self._group.wrote_user_in_room(user_id, room_id)

    def _send_ahead(self, key: tuple[object, ...], sql: str, params: Sequence[Any]) -> None:
        """Send a unit's first query before the unit runs (``store/writer.py``); pipelining engines only.

        The unit's own query with the same ``key`` then reads this answer, if it is the first
        statement the unit runs; any other statement first (or ``forget_prefetched``) drops it.
        """
        if self._dialect.pipelined:
            self._execute(sql, params)
            self._prefetched = key

    def _take_prefetched(self, key: tuple[object, ...]) -> Cursor | None:
        """The cursor holding the answer sent ahead for ``key``, or None if there is none."""
        if self._prefetched != key:
            return None
        self._prefetched = None
        return self._cursor

    def forget_prefetched(self) -> None:
        """Drop any answer sent ahead: the writer runs its own statements on the cursor next."""
        self._prefetched = None

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._execute(sql, params).fetchall()

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._one(sql, params)
        return None if row is None else row[0]

    def _counter(self, counter: str) -> int:
        """The counter's value in this transaction: the last id handed out."""
        if self._counters is None:
            sent, self._counters_sent = self._counters_sent, None
            rows = sent.fetchall() if sent is not None else self._all(COUNTERS)
            self._counters = {str(name): int(value) for name, value in rows}
        try:
            return self._counters[counter]
        except KeyError:
            raise LocalError(f"counter {counter!r} missing; was the schema migrated?") from None

    def _next_id(self, counter: str) -> int:
        value = self._counter(counter) + 1
        assert self._counters is not None
        self._counters[counter] = value
        self._changed |= {counter}
        return value

    def id_mark(self) -> tuple[dict[str, int] | None, frozenset[str]]:
        """The ids handed out so far, to go back to if the unit of work that follows fails."""
        return (None if self._counters is None else dict(self._counters)), self._changed

    def id_restore(self, mark: tuple[dict[str, int] | None, frozenset[str]]) -> None:
        self._counters, self._changed = mark

    def flush_ids(self) -> None:
        """Send the deferred rows, then write the counters this transaction moved: the last statements before COMMIT."""
        if self._deferred:
            self._send_deferred()
        values = self._counters or {}
        for counter in sorted(self._changed):
            self._execute("UPDATE counters SET value = ? WHERE name = ?", (values[counter], counter))
        self._changed = frozenset()
