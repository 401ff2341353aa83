"""Queries about streams, network accounts, shares, viewer counts and streams API tokens."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Final

from hubbub.core.ids import RoomId, UserId
from hubbub.core.mentions import ping_key
from hubbub.core.models import User
from hubbub.core.streams import ChatLevel, LiveState, NetworkAccount, Stream, StreamShare
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.rows import USER_COLUMNS, user_from_row

_STREAM: Final = (
    "id, room_id, owner_id, name, slug, stream_key, data_pulling, data_pushing, data_incoming, created_at, updated_at"
)
_ACCOUNT: Final = "id, owner_id, network, name, http_url, settings, created_at"
_SHARE: Final = "stream_id, user_id, chat_level, metadata_level"


def _stream(row: Any) -> Stream:
    return Stream(
        id=int(row[0]),
        room_id=RoomId(row[1]),
        owner_id=UserId(row[2]),
        name=row[3],
        slug=row[4],
        stream_key=row[5],
        state=LiveState(data_pulling=bool(row[6]), data_pushing=bool(row[7]), data_incoming=bool(row[8])),
        created_at=int(row[9]),
        updated_at=int(row[10]),
    )


def _account(row: Any) -> NetworkAccount:
    return NetworkAccount(
        id=int(row[0]),
        owner_id=UserId(row[1]),
        network=row[2],
        name=row[3],
        http_url=row[4],
        settings=row[5],
        created_at=int(row[6]),
    )


def _share(row: Any) -> StreamShare:
    return StreamShare(
        stream_id=int(row[0]), user_id=UserId(row[1]), chat_level=ChatLevel(int(row[2])), metadata_level=int(row[3])
    )


class StreamsSql(SqlBase):
    # streams API tokens

    def access_token_of(self, user_id: UserId) -> str | None:
        value = self._scalar("SELECT token FROM access_tokens WHERE user_id = ?", (user_id,))
        return None if value is None else str(value)

    def user_by_access_token(self, token: str) -> UserId | None:
        value = self._scalar("SELECT user_id FROM access_tokens WHERE token = ?", (token,))
        return None if value is None else UserId(value)

    def access_tokens(self) -> list[tuple[UserId, str]]:
        rows = self._all("SELECT user_id, token FROM access_tokens ORDER BY user_id")
        return [(UserId(row[0]), str(row[1])) for row in rows]

    def set_access_token(self, user_id: UserId, token: str, now: int) -> None:
        self._execute(
            "INSERT INTO access_tokens (user_id, token, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET token = excluded.token, created_at = excluded.created_at",
            (user_id, token, now),
        )

    def user_by_name(self, name: str) -> User | None:
        # Names equal in any case have equal ping keys: users_ping_key narrows the search to them.
        lower = self._dialect.lower
        row = self._one(
            f"SELECT {USER_COLUMNS} FROM users WHERE ping_key = ? AND {lower}(name) = {lower}(?) ORDER BY id LIMIT 1",
            (ping_key(name), name),
        )
        return None if row is None else user_from_row(row)

    # streams

    def stream(self, stream_id: int) -> Stream | None:
        row = self._one(f"SELECT {_STREAM} FROM streams WHERE id = ?", (stream_id,))
        return None if row is None else _stream(row)

    def stream_of_room(self, room_id: RoomId) -> Stream | None:
        row = self._one(f"SELECT {_STREAM} FROM streams WHERE room_id = ?", (room_id,))
        return None if row is None else _stream(row)

    def stream_by_key(self, stream_key: str) -> Stream | None:
        row = self._one(f"SELECT {_STREAM} FROM streams WHERE stream_key = ?", (stream_key,))
        return None if row is None else _stream(row)

    def list_streams(self, *, owner_id: UserId | None = None) -> list[Stream]:
        if owner_id is None:
            rows = self._all(f"SELECT {_STREAM} FROM streams ORDER BY id")
        else:
            rows = self._all(f"SELECT {_STREAM} FROM streams WHERE owner_id = ? ORDER BY id", (owner_id,))
        return [_stream(row) for row in rows]

    def streams_by_id(self, stream_ids: Collection[int]) -> dict[int, Stream]:
        if not stream_ids:
            return {}
        where, params = self._dialect.member_of("id", set(stream_ids))
        rows = self._all(f"SELECT {_STREAM} FROM streams WHERE {where}", params)
        return {stream.id: stream for stream in map(_stream, rows)}

    def insert_stream(
        self, *, room_id: RoomId, owner_id: UserId, name: str, slug: str, stream_key: str, now: int
    ) -> Stream:
        stream = Stream(
            id=self._next_id("stream"),
            room_id=room_id,
            owner_id=owner_id,
            name=name,
            slug=slug,
            stream_key=stream_key,
            created_at=now,
            updated_at=now,
        )
        self._execute(
            f"INSERT INTO streams ({_STREAM}) VALUES (?, ?, ?, ?, ?, ?, FALSE, FALSE, FALSE, ?, ?)",
            (stream.id, room_id, owner_id, name, slug, stream_key, now, now),
        )
        return stream

    def update_stream(self, stream: Stream) -> None:
        state = stream.state
        self._execute(
            "UPDATE streams SET name = ?, slug = ?, stream_key = ?, data_pulling = ?, data_pushing = ?,"
            " data_incoming = ?, updated_at = ? WHERE id = ?",
            (
                stream.name,
                stream.slug,
                stream.stream_key,
                state.data_pulling,
                state.data_pushing,
                state.data_incoming,
                stream.updated_at,
                stream.id,
            ),
        )

    def delete_stream(self, stream_id: int) -> None:
        for table in ("stream_accounts", "stream_shares", "stream_viewcounts", "stream_webhooks"):
            self._execute(f"DELETE FROM {table} WHERE stream_id = ?", (stream_id,))
        self._execute("DELETE FROM streams WHERE id = ?", (stream_id,))

    # network accounts

    def network_account(self, account_id: int) -> NetworkAccount | None:
        row = self._one(f"SELECT {_ACCOUNT} FROM network_accounts WHERE id = ?", (account_id,))
        return None if row is None else _account(row)

    def network_accounts(self, owner_id: UserId) -> list[NetworkAccount]:
        rows = self._all(f"SELECT {_ACCOUNT} FROM network_accounts WHERE owner_id = ? ORDER BY id", (owner_id,))
        return [_account(row) for row in rows]

    def network_accounts_by_id(self, account_ids: Collection[int]) -> dict[int, NetworkAccount]:
        if not account_ids:
            return {}
        where, params = self._dialect.member_of("id", set(account_ids))
        rows = self._all(f"SELECT {_ACCOUNT} FROM network_accounts WHERE {where}", params)
        return {account.id: account for account in map(_account, rows)}

    def insert_network_account(
        self, *, owner_id: UserId, network: str, name: str, http_url: str | None, settings: str, now: int
    ) -> NetworkAccount:
        account = NetworkAccount(
            id=self._next_id("network_account"),
            owner_id=owner_id,
            network=network,
            name=name,
            http_url=http_url,
            settings=settings,
            created_at=now,
        )
        self._execute(
            f"INSERT INTO network_accounts ({_ACCOUNT}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account.id, owner_id, network, name, http_url, settings, now),
        )
        return account

    def update_network_account(self, account: NetworkAccount) -> None:
        self._execute(
            "UPDATE network_accounts SET name = ?, http_url = ?, settings = ? WHERE id = ?",
            (account.name, account.http_url, account.settings, account.id),
        )

    def delete_network_account(self, account_id: int) -> None:
        self._execute("DELETE FROM stream_accounts WHERE account_id = ?", (account_id,))
        self._execute("DELETE FROM network_accounts WHERE id = ?", (account_id,))

    def stream_account_ids(self, stream_id: int) -> list[int]:
        rows = self._all("SELECT account_id FROM stream_accounts WHERE stream_id = ? ORDER BY account_id", (stream_id,))
        return [int(row[0]) for row in rows]

    def streams_of_account(self, account_id: int) -> list[int]:
        rows = self._all("SELECT stream_id FROM stream_accounts WHERE account_id = ? ORDER BY stream_id", (account_id,))
        return [int(row[0]) for row in rows]

    def set_stream_accounts(self, stream_id: int, account_ids: Sequence[int]) -> None:
        self._execute("DELETE FROM stream_accounts WHERE stream_id = ?", (stream_id,))
        for account_id in sorted(set(account_ids)):
            self._execute("INSERT INTO stream_accounts (stream_id, account_id) VALUES (?, ?)", (stream_id, account_id))

    # shares

    def stream_shares(self, stream_id: int) -> list[StreamShare]:
        rows = self._all(f"SELECT {_SHARE} FROM stream_shares WHERE stream_id = ? ORDER BY user_id", (stream_id,))
        return [_share(row) for row in rows]

    def stream_share(self, stream_id: int, user_id: UserId) -> StreamShare | None:
        row = self._one(f"SELECT {_SHARE} FROM stream_shares WHERE stream_id = ? AND user_id = ?", (stream_id, user_id))
        return None if row is None else _share(row)

    def shares_of_user(self, user_id: UserId) -> list[StreamShare]:
        rows = self._all(f"SELECT {_SHARE} FROM stream_shares WHERE user_id = ? ORDER BY stream_id", (user_id,))
        return [_share(row) for row in rows]

    def set_stream_share(self, share: StreamShare) -> None:
        self._execute(
            f"INSERT INTO stream_shares ({_SHARE}) VALUES (?, ?, ?, ?) ON CONFLICT (stream_id, user_id)"
            " DO UPDATE SET chat_level = excluded.chat_level, metadata_level = excluded.metadata_level",
            (share.stream_id, share.user_id, int(share.chat_level), share.metadata_level),
        )

    def delete_stream_share(self, stream_id: int, user_id: UserId) -> None:
        self._execute("DELETE FROM stream_shares WHERE stream_id = ? AND user_id = ?", (stream_id, user_id))

    # viewer counts

    def viewcounts(self, stream_id: int) -> dict[int, int]:
        rows = self._all(
            "SELECT account_id, viewer_count FROM stream_viewcounts WHERE stream_id = ? ORDER BY account_id",
            (stream_id,),
        )
        return {int(row[0]): int(row[1]) for row in rows}

    def set_viewcount(self, stream_id: int, account_id: int, viewer_count: int, now: int) -> None:
        self._execute(
            "INSERT INTO stream_viewcounts (stream_id, account_id, viewer_count, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (stream_id, account_id)"
            " DO UPDATE SET viewer_count = excluded.viewer_count, updated_at = excluded.updated_at",
            (stream_id, account_id, viewer_count, now),
        )

    # bridge leases

    def claim_lease(self, name: str, holder: str, now: int, ttl: int) -> bool:
        row = self._one("SELECT holder, expires_at FROM bridge_leases WHERE name = ?", (name,))
        if row is not None and row[0] != holder and int(row[1]) > now:
            return False
        self._execute(
            "INSERT INTO bridge_leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name)"
            " DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            (name, holder, now + ttl),
        )
        return True

    def release_lease(self, name: str, holder: str) -> None:
        self._execute("DELETE FROM bridge_leases WHERE name = ? AND holder = ?", (name, holder))
