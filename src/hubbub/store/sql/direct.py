"""Queries about contacts, direct messages, read markers, channels and presence (migration 0006).

A channel entry's seq comes from its channel's head row, read and moved in the write
transaction that appends the entry's event; write transactions are serialised (store/writer.py,
docs/design/ordering.md), so seqs are dense per user and an entry never becomes visible after a
later one of the same channel.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from hubbub.core.direct import (
    DIRECT_EVENT_TYPES,
    ChannelEntry,
    ChannelHead,
    ChannelKind,
    DirectMessage,
    Presence,
    PresenceRecord,
    Stance,
)
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.rows import event_from_json

_DM_COLUMNS: Final = "id, sender_id, recipient_id, text, html, sent_ms, client_time, client_id, event_id"
_PRESENCE_COLUMNS: Final = "user_id, state, seen_until, active_at, visible, changed_at"


def _message(row: Any) -> DirectMessage:
    return DirectMessage(
        id=int(row[0]),
        sender_id=UserId(row[1]),
        recipient_id=UserId(row[2]),
        text=row[3],
        html=row[4],
        sent_ms=int(row[5]),
        client_time=None if row[6] is None else int(row[6]),
        client_id=row[7],
        event_id=EventId(row[8]),
    )


def _presence(row: Any) -> PresenceRecord:
    return PresenceRecord(
        user_id=UserId(row[0]),
        state=Presence(row[1]),
        seen_until=int(row[2]),
        active_at=int(row[3]),
        visible=bool(row[4]),
        changed_at=int(row[5]),
    )


TRIM_BATCH: Final = 500  # channel entries one trim may drop (it runs with every entry appended)


class DirectSql(SqlBase):
    # contacts

    def contact_stances(self, user_id: UserId, other_id: UserId) -> tuple[Stance | None, Stance | None]:
        rows = self._all(
            "SELECT user_id, stance FROM contacts"
            " WHERE (user_id = ? AND other_id = ?) OR (user_id = ? AND other_id = ?)",
            (user_id, other_id, other_id, user_id),
        )
        stances = {UserId(row[0]): Stance(row[1]) for row in rows}
        return stances.get(user_id), stances.get(other_id)

    def contact_stances_of(self, user_id: UserId) -> dict[UserId, tuple[Stance | None, Stance | None]]:
        rows = self._all(
            "SELECT user_id, other_id, stance FROM contacts WHERE user_id = ? OR other_id = ?", (user_id, user_id)
        )
        found: dict[UserId, tuple[Stance | None, Stance | None]] = {}
        for owner, other, stance in rows:
            if owner == user_id:
                key = UserId(other)
                found[key] = (Stance(stance), found.get(key, (None, None))[1])
            else:
                key = UserId(owner)
                found[key] = (found.get(key, (None, None))[0], Stance(stance))
        return found

    def mutual_contacts(self, user_id: UserId) -> set[UserId]:
        # From the user's own stances, each matched with the other's: requests anyone can send the
        # user (their rows name the user as other_id) are never walked.
        rows = self._all(
            "SELECT mine.other_id FROM contacts mine JOIN contacts theirs"
            " ON theirs.user_id = mine.other_id AND theirs.other_id = mine.user_id"
            " WHERE mine.user_id = ? AND mine.stance = ? AND theirs.stance = ?",
            (user_id, Stance.WANT.value, Stance.WANT.value),
        )
        return {UserId(row[0]) for row in rows}

    def has_contact(self, user_id: UserId) -> bool:
        # Two WANTs are a contact (core/contacts.py, ``relation``); either side's BLOCK replaces its WANT.
        row = self._one(
            "SELECT 1 FROM contacts mine JOIN contacts theirs"
            " ON theirs.user_id = mine.other_id AND theirs.other_id = mine.user_id"
            " WHERE mine.user_id = ? AND mine.stance = ? AND theirs.stance = ? LIMIT 1",
            (user_id, Stance.WANT.value, Stance.WANT.value),
        )
        return row is not None

    def set_contact_stance(self, user_id: UserId, other_id: UserId, stance: Stance | None, now: int) -> None:
        if stance is None:
            self._execute("DELETE FROM contacts WHERE user_id = ? AND other_id = ?", (user_id, other_id))
            return
        self._execute(
            "INSERT INTO contacts (user_id, other_id, stance, since) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, other_id) DO UPDATE SET stance = excluded.stance, since = excluded.since",
            (user_id, other_id, str(stance), now),
        )

    # direct messages

    def direct_message(self, message_id: int) -> DirectMessage | None:
        row = self._one(f"SELECT {_DM_COLUMNS} FROM direct_messages WHERE id = ?", (message_id,))
        return None if row is None else _message(row)

    def direct_message_by_client_id(self, sender_id: UserId, client_id: str) -> DirectMessage | None:
        row = self._one(
            f"SELECT {_DM_COLUMNS} FROM direct_messages WHERE sender_id = ? AND client_id = ?", (sender_id, client_id)
        )
        return None if row is None else _message(row)

    def direct_messages_between(
        self, user_id: UserId, other_id: UserId, *, limit: int, before: int | None = None, after: int | None = None
    ) -> list[DirectMessage]:
        low, high = sorted((int(user_id), int(other_id)))
        rows = self._all(
            f"SELECT {_DM_COLUMNS} FROM direct_messages WHERE low_id = ? AND high_id = ? AND id < ? AND id > ?"
            " ORDER BY id DESC LIMIT ?",
            (low, high, 2**62 if before is None else before, -1 if after is None else after, limit),
        )
        return [_message(row) for row in reversed(rows)]

    def direct_conversations(self, user_id: UserId) -> list[DirectMessage]:
        rows = self._all(
            f"SELECT {_DM_COLUMNS} FROM direct_messages WHERE id IN ("
            " SELECT MAX(id) FROM direct_messages WHERE low_id = ? OR high_id = ? GROUP BY low_id, high_id"
            ") ORDER BY id DESC",
            (user_id, user_id),
        )
        return [_message(row) for row in rows]

    def insert_direct_message(
        self,
        *,
        sender_id: UserId,
        recipient_id: UserId,
        text: str,
        html: str,
        sent_ms: int,
        client_time: int | None,
        client_id: str | None,
        event_id: EventId,
        message_id: int,
    ) -> DirectMessage:
        message = DirectMessage(
            id=message_id,
            sender_id=sender_id,
            recipient_id=recipient_id,
            text=text,
            html=html,
            sent_ms=sent_ms,
            client_time=client_time,
            client_id=client_id,
            event_id=event_id,
        )
        low, high = sorted((int(sender_id), int(recipient_id)))
        self._execute(
            f"INSERT INTO direct_messages ({_DM_COLUMNS}, low_id, high_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message.id,
                message.sender_id,
                message.recipient_id,
                message.text,
                message.html,
                message.sent_ms,
                message.client_time,
                message.client_id,
                message.event_id,
                low,
                high,
            ),
        )
        return message

    def next_direct_message_id(self) -> int:
        """The id the next direct message of this transaction takes (its event is appended first)."""
        return self._next_id("direct_message")

    # read markers and unread counts

    def direct_read_marker(self, user_id: UserId, other_id: UserId) -> int:
        value = self._scalar(
            "SELECT read_through FROM direct_reads WHERE user_id = ? AND other_id = ?", (user_id, other_id)
        )
        return 0 if value is None else int(value)

    def set_direct_read_marker(self, user_id: UserId, other_id: UserId, through: int) -> None:
        self._execute(
            "INSERT INTO direct_reads (user_id, other_id, read_through) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, other_id) DO UPDATE SET read_through = excluded.read_through",
            (user_id, other_id, through),
        )

    def direct_unread_counts(self, user_id: UserId) -> dict[UserId, int]:
        rows = self._all(
            "SELECT m.sender_id, COUNT(*) FROM direct_messages m"
            " LEFT JOIN direct_reads r ON r.user_id = m.recipient_id AND r.other_id = m.sender_id"
            " WHERE m.recipient_id = ? AND m.sender_id <> m.recipient_id AND m.id > COALESCE(r.read_through, 0)"
            " GROUP BY m.sender_id",
            (user_id,),
        )
        return {UserId(row[0]): int(row[1]) for row in rows}

    # channels

    def channel_head(self, user_id: UserId) -> ChannelHead:
        row = self._one("SELECT next_seq, first_seq FROM channel_heads WHERE user_id = ?", (user_id,))
        return ChannelHead() if row is None else ChannelHead(int(row[0]), int(row[1]))

    def channel_entry(self, user_id: UserId, seq: int) -> ChannelEntry | None:
        row = self._one(
            "SELECT c.kind, c.expires_at, e.body FROM channel_entries c JOIN events e ON e.id = c.event_id"
            " WHERE c.user_id = ? AND c.seq = ?",
            (user_id, seq),
        )
        if row is None:
            return None
        return ChannelEntry(
            user_id=user_id,
            seq=seq,
            kind=ChannelKind(row[0]),
            event=event_from_json(row[2]),
            expires_at=None if row[1] is None else int(row[1]),
        )

    def append_channel_entry(
        self, user_id: UserId, event: Event, kind: ChannelKind, now: int, *, expires_at: int | None = None
    ) -> int:
        head = self.channel_head(user_id)
        seq = head.next_seq
        self._execute(
            "INSERT INTO channel_entries (user_id, seq, kind, event_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, seq, str(kind), event.id, now, expires_at),
        )
        self._execute(
            "INSERT INTO channel_heads (user_id, next_seq, first_seq) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET next_seq = excluded.next_seq",
            (user_id, seq + 1, head.first_seq),
        )
        return seq

    def trim_channel(self, user_id: UserId, *, keep_entries: int, created_before: int) -> int:
        head = self.channel_head(user_id)
        # At most TRIM_BATCH seqs from the oldest: the rows walked are bounded too, where the whole
        # range below the cutoff was walked on every call, recent entries that stay included.
        cutoff = min(head.next_seq - keep_entries, head.first_seq + TRIM_BATCH)
        if cutoff <= head.first_seq:
            return 0
        oldest = self._scalar(
            "SELECT created_at FROM channel_entries WHERE user_id = ? AND seq = ?", (user_id, head.first_seq)
        )
        if oldest is not None and int(oldest) >= created_before:
            return 0  # created_at never decreases along a channel (below): nothing is old enough
        removed = self._all(
            "DELETE FROM channel_entries WHERE user_id = ? AND seq >= ? AND seq < ? AND created_at < ? RETURNING seq",
            (user_id, head.first_seq, cutoff, created_before),
        )
        if not removed:
            return 0
        # Entries go in seq order and created_at never decreases along a channel: what is left
        # starts right after the highest seq removed.
        first = max(int(row[0]) for row in removed) + 1
        self._execute("UPDATE channel_heads SET first_seq = ? WHERE user_id = ?", (first, user_id))
        return len(removed)

    # presence

    def presence_record(self, user_id: UserId) -> PresenceRecord:
        row = self._one(f"SELECT {_PRESENCE_COLUMNS} FROM presence WHERE user_id = ?", (user_id,))
        return PresenceRecord(user_id=user_id) if row is None else _presence(row)

    def presence_records(self, user_ids: Collection[UserId]) -> dict[UserId, PresenceRecord]:
        if not user_ids:
            return {}
        where, params = self._dialect.member_of("user_id", user_ids)
        rows = self._all(f"SELECT {_PRESENCE_COLUMNS} FROM presence WHERE {where}", params)
        found = {UserId(row[0]): _presence(row) for row in rows}
        return {user_id: found.get(user_id, PresenceRecord(user_id=user_id)) for user_id in user_ids}

    def presence_lapsing(self, now: int, active_before: int, *, limit: int) -> list[PresenceRecord]:
        rows = self._all(
            f"SELECT {_PRESENCE_COLUMNS} FROM presence WHERE state <> ?"
            " AND (seen_until <= ? OR (state = ? AND active_at <= ?)) ORDER BY user_id LIMIT ?",
            (str(Presence.OFFLINE), now, str(Presence.ONLINE), active_before, limit),
        )
        return [_presence(row) for row in rows]

    def put_presence(self, record: PresenceRecord) -> None:
        self._execute(
            f"INSERT INTO presence ({_PRESENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, seen_until = excluded.seen_until,"
            " active_at = excluded.active_at, visible = excluded.visible, changed_at = excluded.changed_at",
            (
                record.user_id,
                str(record.state),
                record.seen_until,
                record.active_at,
                record.visible,
                record.changed_at,
            ),
        )

    # buddy-list snapshots

    def buddy_snapshot(self, session_key: str) -> str | None:
        value = self._scalar("SELECT available FROM buddy_list_snapshots WHERE session_key = ?", (session_key,))
        return None if value is None else str(value)

    def put_buddy_snapshot(self, session_key: str, available: str, now: int) -> None:
        self._execute(
            "INSERT INTO buddy_list_snapshots (session_key, available, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (session_key) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at",
            (session_key, available, now),
        )

    def purge_buddy_snapshots(self, before: int) -> int:
        return len(self._all("DELETE FROM buddy_list_snapshots WHERE updated_at < ? RETURNING session_key", (before,)))

    # the direct-conversation view of the log

    def direct_events_after(
        self, user_id: UserId, contact_ids: Collection[UserId], since: EventId, *, limit: int
    ) -> list[Event]:
        kinds = [int(t) for t in DIRECT_EVENT_TYPES if t is not EventType.PRESENCE_CHANGED]
        where_kind, kind_params = self._dialect.member_of("event_type", kinds)
        people = {int(user_id), *(int(c) for c in contact_ids)}
        where_people, people_params = self._dialect.member_of("user_id", people)
        rows = self._all(
            f"SELECT body FROM events WHERE id > ? AND ("
            f" ({where_kind} AND (user_id = ? OR target_user_id = ?))"
            f" OR (event_type = ? AND {where_people})"
            ") ORDER BY id LIMIT ?",
            (since, *kind_params, user_id, user_id, int(EventType.PRESENCE_CHANGED), *people_params, limit),
        )
        return [event_from_json(row[0]) for row in rows]
