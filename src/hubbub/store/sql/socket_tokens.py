"""Queries about socket URLs handed out and not opened yet (``/ws-auth``, ``/realtime/auth``).

A row lives from the moment its URL is handed out until the URL is opened (the row
is taken, so a URL opens one socket, once), revoked, or expired. The table is
therefore small: what users asked for in the last ``ws_token_ttl_seconds``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import SocketToken
from hubbub.store.sql.base import SqlBase

_COLUMNS: Final = "token_hash, seq, user_id, room_id, session_key, issued_at, expires_at"


def _token(row: Any) -> SocketToken:
    return SocketToken(
        token_hash=row[0],
        seq=int(row[1]),
        user_id=UserId(row[2]),
        room_id=None if row[3] is None else RoomId(row[3]),
        session_key=row[4],
        issued_at=int(row[5]),
        expires_at=int(row[6]),
    )


class SocketTokensSql(SqlBase):
    def socket_tokens_of(self, user_id: UserId) -> list[SocketToken]:
        rows = self._all(f"SELECT {_COLUMNS} FROM socket_tokens WHERE user_id = ? ORDER BY seq", (user_id,))
        return [_token(row) for row in rows]

    def socket_tokens_for_room(self, room_id: RoomId) -> list[SocketToken]:
        rows = self._all(f"SELECT {_COLUMNS} FROM socket_tokens WHERE room_id = ? ORDER BY seq", (room_id,))
        return [_token(row) for row in rows]

    def insert_socket_token(
        self,
        *,
        token_hash: str,
        user_id: UserId,
        room_id: RoomId | None,
        session_key: str,
        issued_at: int,
        expires_at: int,
    ) -> SocketToken:
        token = SocketToken(
            token_hash=token_hash,
            seq=self._next_id("socket_token"),
            user_id=user_id,
            room_id=room_id,
            session_key=session_key,
            issued_at=issued_at,
            expires_at=expires_at,
        )
        self._execute(
            f"INSERT INTO socket_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                token.token_hash,
                token.seq,
                token.user_id,
                token.room_id,
                token.session_key,
                token.issued_at,
                token.expires_at,
            ),
        )
        return token

    def take_socket_token(self, token_hash: str) -> SocketToken | None:
        row = self._one(f"DELETE FROM socket_tokens WHERE token_hash = ? RETURNING {_COLUMNS}", (token_hash,))
        return None if row is None else _token(row)

    def delete_socket_tokens(self, token_hashes: Collection[str]) -> int:
        if not token_hashes:
            return 0
        # RETURNING, not the cursor's rowcount: a pipelined statement has no rowcount until synced.
        where, params = self._dialect.member_of_texts("token_hash", token_hashes)
        return len(self._all(f"DELETE FROM socket_tokens WHERE {where} RETURNING token_hash", params))

    def purge_socket_tokens(self, now: int) -> int:
        return len(self._all("DELETE FROM socket_tokens WHERE expires_at <= ? RETURNING token_hash", (now,)))
