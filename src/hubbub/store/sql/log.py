"""Queries about the event log and the inbox it feeds."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.errors import LocalError
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.row_writes import RowWrite
from hubbub.store.sql.rows import event_from_json, event_to_json

_APPEND: Final = RowWrite(
    "events",
    (
        ("id", "bigint"),
        ("event_type", "integer"),
        ("time_stamp", "bigint"),
        ("room_id", "bigint"),
        ("user_id", "bigint"),
        ("target_user_id", "bigint"),
        ("message_id", "bigint"),
        ("body", "text"),
    ),
    key=("id",),
    mode="insert",
)


class LogSql(SqlBase):
    def last_event_id(self) -> EventId:
        return EventId(self._counter("event"))

    def append(self, event: NewEvent) -> Event:
        stored = event.with_id(EventId(self._next_id("event")))
        self._write_row(
            _APPEND,
            (
                stored.id,
                int(stored.type),
                stored.time_stamp,
                stored.room_id,
                stored.user_id,
                stored.target_user_id,
                stored.message_id,
                event_to_json(stored),
            ),
        )
        return stored

    def events_after(self, since: EventId, *, room_ids: Collection[RoomId] | None = None, limit: int) -> list[Event]:
        if room_ids is None:
            rows = self._all("SELECT body FROM events WHERE id > ? ORDER BY id LIMIT ?", (since, limit))
        elif not room_ids:
            return []
        else:
            where, params = self._dialect.member_of("room_id", room_ids)
            rows = self._all(
                f"SELECT body FROM events WHERE {where} AND id > ? ORDER BY id LIMIT ?",
                (*params, since, limit),
            )
        return [event_from_json(row[0]) for row in rows]

    def latest_events(self, room_ids: Collection[RoomId], *, limit: int) -> list[Event]:
        if not room_ids:
            return []
        where, params = self._dialect.member_of("room_id", room_ids)
        rows = self._all(f"SELECT body FROM events WHERE {where} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [event_from_json(row[0]) for row in reversed(rows)]

    def events_targeting(self, user_id: UserId, since: EventId, *, limit: int) -> list[Event]:
        rows = self._all(
            "SELECT body FROM events WHERE target_user_id = ? AND id > ? ORDER BY id LIMIT ?",
            (user_id, since, limit),
        )
        return [event_from_json(row[0]) for row in rows]

    def posting_event_ids(self, message_ids: Collection[MessageId]) -> dict[MessageId, EventId]:
        if not message_ids:
            return {}
        where, params = self._dialect.member_of("message_id", message_ids)
        rows = self._all(
            f"SELECT message_id, MIN(id) FROM events WHERE event_type = ? AND {where} GROUP BY message_id",
            (int(EventType.MESSAGE_POSTED), *params),
        )
        return {MessageId(row[0]): EventId(row[1]) for row in rows}

    # inbox

    # Each user's unread count is kept in inbox_counts (migration 0009) by the two methods that
    # change it, so reading it costs one row however many items are unread.

    def unread_count(self, user_id: UserId) -> int:
        row = self._one("SELECT unread FROM inbox_counts WHERE user_id = ?", (user_id,))
        return 0 if row is None else int(row[0])

    def add_inbox(self, user_id: UserId, event: Event) -> None:
        if event.message_id is None or event.room_id is None:
            raise LocalError(f"inbox items are about messages; event {event.id} has none")
        self._execute(
            "INSERT INTO inbox (user_id, event_id, message_id, room_id, unread, at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, event.id, event.message_id, event.room_id, True, event.time_stamp),
        )
        self._execute(
            "INSERT INTO inbox_counts (user_id, unread) VALUES (?, 1)"
            " ON CONFLICT (user_id) DO UPDATE SET unread = inbox_counts.unread + 1",
            (user_id,),
        )

    def mark_read(self, user_id: UserId, message_ids: Collection[MessageId] | None) -> int:
        # RETURNING, not the cursor's rowcount: a pipelined statement has no rowcount until synced.
        # "unread = ?", not a bare "unread": only an equality lets SQLite use inbox_unread's second column.
        if message_ids is None:
            rows = self._all(
                "UPDATE inbox SET unread = ? WHERE user_id = ? AND unread = ? RETURNING event_id",
                (False, user_id, True),
            )
        elif not message_ids:
            return 0
        else:
            where, params = self._dialect.member_of("message_id", message_ids)
            rows = self._all(
                f"UPDATE inbox SET unread = ? WHERE user_id = ? AND {where} AND unread = ? RETURNING event_id",
                (False, user_id, *params, True),
            )
        if rows:
            self._execute("UPDATE inbox_counts SET unread = unread - ? WHERE user_id = ?", (len(rows), user_id))
        return len(rows)
