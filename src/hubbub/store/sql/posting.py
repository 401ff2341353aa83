"""The one query a post starts with: the author, the room, and the author's standing, presence and last message there.

Posting needs six rows keyed by the same user and room. Read one by one they are six
statements, and on PostgreSQL six round trips on the writer, which holds the cluster-wide
write lock meanwhile (docs/design/ordering.md); joined they are one. Each part is a
``LEFT JOIN`` on a one-row base, so a missing user, room, grant, kick, membership or
message reads back as NULLs instead of dropping the row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel
from hubbub.store.base import UserInRoom
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.group_reads import GroupReads
from hubbub.store.sql.rows import (
    MEMBERSHIP_COLUMNS,
    MESSAGE_COLUMNS,
    ROOM_COLUMNS,
    USER_COLUMNS,
    joined_columns,
    kick_from_row,
    membership_from_row,
    message_from_row,
    room_from_row,
    user_from_row,
)

_SELECTED, _SLICES = joined_columns(
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


# Every pair of a group at once (group_reads.py), PostgreSQL only: one statement text for any
# number of pairs, as ``dialect.member_of`` does for ids. The writer plans it once
# (postgres.py), and a plan must not depend on how big the tables were then: joined plainly,
# a plan made while ``messages`` was small hashed the whole table at every run (0.8 ms at 3,000
# messages, and growing with it). Each part is therefore a LATERAL lookup by key, which a
# ``LIMIT`` keeps the planner from turning back into a join: an index probe per pair, whatever
# the tables' sizes.
_USERS_IN_ROOMS: Final = (
    f"SELECT base.uid, base.rid, {_SELECTED}, a.level, k.kick_count, k.until"
    " FROM unnest(?::bigint[], ?::bigint[]) AS base (uid, rid)"
    " LEFT JOIN LATERAL (SELECT * FROM users WHERE id = base.uid LIMIT 1) u ON true"
    " LEFT JOIN LATERAL (SELECT * FROM rooms WHERE id = base.rid LIMIT 1) r ON true"
    " LEFT JOIN LATERAL (SELECT * FROM memberships WHERE room_id = base.rid AND user_id = base.uid LIMIT 1) m"
    " ON true"
    " LEFT JOIN LATERAL (SELECT * FROM messages WHERE user_id = base.uid AND room_id = base.rid"
    " ORDER BY id DESC LIMIT 1) lm ON true"
    " LEFT JOIN LATERAL (SELECT level FROM room_access WHERE room_id = base.rid AND user_id = base.uid LIMIT 1) a"
    " ON true"
    " LEFT JOIN LATERAL (SELECT kick_count, until FROM kicks WHERE room_id = base.rid AND user_id = base.uid"
    " LIMIT 1) k ON true"
)


def _part(row: Any, alias: str) -> Any | None:
    """The columns of one joined table, or None where the join found no row (its key is NULL)."""
    part = row[_SLICES[alias]]
    return None if part[0] is None else part


def _params(user_id: UserId, room_id: RoomId) -> tuple[int, ...]:
    return (user_id, room_id, room_id, user_id, user_id, room_id, room_id, user_id, room_id, user_id)


class PostingSql(SqlBase):
    _collected: list[tuple[UserId, RoomId]] | None = None  # pairs asked for while the group is read

    def prefetch_user_in_room(self, user_id: UserId, room_id: RoomId) -> None:
        if self._collected is not None:
            self._collected.append((user_id, room_id))
            return
        self._send_ahead(("user_in_room", user_id, room_id), _USER_IN_ROOM, _params(user_id, room_id))

    def read_group_ahead(self, prefetches: Sequence[Callable[[Any], None] | None]) -> None:
        """Send one query for the ``user_in_room`` rows that ``prefetches`` (the group's units') ask for.

        Only where the engine gave the transaction a cursor of its own for it (``side``, PostgreSQL's:
        a round trip is what this saves); the rows are then kept true by the group's own
        writes (group_reads.py). The query goes out at once and is read when a unit first needs it.
        """
        self._collected = []
        try:
            for prefetch in prefetches:
                if prefetch is not None:
                    prefetch(self)
            pairs = list(dict.fromkeys(self._collected))
        finally:
            self._collected = None
        if not pairs or self._side is None:
            return
        params = ([user for user, _ in pairs], [room for _, room in pairs])
        self._side.execute(self._dialect.adapt(_USERS_IN_ROOMS), params)
        self._group = GroupReads(self._side, pairs)

    def user_in_room(self, user_id: UserId, room_id: RoomId) -> UserInRoom:
        row = self._group.row(user_id, room_id) if self._group is not None else None
        cached = row is not None  # as the group's start read it: the group's room writes go on top
        if row is None:
            sent = self._take_prefetched(("user_in_room", user_id, room_id))
            row = sent.fetchone() if sent is not None else self._one(_USER_IN_ROOM, _params(user_id, room_id))
        user, room, membership, last = (_part(row, alias) for alias in ("u", "r", "m", "lm"))
        level, kick_count, kick_until = row[_GRANT], row[_GRANT + 1], row[_GRANT + 2]
        kick = kick_from_row(room_id, user_id, kick_count, kick_until)
        read_room = None if room is None else room_from_row(room)
        if cached and read_room is not None and self._group is not None:
            read_room = self._group.room(read_room)
        return UserInRoom(
            user=None if user is None else user_from_row(user),
            room=read_room,
            level=None if level is None else AccessLevel(level),
            kick=kick,
            membership=None if membership is None else membership_from_row(membership),
            last_message=None if last is None else message_from_row(last),
        )
