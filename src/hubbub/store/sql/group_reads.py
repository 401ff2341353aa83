"""What a group of posts reads together: every unit's ``user_in_room`` row in one query, kept true.

On PostgreSQL a unit's first query is a round trip, and the writer is serial: read in turn,
every post waits for the server to finish the post before it (docs/design/postgres.md).
The group writer (store/writer.py) therefore asks for all its units' rows at once, right
after taking the write lock, and the units then read them from here without waiting.

A row read at the start of the group is what unit *k* would have read only if no unit
before it changed those rows. So this cache follows the group's own writes:

- ``update_room`` is applied to the cached rooms (every post changes its room's row);
- ``update_user`` makes that user's rows stale, ``set_membership`` and ``insert_message``
  make that user's row in that room stale: a stale row is read again, with a round trip;
- any other statement that writes one of the tables the row is made of drops the whole
  cache (``written``): whatever store method a later change adds, the worst it can do is
  cost a round trip, never serve an old row.

A unit that fails before writing changed nothing here; one that fails after writing makes
the writer roll the whole group back and run it again without this cache (store/writer.py).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import Room
from hubbub.store.sql.rows import Cursor

__all__ = ["MAINTAINED", "GroupReads", "writes_a_read_table"]

# The tables a ``user_in_room`` row is joined from (store/sql/posting.py).
READ_TABLES: Final = frozenset({"users", "rooms", "memberships", "messages", "room_access", "kicks"})
_TARGET: Final = re.compile(r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+(\w+)", re.I)

# Statements whose effect on the cache their store methods apply themselves (registered by them).
MAINTAINED: set[str] = set()


def writes_a_read_table(sql: str) -> bool:
    """Whether ``sql``, a statement other than a plain ``SELECT``, may change a row ``user_in_room`` reads."""
    if sql in MAINTAINED:
        return False
    target = _TARGET.match(sql)
    return target is None or target.group(1).lower() in READ_TABLES


class GroupReads:
    """The ``user_in_room`` rows of one group, read at its start, and what its units wrote since."""

    def __init__(self, answer: Cursor, keys: list[tuple[UserId, RoomId]]) -> None:
        self._answer: Cursor | None = answer  # fetched on first use: the group's one wait
        self._keys = frozenset(keys)
        self._rows: dict[tuple[int, int], Any] = {}
        self._rooms: dict[RoomId, Room] = {}  # rooms the group's units updated
        self._stale_users: set[UserId] = set()
        self._stale: set[tuple[UserId, RoomId]] = set()

    def row(self, user_id: UserId, room_id: RoomId) -> Any | None:
        """The group's row for the pair (the columns after its two key columns), or None to read it again."""
        key = (user_id, room_id)
        if key not in self._keys or key in self._stale or user_id in self._stale_users:
            return None
        if self._answer is not None:
            answer, self._answer = self._answer, None
            self._rows = {(int(row[0]), int(row[1])): row[2:] for row in answer.fetchall()}
        return self._rows.get(key)

    def room(self, room: Room) -> Room:
        """``room`` as read at the group's start, with what the group's units wrote to it since."""
        written = self._rooms.get(room.id)
        if written is None:
            return room
        # the columns update_room writes; the others are as read
        return replace(
            room,
            name=written.name,
            description=written.description,
            tags=tuple(" ".join(written.tags).split()),
            access=written.access,
            last_activity=written.last_activity,
            message_count=written.message_count,
        )

    def wrote_room(self, room: Room) -> None:
        self._rooms[room.id] = room

    def wrote_user(self, user_id: UserId) -> None:
        self._stale_users.add(user_id)

    def wrote_user_in_room(self, user_id: UserId, room_id: RoomId) -> None:
        self._stale.add((user_id, room_id))
