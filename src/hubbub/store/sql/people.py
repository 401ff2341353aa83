"""Queries about accounts: users, login sessions, API tokens, and server state."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from hubbub.core.ids import UserId
from hubbub.core.mentions import ping_key
from hubbub.core.models import ApiToken, LoginSession, User
from hubbub.errors import Conflict
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.group_reads import MAINTAINED
from hubbub.store.sql.row_writes import RowWrite
from hubbub.store.sql.rows import USER_COLUMNS, user_from_row

# Every signed-in request runs it: built once.
_SESSION_AND_USER: Final = (
    "SELECT s.fkey, s.created_at, s.expires_at, "
    + ", ".join(f"u.{column.strip()}" for column in USER_COLUMNS.split(","))
    + " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?"
)
# Keeps the writer's group reads true itself (group_reads.py).
_UPDATE_USER: Final = RowWrite(
    "users",
    (
        ("name", "text"),
        ("ping_key", "text"),  # follows the name (migration 0010): whom a ping finds (store/sql/rooms.py)
        ("email", "text"),
        ("reputation", "bigint"),
        ("is_moderator", "boolean"),
        ("suspended_until", "bigint"),
        ("about", "text"),
        ("last_seen", "bigint"),
        ("last_post", "bigint"),
        ("message_count", "bigint"),
        ("id", "bigint"),
    ),
    key=("id",),
    mode="update",
)
# What posting changes of its author, and only that: a statement that sets a column rewrites
# every index on it even when the value stays, and each such index is a page more in the WAL
# at every commit (the address's and the ping key's, for every post).
_UPDATE_USER_ACTIVITY: Final = RowWrite(
    "users",
    (("last_seen", "bigint"), ("last_post", "bigint"), ("message_count", "bigint"), ("id", "bigint")),
    key=("id",),
    mode="update",
)
MAINTAINED.update((_UPDATE_USER.one, _UPDATE_USER_ACTIVITY.one))


class PeopleSql(SqlBase):
    def user(self, user_id: UserId) -> User | None:
        row = self._one(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return None if row is None else user_from_row(row)

    def users(self, user_ids: Collection[UserId]) -> dict[UserId, User]:
        if not user_ids:
            return {}
        where, params = self._dialect.member_of("id", set(user_ids))
        rows = self._all(f"SELECT {USER_COLUMNS} FROM users WHERE {where}", params)
        return {user.id: user for user in map(user_from_row, rows)}

    def user_by_email(self, email: str) -> User | None:
        row = self._one(f"SELECT {USER_COLUMNS} FROM users WHERE email = ?", (email.strip().lower(),))
        return None if row is None else user_from_row(row)

    def user_by_nick(self, nick: str) -> User | None:
        # The IRC gateway's nick is the display name without spaces (dialects/irc/names.py). Such
        # names have the nick's ping key: users_ping_key narrows the search to them.
        lower = self._dialect.lower
        row = self._one(
            f"SELECT {USER_COLUMNS} FROM users WHERE ping_key = ? AND id > 0"
            f" AND {lower}(replace(name, ' ', '')) = {lower}(?) ORDER BY id LIMIT 1",
            (ping_key(nick), nick),
        )
        return None if row is None else user_from_row(row)

    def password_hash(self, user_id: UserId) -> str | None:
        value = self._scalar("SELECT password_hash FROM users WHERE id = ?", (user_id,))
        return None if value is None else str(value)

    def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[User]:
        rows = self._all(f"SELECT {USER_COLUMNS} FROM users WHERE id > 0 ORDER BY id LIMIT ? OFFSET ?", (limit, offset))
        return [user_from_row(row) for row in rows]

    def user_room_count(self, user_id: UserId) -> int:
        # The rooms the user has posted in, from the user's memberships (memberships_user): a walk
        # of the rooms joined, not of every message posted.
        return int(self._scalar("SELECT COUNT(*) FROM memberships WHERE user_id = ? AND last_post > 0", (user_id,)))

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
            "INSERT INTO users (id, name, ping_key, email, password_hash, reputation, is_moderator, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (user.id, name, ping_key(name), normalised, password_hash, reputation, is_moderator, now),
        )
        return user

    def update_user(self, user: User) -> None:
        self._group_wrote_user(user.id)
        self._write_row(
            _UPDATE_USER,
            (
                user.name,
                ping_key(user.name),
                user.email,
                user.reputation,
                user.is_moderator,
                user.suspended_until,
                user.about,
                user.last_seen,
                user.last_post,
                user.message_count,
                user.id,
            ),
        )

    def update_user_activity(self, user: User) -> None:
        self._group_wrote_user(user.id)
        self._write_row(_UPDATE_USER_ACTIVITY, (user.last_seen, user.last_post, user.message_count, user.id))

    def set_password_hash(self, user_id: UserId, password_hash: str) -> None:
        self._execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

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

    def session_and_user(self, token_hash: str) -> tuple[LoginSession, User] | None:
        row = self._one(_SESSION_AND_USER, (token_hash,))
        if row is None:
            return None
        user = user_from_row(row[3:])
        return LoginSession(
            token_hash=token_hash, user_id=user.id, fkey=row[0], created_at=row[1], expires_at=row[2]
        ), user

    def insert_session(self, session: LoginSession) -> None:
        self._execute(
            "INSERT INTO sessions (token_hash, user_id, fkey, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (session.token_hash, session.user_id, session.fkey, session.created_at, session.expires_at),
        )

    def delete_session(self, token_hash: str) -> None:
        self._execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def trim_sessions(self, user_id: UserId, *, keep: int, now: int) -> list[LoginSession]:
        # Newest first by creation time; the token hash only breaks ties within one second.
        rows = self._all(
            "SELECT token_hash, fkey, created_at, expires_at FROM sessions WHERE user_id = ? AND (expires_at <= ?"
            " OR token_hash NOT IN (SELECT token_hash FROM sessions WHERE user_id = ? AND expires_at > ?"
            " ORDER BY created_at DESC, token_hash DESC LIMIT ?)) ORDER BY created_at, token_hash",
            (user_id, now, user_id, now, max(0, keep)),
        )
        ended = [
            LoginSession(token_hash=row[0], user_id=user_id, fkey=row[1], created_at=row[2], expires_at=row[3])
            for row in rows
        ]
        for session in ended:
            self._execute("DELETE FROM sessions WHERE token_hash = ?", (session.token_hash,))
        return ended

    def delete_sessions_of(self, user_id: UserId, *, keep_token_hash: str | None = None) -> int:
        # RETURNING, not the cursor's rowcount: a pipelined statement has no rowcount until synced.
        if keep_token_hash is None:
            ended = self._all("DELETE FROM sessions WHERE user_id = ? RETURNING token_hash", (user_id,))
        else:
            ended = self._all(
                "DELETE FROM sessions WHERE user_id = ? AND token_hash <> ? RETURNING token_hash",
                (user_id, keep_token_hash),
            )
        return len(ended)

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
        row = self._one(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id", (now, token_id)
        )
        return row is not None

    def meta(self, key: str) -> str | None:
        value = self._scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def meta_or_set(self, key: str, value: str) -> str:
        self._execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
        stored = self.meta(key)
        assert stored is not None  # just inserted, or there already
        return stored

    def set_meta(self, key: str, value: str) -> None:
        self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
