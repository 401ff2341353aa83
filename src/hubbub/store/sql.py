"""The SQL behind ``ReadTx``/``WriteTx``, shared by every engine.

Queries are written once with ``?`` placeholders in portable SQL; an engine's
``SqlDialect`` adapts the placeholder style. Rows map to the frozen models of
``hubbub.core.models``; events keep their indexed columns plus the full record
as JSON in ``body``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import (
    AccessLevel,
    ApiToken,
    Kick,
    LoginSession,
    Membership,
    Message,
    Revision,
    Room,
    RoomAccess,
    User,
)
from hubbub.errors import Conflict, LocalError
from hubbub.store.base import WriteTx

__all__ = ["Cursor", "SqlDialect", "SqlTx", "event_from_json", "event_to_json"]


class Cursor(Protocol):
    """The part of a DB-API 2.0 cursor the SQL layer uses."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SqlDialect:
    name: str
    placeholder: str = "?"
    integrity_errors: tuple[type[Exception], ...] = ()

    def adapt(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)


_USER_COLUMNS: Final = (
    "id, name, email, reputation, is_moderator, suspended_until, about, created_at, last_seen, last_post"
)
_ROOM_COLUMNS: Final = "id, name, description, tags, access, created_at, created_by, last_activity, message_count"
_MESSAGE_COLUMNS: Final = (
    "id, room_id, user_id, source, content, posted_at, parent_id, show_parent, edits, edited_at, "
    "deleted, deleted_at, deleted_by, stars, owner_stars"
)
_MEMBERSHIP_COLUMNS: Final = "room_id, user_id, present, joined_at, last_seen, last_post"
_TOKEN_COLUMNS: Final = "id, name, scope, created_at, revoked_at"

_LIKE_SPECIAL: Final = re.compile(r"[!%_]")
_EVENT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(NewEvent))
_EVENT_DEFAULTS: Final = {f.name: f.default for f in dataclasses.fields(NewEvent)}


def event_to_json(event: NewEvent) -> str:
    """The event's non-default fields as compact JSON (also the bus's wire format)."""
    record: dict[str, Any] = {
        name: getattr(event, name)
        for name in _EVENT_FIELDS
        if getattr(event, name) != _EVENT_DEFAULTS.get(name, dataclasses.MISSING)
    }
    if isinstance(event, Event):
        record["id"] = event.id
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def event_from_json(text: str) -> Event:
    record = json.loads(text)
    record["type"] = EventType(record["type"])
    return Event(**record)


def _user(row: Sequence[Any]) -> User:
    return User(
        id=UserId(row[0]),
        name=row[1],
        email=row[2],
        reputation=row[3],
        is_moderator=bool(row[4]),
        suspended_until=row[5],
        about=row[6],
        created_at=row[7],
        last_seen=row[8],
        last_post=row[9],
    )


def _room(row: Sequence[Any]) -> Room:
    return Room(
        id=RoomId(row[0]),
        name=row[1],
        description=row[2],
        tags=tuple(row[3].split()),
        access=RoomAccess(row[4]),
        created_at=row[5],
        created_by=None if row[6] is None else UserId(row[6]),
        last_activity=row[7],
        message_count=row[8],
    )


def _message(row: Sequence[Any]) -> Message:
    return Message(
        id=MessageId(row[0]),
        room_id=RoomId(row[1]),
        user_id=UserId(row[2]),
        source=row[3],
        content=row[4],
        posted_at=row[5],
        parent_id=None if row[6] is None else MessageId(row[6]),
        show_parent=bool(row[7]),
        edits=row[8],
        edited_at=row[9],
        deleted=bool(row[10]),
        deleted_at=row[11],
        deleted_by=None if row[12] is None else UserId(row[12]),
        stars=row[13],
        owner_stars=row[14],
    )


def _membership(row: Sequence[Any]) -> Membership:
    return Membership(
        room_id=RoomId(row[0]),
        user_id=UserId(row[1]),
        present=bool(row[2]),
        joined_at=row[3],
        last_seen=row[4],
        last_post=row[5],
    )


def _api_token(row: Sequence[Any]) -> ApiToken:
    return ApiToken(id=row[0], name=row[1], scope=row[2], created_at=row[3], revoked_at=row[4])


def _in_list(values: Iterable[int]) -> tuple[str, list[int]]:
    params = [int(v) for v in values]
    return ",".join("?" * len(params)), params


class SqlTx:
    """One transaction's queries over a DB-API cursor. Engines open and commit it."""

    def __init__(self, cursor: Cursor, dialect: SqlDialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    # plumbing

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

    # users

    def user(self, user_id: UserId) -> User | None:
        row = self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    def users(self, user_ids: Collection[UserId]) -> dict[UserId, User]:
        if not user_ids:
            return {}
        marks, params = _in_list(set(user_ids))
        rows = self._all(f"SELECT {_USER_COLUMNS} FROM users WHERE id IN ({marks})", params)
        return {user.id: user for user in map(_user, rows)}

    def user_by_email(self, email: str) -> User | None:
        row = self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email.strip().lower(),))
        return None if row is None else _user(row)

    def password_hash(self, user_id: UserId) -> str | None:
        value = self._scalar("SELECT password_hash FROM users WHERE id = ?", (user_id,))
        return None if value is None else str(value)

    def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[User]:
        rows = self._all(
            f"SELECT {_USER_COLUMNS} FROM users WHERE id > 0 ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
        )
        return [_user(row) for row in rows]

    def user_message_count(self, user_id: UserId) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM messages WHERE user_id = ? AND NOT deleted", (user_id,)))

    def user_room_count(self, user_id: UserId) -> int:
        return int(self._scalar("SELECT COUNT(DISTINCT room_id) FROM messages WHERE user_id = ?", (user_id,)))

    def insert_user(
        self,
        *,
        name: str,
        email: str | None,
        password_hash: str,
        reputation: int,
        is_moderator: bool,
        now: int,
    ) -> User:
        normalised = None if email is None else email.strip().lower()
        if normalised is not None and self.user_by_email(normalised) is not None:
            raise Conflict(f"An account with the e-mail address {normalised} already exists")
        user = User(
            id=UserId(self._next_id("user")),
            name=name,
            email=normalised,
            reputation=reputation,
            is_moderator=is_moderator,
            created_at=now,
        )
        self._execute(
            "INSERT INTO users (id, name, email, password_hash, reputation, is_moderator, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user.id, name, normalised, password_hash, reputation, is_moderator, now),
        )
        return user

    def update_user(self, user: User) -> None:
        self._execute(
            "UPDATE users SET name = ?, email = ?, reputation = ?, is_moderator = ?, suspended_until = ?,"
            " about = ?, last_seen = ?, last_post = ? WHERE id = ?",
            (
                user.name,
                user.email,
                user.reputation,
                user.is_moderator,
                user.suspended_until,
                user.about,
                user.last_seen,
                user.last_post,
                user.id,
            ),
        )

    def set_password_hash(self, user_id: UserId, password_hash: str) -> None:
        self._execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    # rooms

    def room(self, room_id: RoomId) -> Room | None:
        row = self._one(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,))
        return None if row is None else _room(row)

    def rooms(self, room_ids: Collection[RoomId]) -> dict[RoomId, Room]:
        if not room_ids:
            return {}
        marks, params = _in_list(set(room_ids))
        rows = self._all(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE id IN ({marks})", params)
        return {room.id: room for room in map(_room, rows)}

    def list_rooms(self, *, limit: int = 1000, offset: int = 0) -> list[Room]:
        rows = self._all(f"SELECT {_ROOM_COLUMNS} FROM rooms ORDER BY id LIMIT ? OFFSET ?", (limit, offset))
        return [_room(row) for row in rows]

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
            "INSERT INTO rooms (id, name, description, tags, access, created_at, created_by, last_activity)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (room.id, name, description, " ".join(tags), access.value, now, created_by, now),
        )
        return room

    def update_room(self, room: Room) -> None:
        self._execute(
            "UPDATE rooms SET name = ?, description = ?, tags = ?, access = ?, last_activity = ?,"
            " message_count = ? WHERE id = ?",
            (
                room.name,
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
        rows = self._all("SELECT user_id, level FROM room_access WHERE room_id = ? ORDER BY granted_at", (room_id,))
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
        return None if row is None else Kick(room_id=room_id, user_id=user_id, count=row[0], until=row[1])

    def set_kick(self, room_id: RoomId, user_id: UserId, *, count: int, until: int) -> None:
        self._execute("DELETE FROM kicks WHERE room_id = ? AND user_id = ?", (room_id, user_id))
        self._execute(
            "INSERT INTO kicks (room_id, user_id, kick_count, until) VALUES (?, ?, ?, ?)",
            (room_id, user_id, count, until),
        )

    # presence in rooms

    def membership(self, room_id: RoomId, user_id: UserId) -> Membership | None:
        row = self._one(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE room_id = ? AND user_id = ?",
            (room_id, user_id),
        )
        return None if row is None else _membership(row)

    def present_members(self, room_id: RoomId) -> list[Membership]:
        rows = self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE room_id = ? AND present ORDER BY last_seen DESC",
            (room_id,),
        )
        return [_membership(row) for row in rows]

    def members_seen_since(self, room_id: RoomId, since: int) -> list[Membership]:
        rows = self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE room_id = ? AND (present OR last_seen >= ?)"
            " ORDER BY last_seen DESC",
            (room_id, since),
        )
        return [_membership(row) for row in rows]

    def rooms_of(self, user_id: UserId) -> list[RoomId]:
        rows = self._all("SELECT room_id FROM memberships WHERE user_id = ? AND present ORDER BY room_id", (user_id,))
        return [RoomId(row[0]) for row in rows]

    def set_membership(self, membership: Membership) -> None:
        key = (membership.room_id, membership.user_id)
        self._execute("DELETE FROM memberships WHERE room_id = ? AND user_id = ?", key)
        self._execute(
            f"INSERT INTO memberships ({_MEMBERSHIP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                *key,
                membership.present,
                membership.joined_at,
                membership.last_seen,
                membership.last_post,
            ),
        )

    # messages

    def message(self, message_id: MessageId) -> Message | None:
        row = self._one(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        return None if row is None else _message(row)

    def messages(self, message_ids: Collection[MessageId]) -> dict[MessageId, Message]:
        if not message_ids:
            return {}
        marks, params = _in_list(set(message_ids))
        rows = self._all(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id IN ({marks})", params)
        return {message.id: message for message in map(_message, rows)}

    def last_message_id(self) -> int:
        return int(self._scalar("SELECT value FROM counters WHERE name = 'message'"))

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
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [_message(row) for row in reversed(rows)]

    def messages_between(self, room_id: RoomId, start: int, end: int, *, limit: int) -> list[Message]:
        rows = self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND posted_at >= ? AND posted_at < ?"
            " ORDER BY id LIMIT ?",
            (room_id, start, end, limit),
        )
        return [_message(row) for row in rows]

    def search_messages(self, room_ids: Collection[RoomId], text: str, *, limit: int, offset: int = 0) -> list[Message]:
        if not room_ids or not text:
            return []
        # LOWER() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        pattern = "%" + _LIKE_SPECIAL.sub(r"!\g<0>", text.lower()) + "%"
        marks, params = _in_list(set(room_ids))
        rows = self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room_id IN ({marks}) AND NOT deleted"
            " AND LOWER(source) LIKE ? ESCAPE '!' ORDER BY id DESC LIMIT ? OFFSET ?",
            (*params, pattern, limit, offset),
        )
        return [_message(row) for row in rows]

    def last_message_by(self, user_id: UserId, room_id: RoomId) -> Message | None:
        row = self._one(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE user_id = ? AND room_id = ? ORDER BY id DESC LIMIT 1",
            (user_id, room_id),
        )
        return None if row is None else _message(row)

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
        self._execute(
            "INSERT INTO messages (id, room_id, user_id, source, content, posted_at, parent_id, show_parent)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        marks, params = _in_list(set(message_ids))
        rows = self._all(
            f"SELECT message_id FROM stars WHERE user_id = ? AND message_id IN ({marks})", (user_id, *params)
        )
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
        rows = self._all("SELECT user_id FROM pins WHERE message_id = ? ORDER BY at", (message_id,))
        return [UserId(row[0]) for row in rows]

    def add_pin(self, message_id: MessageId, user_id: UserId, now: int) -> None:
        self._execute("INSERT INTO pins (message_id, user_id, at) VALUES (?, ?, ?)", (message_id, user_id, now))

    def clear_pins(self, message_id: MessageId) -> None:
        self._execute("DELETE FROM pins WHERE message_id = ?", (message_id,))

    # the event log

    def last_event_id(self) -> EventId:
        return EventId(int(self._scalar("SELECT value FROM counters WHERE name = 'event'")))

    def append(self, event: NewEvent) -> Event:
        stored = event.with_id(EventId(self._next_id("event")))
        self._execute(
            "INSERT INTO events (id, event_type, time_stamp, room_id, user_id, target_user_id, message_id, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
            marks, params = _in_list(room_ids)
            rows = self._all(
                f"SELECT body FROM events WHERE room_id IN ({marks}) AND id > ? ORDER BY id LIMIT ?",
                (*params, since, limit),
            )
        return [event_from_json(row[0]) for row in rows]

    def latest_events(self, room_ids: Collection[RoomId], *, limit: int) -> list[Event]:
        if not room_ids:
            return []
        marks, params = _in_list(room_ids)
        rows = self._all(
            f"SELECT body FROM events WHERE room_id IN ({marks}) ORDER BY id DESC LIMIT ?", (*params, limit)
        )
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
        marks, params = _in_list(message_ids)
        rows = self._all(
            f"SELECT message_id, MIN(id) FROM events WHERE event_type = ? AND message_id IN ({marks})"
            " GROUP BY message_id",
            (int(EventType.MESSAGE_POSTED), *params),
        )
        return {MessageId(row[0]): EventId(row[1]) for row in rows}

    # inbox

    def unread_count(self, user_id: UserId) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM inbox WHERE user_id = ? AND unread", (user_id,)))

    def add_inbox(self, user_id: UserId, event: Event) -> None:
        if event.message_id is None or event.room_id is None:
            raise LocalError(f"inbox items are about messages; event {event.id} has none")
        self._execute(
            "INSERT INTO inbox (user_id, event_id, message_id, room_id, unread, at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, event.id, event.message_id, event.room_id, True, event.time_stamp),
        )

    def mark_read(self, user_id: UserId, message_ids: Collection[MessageId] | None) -> int:
        if message_ids is None:
            cursor = self._execute("UPDATE inbox SET unread = ? WHERE user_id = ? AND unread", (False, user_id))
        elif not message_ids:
            return 0
        else:
            marks, params = _in_list(message_ids)
            cursor = self._execute(
                f"UPDATE inbox SET unread = ? WHERE user_id = ? AND unread AND message_id IN ({marks})",
                (False, user_id, *params),
            )
        return max(cursor.rowcount, 0)

    # sessions and server state

    def session(self, token_hash: str) -> LoginSession | None:
        row = self._one(
            "SELECT user_id, fkey, created_at, expires_at FROM sessions WHERE token_hash = ?", (token_hash,)
        )
        if row is None:
            return None
        return LoginSession(
            token_hash=token_hash, user_id=UserId(row[0]), fkey=row[1], created_at=row[2], expires_at=row[3]
        )

    def insert_session(self, session: LoginSession) -> None:
        self._execute(
            "INSERT INTO sessions (token_hash, user_id, fkey, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (session.token_hash, session.user_id, session.fkey, session.created_at, session.expires_at),
        )

    def delete_session(self, token_hash: str) -> None:
        self._execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def api_token(self, token_hash: str) -> ApiToken | None:
        row = self._one(
            "SELECT id, name, scope, created_at, revoked_at FROM api_tokens WHERE token_hash = ?", (token_hash,)
        )
        return (
            None
            if row is None
            else ApiToken(id=row[0], name=row[1], scope=row[2], created_at=row[3], revoked_at=row[4])
        )

    def api_tokens(self) -> list[ApiToken]:
        rows = self._all("SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY id")
        return [ApiToken(id=r[0], name=r[1], scope=r[2], created_at=r[3], revoked_at=r[4]) for r in rows]

    def insert_api_token(self, *, name: str, scope: str, token_hash: str, now: int) -> ApiToken:
        token = ApiToken(id=self._next_id("api_token"), name=name, scope=scope, created_at=now)
        self._execute(
            "INSERT INTO api_tokens (id, name, scope, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            (token.id, name, scope, token_hash, now),
        )
        return token

    def revoke_api_token(self, token_id: int, now: int) -> bool:
        cursor = self._execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, token_id)
        )
        return cursor.rowcount > 0

    def meta(self, key: str) -> str | None:
        value = self._scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        self._execute("DELETE FROM meta WHERE key = ?", (key,))
        self._execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))


_: type[WriteTx] = SqlTx
