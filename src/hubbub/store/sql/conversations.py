"""Queries about bookmarked conversations."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Conversation
from hubbub.store.sql.base import SqlBase

_COLUMNS: Final = "id, room_id, slug, title, first_message_id, last_message_id, created_by, created_at"


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=int(row[0]),
        room_id=RoomId(row[1]),
        slug=row[2],
        title=row[3],
        first_message_id=MessageId(row[4]),
        last_message_id=MessageId(row[5]),
        created_by=UserId(row[6]),
        created_at=int(row[7]),
    )


class ConversationsSql(SqlBase):
    def conversation(self, room_id: RoomId, slug: str) -> Conversation | None:
        row = self._one(f"SELECT {_COLUMNS} FROM conversations WHERE room_id = ? AND slug = ?", (room_id, slug))
        return None if row is None else _conversation(row)

    def conversation_by_compact_slug(self, room_id: RoomId, compact: str) -> Conversation | None:
        # Slugs hold only a-z, 0-9 and "-", so dropping the hyphens is exactly core's compact_slug.
        row = self._one(
            f"SELECT {_COLUMNS} FROM conversations WHERE room_id = ? AND REPLACE(slug, '-', '') = ?"
            " ORDER BY id LIMIT 1",
            (room_id, compact),
        )
        return None if row is None else _conversation(row)

    def compact_slugs_taken(self, room_id: RoomId, compacts: Collection[str]) -> set[str]:
        if not compacts:
            return set()
        where, params = self._dialect.member_of_texts("REPLACE(slug, '-', '')", compacts)
        # "id" in the select list keeps SQLite off the (room_id, slug) index, which would cover a
        # select of the slug alone and be walked whole instead of conversations_compact_slug.
        rows = self._all(f"SELECT id, slug FROM conversations WHERE room_id = ? AND {where}", (room_id, *params))
        return {str(row[1]).replace("-", "") for row in rows}

    def conversations(self, room_id: RoomId, *, limit: int, before: int | None = None) -> list[Conversation]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM conversations WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (room_id, 2**62 if before is None else before, limit),
        )
        return [_conversation(row) for row in rows]

    def insert_conversation(
        self,
        *,
        room_id: RoomId,
        slug: str,
        title: str,
        first_message_id: MessageId,
        last_message_id: MessageId,
        created_by: UserId,
        now: int,
    ) -> Conversation:
        conversation = Conversation(
            id=self._next_id("conversation"),
            room_id=room_id,
            slug=slug,
            title=title,
            first_message_id=first_message_id,
            last_message_id=last_message_id,
            created_by=created_by,
            created_at=now,
        )
        self._execute(
            f"INSERT INTO conversations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation.id,
                room_id,
                slug,
                title,
                first_message_id,
                last_message_id,
                created_by,
                now,
            ),
        )
        return conversation

    def delete_conversation(self, conversation_id: int) -> None:
        self._execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
