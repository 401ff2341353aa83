"""core/visibility.py: who may see which event, decided once for every transport."""

from __future__ import annotations

import pytest

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import User
from hubbub.core.visibility import (
    EVERY_ROOM,
    TARGETED_TYPES,
    AccessChange,
    AccessChangeKind,
    Audience,
    access_change,
    audience_of,
    file_view,
    in_view,
    may_see,
)

TARGET = UserId(5)


def make_user(user_id: int = 1, *, reputation: int = 100, moderator: bool = False) -> User:
    return User(id=UserId(user_id), name=f"u{user_id}", email=None, reputation=reputation, is_moderator=moderator)


def make_event(
    event_type: EventType, *, target: UserId | None = None, room: int | None = 1, data: str | None = None
) -> Event:
    return Event(
        id=EventId(100),
        type=event_type,
        time_stamp=1_790_000_000,
        room_id=None if room is None else RoomId(room),
        data=data,
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
    EventType.SESSION_ENDED: Audience.TARGET,
    EventType.SESSIONS_REVOKED: Audience.TARGET,
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
    assert not may_see(event, make_user(1), can_read_room=True)
    assert not may_see(event, make_user(6, moderator=True, reputation=10**6), can_read_room=True)
    assert not may_see(event, None, can_read_room=True)


@pytest.mark.parametrize("event_type", sorted(TARGETED_TYPES))
def test_a_notice_about_a_room_needs_the_room_readable_and_others_follow_the_target(event_type: EventType) -> None:
    """A ping carries the message's text: a member removed from the room must not get it (issue 8, item 5)."""
    about_a_room = make_event(event_type, target=TARGET)
    assert not may_see(about_a_room, make_user(int(TARGET)), can_read_room=False)
    roomless = make_event(event_type, target=TARGET, room=None)
    assert may_see(roomless, make_user(int(TARGET)), can_read_room=False)
    assert not may_see(roomless, make_user(1), can_read_room=True)


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
    assert in_view(_in(1, 1), me, rooms, readable=EVERY_ROOM)
    assert not in_view(_in(3, 2), me, rooms, readable=EVERY_ROOM)  # another room's traffic
    assert in_view(
        _in(3, 3, EventType.USER_MENTIONED, target=int(TARGET)), me, rooms, readable=EVERY_ROOM
    )  # my ping, from anywhere
    assert not in_view(
        _in(1, 4, EventType.USER_MENTIONED, target=9), me, rooms, readable=EVERY_ROOM
    )  # someone else's, in my room
    assert not in_view(_in(1, 5, EventType.MODERATOR_FLAG), me, rooms, readable=EVERY_ROOM)
    inbox = Event(id=EventId(6), type=EventType.INBOX_CHANGED, time_stamp=1, target_user_id=TARGET, data="1")
    assert not in_view(inbox, me, rooms, readable=EVERY_ROOM)  # no room: in no room's view
    assert not in_view(_in(3, 7, EventType.USER_MENTIONED, target=int(TARGET)), None, rooms, readable=EVERY_ROOM)


def test_a_view_takes_the_viewers_pings_only_from_rooms_the_viewer_may_read() -> None:
    """Issue 8, item 5: a removed member's replay and polls bring no more of the room's pings."""
    me, rooms = make_user(int(TARGET)), {RoomId(1)}
    ping_elsewhere = _in(3, 3, EventType.USER_MENTIONED, target=int(TARGET))
    assert in_view(ping_elsewhere, me, rooms, readable={RoomId(1), RoomId(3)})
    assert not in_view(ping_elsewhere, me, rooms, readable={RoomId(1)})
    assert in_view(_in(1, 1), me, rooms, readable=set())  # the view's own rooms are readable by definition


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


SESSION = "0123456789abcdef"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            make_event(EventType.USER_ENTERED),
            AccessChange(EventId(100), AccessChangeKind.ENTERED, UserId(1), RoomId(1)),
        ),
        (make_event(EventType.USER_LEFT), AccessChange(EventId(100), AccessChangeKind.LEFT, UserId(1), RoomId(1))),
        (
            make_event(EventType.ACCESS_LEVEL_CHANGED, target=TARGET),
            AccessChange(EventId(100), AccessChangeKind.ACCESS, TARGET, RoomId(1)),
        ),
        (
            make_event(EventType.ACCESS_LEVEL_CHANGED),
            AccessChange(EventId(100), AccessChangeKind.ROOM_ACCESS, None, RoomId(1)),
        ),
        (
            make_event(EventType.USER_SUSPENDED, target=TARGET, room=None),
            AccessChange(EventId(100), AccessChangeKind.SUSPENSION, TARGET),
        ),
        (
            make_event(EventType.SESSION_ENDED, target=TARGET, room=None, data=SESSION),
            AccessChange(EventId(100), AccessChangeKind.SESSION_ENDED, TARGET, session=SESSION),
        ),
        (
            make_event(EventType.SESSIONS_REVOKED, target=TARGET, room=None),
            AccessChange(EventId(100), AccessChangeKind.SESSIONS_REVOKED, TARGET),
        ),
        (make_event(EventType.MESSAGE_POSTED), None),
        (make_event(EventType.USER_MENTIONED, target=TARGET), None),
        (make_event(EventType.USER_LEFT, room=None), None),
    ],
)
def test_the_events_that_change_someones_reach(event: Event, expected: AccessChange | None) -> None:
    assert access_change(event) == expected


def _change(
    kind: AccessChangeKind, user: int | None = 5, room: int | None = 1, session: str | None = None
) -> AccessChange:
    return AccessChange(
        EventId(100), kind, None if user is None else UserId(user), None if room is None else RoomId(room), session
    )


@pytest.mark.parametrize(
    ("change", "url", "revoked"),
    [
        # (user, room of the URL (None: realtime), session that asked for it)
        (_change(AccessChangeKind.ENTERED), (5, 1, "a"), False),
        (_change(AccessChangeKind.LEFT), (5, 1, "a"), True),
        (_change(AccessChangeKind.LEFT), (5, 2, "a"), False),
        (_change(AccessChangeKind.LEFT), (5, None, "a"), False),
        (_change(AccessChangeKind.LEFT), (6, 1, "a"), False),
        (_change(AccessChangeKind.ACCESS), (5, 1, "a"), True),
        (_change(AccessChangeKind.ROOM_ACCESS, user=None), (7, 1, "a"), True),
        (_change(AccessChangeKind.ROOM_ACCESS, user=None), (7, 2, "a"), False),
        (_change(AccessChangeKind.ROOM_ACCESS, user=None), (7, None, "a"), False),
        (_change(AccessChangeKind.SUSPENSION, room=None), (5, 3, "a"), True),
        (_change(AccessChangeKind.SUSPENSION, room=None), (5, None, "a"), True),
        (_change(AccessChangeKind.SUSPENSION, room=None), (6, 3, "a"), False),
        (_change(AccessChangeKind.SESSION_ENDED, room=None, session="a"), (5, 3, "a"), True),
        (_change(AccessChangeKind.SESSION_ENDED, room=None, session="a"), (5, None, "b"), False),
        (_change(AccessChangeKind.SESSIONS_REVOKED, room=None, session="a"), (5, 3, "a"), False),
        (_change(AccessChangeKind.SESSIONS_REVOKED, room=None, session="a"), (5, None, "b"), True),
        (_change(AccessChangeKind.SESSIONS_REVOKED, room=None), (5, 3, "a"), True),
        (_change(AccessChangeKind.SESSIONS_REVOKED, room=None), (6, 3, "a"), False),
    ],
)
def test_which_socket_urls_a_change_revokes(
    change: AccessChange, url: tuple[int, int | None, str], revoked: bool
) -> None:
    user, room, session = url
    assert change.revokes(UserId(user), None if room is None else RoomId(room), session) is revoked


def test_only_session_changes_end_signed_in_connections() -> None:
    ended = _change(AccessChangeKind.SESSION_ENDED, room=None, session="a")
    assert ended.ends_session(UserId(5), "a") and not ended.ends_session(UserId(5), "b")
    assert not ended.ends_session(UserId(6), "a")
    others = _change(AccessChangeKind.SESSIONS_REVOKED, room=None, session="a")
    assert others.ends_session(UserId(5), "b") and not others.ends_session(UserId(5), "a")
    for kind in (AccessChangeKind.LEFT, AccessChangeKind.ACCESS, AccessChangeKind.SUSPENSION):
        assert not _change(kind).ends_session(UserId(5), "a")


def test_a_suspension_is_in_every_rooms_view_of_its_target_and_filed_under_each() -> None:
    me, rooms = make_user(int(TARGET)), {RoomId(1), RoomId(2)}
    suspended = Event(
        id=EventId(20), type=EventType.USER_SUSPENDED, time_stamp=1, target_user_id=TARGET, content="60 {}"
    )
    assert in_view(suspended, me, rooms, readable=set())
    assert not in_view(suspended, make_user(9), rooms, readable=EVERY_ROOM)
    assert {room: [e.id for e in events] for room, events in file_view([suspended], me, rooms).items()} == {
        RoomId(1): [20],
        RoomId(2): [20],
    }
    ended = Event(id=EventId(21), type=EventType.SESSION_ENDED, time_stamp=1, target_user_id=TARGET, data="k")
    assert not in_view(ended, me, rooms, readable=EVERY_ROOM) and file_view([ended], me, rooms) == {}
