"""Queries about rooms and who is in them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import CHANNEL_SLUG_CHARS, AccessLevel, Kick, Membership, Room, RoomAccess, User
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.group_reads import MAINTAINED
from hubbub.store.sql.row_writes import RowWrite
from hubbub.store.sql.rows import (
    MEMBERSHIP_COLUMNS,
    ROOM_COLUMNS,
    USER_COLUMNS,
    joined_columns,
    kick_from_row,
    membership_from_row,
    room_from_row,
    user_from_row,
)

# Both keep the writer's group reads true themselves (group_reads.py).
_UPDATE_ROOM: Final = RowWrite(
    "rooms",
    (
        ("name", "text"),
        ("slug", "text"),  # follows the name (migration 0017): the room an IRC channel name stands for
        ("description", "text"),
        ("tags", "text"),
        ("access", "text"),
        ("last_activity", "bigint"),
        ("message_count", "bigint"),
        ("id", "bigint"),
    ),
    key=("id",),
    mode="update",
)
_SET_MEMBERSHIP: Final = RowWrite(
    "memberships",
    (
        ("room_id", "bigint"),
        ("user_id", "bigint"),
        ("present", "boolean"),
        ("joined_at", "bigint"),
        ("last_seen", "bigint"),
        ("last_post", "bigint"),
    ),
    key=("room_id", "user_id"),
    mode="upsert",
)
# A present member seen again, or posting: only these columns, so that the index on
# (user_id, present) is not rewritten each time (see _UPDATE_USER_ACTIVITY, store/sql/people.py).
_SET_MEMBER_SEEN: Final = RowWrite(
    "memberships",
    (("last_seen", "bigint"), ("last_post", "bigint"), ("room_id", "bigint"), ("user_id", "bigint")),
    key=("room_id", "user_id"),
    mode="update",
)
# What posting changes of its room: only these columns (see _UPDATE_USER_ACTIVITY, people.py).
_UPDATE_ROOM_ACTIVITY: Final = RowWrite(
    "rooms",
    (("last_activity", "bigint"), ("message_count", "bigint"), ("id", "bigint")),
    key=("id",),
    mode="update",
)
MAINTAINED.update((_UPDATE_ROOM.one, _UPDATE_ROOM_ACTIVITY.one, _SET_MEMBERSHIP.one, _SET_MEMBER_SEEN.one))


_ROOM_AS_R, _ROOM_AT = joined_columns((("r", ROOM_COLUMNS),))
_MEMBER_AND_USER, _MEMBER_AND_USER_AT = joined_columns((("m", MEMBERSHIP_COLUMNS), ("u", USER_COLUMNS)))


class RoomsSql(SqlBase):
    def room(self, room_id: RoomId) -> Room | None:
        row = self._one(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,))
        return None if row is None else room_from_row(row)

    def rooms(self, room_ids: Collection[RoomId]) -> dict[RoomId, Room]:
        if not room_ids:
            return {}
        where, params = self._dialect.member_of("id", set(room_ids))
        rows = self._all(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE {where}", params)
        return {room.id: room for room in map(room_from_row, rows)}

    def list_rooms(self, *, limit: int = 1000, after: RoomId | None = None) -> list[Room]:
        if after is None:
            rows = self._all(f"SELECT {ROOM_COLUMNS} FROM rooms ORDER BY id LIMIT ?", (limit,))
        else:  # where the last batch ended: no rows skipped to get there, however far it is
            rows = self._all(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return [room_from_row(row) for row in rows]

    def update_room_activity(self, room: Room) -> None:
        self._group_wrote_room(room)
        self._write_row(_UPDATE_ROOM_ACTIVITY, (room.last_activity, room.message_count, room.id))

    def oldest_room_with_slug(self, slug: str) -> RoomId | None:
        # rooms_slug (0017) indexes this very expression. Equality, not a range: in PostgreSQL's
        # usual collations a range of text ignores the hyphens a slug is made of.
        found = self._scalar(
            f"SELECT id FROM rooms WHERE substr(slug, 1, {CHANNEL_SLUG_CHARS}) = ?"
            " AND id NOT IN (SELECT room_id FROM streams) ORDER BY id LIMIT 1",
            (slug,),
        )
        return None if found is None else RoomId(found)

    def rooms_by_activity(self, *, below: tuple[int, RoomId] | None, limit: int) -> list[Room]:
        order = "ORDER BY last_activity DESC, id DESC LIMIT ?"  # rooms_activity, in its order (0016)
        if below is None:
            rows = self._all(f"SELECT {ROOM_COLUMNS} FROM rooms {order}", (limit,))
        else:
            rows = self._all(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE (last_activity, id) < (?, ?) {order}", (*below, limit)
            )
        return [room_from_row(row) for row in rows]

    def insert_room(
        self,
        *,
        name: str,
        description: str,
        tags: Sequence[str],
        access: RoomAccess,
        created_by: UserId | None,
        now: int,
    ) -> Room:
        room = Room(
            id=RoomId(self._next_id("room")),
            name=name,
            description=description,
            tags=tuple(tags),
            access=access,
            created_at=now,
            created_by=created_by,
            last_activity=now,
        )
        self._execute(
            "INSERT INTO rooms (id, name, slug, description, tags, access, created_at, created_by, last_activity)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (room.id, name, room.slug, description, " ".join(tags), access.value, now, created_by, now),
        )
        return room

    def update_room(self, room: Room) -> None:
        self._group_wrote_room(room)
        self._write_row(
            _UPDATE_ROOM,
            (
                room.name,
                room.slug,
                room.description,
                " ".join(room.tags),
                room.access.value,
                room.last_activity,
                room.message_count,
                room.id,
            ),
        )

    def access_level(self, room_id: RoomId, user_id: UserId) -> AccessLevel | None:
        value = self._scalar("SELECT level FROM room_access WHERE room_id = ? AND user_id = ?", (room_id, user_id))
        return None if value is None else AccessLevel(value)

    def access_grants(self, room_id: RoomId) -> list[tuple[UserId, AccessLevel]]:
        rows = self._all(
            "SELECT user_id, level FROM room_access WHERE room_id = ? ORDER BY granted_at, user_id", (room_id,)
        )
        return [(UserId(row[0]), AccessLevel(row[1])) for row in rows]

    def set_access_level(self, room_id: RoomId, user_id: UserId, level: AccessLevel | None, now: int) -> None:
        self._execute("DELETE FROM room_access WHERE room_id = ? AND user_id = ?", (room_id, user_id))
        if level is not None:
            self._execute(
                "INSERT INTO room_access (room_id, user_id, level, granted_at) VALUES (?, ?, ?, ?)",
                (room_id, user_id, level.value, now),
            )

    def kick(self, room_id: RoomId, user_id: UserId) -> Kick | None:
        row = self._one("SELECT kick_count, until FROM kicks WHERE room_id = ? AND user_id = ?", (room_id, user_id))
        return None if row is None else kick_from_row(room_id, user_id, row[0], row[1])

    def set_kick(self, room_id: RoomId, user_id: UserId, *, count: int, until: int) -> None:
        self._execute(
            "INSERT INTO kicks (room_id, user_id, kick_count, until) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (room_id, user_id) DO UPDATE SET kick_count = excluded.kick_count, until = excluded.until",
            (room_id, user_id, count, until),
        )

    # presence in rooms

    def membership(self, room_id: RoomId, user_id: UserId) -> Membership | None:
        row = self._one(
            f"SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE room_id = ? AND user_id = ?",
            (room_id, user_id),
        )
        return None if row is None else membership_from_row(row)

    def present_members(self, room_id: RoomId, *, limit: int | None = None) -> list[Membership]:
        # "present = TRUE", not "present": an equality is what lets memberships_present (migration
        # 0012) hand the rows over in order, so a limit reads only that many.
        sql = (
            f"SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE room_id = ? AND present = TRUE"
            " ORDER BY last_seen DESC, user_id"
        )
        rows = self._all(sql, (room_id,)) if limit is None else self._all(f"{sql} LIMIT ?", (room_id, limit))
        return [membership_from_row(row) for row in rows]

    def present_count(self, room_id: RoomId, *, up_to: int) -> int:
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM memberships WHERE room_id = ? AND present = TRUE LIMIT ?) AS p",
                (room_id, up_to),
            )
        )

    def members_seen_since(self, room_id: RoomId, since: int, *, limit: int | None = None) -> list[Membership]:
        if limit is None:
            rows = self._all(
                f"SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE room_id = ? AND (present OR last_seen >= ?)"
                " ORDER BY last_seen DESC, user_id",
                (room_id, since),
            )
            return [membership_from_row(row) for row in rows]
        # The first ``limit`` of each part, each read in order from its index (memberships_seen,
        # memberships_present): an OR of the two would walk the members gone long ago as well.
        recent = self._all(
            f"SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE room_id = ? AND last_seen >= ?"
            " ORDER BY last_seen DESC, user_id LIMIT ?",
            (room_id, since, limit),
        )
        merged = {m.user_id: m for m in map(membership_from_row, recent)}
        merged.update((m.user_id, m) for m in self.present_members(room_id, limit=limit))
        return sorted(merged.values(), key=lambda m: (-m.last_seen, m.user_id))[:limit]

    def members_seen_since_named(
        self, room_id: RoomId, since: int, key_prefixes: Collection[str], *, limit: int
    ) -> list[tuple[Membership, User, AccessLevel | None]]:
        # The database picks the few members a ping names (users.ping_key, migration 0010): the
        # writer would otherwise build every recent member of a big room for each "@".
        if not key_prefixes:
            return []
        by_length: dict[int, list[str]] = {}
        for prefix in set(key_prefixes):
            by_length.setdefault(len(prefix), []).append(prefix)
        conditions, params = [], []
        for length, prefixes in sorted(by_length.items()):
            condition, values = self._dialect.member_of_texts(f"substr(u.ping_key, 1, {length})", sorted(prefixes))
            conditions.append(condition)
            params.extend(values)
        rows = self._all(
            f"SELECT {_MEMBER_AND_USER}, a.level FROM memberships m JOIN users u ON u.id = m.user_id"
            " LEFT JOIN room_access a ON a.room_id = m.room_id AND a.user_id = m.user_id"
            f" WHERE m.room_id = ? AND (m.present OR m.last_seen >= ?) AND ({' OR '.join(conditions)})"
            " ORDER BY m.last_seen DESC, m.user_id LIMIT ?",
            (room_id, since, *params, limit),
        )
        return [
            (
                membership_from_row(row[_MEMBER_AND_USER_AT["m"]]),
                user_from_row(row[_MEMBER_AND_USER_AT["u"]]),
                None if row[-1] is None else AccessLevel(row[-1]),
            )
            for row in rows
        ]

    def rooms_of_with_standing(self, user_id: UserId) -> list[tuple[Room, AccessLevel | None, Kick | None]]:
        rows = self._all(
            f"SELECT {_ROOM_AS_R}, a.level, k.kick_count, k.until FROM memberships m JOIN rooms r ON r.id = m.room_id"
            " LEFT JOIN room_access a ON a.room_id = m.room_id AND a.user_id = m.user_id"
            " LEFT JOIN kicks k ON k.room_id = m.room_id AND k.user_id = m.user_id"
            " WHERE m.user_id = ? AND m.present ORDER BY m.room_id",
            (user_id,),
        )
        found: list[tuple[Room, AccessLevel | None, Kick | None]] = []
        for row in rows:
            room = room_from_row(row[_ROOM_AT["r"]])
            level, count, until = row[-3:]
            kick = kick_from_row(room.id, user_id, count, until)
            found.append((room, None if level is None else AccessLevel(level), kick))
        return found

    def rooms_of(self, user_id: UserId) -> list[RoomId]:
        rows = self._all("SELECT room_id FROM memberships WHERE user_id = ? AND present ORDER BY room_id", (user_id,))
        return [RoomId(row[0]) for row in rows]

    def set_member_seen(self, room_id: RoomId, user_id: UserId, *, last_seen: int, last_post: int) -> None:
        self._group_wrote_user_in_room(user_id, room_id)
        self._write_row(_SET_MEMBER_SEEN, (last_seen, last_post, room_id, user_id))

    def set_membership(self, membership: Membership) -> None:
        self._group_wrote_user_in_room(membership.user_id, membership.room_id)
        self._write_row(
            _SET_MEMBERSHIP,
            (
                membership.room_id,
                membership.user_id,
                membership.present,
                membership.joined_at,
                membership.last_seen,
                membership.last_post,
            ),
        )
