"""core/visibility.py: who may see which event, decided once for every transport."""

from __future__ import annotations

import pytest

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import User
from hubbub.core.visibility import TARGETED_TYPES, Audience, audience_of, file_view, in_view, may_see

TARGET = UserId(5)


def make_user(user_id: int = 1, *, reputation: int = 100, moderator: bool = False) -> User:
    return User(id=UserId(user_id), name=f"u{user_id}", email=None, reputation=reputation, is_moderator=moderator)


def make_event(event_type: EventType, *, target: UserId | None = None) -> Event:
    return Event(
        id=EventId(100),
        type=event_type,
        time_stamp=1_790_000_000,
        room_id=RoomId(1),
        room_name="Sandbox",
        user_id=UserId(1),
        user_name="u1",
        target_user_id=target,
        message_id=MessageId(7),
    )


EXPECTED_AUDIENCE = {
    EventType.USER_MENTIONED: Audience.TARGET,
    EventType.MESSAGE_REPLY: Audience.TARGET,
    EventType.USER_SETTINGS_CHANGED: Audience.TARGET,
    EventType.GLOBAL_NOTIFICATION: Audience.TARGET,
    EventType.USER_NOTIFICATION: Audience.TARGET,
    EventType.INVITATION: Audience.TARGET,
    EventType.USER_SUSPENDED: Audience.TARGET,
    EventType.INBOX_CHANGED: Audience.TARGET,
    EventType.MESSAGE_FLAGGED: Audience.HIGH_REPUTATION,
    EventType.MODERATOR_FLAG: Audience.MODERATORS,
    EventType.FEED_PUBLISHED: Audience.TOPIC,
}


@pytest.mark.parametrize("event_type", list(EventType))
def test_audience_of_every_type(event_type: EventType) -> None:
    expected = EXPECTED_AUDIENCE.get(event_type, Audience.ROOM)
    assert audience_of(make_event(event_type)) is expected


def test_targeted_types() -> None:
    assert {t for t, a in EXPECTED_AUDIENCE.items() if a is Audience.TARGET} == TARGETED_TYPES


ROOM_TYPES = [t for t in EventType if t not in EXPECTED_AUDIENCE]


@pytest.mark.parametrize("event_type", ROOM_TYPES)
def test_room_events_go_to_whoever_reads_the_room(event_type: EventType) -> None:
    event = make_event(event_type, target=TARGET)
    assert may_see(event, make_user(), can_read_room=True)
    assert may_see(event, None, can_read_room=True)
    assert not may_see(event, make_user(), can_read_room=False)
    assert not may_see(event, None, can_read_room=False)
    assert not may_see(event, make_user(moderator=True), can_read_room=False)


def test_access_changes_and_edits_with_a_target_still_go_to_the_room() -> None:
    for event_type in (EventType.ACCESS_LEVEL_CHANGED, EventType.MESSAGE_EDITED, EventType.MESSAGE_DELETED):
        assert may_see(make_event(event_type, target=TARGET), make_user(9), can_read_room=True)


@pytest.mark.parametrize("event_type", sorted(TARGETED_TYPES))
def test_targeted_events_go_to_their_target_only(event_type: EventType) -> None:
    event = make_event(event_type, target=TARGET)
    assert may_see(event, make_user(int(TARGET)), can_read_room=True)
    # They follow the target into rooms the target cannot read (a reply is shown in every room).
    assert may_see(event, make_user(int(TARGET)), can_read_room=False)
    assert not may_see(event, make_user(1), can_read_room=True)
    assert not may_see(event, make_user(6, moderator=True, reputation=10**6), can_read_room=True)
    assert not may_see(event, None, can_read_room=True)


def test_targeted_event_without_a_target_goes_to_nobody() -> None:
    event = make_event(EventType.USER_MENTIONED, target=None)
    assert not may_see(event, make_user(), can_read_room=True)
    assert not may_see(event, None, can_read_room=True)


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        (make_user(reputation=10_000), True),
        (make_user(reputation=10_001), True),
        (make_user(reputation=9_999), False),
        (make_user(reputation=1, moderator=True), True),
        (make_user(reputation=20), False),
        (None, False),
    ],
)
def test_spam_flags_go_to_10k_users_and_moderators(viewer: User | None, visible: bool) -> None:
    event = make_event(EventType.MESSAGE_FLAGGED)
    assert may_see(event, viewer, can_read_room=True) is visible
    assert not may_see(event, viewer, can_read_room=False)


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        (make_user(moderator=True), True),
        (make_user(reputation=10**6), False),
        (None, False),
    ],
)
def test_moderator_flags_go_to_moderators_only(viewer: User | None, visible: bool) -> None:
    event = make_event(EventType.MODERATOR_FLAG)
    assert may_see(event, viewer, can_read_room=True) is visible
    assert not may_see(event, viewer, can_read_room=False)


def test_feed_items_are_never_room_traffic() -> None:
    event = make_event(EventType.FEED_PUBLISHED)
    for viewer in (None, make_user(), make_user(moderator=True)):
        assert not may_see(event, viewer, can_read_room=True)


def _in(room: int, event_id: int, event_type: EventType = EventType.MESSAGE_POSTED, target: int | None = None) -> Event:
    return Event(
        id=EventId(event_id),
        type=event_type,
        time_stamp=1,
        room_id=RoomId(room),
        target_user_id=None if target is None else UserId(target),
        message_id=MessageId(event_id),
    )


def test_a_view_is_its_rooms_visible_events_and_the_viewers_own_from_anywhere() -> None:
    me, rooms = make_user(int(TARGET)), {RoomId(1), RoomId(2)}
    assert in_view(_in(1, 1), me, rooms)
    assert not in_view(_in(3, 2), me, rooms)  # another room's traffic
    assert in_view(_in(3, 3, EventType.USER_MENTIONED, target=int(TARGET)), me, rooms)  # my ping, from anywhere
    assert not in_view(_in(1, 4, EventType.USER_MENTIONED, target=9), me, rooms)  # someone else's, in my room
    assert not in_view(_in(1, 5, EventType.MODERATOR_FLAG), me, rooms)
    inbox = Event(id=EventId(6), type=EventType.INBOX_CHANGED, time_stamp=1, target_user_id=TARGET, data="1")
    assert not in_view(inbox, me, rooms)  # no room: in no room's view
    assert not in_view(_in(3, 7, EventType.USER_MENTIONED, target=int(TARGET)), None, rooms)


def test_the_viewers_pings_are_filed_under_every_room_of_the_view_and_their_own() -> None:
    me, rooms = make_user(int(TARGET)), {RoomId(1), RoomId(2)}
    ping_elsewhere = _in(3, 10, EventType.USER_MENTIONED, target=int(TARGET))
    reply_here = _in(1, 11, EventType.MESSAGE_REPLY, target=int(TARGET))
    filed = file_view([_in(1, 12), reply_here, ping_elsewhere, _in(2, 9)], me, rooms)
    assert {room: [e.id for e in events] for room, events in filed.items()} == {
        RoomId(1): [10, 11, 12],
        RoomId(2): [9, 10, 11],
        RoomId(3): [10],
    }
    assert list(filed) == sorted(filed)
    assert file_view([], me, rooms) == {}
    # Someone else's view of the same room files the events under their own room only.
    assert {room: [e.id for e in events] for room, events in file_view([_in(1, 12)], None, rooms).items()} == {
        RoomId(1): [12]
    }
