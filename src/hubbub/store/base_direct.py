"""The storage seam's part for direct messages (seed 004, comet): contacts, direct messages,
channels, presence and buddy-list snapshots (core/direct.py). ``store.base`` joins it into
``ReadTx`` and ``WriteTx``; tests/store/test_contract_direct.py is its contract."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from hubbub.core.direct import ChannelEntry, ChannelHead, ChannelKind, DirectMessage, PresenceRecord, Stance
from hubbub.core.events import Event
from hubbub.core.ids import EventId, UserId

__all__ = ["DirectReads", "DirectWrites"]


class DirectReads(Protocol):
    def contact_stances(self, user_id: UserId, other_id: UserId) -> tuple[Stance | None, Stance | None]:
        """(``user_id``'s stance towards ``other_id``, ``other_id``'s towards ``user_id``)."""
        ...

    def mutual_contacts(self, user_id: UserId) -> set[UserId]:
        """Whom the user and they both want as contacts (so neither blocks): the user's contacts."""
        ...

    def contact_stances_of(self, user_id: UserId) -> dict[UserId, tuple[Stance | None, Stance | None]]:
        """For every user either side holds a stance about: (mine, theirs)."""
        ...

    def has_contact(self, user_id: UserId) -> bool:
        """Whether the user has a contact: someone who and whom the user both hold ``WANT`` towards
        (``Relation.CONTACTS``). Costs one row found, not the user's every stance."""
        ...

    def direct_message(self, message_id: int) -> DirectMessage | None: ...
    def direct_message_by_client_id(self, sender_id: UserId, client_id: str) -> DirectMessage | None: ...
    def direct_messages_between(
        self, user_id: UserId, other_id: UserId, *, limit: int, before: int | None = None, after: int | None = None
    ) -> list[DirectMessage]:
        """The newest ``limit`` messages of the pair's conversation inside the bounds (ids), oldest first."""
        ...

    def direct_conversations(self, user_id: UserId) -> list[DirectMessage]:
        """The last message of each of the user's conversations, newest first."""
        ...

    def direct_read_marker(self, user_id: UserId, other_id: UserId) -> int:
        """The id through which ``user_id`` has read ``other_id``'s messages (0: none)."""
        ...

    def direct_unread_counts(self, user_id: UserId) -> dict[UserId, int]:
        """Unread messages to the user per sender (senders with none are left out)."""
        ...

    def channel_head(self, user_id: UserId) -> ChannelHead: ...
    def channel_entry(self, user_id: UserId, seq: int) -> ChannelEntry | None:
        """Entry ``seq`` of the user's channel; None when not (or no longer) kept."""
        ...

    def presence_record(self, user_id: UserId) -> PresenceRecord:
        """The stored presence (a never-seen user: offline)."""
        ...

    def presence_records(self, user_ids: Collection[UserId]) -> dict[UserId, PresenceRecord]: ...
    def presence_lapsing(self, now: int, active_before: int, *, limit: int) -> list[PresenceRecord]:
        """Records not offline whose sighting ended by ``now``, or online ones last active by
        ``active_before``: what time alone changes."""
        ...

    def buddy_snapshot(self, session_key: str) -> str | None:
        """What the session's last buddy list showed as available (JSON, its writer's format)."""
        ...

    def direct_events_after(
        self, user_id: UserId, contact_ids: Collection[UserId], since: EventId, *, limit: int
    ) -> list[Event]:
        """Events after ``since`` about the user's direct conversations (sent, received, typing, contacts,
        read markers) and presence changes of the user and of ``contact_ids``, oldest first."""
        ...


class DirectWrites(Protocol):
    def set_contact_stance(self, user_id: UserId, other_id: UserId, stance: Stance | None, now: int) -> None: ...
    def next_direct_message_id(self) -> int:
        """Hand out a direct message id (its event, appended next, names it)."""
        ...

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
    ) -> DirectMessage: ...
    def set_direct_read_marker(self, user_id: UserId, other_id: UserId, through: int) -> None: ...
    def append_channel_entry(
        self, user_id: UserId, event: Event, kind: ChannelKind, now: int, *, expires_at: int | None = None
    ) -> int:
        """Give ``event`` the user's next channel seq (dense, in this transaction) and return it."""
        ...

    def trim_channel(self, user_id: UserId, *, keep_entries: int, created_before: int) -> int:
        """Drop the channel's entries that are older than the newest ``keep_entries`` and created
        before ``created_before``, at most 500 of them, oldest first; return how many. (It runs with
        each entry appended, so it keeps up; its cost stays bounded.)"""
        ...

    def put_presence(self, record: PresenceRecord) -> None: ...
    def put_buddy_snapshot(self, session_key: str, available: str, now: int) -> None: ...
    def purge_buddy_snapshots(self, before: int) -> int:
        """Forget snapshots last written before ``before``; return how many."""
        ...
