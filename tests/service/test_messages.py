"""Message operations through the service: the events they append and the state they leave."""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId
from hubbub.core.models import AccessLevel, Revision, RoomAccess, User
from hubbub.errors import (
    AlreadyDeleted,
    EmptyMessage,
    LimitReached,
    LowReputation,
    NeverAssigned,
    NotAllowed,
    NotFound,
    NotYours,
    OwnMessage,
    RateLimited,
    TooLate,
    TooLong,
)
from hubbub.service.service import Service
from hubbub.store.base import WriteTx
from tests.fakes import FakeClock

PASSWORD = "correct horse battery"


async def _user(service: Service, name: str, **kwargs: object) -> User:
    email = f"{name.lower().replace(' ', '.')}@example.org"
    return await service.accounts.create_user(name, email=email, password=PASSWORD, **kwargs)  # type: ignore[arg-type]


async def _events(service: Service, since: int = 0) -> list[Event]:
    return await service.context.store.read(lambda tx: tx.events_after(EventId(since), limit=1000))


async def _last_id(service: Service) -> int:
    return await service.queries.last_event_id()


@pytest.fixture
async def setup(service: Service) -> tuple[Service, User, User, RoomId]:
    alice = await _user(service, "Alice Smith")
    bob = await _user(service, "Bob Jones")
    room = await service.rooms.create_room("Sandbox", owner_id=alice.id)
    return service, alice, bob, room.id


async def test_post_appends_entered_then_posted(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, _, room = setup
    posted = await service.messages.post(alice.id, room, "hello **there**")
    assert posted.message is not None
    events = await _events(service)
    assert [e.type for e in events] == [EventType.USER_ENTERED, EventType.MESSAGE_POSTED]
    message_event = events[1]
    assert message_event.message_id == posted.message.id
    assert message_event.content == "hello <b>there</b>"
    assert message_event.user_name == "Alice Smith" and message_event.room_name == "Sandbox"
    # A second post does not enter again.
    await service.messages.post(alice.id, room, "again")
    assert [e.type for e in await _events(service, 2)] == [EventType.MESSAGE_POSTED]


async def test_reply_notifies_the_parent_author_first(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    parent = (await service.messages.post(alice.id, room, "question?")).message
    assert parent is not None
    mark = await _last_id(service)
    reply = (await service.messages.post(bob.id, room, f":{parent.id} answer")).message
    assert reply is not None
    assert reply.parent_id == parent.id and reply.show_parent
    assert reply.content == "@AliceSmith answer"
    events = [e for e in await _events(service, mark) if e.type is not EventType.USER_ENTERED]
    assert [e.type for e in events] == [EventType.MESSAGE_REPLY, EventType.INBOX_CHANGED, EventType.MESSAGE_POSTED]
    assert events[0].target_user_id == alice.id and events[0].parent_id == parent.id and events[0].show_parent
    assert events[1].target_user_id == alice.id and events[1].data == "1"
    assert events[2].target_user_id is None
    assert await service.queries.unread_count(alice.id) == 1


async def test_single_ping_points_at_the_pinged_users_last_message(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    last = (await service.messages.post(bob.id, room, "I said something")).message
    assert last is not None
    mark = await _last_id(service)
    message = (await service.messages.post(alice.id, room, "@bob look")).message
    assert message is not None
    assert message.parent_id == last.id and not message.show_parent
    events = [e for e in await _events(service, mark) if e.type is not EventType.USER_ENTERED]
    assert [e.type for e in events] == [EventType.USER_MENTIONED, EventType.INBOX_CHANGED, EventType.MESSAGE_POSTED]
    assert events[0].target_user_id == bob.id


async def test_ping_needs_three_characters_and_a_recent_visitor(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    carol = await _user(service, "Carol")
    await service.rooms.join(bob.id, room)
    mark = await _last_id(service)
    await service.messages.post(alice.id, room, "@bo and @carol hi")  # Carol was never in the room
    assert [e.type for e in await _events(service, mark)] == [EventType.USER_ENTERED, EventType.MESSAGE_POSTED]
    assert await service.queries.unread_count(carol.id) == 0


async def test_self_reply_and_self_ping_notify_nobody(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, _, room = setup
    first = (await service.messages.post(alice.id, room, "one")).message
    assert first is not None
    mark = await _last_id(service)
    await service.messages.post(alice.id, room, f":{first.id} @alice two")
    assert [e.type for e in await _events(service, mark)] == [EventType.MESSAGE_POSTED]


async def test_duplicate_post_returns_no_message(setup: tuple[Service, User, User, RoomId], clock: FakeClock) -> None:
    service, alice, _, room = setup
    assert (await service.messages.post(alice.id, room, "same")).message is not None
    mark = await _last_id(service)
    assert (await service.messages.post(alice.id, room, "same")).message is None
    assert await _last_id(service) == mark
    clock.advance(service.settings.duplicate_window_seconds + 1)
    assert (await service.messages.post(alice.id, room, "same")).message is not None


async def test_refused_posts_change_nothing(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, _, room = setup
    newbie = await _user(service, "Newbie", reputation=19)
    mark = await _last_id(service)
    with pytest.raises(EmptyMessage):
        await service.messages.post(alice.id, room, "   ")
    with pytest.raises(TooLong):
        await service.messages.post(alice.id, room, "x" * 501)
    with pytest.raises(LowReputation):
        await service.messages.post(newbie.id, room, "hi")
    with pytest.raises(NotFound):
        await service.messages.post(alice.id, RoomId(999), "hi")
    assert await _last_id(service) == mark
    assert await service.context.store.read(lambda tx: tx.last_message_id()) == 0
    # A long message with a newline is fine.
    assert (await service.messages.post(alice.id, room, "x" * 600 + "\nmore")).message is not None


async def test_rate_limit_refuses_with_seconds_and_refunds_refusals(service: Service, clock: FakeClock) -> None:
    service = Service(
        store=service.context.store,
        bus=service.context.bus,
        clock=clock,
        settings=dataclasses.replace(service.settings, message_rate_burst=2, message_rate_per_second=0.5),
    )
    await service.start()
    alice = await _user(service, "Alice")
    room = (await service.rooms.create_room("R")).id
    with pytest.raises(EmptyMessage):
        await service.messages.post(alice.id, room, "")  # refused: gives its token back
    await service.messages.post(alice.id, room, "one")
    await service.messages.post(alice.id, room, "two")
    with pytest.raises(RateLimited) as refused:
        await service.messages.post(alice.id, room, "three")
    assert refused.value.retry_after == 2
    assert str(refused.value) == "You can perform this action again in 2 seconds."
    clock.advance(2)
    await service.messages.post(alice.id, room, "three")


async def test_edit_within_the_window(setup: tuple[Service, User, User, RoomId], clock: FakeClock) -> None:
    service, alice, bob, room = setup
    message = (await service.messages.post(alice.id, room, "frist")).message
    assert message is not None
    clock.advance(120)
    edited = await service.messages.edit(alice.id, message.id, "first @bob")
    assert edited.content == "first @bob" and edited.edits == 1
    with pytest.raises(NotYours):
        await service.messages.edit(bob.id, message.id, "mine now")
    clock.advance(1)
    with pytest.raises(TooLate):
        await service.messages.edit(alice.id, message.id, "too late")
    with pytest.raises(NeverAssigned):
        await service.messages.edit(alice.id, MessageId(999), "x")
    kinds = [r.kind for r in await service.context.store.read(lambda tx: tx.revisions(message.id))]
    assert kinds == ["posted", "edited"]
    edit_event = next(e for e in await _events(service) if e.type is EventType.MESSAGE_EDITED)
    assert edit_event.message_edits == 1 and edit_event.target_user_id is None


async def test_moderators_edit_and_delete_anything_any_time(
    setup: tuple[Service, User, User, RoomId], clock: FakeClock
) -> None:
    service, alice, _, room = setup
    moderator = await _user(service, "Mod", is_moderator=True)
    message = (await service.messages.post(alice.id, room, "oops")).message
    assert message is not None
    clock.advance(3600)
    await service.messages.edit(moderator.id, message.id, "fixed")
    await service.messages.delete(moderator.id, message.id)
    events = await _events(service)
    edit = next(e for e in events if e.type is EventType.MESSAGE_EDITED)
    delete = next(e for e in events if e.type is EventType.MESSAGE_DELETED)
    assert edit.target_user_id == alice.id and delete.target_user_id == alice.id
    assert edit.user_id == alice.id  # the message's owner, as Stack Exchange reports it


async def test_delete_and_its_refusals(setup: tuple[Service, User, User, RoomId], clock: FakeClock) -> None:
    service, alice, bob, room = setup
    message = (await service.messages.post(alice.id, room, "bye")).message
    assert message is not None
    with pytest.raises(NotYours):
        await service.messages.delete(bob.id, message.id)
    deleted = await service.messages.delete(alice.id, message.id)
    assert deleted.deleted
    event = (await _events(service))[-1]
    assert event.type is EventType.MESSAGE_DELETED and event.content is None
    with pytest.raises(AlreadyDeleted):
        await service.messages.delete(alice.id, message.id)
    with pytest.raises(AlreadyDeleted):
        await service.messages.edit(alice.id, message.id, "back")
    late = (await service.messages.post(alice.id, room, "later")).message
    assert late is not None
    clock.advance(121)
    with pytest.raises(TooLate):
        await service.messages.delete(alice.id, late.id)


async def test_stars_toggle_and_are_limited(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    message = (await service.messages.post(alice.id, room, "star me")).message
    assert message is not None
    with pytest.raises(OwnMessage):
        await service.messages.toggle_star(alice.id, message.id)
    starred = await service.messages.toggle_star(bob.id, message.id)
    assert starred.stars == 1
    event = (await _events(service))[-1]
    assert event.type is EventType.MESSAGE_STARRED and event.message_stars == 1
    assert event.user_id is None and event.user_name is None
    assert (await service.messages.toggle_star(bob.id, message.id)).stars == 0
    limited = Service(
        store=service.context.store,
        bus=service.context.bus,
        clock=service.context.clock,
        settings=dataclasses.replace(service.settings, stars_per_day=1),
    )
    await limited.start()
    other = (await limited.messages.post(alice.id, room, "another")).message
    assert other is not None
    await limited.messages.toggle_star(bob.id, message.id)
    with pytest.raises(LimitReached):
        await limited.messages.toggle_star(bob.id, other.id)


async def test_pins_are_for_owners(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    message = (await service.messages.post(bob.id, room, "pin me")).message
    assert message is not None
    with pytest.raises(NotAllowed):
        await service.messages.toggle_pin(bob.id, message.id)
    assert (await service.messages.toggle_pin(alice.id, message.id)).owner_stars == 1
    assert (await service.messages.toggle_pin(alice.id, message.id)).owner_stars == 0
    await service.messages.toggle_pin(alice.id, message.id)
    assert (await service.messages.unpin(alice.id, message.id)).owner_stars == 0
    await service.messages.toggle_pin(alice.id, message.id)
    cleared = await service.messages.clear_stars(alice.id, message.id)
    assert (cleared.stars, cleared.owner_stars) == (0, 0)


async def test_move_messages_between_rooms(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    trash = (await service.rooms.create_room("Trash", owner_id=alice.id)).id
    ids = []
    for text in ("a", "b"):
        posted = (await service.messages.post(bob.id, room, text)).message
        assert posted is not None
        ids.append(posted.id)
    with pytest.raises(NotAllowed):
        await service.messages.move(bob.id, room, ids, trash)
    mark = await _last_id(service)
    assert await service.messages.move(alice.id, room, [*ids, MessageId(999)], trash) == 2
    events = await _events(service, mark)
    types = [e.type for e in events]
    assert types.count(EventType.MESSAGE_MOVED_OUT) == 2 and types.count(EventType.MESSAGE_MOVED_IN) == 2
    assert all(e.moved for e in events if e.type in (EventType.MESSAGE_MOVED_OUT, EventType.MESSAGE_MOVED_IN))
    notices = [e for e in events if e.type is EventType.MESSAGE_POSTED]
    assert [e.room_id for e in notices] == [room, trash]
    assert notices[0].content is not None and notices[0].content.startswith("&rarr; <i><a href=")
    assert f'moved to <a href="/rooms/{trash}/trash">Trash</a></i>' in notices[0].content
    assert notices[1].content == f'&larr; <i>2 messages moved from <a href="/rooms/{room}/sandbox">Sandbox</a></i>'
    moved = await service.context.store.read(lambda tx: tx.messages(ids))
    assert {m.room_id for m in moved.values()} == {trash}


async def test_acknowledge_clears_the_inbox(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    await service.rooms.join(bob.id, room)
    ping = (await service.messages.post(alice.id, room, "@bob hey")).message
    assert ping is not None
    assert await service.queries.unread_count(bob.id) == 1
    mark = await _last_id(service)
    assert await service.messages.acknowledge(bob.id, [ping.id]) == 1
    [event] = await _events(service, mark)
    assert event.type is EventType.INBOX_CHANGED and event.data == "0" and event.target_user_id == bob.id
    assert await service.messages.acknowledge(bob.id, [ping.id]) == 0
    assert await _last_id(service) == mark + 1


async def test_gallery_and_private_rooms(service: Service) -> None:
    owner = await _user(service, "Owner")
    guest = await _user(service, "Guest", reputation=5000)
    gallery = (await service.rooms.create_room("Gallery", owner_id=owner.id, access=RoomAccess.GALLERY)).id
    private = (await service.rooms.create_room("Private", owner_id=owner.id, access=RoomAccess.PRIVATE)).id
    with pytest.raises(NotAllowed):
        await service.messages.post(guest.id, gallery, "let me in")
    with pytest.raises(NotFound):
        await service.messages.post(guest.id, private, "let me in")
    await service.rooms.set_access(owner.id, gallery, guest.id, AccessLevel.READ_WRITE)
    await service.rooms.set_access(owner.id, private, guest.id, AccessLevel.READ_ONLY)
    await service.messages.post(guest.id, gallery, "thanks")
    with pytest.raises(NotAllowed):
        await service.messages.post(guest.id, private, "can I talk?")
    history = await service.queries.history(guest, private, count=10)
    assert history.messages == []
    access_events = [e for e in await _events(service) if e.type is EventType.ACCESS_LEVEL_CHANGED]
    assert [e.content for e in access_events] == ["Access now read-write", "Access now read-only"]
    assert all(e.target_user_id == guest.id and e.user_id == owner.id for e in access_events)


async def test_kick_mutes_for_a_while(service: Service, clock: FakeClock) -> None:
    owner = await _user(service, "Owner")
    troll = await _user(service, "Troll")
    room = (await service.rooms.create_room("R", owner_id=owner.id)).id
    await service.messages.post(troll.id, room, "spam")
    mark = await _last_id(service)
    assert await service.rooms.kick(owner.id, room, troll.id) == 60
    events = await _events(service, mark)
    assert [e.type for e in events] == [EventType.USER_LEFT, EventType.ACCESS_LEVEL_CHANGED]
    assert events[1].content == "priv 1 created" and events[1].target_user_id == troll.id
    with pytest.raises(NotAllowed) as refused:
        await service.messages.post(troll.id, room, "more spam")
    assert "60 seconds" in str(refused.value)
    clock.advance(61)
    await service.messages.post(troll.id, room, "sorry")
    assert await service.rooms.kick(owner.id, room, troll.id) == 300
    with pytest.raises(NotAllowed):
        await service.rooms.kick(troll.id, room, owner.id)


async def test_losing_read_access_leaves_the_room(service: Service) -> None:
    owner = await _user(service, "Owner")
    guest = await _user(service, "Guest")
    room = (await service.rooms.create_room("Private", owner_id=owner.id, access=RoomAccess.PRIVATE)).id
    await service.rooms.set_access(owner.id, room, guest.id, AccessLevel.READ_WRITE)
    await service.rooms.join(guest.id, room)
    mark = await _last_id(service)
    await service.rooms.set_access(owner.id, room, guest.id, None)
    events = await _events(service, mark)
    assert [e.type for e in events] == [EventType.ACCESS_LEVEL_CHANGED, EventType.USER_LEFT]
    assert events[1].user_id == guest.id
    assert await service.queries.rooms_of(guest.id) == []
    public = (await service.rooms.create_room("Open", owner_id=owner.id)).id
    await service.rooms.join(guest.id, public)
    await service.rooms.update_room(owner.id, public, name="Open", description="", tags="", access=RoomAccess.PRIVATE)
    assert await service.queries.rooms_of(guest.id) == []
    assert await service.queries.rooms_of(owner.id) == []  # the owner never entered; nothing to leave


async def test_update_room_appends_name_and_access_events(service: Service) -> None:
    owner = await _user(service, "Owner")
    room = (await service.rooms.create_room("Old", owner_id=owner.id)).id
    await service.rooms.update_room(
        owner.id, room, name="New", description="About", tags="a b", access=RoomAccess.GALLERY
    )
    events = await _events(service)
    assert [e.type for e in events] == [EventType.ROOM_NAME_CHANGED, EventType.ACCESS_LEVEL_CHANGED]
    assert events[0].content == "New / About" and events[0].room_name == "New"
    assert events[1].content is None and events[1].target_user_id is None


async def test_leave_all_leaves_every_room(service: Service) -> None:
    alice = await _user(service, "Alice")
    rooms = [(await service.rooms.create_room(name)).id for name in ("A", "B")]
    for room in rooms:
        await service.rooms.join(alice.id, room)
    assert await service.queries.rooms_of(alice.id) == rooms
    await service.rooms.leave_all(alice.id)
    assert await service.queries.rooms_of(alice.id) == []
    left = [e for e in await _events(service) if e.type is EventType.USER_LEFT]
    assert sorted(e.room_id or 0 for e in left) == rooms
    await service.rooms.leave(alice.id, rooms[0])  # not in it any more: no event, no error
    assert len([e for e in await _events(service) if e.type is EventType.USER_LEFT]) == 2


async def test_visible_events_hide_other_peoples_pings(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, bob, room = setup
    carol = await _user(service, "Carol")
    await service.rooms.join(bob.id, room)
    await service.messages.post(alice.id, room, "@bob psst")
    for viewer, expected in ((bob, True), (carol, False), (None, False)):
        answer, _ = await service.queries.events_since(viewer, {room: EventId(1)}, limit=100)
        types = [e.type for e in answer[room].events]
        assert (EventType.USER_MENTIONED in types) is expected
        assert EventType.INBOX_CHANGED not in types  # hubbub-internal, never room-scoped


async def test_events_since_pages_through_a_long_gap(setup: tuple[Service, User, User, RoomId]) -> None:
    service, alice, _, room = setup
    for n in range(5):
        await service.messages.post(alice.id, room, f"m{n}")
    answer, last = await service.queries.events_since(alice, {room: EventId(1)}, limit=2)
    assert [e.id for e in answer[room].events] == [2, 3] and answer[room].cursor == 3
    answer, _ = await service.queries.events_since(alice, {room: answer[room].cursor}, limit=10)
    assert [e.id for e in answer[room].events] == [4, 5, 6] and answer[room].cursor == last == 6
    unknown, _ = await service.queries.events_since(alice, {RoomId(77): EventId(0)}, limit=10)
    assert unknown[RoomId(77)].events == []


async def test_a_messages_history_is_stored_only_once_it_changes_and_reads_the_same_either_way(
    setup: tuple[Service, User, User, RoomId], clock: FakeClock
) -> None:
    service, alice, bob, room = setup
    store = service.context.store
    posted_at = clock.now()
    message = (await service.messages.post(alice.id, room, "frist")).message
    assert message is not None
    assert await store.read(lambda tx: tx.revisions(message.id)) == []  # its row says it all
    as_posted = Revision(
        message_id=message.id,
        revision=0,
        kind="posted",
        source="frist",
        content="frist",
        user_id=alice.id,
        at=posted_at,
    )
    assert (await service.queries.message(alice, message.id)).revisions == [as_posted]

    clock.advance(60)
    await service.messages.edit(alice.id, message.id, "first")
    clock.advance(1)
    await service.messages.delete(alice.id, message.id)
    history = [(r.revision, r.kind, r.source, r.at) for r in await store.read(lambda tx: tx.revisions(message.id))]
    assert history == [
        (0, "posted", "frist", posted_at),
        (1, "edited", "first", posted_at + 60),
        (2, "deleted", "first", posted_at + 61),
    ]
    assert (await service.queries.message(alice, message.id)).revisions[0] == as_posted

    # A message stored by an earlier version, with its revision 0 written at posting.
    def legacy(tx: WriteTx) -> MessageId:
        old = tx.insert_message(
            room_id=room,
            user_id=bob.id,
            source="old",
            content="old",
            posted_at=clock.now(),
            parent_id=None,
            show_parent=False,
        )
        tx.insert_revision(
            dataclasses.replace(as_posted, message_id=old.id, source="old", content="old", user_id=bob.id)
        )
        return old.id

    old_id = await store.write(legacy)
    await service.messages.edit(bob.id, old_id, "new")
    assert [(r.revision, r.kind) for r in (await service.queries.message(bob, old_id)).revisions] == [
        (0, "posted"),
        (1, "edited"),
    ]
