"""Queries about messages: posting, revisions, stars and pins, history, search."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Message, Revision
from hubbub.store.base import SearchWindow
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.group_reads import MAINTAINED
from hubbub.store.sql.row_writes import RowWrite
from hubbub.store.sql.rows import LIKE_SPECIAL, MESSAGE_COLUMNS, message_from_row

# Keeps the writer's group reads true itself (group_reads.py).
_INSERT_MESSAGE: Final = RowWrite(
    "messages",
    (
        ("id", "bigint"),
        ("room_id", "bigint"),
        ("user_id", "bigint"),
        ("source", "text"),
        ("content", "text"),
        ("posted_at", "bigint"),
        ("parent_id", "bigint"),
        ("show_parent", "boolean"),
    ),
    key=("id",),
    mode="insert",
)
MAINTAINED.add(_INSERT_MESSAGE.one)


class MessagesSql(SqlBase):
    def message(self, message_id: MessageId) -> Message | None:
        row = self._one(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        return None if row is None else message_from_row(row)

    def messages(self, message_ids: Collection[MessageId]) -> dict[MessageId, Message]:
        if not message_ids:
            return {}
        where, params = self._dialect.member_of("id", set(message_ids))
        rows = self._all(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where}", params)
        return {message.id: message for message in map(message_from_row, rows)}

    def last_message_id(self) -> int:
        return self._counter("message")

    def recent_messages(
        self,
        room_id: RoomId,
        *,
        limit: int,
        before: MessageId | None = None,
        after: MessageId | None = None,
        include_deleted: bool = False,
    ) -> list[Message]:
        where: list[str] = ["room_id = ?"]
        params: list[int] = [room_id]
        if before is not None:
            where.append("id < ?")
            params.append(before)
        if after is not None:
            where.append("id > ?")
            params.append(after)
        if not include_deleted:
            where.append("NOT deleted")
        rows = self._all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [message_from_row(row) for row in reversed(rows)]

    def messages_between(self, room_id: RoomId, start: int, end: int, *, limit: int) -> list[Message]:
        rows = self._all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND posted_at >= ? AND posted_at < ?"
            " ORDER BY id LIMIT ?",
            (room_id, start, end, limit),
        )
        return [message_from_row(row) for row in rows]

    def search_messages(
        self,
        room_ids: Collection[RoomId] | None,
        text: str,
        *,
        limit: int,
        offset: int = 0,
        before: MessageId | None = None,
        at_least: MessageId | None = None,
    ) -> list[Message]:
        if (room_ids is not None and not room_ids) or not text:
            return []
        # Lower-case both sides (the dialect's lower() folds as str.lower does): SQLite's LIKE
        # ignores ASCII case only, PostgreSQL's none.
        pattern = "%" + LIKE_SPECIAL.sub(r"!\g<0>", text.lower()) + "%"
        everywhere: tuple[str, list[object]] = ("TRUE", [])
        where, params = everywhere if room_ids is None else self._dialect.member_of("room_id", set(room_ids))
        rows = self._all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} AND id < ? AND id >= ? AND NOT deleted"
            f" AND {self._dialect.lower}(source) LIKE ? ESCAPE '!' ORDER BY id DESC LIMIT ? OFFSET ?",
            (
                *params,
                2**62 if before is None else before,
                -1 if at_least is None else at_least,
                pattern,
                limit,
                offset,
            ),
        )
        return [message_from_row(row) for row in rows]

    def search_window_end(self, room_ids: Collection[RoomId] | None, window: SearchWindow) -> MessageId | None:
        # One room's newest through messages_room, or the node's through the primary key: a walk
        # of the window's ids alone, which then bounds the search's range of ids.
        before = 2**62 if window.before is None else int(window.before)
        rooms = set(room_ids or ())
        if len(rooms) == 1:
            value = self._scalar(
                "SELECT id FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                (*rooms, before, window.size - 1),
            )
        else:
            value = self._scalar(
                "SELECT id FROM messages WHERE id < ? ORDER BY id DESC LIMIT 1 OFFSET ?", (before, window.size - 1)
            )
        return None if value is None else MessageId(value)

    def last_message_by(self, user_id: UserId, room_id: RoomId) -> Message | None:
        row = self._one(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE user_id = ? AND room_id = ? ORDER BY id DESC LIMIT 1",
            (user_id, room_id),
        )
        return None if row is None else message_from_row(row)

    def insert_message(
        self,
        *,
        room_id: RoomId,
        user_id: UserId,
        source: str,
        content: str,
        posted_at: int,
        parent_id: MessageId | None,
        show_parent: bool,
    ) -> Message:
        message = Message(
            id=MessageId(self._next_id("message")),
            room_id=room_id,
            user_id=user_id,
            source=source,
            content=content,
            posted_at=posted_at,
            parent_id=parent_id,
            show_parent=show_parent,
        )
        self._group_wrote_user_in_room(user_id, room_id)
        self._write_row(
            _INSERT_MESSAGE,
            (message.id, room_id, user_id, source, content, posted_at, parent_id, show_parent),
        )
        return message

    def update_message(self, message: Message) -> None:
        self._execute(
            "UPDATE messages SET room_id = ?, source = ?, content = ?, edits = ?, edited_at = ?, deleted = ?,"
            " deleted_at = ?, deleted_by = ?, stars = ?, owner_stars = ? WHERE id = ?",
            (
                message.room_id,
                message.source,
                message.content,
                message.edits,
                message.edited_at,
                message.deleted,
                message.deleted_at,
                message.deleted_by,
                message.stars,
                message.owner_stars,
                message.id,
            ),
        )

    def revisions(self, message_id: MessageId) -> list[Revision]:
        rows = self._all(
            "SELECT revision, kind, source, content, user_id, at FROM revisions WHERE message_id = ? ORDER BY revision",
            (message_id,),
        )
        return [
            Revision(
                message_id=message_id,
                revision=row[0],
                kind=row[1],
                source=row[2],
                content=row[3],
                user_id=UserId(row[4]),
                at=row[5],
            )
            for row in rows
        ]

    def insert_revision(self, revision: Revision) -> None:
        self._execute(
            "INSERT INTO revisions (message_id, revision, kind, source, content, user_id, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                revision.message_id,
                revision.revision,
                revision.kind,
                revision.source,
                revision.content,
                revision.user_id,
                revision.at,
            ),
        )

    def has_starred(self, message_id: MessageId, user_id: UserId) -> bool:
        return self._one("SELECT 1 FROM stars WHERE message_id = ? AND user_id = ?", (message_id, user_id)) is not None

    def starred_among(self, message_ids: Collection[MessageId], user_id: UserId) -> set[MessageId]:
        if not message_ids:
            return set()
        where, params = self._dialect.member_of("message_id", set(message_ids))
        rows = self._all(f"SELECT message_id FROM stars WHERE user_id = ? AND {where}", (user_id, *params))
        return {MessageId(row[0]) for row in rows}

    def stars_given_since(self, user_id: UserId, since: int) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM stars WHERE user_id = ? AND at >= ?", (user_id, since)))

    def add_star(self, message_id: MessageId, user_id: UserId, now: int) -> None:
        self._execute("INSERT INTO stars (message_id, user_id, at) VALUES (?, ?, ?)", (message_id, user_id, now))

    def remove_star(self, message_id: MessageId, user_id: UserId) -> None:
        self._execute("DELETE FROM stars WHERE message_id = ? AND user_id = ?", (message_id, user_id))

    def clear_stars(self, message_id: MessageId) -> None:
        self._execute("DELETE FROM stars WHERE message_id = ?", (message_id,))

    def pinners(self, message_id: MessageId) -> list[UserId]:
        rows = self._all("SELECT user_id FROM pins WHERE message_id = ? ORDER BY at, user_id", (message_id,))
        return [UserId(row[0]) for row in rows]

    def add_pin(self, message_id: MessageId, user_id: UserId, now: int) -> None:
        self._execute("INSERT INTO pins (message_id, user_id, at) VALUES (?, ?, ?)", (message_id, user_id, now))

    def clear_pins(self, message_id: MessageId) -> None:
        self._execute("DELETE FROM pins WHERE message_id = ?", (message_id,))
