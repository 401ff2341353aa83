"""Row shapes: column lists, rows to frozen models, events to and from their JSON ``body``."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any, Final, Protocol

from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import ApiToken, Kick, Membership, Message, Room, RoomAccess, User


class Cursor(Protocol):
    """The part of a DB-API 2.0 cursor the SQL layer uses."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params_seq: Sequence[Sequence[Any]], /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


USER_COLUMNS: Final = (
    "id, name, email, reputation, is_moderator, suspended_until, about, created_at, last_seen, last_post, message_count"
)
ROOM_COLUMNS: Final = "id, name, description, tags, access, created_at, created_by, last_activity, message_count"
MESSAGE_COLUMNS: Final = (
    "id, room_id, user_id, source, content, posted_at, parent_id, show_parent, edits, edited_at, "
    "deleted, deleted_at, deleted_by, stars, owner_stars"
)
MEMBERSHIP_COLUMNS: Final = "room_id, user_id, present, joined_at, last_seen, last_post"
TOKEN_COLUMNS: Final = "id, name, scope, created_at, revoked_at"

LIKE_SPECIAL: Final = re.compile(r"[!%_]")
_EVENT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(NewEvent))
_EVENT_DEFAULTS: Final = {f.name: f.default for f in dataclasses.fields(NewEvent)}


def joined_columns(parts: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, slice]]:
    """The select list for several tables' columns (``alias.column``), and where each table's are in a row."""
    selected: list[str] = []
    where: dict[str, slice] = {}
    for alias, columns in parts:
        names = [f"{alias}.{column.strip()}" for column in columns.split(",")]
        where[alias] = slice(len(selected), len(selected) + len(names))
        selected.extend(names)
    return ", ".join(selected), where


def kick_from_row(room_id: RoomId, user_id: UserId, count: int | None, until: int | None) -> Kick | None:
    """A ``kicks`` row's ``kick_count, until`` as a ``Kick``; None where the row is absent (a NULL count)."""
    if count is None or until is None:
        return None
    return Kick(room_id=room_id, user_id=user_id, count=count, until=until)


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


def user_from_row(row: Sequence[Any]) -> User:
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
        message_count=row[10],
    )


def room_from_row(row: Sequence[Any]) -> Room:
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


def message_from_row(row: Sequence[Any]) -> Message:
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


def membership_from_row(row: Sequence[Any]) -> Membership:
    return Membership(
        room_id=RoomId(row[0]),
        user_id=UserId(row[1]),
        present=bool(row[2]),
        joined_at=row[3],
        last_seen=row[4],
        last_post=row[5],
    )


def api_token_from_row(row: Sequence[Any]) -> ApiToken:
    return ApiToken(id=row[0], name=row[1], scope=row[2], created_at=row[3], revoked_at=row[4])
