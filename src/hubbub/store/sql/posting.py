"""The one query a post starts with: the author, the room, and the author's standing, presence and last message there.

Posting needs six rows keyed by the same user and room. Read one by one they are six
statements, and on PostgreSQL six round trips on the writer, which holds the cluster-wide
write lock meanwhile (docs/design/ordering.md); joined they are one. Each part is a
``LEFT JOIN`` on a one-row base, so a missing user, room, grant, kick, membership or
message reads back as NULLs instead of dropping the row.
"""

from __future__ import annotations

from typing import Any, Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel, Kick
from hubbub.store.base import UserInRoom
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.rows import (
    MEMBERSHIP_COLUMNS,
    MESSAGE_COLUMNS,
    ROOM_COLUMNS,
    USER_COLUMNS,
    membership_from_row,
    message_from_row,
    room_from_row,
    user_from_row,
)


def _layout(parts: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, slice]]:
    """The select list for several tables' columns (``alias.column``), and where each table's are in a row."""
    selected: list[str] = []
    where: dict[str, slice] = {}
    for alias, columns in parts:
        names = [f"{alias}.{column.strip()}" for column in columns.split(",")]
        where[alias] = slice(len(selected), len(selected) + len(names))
        selected.extend(names)
    return ", ".join(selected), where


_SELECTED, _SLICES = _layout(
    (("u", USER_COLUMNS), ("r", ROOM_COLUMNS), ("m", MEMBERSHIP_COLUMNS), ("lm", MESSAGE_COLUMNS))
)
_GRANT: Final = _SLICES["lm"].stop  # a.level, then k.kick_count, k.until

_USER_IN_ROOM: Final = (
    f"SELECT {_SELECTED}, a.level, k.kick_count, k.until"
    " FROM (SELECT 1 AS one) AS base"
    " LEFT JOIN users u ON u.id = ?"
    " LEFT JOIN rooms r ON r.id = ?"
    " LEFT JOIN memberships m ON m.room_id = ? AND m.user_id = ?"
    # the id last_message_by finds, by the same walk down messages_user_room
    " LEFT JOIN messages lm ON lm.id ="
    " (SELECT id FROM messages WHERE user_id = ? AND room_id = ? ORDER BY id DESC LIMIT 1)"
    " LEFT JOIN room_access a ON a.room_id = ? AND a.user_id = ?"
    " LEFT JOIN kicks k ON k.room_id = ? AND k.user_id = ?"
)


def _part(row: Any, alias: str) -> Any | None:
    """The columns of one joined table, or None where the join found no row (its key is NULL)."""
    part = row[_SLICES[alias]]
    return None if part[0] is None else part


def _params(user_id: UserId, room_id: RoomId) -> tuple[int, ...]:
    return (user_id, room_id, room_id, user_id, user_id, room_id, room_id, user_id, room_id, user_id)


class PostingSql(SqlBase):
    def prefetch_user_in_room(self, user_id: UserId, room_id: RoomId) -> None:
        self._send_ahead(("user_in_room", user_id, room_id), _USER_IN_ROOM, _params(user_id, room_id))

    def user_in_room(self, user_id: UserId, room_id: RoomId) -> UserInRoom:
        sent = self._take_prefetched(("user_in_room", user_id, room_id))
        row = sent.fetchone() if sent is not None else self._one(_USER_IN_ROOM, _params(user_id, room_id))
        user, room, membership, last = (_part(row, alias) for alias in ("u", "r", "m", "lm"))
        level, kick_count, kick_until = row[_GRANT], row[_GRANT + 1], row[_GRANT + 2]
        kick = (
            None if kick_count is None else Kick(room_id=room_id, user_id=user_id, count=kick_count, until=kick_until)
        )
        return UserInRoom(
            user=None if user is None else user_from_row(user),
            room=None if room is None else room_from_row(room),
            level=None if level is None else AccessLevel(level),
            kick=kick,
            membership=None if membership is None else membership_from_row(membership),
            last_message=None if last is None else message_from_row(last),
        )
