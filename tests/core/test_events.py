"""core/events.py: Stack Exchange's event numbers and the flat event record."""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.core.events import CHAT_EVENT_TYPES, MESSAGE_EVENT_TYPES, Event, EventType, NewEvent
from hubbub.core.ids import EventId, MessageId, RoomId, UserId

# sechat.md §6.1 (master-chat.js constants); clients crash on numbers outside this table.
WIRE_NUMBERS = {
    "MESSAGE_POSTED": 1,
    "MESSAGE_EDITED": 2,
    "USER_ENTERED": 3,
    "USER_LEFT": 4,
    "ROOM_NAME_CHANGED": 5,
    "MESSAGE_STARRED": 6,
    "DEBUG_MESSAGE": 7,
    "USER_MENTIONED": 8,
    "MESSAGE_FLAGGED": 9,
    "MESSAGE_DELETED": 10,
    "FILE_ADDED": 11,
    "MODERATOR_FLAG": 12,
    "USER_SETTINGS_CHANGED": 13,
    "GLOBAL_NOTIFICATION": 14,
    "ACCESS_LEVEL_CHANGED": 15,
    "USER_NOTIFICATION": 16,
    "INVITATION": 17,
    "MESSAGE_REPLY": 18,
    "MESSAGE_MOVED_OUT": 19,
    "MESSAGE_MOVED_IN": 20,
    "TIME_BREAK": 21,
    "FEED_TICKER": 22,
    "USER_SUSPENDED": 29,
    "USER_MERGED": 30,
    "USER_NAME_OR_AVATAR_CHANGED": 34,
}


def test_chat_event_numbers_match_stack_exchange() -> None:
    chat = {t.name: t.value for t in EventType if t in CHAT_EVENT_TYPES}
    assert chat == WIRE_NUMBERS


def test_chat_event_types_are_exactly_the_wire_numbers() -> None:
    assert {int(t) for t in CHAT_EVENT_TYPES} == set(range(1, 23)) | {29, 30, 34}
    for number in (23, 24, 25, 26, 27, 28, 31, 32, 33, 35):
        assert number not in {int(t) for t in EventType}


def test_hubbub_own_kinds_never_count_as_chat_events() -> None:
    assert int(EventType.INBOX_CHANGED) == 1001
    assert int(EventType.FEED_PUBLISHED) == 1002
    assert (int(EventType.SESSION_ENDED), int(EventType.SESSIONS_REVOKED)) == (1003, 1004)
    own = [t for t in EventType if t not in CHAT_EVENT_TYPES]
    assert [int(t) for t in own[4:9]] == [1005, 1006, 1007, 1008, 1009]  # direct conversations (core/direct.py)
    assert [int(t) for t in own[9:]] == [1101, 1102, 1103, 1104, 1105]  # streams (core/streams.py)
    assert own == [
        EventType.INBOX_CHANGED,
        EventType.FEED_PUBLISHED,
        EventType.SESSION_ENDED,
        EventType.SESSIONS_REVOKED,
        EventType.DIRECT_MESSAGE,
        EventType.TYPING,
        EventType.PRESENCE_CHANGED,
        EventType.CONTACT_CHANGED,
        EventType.DIRECT_READ,
        EventType.STREAM_CHANGED,
        EventType.STREAM_CHAT,
        EventType.STREAM_VIEWCOUNT,
        EventType.ACCESS_TOKEN_RESET,
        EventType.STREAM_DELETED,
    ]
    assert all(t >= 1000 for t in own)


def test_message_event_types() -> None:
    assert {
        EventType.MESSAGE_POSTED,
        EventType.MESSAGE_EDITED,
        EventType.MESSAGE_STARRED,
        EventType.USER_MENTIONED,
        EventType.MESSAGE_FLAGGED,
        EventType.MESSAGE_DELETED,
        EventType.MODERATOR_FLAG,
        EventType.MESSAGE_REPLY,
        EventType.MESSAGE_MOVED_OUT,
        EventType.MESSAGE_MOVED_IN,
    } == MESSAGE_EVENT_TYPES
    assert MESSAGE_EVENT_TYPES <= CHAT_EVENT_TYPES


def test_event_types_are_ints_on_the_wire() -> None:
    assert EventType(18) is EventType.MESSAGE_REPLY
    assert int(EventType.MESSAGE_DELETED) == 10
    with pytest.raises(ValueError):
        EventType(23)


def _every_field_set() -> NewEvent:
    return NewEvent(
        type=EventType.MESSAGE_REPLY,
        time_stamp=1_500_148_961,
        room_id=RoomId(1),
        room_name="Sandbox",
        user_id=UserId(13379),
        user_name="Michael",
        target_user_id=UserId(4258326),
        message_id=MessageId(38145271),
        content="@OakBot Test2",
        parent_id=MessageId(38145269),
        show_parent=True,
        message_edits=2,
        message_stars=3,
        message_owner_stars=1,
        moved=True,
        topic="t",
        data='{"x": 1}',
    )


def test_new_event_defaults_are_zero_values() -> None:
    event = NewEvent(type=EventType.USER_ENTERED, time_stamp=5)
    for field in dataclasses.fields(NewEvent):
        if field.name in {"type", "time_stamp"}:
            continue
        assert getattr(event, field.name) in (None, False, 0), field.name


def test_with_id_copies_every_field() -> None:
    new = _every_field_set()
    # The fixture must really set every field away from its default, or this test proves nothing.
    for field in dataclasses.fields(NewEvent):
        assert getattr(new, field.name) != field.default, field.name
    event = new.with_id(EventId(77322110))
    assert isinstance(event, Event)
    assert event.id == 77322110
    for field in dataclasses.fields(NewEvent):
        assert getattr(event, field.name) == getattr(new, field.name), field.name
    assert {f.name for f in dataclasses.fields(Event)} == {f.name for f in dataclasses.fields(NewEvent)} | {"id"}


def test_events_are_frozen_and_keyword_only() -> None:
    event = _every_field_set().with_id(EventId(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.content = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        NewEvent(EventType.MESSAGE_POSTED, 1)  # type: ignore[call-arg]


def test_events_compare_by_value() -> None:
    assert _every_field_set().with_id(EventId(3)) == _every_field_set().with_id(EventId(3))
    assert _every_field_set().with_id(EventId(3)) != _every_field_set().with_id(EventId(4))
