"""Contacts, direct messages, channels and presence through the service, on every engine."""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.core.direct import TYPING_TTL_SECONDS, Activity, ChannelHead, DirectPayload, Presence, Relation
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.core.models import User
from hubbub.errors import (
    BadRequest,
    EmptyMessage,
    NotAllowed,
    NotFound,
    RateLimited,
    RecipientOffline,
    TooLong,
)
from hubbub.service.service import Service
from tests.fakes import FakeClock

PASSWORD = "correct horse battery"


async def _user(service: Service, name: str) -> User:
    email = f"{name.lower()}@example.org"
    return await service.accounts.create_user(name, email=email, password=PASSWORD)


async def _events(service: Service, since: int = 0) -> list[Event]:
    return await service.context.store.read(lambda tx: tx.events_after(EventId(since), limit=1000))


async def _last(service: Service) -> int:
    return int(await service.queries.last_event_id())


Trio = tuple[Service, User, User, User]


@pytest.fixture
async def people(service: Service) -> Trio:
    """Alice and Bob are contacts; Carol is neither's."""
    alice, bob, carol = [await _user(service, n) for n in ("Alice", "Bob", "Carol")]
    await service.contacts.request(alice.id, bob.id)
    await service.contacts.accept(bob.id, alice.id)
    return service, alice, bob, carol


async def test_a_request_and_an_accept_make_contacts_with_one_event_each(service: Service) -> None:
    alice, bob = await _user(service, "Alice"), await _user(service, "Bob")
    mark = await _last(service)
    assert await service.contacts.request(alice.id, bob.id) is Relation.REQUESTED
    assert await service.contacts.relation(bob.id, alice.id) is Relation.INCOMING
    assert await service.contacts.accept(bob.id, alice.id) is Relation.CONTACTS
    events = await _events(service, mark)
    assert [(e.type, e.user_id, e.target_user_id, e.data) for e in events] == [
        (EventType.CONTACT_CHANGED, alice.id, bob.id, "requested"),
        (EventType.CONTACT_CHANGED, bob.id, alice.id, "contacts"),
    ]
    listed = await service.contacts.list(alice.id)
    assert [(c.user.id, c.relation) for c in listed] == [(bob.id, Relation.CONTACTS)]
    # Asking again changes nothing and appends nothing.
    assert await service.contacts.request(alice.id, bob.id) is Relation.CONTACTS
    assert len(await _events(service, mark)) == 2


async def test_refused_contact_actions_store_nothing(people: Trio) -> None:
    service, alice, _, carol = people
    mark = await _last(service)
    with pytest.raises(NotFound):
        await service.contacts.accept(alice.id, carol.id)
    with pytest.raises(NotFound):
        await service.contacts.request(alice.id, UserId(999))
    with pytest.raises(BadRequest):
        await service.contacts.request(alice.id, alice.id)
    assert await _last(service) == mark


async def test_a_block_wins(people: Trio) -> None:
    service, alice, bob, _ = people
    await service.direct.send(alice.id, bob.id, "before")
    assert await service.contacts.block(bob.id, alice.id) is Relation.BLOCKED
    # Alice sees no block announced, only that they are no longer contacts.
    assert await service.contacts.relation(alice.id, bob.id) is Relation.NONE
    assert [c.user.id for c in await service.contacts.list(alice.id)] == []
    mark = await _last(service)
    for attempt in (
        service.direct.send(alice.id, bob.id, "let me in"),
        service.direct.typing(alice.id, bob.id, True),
        service.direct.send(bob.id, alice.id, "not you either"),
        service.contacts.request(alice.id, bob.id),
    ):
        with pytest.raises(NotAllowed):
            await attempt
    with pytest.raises(NotAllowed):
        await service.contacts.link(alice.id, bob.id)
    assert await _last(service) == mark
    # Lifting the block leaves nothing: a new request is needed.
    assert await service.contacts.remove(bob.id, alice.id) is Relation.NONE
    with pytest.raises(NotAllowed):
        await service.direct.send(alice.id, bob.id, "still no")


async def test_an_operator_links_two_users(service: Service) -> None:
    alice, bob = await _user(service, "Alice"), await _user(service, "Bob")
    assert await service.contacts.link(alice.id, bob.id) is Relation.CONTACTS
    assert await service.contacts.relation(bob.id, alice.id) is Relation.CONTACTS
    assert await service.contacts.link(bob.id, alice.id) is Relation.CONTACTS


async def test_a_message_is_one_event_mirrored_into_both_channels(people: Trio, clock: FakeClock) -> None:
    service, alice, bob, _ = people
    mark = await _last(service)
    sent = await service.direct.send(alice.id, bob.id, "hi **bob** & co", client_id="-1992480367", client_time=17)
    assert not sent.duplicate and sent.message.text == "hi **bob** & co"
    assert sent.message.html == "hi <b>bob</b> &amp; co"
    events = [e for e in await _events(service, mark) if e.type is EventType.DIRECT_MESSAGE]
    assert len(events) == 1
    event = events[0]
    assert (event.user_id, event.target_user_id, event.user_name) == (alice.id, bob.id, "Alice")
    payload = DirectPayload.of(event)
    assert payload.text == "hi **bob** & co" and payload.client_time == 17 and payload.client_id == "-1992480367"
    assert payload.sent_ms >= int(clock.now()) * 1000 and payload.to_name == "Bob"
    for user in (alice, bob):
        read = await service.direct.read_channel(user.id, 0)
        assert read.head == ChannelHead(1, 0)
        assert read.entry is not None and read.entry.event == event


async def test_a_retry_with_the_same_client_id_stores_one_message(people: Trio) -> None:
    service, alice, bob, _ = people
    first = await service.direct.send(alice.id, bob.id, "once", client_id="42")
    mark = await _last(service)
    again = await service.direct.send(alice.id, bob.id, "once", client_id="42")
    assert again.duplicate and again.message == first.message
    assert await _last(service) == mark
    other = await service.direct.send(alice.id, bob.id, "once", client_id="43")
    assert not other.duplicate
    assert (await service.direct.read_channel(bob.id, 0)).head.next_seq == 2


async def test_refused_messages_store_nothing(people: Trio) -> None:
    service, alice, bob, carol = people
    mark = await _last(service)
    for attempt, error in (
        (service.direct.send(alice.id, carol.id, "stranger"), NotAllowed),
        (service.direct.send(alice.id, UserId(999), "nobody"), NotFound),
        (service.direct.send(alice.id, bob.id, "   "), EmptyMessage),
        (service.direct.send(alice.id, bob.id, "x" * 4001), TooLong),
        (service.direct.send(alice.id, bob.id, "bad id", client_id="no spaces"), BadRequest),
        (service.direct.send(alice.id, bob.id, "are you there?", require_online=True), RecipientOffline),
    ):
        with pytest.raises(error):
            await attempt
    assert await _last(service) == mark
    assert (await service.direct.read_channel(bob.id, 0)).head == ChannelHead(0, 0)


async def test_online_recipients_get_messages_under_require_online(people: Trio) -> None:
    service, alice, bob, _ = people
    await service.presence.touch(bob.id, Activity.SEEN)
    sent = await service.direct.send(alice.id, bob.id, "there you are", require_online=True)
    assert not sent.duplicate
    assert (await service.direct.send(alice.id, alice.id, "note to self", require_online=True)).message.text


async def test_messages_and_room_posts_share_one_rate_limit(service: Service) -> None:
    settings = dataclasses.replace(service.settings, message_rate_burst=2, message_rate_per_second=0.001)
    context = service.context
    limited = Service(store=context.store, bus=context.bus, clock=context.clock, settings=settings)
    await limited.start()
    try:
        alice, bob = await _user(limited, "Alice"), await _user(limited, "Bob")
        await limited.contacts.link(alice.id, bob.id)
        room = await limited.rooms.create_room("Sandbox", owner_id=alice.id)
        await limited.messages.post(alice.id, room.id, "in the room")
        await limited.direct.send(alice.id, bob.id, "direct")
        mark = await _last(limited)
        with pytest.raises(RateLimited):
            await limited.direct.send(alice.id, bob.id, "one too many")
        with pytest.raises(RateLimited):
            await limited.messages.post(alice.id, room.id, "here too")
        assert await _last(limited) == mark
        # A refused message gives its token back; a retry of a stored one takes none.
        await limited.direct.send(bob.id, alice.id, "first", client_id="r1")
        with pytest.raises(NotFound):
            await limited.direct.send(bob.id, UserId(alice.id + 100), "nobody")
        await limited.direct.send(bob.id, alice.id, "second")
        assert (await limited.direct.send(bob.id, alice.id, "first", client_id="r1")).duplicate
    finally:
        limited.close()


async def test_typing_goes_to_the_recipient_channel_only_and_lapses(people: Trio, clock: FakeClock) -> None:
    service, alice, bob, _ = people
    assert await service.direct.typing(alice.id, bob.id, True) == 0
    assert await service.direct.typing(alice.id, bob.id, False) == 1
    assert (await service.direct.read_channel(alice.id, 0)).head == ChannelHead(0, 0)
    entry = (await service.direct.read_channel(bob.id, 0)).entry
    assert entry is not None and entry.event.type is EventType.TYPING
    assert not entry.lapsed(clock.now())
    clock.advance(TYPING_TTL_SECONDS)
    assert entry.lapsed(clock.now())


async def test_unread_counts_read_markers_and_history(people: Trio) -> None:
    service, alice, bob, carol = people
    await service.contacts.link(alice.id, carol.id)
    sent = [(await service.direct.send(bob.id, alice.id, f"b{i}")).message for i in range(3)]
    await service.direct.send(carol.id, alice.id, "c0")
    await service.direct.send(alice.id, bob.id, "a0")
    assert await service.direct.unread_counts(alice.id) == {bob.id: 3, carol.id: 1}
    conversations = await service.direct.conversations(alice.id)
    assert [(c.other.id, c.last.text, c.unread) for c in conversations] == [(bob.id, "a0", 3), (carol.id, "c0", 1)]
    mark = await _last(service)
    assert await service.direct.mark_read(alice.id, bob.id, sent[1].id) == sent[1].id
    assert await service.direct.mark_read(alice.id, bob.id, sent[0].id) == sent[1].id  # never back
    assert await service.direct.unread_counts(alice.id) == {bob.id: 1, carol.id: 1}
    assert await service.direct.mark_read(alice.id, bob.id) > sent[2].id
    assert await service.direct.unread_counts(alice.id) == {carol.id: 1}
    reads = [e for e in await _events(service, mark) if e.type is EventType.DIRECT_READ]
    assert len(reads) == 2 and all(e.user_id == alice.id and e.target_user_id == bob.id for e in reads)
    history = await service.direct.history(alice.id, bob.id, limit=2)
    assert [m.text for m in history] == ["b2", "a0"]
    earlier = await service.direct.history(alice.id, bob.id, before=history[0].id)
    assert [m.text for m in earlier] == ["b0", "b1"]


async def test_presence_from_activity_with_events_for_contacts_only(people: Trio, clock: FakeClock) -> None:
    service, alice, bob, carol = people
    timeouts = service.presence.timeouts
    mark = await _last(service)
    await service.presence.touch(alice.id, Activity.ACTIVE)
    await service.presence.touch(alice.id, Activity.SEEN)  # nothing moves: no write
    assert await service.presence.states({alice.id}) == {alice.id: Presence.ONLINE}
    changes = [e for e in await _events(service, mark) if e.type is EventType.PRESENCE_CHANGED]
    assert [(e.user_id, e.data) for e in changes] == [(alice.id, "online")]
    # Contacts see it; strangers do not.
    assert {c.user.id: c.presence for c in await service.contacts.list(bob.id)} == {alice.id: Presence.ONLINE}
    bob_view = await service.direct.events_after(bob.id, EventId(mark))
    carol_view = await service.direct.events_after(carol.id, EventId(mark))
    assert [e.type for e in bob_view] == [EventType.PRESENCE_CHANGED]
    assert carol_view == []
    # Time makes her idle, then offline; the sweep turns that into events.
    clock.advance(timeouts.idle_seconds + 1)
    await service.presence.touch(alice.id, Activity.SEEN)
    assert await service.presence.states({alice.id}) == {alice.id: Presence.IDLE}
    clock.advance(timeouts.seen_seconds + 1)
    assert await service.presence.states({alice.id}) == {alice.id: Presence.OFFLINE}  # even before the sweep
    assert await service.presence.sweep() == 1
    assert await service.presence.sweep() == 0
    states = [e.data for e in await _events(service, mark) if e.type is EventType.PRESENCE_CHANGED]
    assert states == ["online", "idle", "offline"]


async def test_invisible_users_look_offline(people: Trio) -> None:
    service, alice, bob, _ = people
    await service.presence.touch(alice.id, Activity.ACTIVE)
    assert await service.presence.set_visible(alice.id, False) is Presence.OFFLINE
    await service.presence.touch(alice.id, Activity.ACTIVE)
    assert {c.user.id: c.presence for c in await service.contacts.list(bob.id)} == {alice.id: Presence.OFFLINE}
    assert await service.presence.set_visible(alice.id, True) is Presence.ONLINE


async def test_sending_marks_the_sender_active(people: Trio) -> None:
    service, alice, bob, _ = people
    await service.direct.send(alice.id, bob.id, "hello")
    assert await service.presence.states({alice.id, bob.id}) == {alice.id: Presence.ONLINE, bob.id: Presence.OFFLINE}


async def test_channels_are_trimmed_to_retention(people: Trio, clock: FakeClock) -> None:
    service, alice, bob, _ = people
    settings = dataclasses.replace(service.settings, comet_channel_retention=60, comet_channel_retention_entries=3)
    short = Service(store=service.context.store, bus=service.context.bus, clock=clock, settings=settings)
    await short.start()
    try:
        for i in range(5):
            await short.direct.send(alice.id, bob.id, f"m{i}")
        assert (await short.direct.read_channel(bob.id, 0)).head == ChannelHead(5, 0)  # all young
        clock.advance(61)
        await short.direct.send(alice.id, bob.id, "late")
        read = await short.direct.read_channel(bob.id, 0)
        assert read.head == ChannelHead(6, 3) and read.entry is None
        assert (await short.direct.read_channel(bob.id, 3)).entry is not None
    finally:
        short.close()


async def test_events_after_is_the_users_own_view(people: Trio) -> None:
    service, alice, bob, carol = people
    await service.contacts.link(bob.id, carol.id)
    mark = await _last(service)
    await service.direct.send(alice.id, bob.id, "to bob")
    await service.direct.send(carol.id, bob.id, "carol to bob")
    await service.direct.typing(bob.id, alice.id, True)
    alice_view = await service.direct.events_after(alice.id, EventId(mark))
    assert [(e.type, e.user_id) for e in alice_view if e.type is not EventType.PRESENCE_CHANGED] == [
        (EventType.DIRECT_MESSAGE, alice.id),
        (EventType.TYPING, bob.id),
    ]
    bob_view = await service.direct.events_after(bob.id, EventId(mark))
    assert [(e.type, e.user_id) for e in bob_view if e.type is not EventType.PRESENCE_CHANGED] == [
        (EventType.DIRECT_MESSAGE, alice.id),
        (EventType.DIRECT_MESSAGE, carol.id),
    ]
    # Bob's presence events are not Alice's... unless they are contacts (they are): Carol's are
    # not hers at all.
    assert all(e.user_id != carol.id for e in alice_view if e.type is EventType.PRESENCE_CHANGED)
