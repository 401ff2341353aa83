"""The Store contract for contacts, direct messages, channels and presence (migration 0006), on every engine.

Above all: channel seqs are dense per user, assigned with the event in one transaction, and
never visible out of order, even with writers on two nodes over one database.
"""

from __future__ import annotations

import asyncio

from hubbub.core.direct import ChannelHead, ChannelKind, Presence, PresenceRecord, Stance
from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import EventId, UserId
from hubbub.store.base import Store, WriteTx
from hubbub.store.sql.direct import TRIM_BATCH
from tests.store.conftest import Opener

A, B, C = UserId(1), UserId(2), UserId(3)


def _dm(tx: WriteTx, sender: UserId, recipient: UserId, text: str, client_id: str | None = None) -> Event:
    """What the service does for one message: event, row, an entry in each end's channel."""
    message_id = tx.next_direct_message_id()
    event = tx.append(
        NewEvent(type=EventType.DIRECT_MESSAGE, time_stamp=100, user_id=sender, target_user_id=recipient, data=text)
    )
    tx.insert_direct_message(
        sender_id=sender,
        recipient_id=recipient,
        text=text,
        html=text,
        sent_ms=100_000 + message_id,
        client_time=None,
        client_id=client_id,
        event_id=event.id,
        message_id=message_id,
    )
    for owner in dict.fromkeys((recipient, sender)):
        tx.append_channel_entry(owner, event, ChannelKind.MESSAGE, 100)
    return event


async def test_contact_stances_both_ways(store: Store) -> None:
    await store.write(lambda tx: tx.set_contact_stance(A, B, Stance.WANT, 5))
    assert await store.read(lambda tx: tx.contact_stances(A, B)) == (Stance.WANT, None)
    assert await store.read(lambda tx: tx.contact_stances(B, A)) == (None, Stance.WANT)

    def more(tx: WriteTx) -> None:
        tx.set_contact_stance(B, A, Stance.WANT, 6)
        tx.set_contact_stance(C, A, Stance.BLOCK, 6)

    await store.write(more)
    assert await store.read(lambda tx: tx.contact_stances_of(A)) == {
        B: (Stance.WANT, Stance.WANT),
        C: (None, Stance.BLOCK),
    }
    await store.write(lambda tx: tx.set_contact_stance(A, B, Stance.BLOCK, 7))  # replaced in place
    await store.write(lambda tx: tx.set_contact_stance(C, A, None, 7))
    assert await store.read(lambda tx: tx.contact_stances_of(A)) == {B: (Stance.BLOCK, Stance.WANT)}


async def test_has_contact_is_two_wants(store: Store) -> None:
    async def contacts() -> list[bool]:
        return await store.read(lambda tx: [tx.has_contact(user) for user in (A, B, C)])

    assert await contacts() == [False, False, False]
    await store.write(lambda tx: tx.set_contact_stance(A, B, Stance.WANT, 5))  # a request, not yet a contact
    await store.write(lambda tx: tx.set_contact_stance(C, A, Stance.WANT, 5))
    assert await contacts() == [False, False, False]
    await store.write(lambda tx: tx.set_contact_stance(B, A, Stance.WANT, 6))
    assert await contacts() == [True, True, False]
    await store.write(lambda tx: tx.set_contact_stance(B, A, Stance.BLOCK, 7))
    assert await contacts() == [False, False, False]
    await store.write(lambda tx: tx.set_contact_stance(A, C, Stance.WANT, 8))
    assert await contacts() == [True, False, True]


async def test_messages_history_conversations_and_client_ids(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        _dm(tx, A, B, "one", "c1")
        _dm(tx, B, A, "two")
        _dm(tx, A, C, "three")
        _dm(tx, A, B, "four", "c2")

    await store.write(work)
    between = await store.read(lambda tx: tx.direct_messages_between(B, A, limit=10))
    assert [m.text for m in between] == ["one", "two", "four"]
    older = await store.read(lambda tx: tx.direct_messages_between(A, B, limit=1, before=between[-1].id))
    assert [m.text for m in older] == ["two"]
    newer = await store.read(lambda tx: tx.direct_messages_between(A, B, limit=10, after=between[0].id))
    assert [m.text for m in newer] == ["two", "four"]
    retry = await store.read(lambda tx: tx.direct_message_by_client_id(A, "c1"))
    assert retry is not None and retry.text == "one" and retry.recipient_id == B
    assert await store.read(lambda tx: tx.direct_message_by_client_id(B, "c1")) is None
    latest = await store.read(lambda tx: tx.direct_conversations(A))
    assert [m.text for m in latest] == ["four", "three"]
    assert await store.read(lambda tx: tx.direct_message(between[1].id)) == between[1]


async def test_unread_counts_follow_the_read_marker(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        _dm(tx, B, A, "b1")
        _dm(tx, B, A, "b2")
        _dm(tx, C, A, "c1")
        _dm(tx, A, B, "mine")
        _dm(tx, A, A, "note to self")

    await store.write(work)
    assert await store.read(lambda tx: tx.direct_unread_counts(A)) == {B: 2, C: 1}
    first = (await store.read(lambda tx: tx.direct_messages_between(A, B, limit=10)))[0]
    await store.write(lambda tx: tx.set_direct_read_marker(A, B, first.id))
    assert await store.read(lambda tx: tx.direct_read_marker(A, B)) == first.id
    assert await store.read(lambda tx: tx.direct_unread_counts(A)) == {B: 1, C: 1}
    await store.write(lambda tx: tx.set_direct_read_marker(A, B, first.id + 100))
    assert await store.read(lambda tx: tx.direct_unread_counts(A)) == {C: 1}
    assert await store.read(lambda tx: tx.direct_read_marker(A, C)) == 0


async def test_channel_seqs_are_dense_per_user_and_mirrored(store: Store) -> None:
    assert await store.read(lambda tx: tx.channel_head(A)) == ChannelHead(0, 0)

    def work(tx: WriteTx) -> list[Event]:
        return [_dm(tx, A, B, "ab"), _dm(tx, B, A, "ba"), _dm(tx, A, A, "self"), _dm(tx, C, B, "cb")]

    events = await store.write(work)
    assert await store.read(lambda tx: tx.channel_head(A)) == ChannelHead(3, 0)
    assert await store.read(lambda tx: tx.channel_head(B)) == ChannelHead(3, 0)
    entries = [await store.read(lambda tx, s=s: tx.channel_entry(A, s)) for s in range(3)]
    assert [e.event.id if e else None for e in entries] == [events[0].id, events[1].id, events[2].id]
    assert await store.read(lambda tx: tx.channel_entry(A, 3)) is None
    typing = await store.write(
        lambda tx: tx.append_channel_entry(
            B,
            tx.append(NewEvent(type=EventType.TYPING, time_stamp=5, user_id=A, target_user_id=B)),
            ChannelKind.TYPING,
            5,
            expires_at=35,
        )
    )
    assert typing == 3
    entry = await store.read(lambda tx: tx.channel_entry(B, 3))
    assert entry is not None and entry.kind is ChannelKind.TYPING and entry.expires_at == 35
    assert entry.lapsed(35) and not entry.lapsed(34)


async def test_trimming_keeps_the_newest_or_the_young(store: Store) -> None:
    async def append_at(at: int) -> None:
        def work(tx: WriteTx) -> None:
            event = tx.append(NewEvent(type=EventType.TYPING, time_stamp=at, user_id=B, target_user_id=A))
            tx.append_channel_entry(A, event, ChannelKind.TYPING, at)

        await store.write(work)

    for at in (10, 20, 30, 40, 50):
        await append_at(at)
    # Keep the newest 2 or those created at 30 or later: seqs 2, 3, 4 stay.
    assert await store.write(lambda tx: tx.trim_channel(A, keep_entries=2, created_before=30)) == 2
    assert await store.read(lambda tx: tx.channel_head(A)) == ChannelHead(5, 2)
    assert await store.read(lambda tx: tx.channel_entry(A, 1)) is None
    assert await store.read(lambda tx: tx.channel_entry(A, 2)) is not None
    assert await store.write(lambda tx: tx.trim_channel(A, keep_entries=10, created_before=1000)) == 0
    await append_at(60)
    assert await store.read(lambda tx: tx.channel_head(A)) == ChannelHead(6, 2)


async def test_one_trim_drops_at_most_a_batch_oldest_first(store: Store) -> None:
    def entries(tx: WriteTx) -> None:
        for at in range(1, TRIM_BATCH + 101):
            event = tx.append(NewEvent(type=EventType.TYPING, time_stamp=at, user_id=B, target_user_id=A))
            tx.append_channel_entry(A, event, ChannelKind.TYPING, at)

    await store.write(entries)
    trim = lambda tx: tx.trim_channel(A, keep_entries=10, created_before=10_000)  # noqa: E731
    assert await store.write(trim) == TRIM_BATCH
    assert await store.read(lambda tx: tx.channel_head(A)) == ChannelHead(TRIM_BATCH + 100, TRIM_BATCH)
    assert await store.write(trim) == 90 and await store.write(trim) == 0
    assert await store.read(lambda tx: tx.channel_head(A)) == ChannelHead(TRIM_BATCH + 100, TRIM_BATCH + 90)


async def test_presence_records_and_what_lapses(store: Store) -> None:
    assert await store.read(lambda tx: tx.presence_record(A)) == PresenceRecord(user_id=A)
    online = PresenceRecord(user_id=A, state=Presence.ONLINE, seen_until=200, active_at=100, changed_at=100)
    idle = PresenceRecord(user_id=B, state=Presence.IDLE, seen_until=300, active_at=10, changed_at=50)
    hidden = PresenceRecord(user_id=C, state=Presence.OFFLINE, seen_until=300, active_at=100, visible=False)

    def work(tx: WriteTx) -> None:
        for record in (online, idle, hidden):
            tx.put_presence(record)

    await store.write(work)
    assert await store.read(lambda tx: tx.presence_records([A, B, C, UserId(9)])) == {
        A: online,
        B: idle,
        C: hidden,
        UserId(9): PresenceRecord(user_id=UserId(9)),
    }
    assert await store.read(lambda tx: tx.presence_lapsing(150, 50, limit=10)) == []
    assert await store.read(lambda tx: tx.presence_lapsing(150, 100, limit=10)) == [online]  # idle now
    assert await store.read(lambda tx: tx.presence_lapsing(300, 0, limit=10)) == [online, idle]  # both ran out
    moved = PresenceRecord(user_id=A, state=Presence.IDLE, seen_until=200, active_at=100, changed_at=160)
    await store.write(lambda tx: tx.put_presence(moved))
    assert await store.read(lambda tx: tx.presence_record(A)) == moved


async def test_direct_events_for_a_user_and_their_contacts(store: Store) -> None:
    def work(tx: WriteTx) -> list[Event]:
        made = [_dm(tx, A, B, "to b"), _dm(tx, C, B, "c to b")]
        for user in (A, B, C):
            made.append(tx.append(NewEvent(type=EventType.PRESENCE_CHANGED, time_stamp=1, user_id=user, data="online")))
        made.append(tx.append(NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=1, user_id=A)))
        return made

    made = await store.write(work)
    got = await store.read(lambda tx: tx.direct_events_after(A, [B], EventId(0), limit=50))
    assert [e.id for e in got] == [made[0].id, made[2].id, made[3].id]
    assert await store.read(lambda tx: tx.direct_events_after(A, [B], made[2].id, limit=1)) == [made[3]]


async def test_channel_seqs_on_two_nodes_stay_dense_and_in_order(open_store: Opener) -> None:
    """Writers on two stores over one database: every seq of the channel is taken exactly once, and
    a reader that sees seq N also sees every seq below it (the entries commit in seq order)."""
    nodes = [open_store(), open_store()]
    seen_gaps: list[tuple[int, int]] = []
    try:

        def send(tx: WriteTx) -> None:
            _dm(tx, B, A, "x")

        async def reader() -> None:
            for _ in range(40):
                head = await nodes[1].read(lambda tx: tx.channel_head(A))
                present = await nodes[1].read(
                    lambda tx, n=head.next_seq: [s for s in range(n) if tx.channel_entry(A, s) is not None]
                )
                if present != list(range(head.next_seq)):
                    seen_gaps.append((head.next_seq, len(present)))
                await asyncio.sleep(0)

        units = 120
        await asyncio.gather(reader(), *(nodes[i % 2].write(send) for i in range(units)))
        head = await nodes[0].read(lambda tx: tx.channel_head(A))
        assert head == ChannelHead(units, 0)
        assert await nodes[0].read(lambda tx: tx.channel_head(B)) == ChannelHead(units, 0)
        assert seen_gaps == []
    finally:
        for node in nodes:
            await node.close()
