"""Typed events from JSON records: every type of seed 002, the fields each carries, and unknown types."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.client import events
from hubbub.core.events import Event as LogEvent
from hubbub.core.events import EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.dialects.sechat.codec import event_record

ROOM = {"room_id": 1, "room_name": "Sandbox"}
USER = {"user_id": 13379, "user_name": "Michael"}


def _record(event_type: int, **fields: Any) -> dict[str, Any]:
    return {"event_type": event_type, "time_stamp": 1498317444, "id": 76625573, **fields}


# Captured frames (shared/protocol/sechat.md §6.2) and seed 002's descriptions of the other types.
CASES: list[tuple[dict[str, Any], type[events.Event]]] = [
    (_record(1, content="test", **USER, **ROOM, message_id=37799434), events.MessageEvent),
    (_record(2, content="test4", **USER, **ROOM, message_id=37799446, message_edits=1), events.EditEvent),
    (_record(3, **USER, **ROOM), events.UserEnteredEvent),
    (_record(4, **USER, **ROOM), events.UserLeftEvent),
    (_record(5, content="Sandbox / Try things", **USER, **ROOM), events.RoomNameChangedEvent),
    (_record(6, **ROOM, message_id=5, message_stars=2, message_owner_stars=1), events.MessageStarredEvent),
    (_record(8, content="@Bot hi", **USER, target_user_id=7, **ROOM, message_id=5, parent_id=4), events.MentionEvent),
    (_record(10, **USER, **ROOM, message_id=37799446, message_edits=1), events.DeleteEvent),
    (
        _record(14, content="<b>soon</b>", user_id=-2, user_name="Feeds", target_user_id=7, **ROOM),
        events.GlobalNotificationEvent,
    ),
    (_record(15, content="Access now owner", **USER, target_user_id=7, **ROOM), events.AccessLevelChangedEvent),
    (_record(15, content=None, **USER, **ROOM), events.AccessLevelChangedEvent),
    (_record(16, content="wants access", **USER, target_user_id=7, **ROOM), events.UserNotificationEvent),
    (_record(17, content="invited you", **USER, target_user_id=7, **ROOM), events.InvitationEvent),
    (
        _record(
            18,
            content="@OakBot Test2",
            **USER,
            target_user_id=4258326,
            **ROOM,
            message_id=38145271,
            parent_id=38145269,
            show_parent=True,
        ),
        events.ReplyEvent,
    ),
    (_record(19, content="moved", **USER, **ROOM, message_id=9, moved=True), events.MessageMovedOutEvent),
    (_record(20, **USER, **ROOM, message_id=9, moved=True), events.MessageMovedInEvent),
    (
        _record(29, content='1 {"old": null, "new": 1790000000}', **USER, target_user_id=7, **ROOM),
        events.UserSuspendedEvent,
    ),
    (_record(34, user_id=-2, user_name="Feeds", target_user_id=7, **ROOM), events.UserNameOrAvatarChangedEvent),
]


@pytest.mark.parametrize(("record", "kind"), CASES, ids=[f"type{r['event_type']}" for r, _ in CASES])
def test_each_type_gets_its_class_and_fields(record: dict[str, Any], kind: type[events.Event]) -> None:
    event = events.from_record(record)
    assert type(event) is kind
    assert (event.id, event.event_type, event.time_stamp) == (76625573, record["event_type"], 1498317444)
    assert event.raw == record
    assert isinstance(event, events.RoomEvent) and (event.room_id, event.room_name) == (1, "Sandbox")
    for name in ("user_id", "user_name", "target_user_id", "message_id", "parent_id", "content", "message_edits"):
        if name in record:
            assert getattr(event, name) == record[name], name


def test_the_reply_capture_reads_fully() -> None:
    reply = events.from_record(CASES[13][0])
    assert isinstance(reply, events.MessageReply) and isinstance(reply, events.MessageEvent)
    assert (reply.parent_id, reply.show_parent, reply.target_user_id) == (38145269, True, 4258326)
    assert reply.text == "@OakBot Test2"


def test_aliases_name_the_event_types() -> None:
    assert events.MessagePosted is events.MessageEvent and events.MessageEdited is events.EditEvent
    assert events.MessageDeleted is events.DeleteEvent and events.UserMentioned is events.MentionEvent
    assert events.MessageStarred is events.MessageStarredEvent and events.RoomNameChanged is events.RoomNameChangedEvent
    assert events.UserEntered is events.UserEnteredEvent and events.UserLeft is events.UserLeftEvent


@pytest.mark.parametrize(
    "record",
    [
        _record(23, **ROOM),  # not a Stack Exchange type (sechat 1.x's typo)
        _record(35, **ROOM),
        _record(7, **ROOM),  # a defined type without a class: DebugMessage
        _record(21, **ROOM),  # TimeBreak
        _record(1, **USER, **ROOM, message_id=1),  # a message without content
        _record(1, content=5, **USER, **ROOM, message_id=1),  # a field of the wrong type
        _record(3, **ROOM),  # an entering without a user
        _record(1001, **ROOM),  # hubbub's own kinds never become typed chat events
        {"event_type": "1", "id": 3},
        {"id": True, "event_type": 1},
        {},
    ],
)
def test_odd_records_become_unknown_events(record: dict[str, Any]) -> None:
    event = events.from_record(record)
    assert type(event) is events.UnknownEvent
    assert event.raw == record
    if isinstance(record.get("event_type"), int):
        assert event.event_type == record["event_type"] and event.room_id == record.get("room_id")


def test_records_the_server_writes_read_back() -> None:
    logged = LogEvent(
        id=EventId(42),
        type=EventType.MESSAGE_EDITED,
        time_stamp=1790000000,
        room_id=RoomId(3),
        room_name="Room",
        user_id=UserId(5),
        user_name="Ann",
        message_id=MessageId(9),
        content="<i>x</i> &amp; y",
        parent_id=MessageId(8),
        show_parent=True,
        message_edits=2,
        message_stars=1,
    )
    event = events.from_record(event_record(logged))
    assert isinstance(event, events.EditEvent)
    assert (event.id, event.room_id, event.user_id, event.message_id, event.parent_id) == (42, 3, 5, 9, 8)
    assert (event.message_edits, event.message_stars, event.text) == (2, 1, "x & y")
