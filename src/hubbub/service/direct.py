"""Direct conversations: send, typing, history, unread counts and read markers, and channels.

A message is one DIRECT_MESSAGE event in the one log, a row in ``direct_messages``, and an
entry in the recipient's channel and (mirrored) in the sender's, all in one transaction: the
channel seqs are dense per user and assigned with the event (shared/protocol/comet.md §C.10).
A typing notice is a TYPING event and an entry in the recipient's channel only, lapsing after
``core.direct.TYPING_TTL_SECONDS``. Every rule (contacts only, a block wins, text length, the
client message id) is in ``core.direct``; the rate limit is the one room posting uses, per user.

A retry with the same (sender, client message id) returns the first message and stores
nothing: checked before a rate-limit token is taken (a retry is not a new message) and again
inside the transaction (two retries racing store one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hubbub.core.direct import (
    TYPING_TTL_SECONDS,
    Activity,
    ChannelEntry,
    ChannelHead,
    ChannelKind,
    DirectMessage,
    DirectPayload,
    Presence,
    PresenceRecord,
    Relation,
    TypingPayload,
    check_client_message_id,
    check_client_time,
    check_direct_text,
    direct_audience,
    ensure_may_message,
)
from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import EventId, UserId
from hubbub.core.markup import render_message
from hubbub.core.models import User
from hubbub.errors import NotFound, RecipientOffline, RemoteError
from hubbub.service.contacts import contact_ids, relation_between
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.presence import PresenceService, shown_presence
from hubbub.service.ratelimit import RateLimiter
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["ChannelRead", "Conversation", "Direct", "Sent"]

MAX_HISTORY: Final = 200  # messages per history page
MAX_EVENTS: Final = 500  # events per events_after answer


@dataclass(frozen=True, slots=True)
class Sent:
    """A send's outcome: the message (the first one, for a retry) and whether it was a retry."""

    message: DirectMessage
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ChannelRead:
    """One read of a channel: its bounds now, and entry ``seq`` if it is kept."""

    head: ChannelHead
    entry: ChannelEntry | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """One of a user's direct conversations, for a list: the other user, the newest message,
    how many of the other's messages are unread, and how the two stand."""

    other: User
    last: DirectMessage
    unread: int
    relation: Relation


def _check_recipient(tx: ReadTx, sender: User, recipient_id: UserId) -> User:
    recipient = tx.user(recipient_id)
    if recipient is None:
        raise NotFound("There is no such user")
    ensure_may_message(relation_between(tx, sender.id, recipient.id))
    return recipient


class Direct:
    def __init__(self, context: Context, presence: PresenceService, typing_limiter: RateLimiter) -> None:
        self._ctx = context
        self._presence = presence
        self._typing_limiter = typing_limiter

    def _trim(self, tx: WriteTx, user_id: UserId, now: int) -> None:
        settings = self._ctx.settings
        tx.trim_channel(
            user_id,
            keep_entries=settings.comet_channel_retention_entries,
            created_before=now - settings.comet_channel_retention,
        )

    async def send(
        self,
        actor_id: UserId,
        to_id: UserId,
        text: str,
        *,
        client_id: str | None = None,
        client_time: int | None = None,
        require_online: bool = False,
    ) -> Sent:
        """Send ``text`` to ``to_id`` as ``actor_id``.

        Args:
            client_id: The sender's id for this message; a retry with it returns the first one.
            client_time: The sender's clock as it sent (any unit; carried, never interpreted).
            require_online: Refuse (storing nothing) when the recipient is offline.

        Raises:
            NotLoggedIn, NotFound (no such recipient), NotAllowed (not contacts, or a block),
            EmptyMessage, TooLong, BadRequest (client id), RateLimited, RecipientOffline.
        """
        if client_id is not None:
            check_client_message_id(client_id)
            earlier = await self._ctx.store.read(lambda tx: tx.direct_message_by_client_id(actor_id, client_id))
            if earlier is not None:
                return Sent(earlier, duplicate=True)
        check_direct_text(text)
        check_client_time(client_time)
        ticket = await self._ctx.message_limiter.acquire(f"user:{actor_id}")
        clock = self._ctx.clock
        written: list[PresenceRecord] = []

        def work(tx: WriteTx, changes: Changes, now: int) -> Sent:
            sender = load_user(tx, actor_id)
            if client_id is not None:
                earlier = tx.direct_message_by_client_id(sender.id, client_id)
                if earlier is not None:
                    return Sent(earlier, duplicate=True)
            recipient = _check_recipient(tx, sender, to_id)
            if require_online and recipient.id != sender.id:
                record = tx.presence_record(recipient.id)
                if shown_presence(record, now, self._presence.timeouts) is Presence.OFFLINE:
                    raise RecipientOffline()
            message_id = tx.next_direct_message_id()
            sent_ms = max(int(clock.now() * 1000), now * 1000)
            payload = DirectPayload(
                message_id=message_id,
                text=text,
                sent_ms=sent_ms,
                client_time=client_time,
                client_id=client_id,
                to_name=recipient.name,
            )
            html = render_message(text)
            event = changes.append(
                NewEvent(
                    type=EventType.DIRECT_MESSAGE,
                    time_stamp=now,
                    user_id=sender.id,
                    user_name=sender.name,
                    target_user_id=recipient.id,
                    content=html,
                    data=payload.to_data(),
                )
            )
            message = tx.insert_direct_message(
                sender_id=sender.id,
                recipient_id=recipient.id,
                text=text,
                html=html,
                sent_ms=sent_ms,
                client_time=client_time,
                client_id=client_id,
                event_id=event.id,
                message_id=message_id,
            )
            for owner in dict.fromkeys((recipient.id, sender.id)):  # one entry when writing to oneself
                tx.append_channel_entry(owner, event, ChannelKind.MESSAGE, now)
                self._trim(tx, owner, now)
            written.append(self._presence.apply_activity(tx, changes, sender.id, Activity.ACTIVE, now))
            return Sent(message, duplicate=False)

        try:
            sent = await self._ctx.apply(work)
        except RemoteError:
            await ticket.refund()
            raise
        if sent.duplicate:
            await ticket.refund()
        for record in written:
            self._presence.note_written(record)
        return sent

    async def typing(self, actor_id: UserId, to_id: UserId, typing: bool) -> int:
        """Tell ``to_id`` that the actor started (True) or stopped typing; returns the entry's seq
        in the recipient's channel.

        Raises:
            NotLoggedIn, NotFound, NotAllowed (not contacts, or a block), RateLimited.
        """
        ticket = await self._typing_limiter.acquire(f"user:{actor_id}")

        def work(tx: WriteTx, changes: Changes, now: int) -> int:
            sender = load_user(tx, actor_id)
            recipient = _check_recipient(tx, sender, to_id)
            event = changes.append(
                NewEvent(
                    type=EventType.TYPING,
                    time_stamp=now,
                    user_id=sender.id,
                    user_name=sender.name,
                    target_user_id=recipient.id,
                    data=TypingPayload(typing=typing, to_name=recipient.name).to_data(),
                )
            )
            seq = tx.append_channel_entry(
                recipient.id, event, ChannelKind.TYPING, now, expires_at=now + TYPING_TTL_SECONDS
            )
            self._trim(tx, recipient.id, now)
            self._presence.apply_activity(tx, changes, sender.id, Activity.ACTIVE, now)
            return seq

        try:
            return await self._ctx.apply(work)
        except RemoteError:
            await ticket.refund()
            raise

    async def history(
        self, actor_id: UserId, other_id: UserId, *, before: int | None = None, limit: int = 50
    ) -> list[DirectMessage]:
        """The conversation's newest ``limit`` (at most 200) messages before message id ``before``, oldest first.

        Raises:
            NotLoggedIn, NotFound (no such user).
        """
        count = max(1, min(limit, MAX_HISTORY))

        def read(tx: ReadTx) -> list[DirectMessage]:
            load_user(tx, actor_id)
            if tx.user(other_id) is None:
                raise NotFound("There is no such user")
            return tx.direct_messages_between(actor_id, other_id, limit=count, before=before)

        return await self._ctx.store.read(read)

    async def conversations(self, actor_id: UserId) -> list[Conversation]:
        """The actor's conversations, the most recent first."""

        def read(tx: ReadTx) -> list[Conversation]:
            lasts = tx.direct_conversations(actor_id)
            unread = tx.direct_unread_counts(actor_id)
            users = tx.users({m.other(actor_id) for m in lasts})
            found: list[Conversation] = []
            for last in lasts:
                other = users.get(last.other(actor_id))
                if other is None:
                    continue
                rel = relation_between(tx, actor_id, other.id)
                found.append(
                    Conversation(
                        other=other,
                        last=last,
                        unread=unread.get(other.id, 0),
                        relation=Relation.NONE if rel is Relation.BLOCKED_BY else rel,
                    )
                )
            return found

        return await self._ctx.store.read(read)

    async def unread_counts(self, actor_id: UserId) -> dict[UserId, int]:
        """Unread direct messages per sender (senders with none left out)."""
        return await self._ctx.store.read(lambda tx: tx.direct_unread_counts(actor_id))

    async def mark_read(self, actor_id: UserId, other_id: UserId, through: int | None = None) -> int:
        """Mark ``other_id``'s messages to the actor read up to message id ``through`` (None: all);
        a marker never moves back. Appends DIRECT_READ when it moved; returns the marker.

        Raises:
            NotLoggedIn, NotFound (no such user).
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> int:
            reader = load_user(tx, actor_id)
            if tx.user(other_id) is None:
                raise NotFound("There is no such user")
            current = tx.direct_read_marker(reader.id, other_id)
            newest = tx.direct_messages_between(reader.id, other_id, limit=1)
            target = newest[-1].id if newest else 0
            if through is not None:
                target = min(target, through)
            if target <= current:
                return current
            tx.set_direct_read_marker(reader.id, other_id, target)
            changes.append(
                NewEvent(
                    type=EventType.DIRECT_READ,
                    time_stamp=now,
                    user_id=reader.id,
                    user_name=reader.name,
                    target_user_id=other_id,
                    data=str(target),
                )
            )
            return target

        return await self._ctx.apply(work)

    async def read_channel(self, user_id: UserId, seq: int) -> ChannelRead:
        """The user's channel bounds and entry ``seq`` (None when outside them), in one snapshot."""

        def read(tx: ReadTx) -> ChannelRead:
            head = tx.channel_head(user_id)
            entry = tx.channel_entry(user_id, seq) if head.first_seq <= seq < head.next_seq else None
            return ChannelRead(head, entry)

        return await self._ctx.store.read(read)

    async def events_after(self, actor_id: UserId, since: EventId, *, limit: int = MAX_EVENTS) -> list[Event]:
        """The actor's direct-conversation events after ``since``, oldest first: messages sent and
        received, typing to them, contact changes, their read markers, and presence changes of
        themselves and their contacts (the contacts of now)."""
        count = max(1, min(limit, MAX_EVENTS))

        def read(tx: ReadTx) -> list[Event]:
            contacts = contact_ids(tx, actor_id)
            events = tx.direct_events_after(actor_id, contacts, since, limit=count)
            return [
                e
                for e in events
                if actor_id in direct_audience(e) or (e.type is EventType.PRESENCE_CHANGED and e.user_id is not None)
            ]

        return await self._ctx.store.read(read)
