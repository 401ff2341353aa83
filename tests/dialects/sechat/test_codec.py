"""dialects/sechat/codec.py: event records, frames, form parsing and refusals, with no I/O.

Expected shapes and strings come from shared/protocol/sechat.md (§1, §4, §6.2, §6.3, §9)
and the captures in shared/seeds/001.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import pytest

from hubbub.core.events import CHAT_EVENT_TYPES, Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import Message, Room, User
from hubbub.dialects.sechat.codec import (
    DELETE_ALREADY_DELETED,
    DELETE_NOT_YOURS,
    DELETE_TOO_LATE,
    EDIT_ALREADY_DELETED,
    EDIT_NOT_YOURS,
    EDIT_TOO_LATE,
    OK,
    Action,
    HistoryRequest,
    Reply,
    RoomFrame,
    encode_json,
    event_record,
    frame,
    history_record,
    json_reply,
    parse_history_request,
    parse_id_list,
    parse_int,
    parse_message_id,
    parse_poll_cursors,
    parse_replay_cursor,
    parse_room_id,
    parse_user_id,
    refusal,
    text_reply,
)
from hubbub.errors import (
    AlreadyDeleted,
    BadRequest,
    Conflict,
    EmptyMessage,
    InvalidFkey,
    Kicked,
    LimitReached,
    LowReputation,
    NeverAssigned,
    NotAllowed,
    NotFound,
    NotLoggedIn,
    NotYours,
    OwnMessage,
    RateLimited,
    RemoteError,
    Suspended,
    TooLate,
    TooLong,
)

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
NO_PERMISSION = "The room does not exist, or you do not have permission"
ALL_ACTIONS: list[Action] = ["post", "edit", "delete", "star", "read", "other"]


def event(event_type: EventType, **fields: object) -> Event:
    values: dict[str, object] = {"id": EventId(100), "time_stamp": 1_790_000_000}
    values.update(fields)
    return Event(type=event_type, **values)  # type: ignore[arg-type]


def message_event(event_type: EventType, **fields: object) -> Event:
    values: dict[str, object] = {
        "id": EventId(76625573),
        "time_stamp": 1498317444,
        "content": "test",
        "user_id": UserId(13379),
        "user_name": "Michael",
        "room_id": RoomId(1),
        "room_name": "Sandbox",
        "message_id": MessageId(37799434),
    }
    values.update(fields)
    return Event(type=event_type, **values)  # type: ignore[arg-type]


def wire(value: object) -> str:
    return encode_json(value).decode("utf-8")


# --- replies ----------------------------------------------------------------------------------


def test_ok_is_the_json_string_ok() -> None:
    # Four bytes including the quotes (sechat.md §1); SC-1 compares r.text == '"ok"'.
    assert Reply(200, b'"ok"', JSON) == OK


def test_json_and_text_replies() -> None:
    assert json_reply({"id": 5, "time": 6}) == Reply(200, b'{"id":5,"time":6}', JSON)
    assert json_reply("x", 404) == Reply(404, b'"x"', JSON)
    assert text_reply("plain é", 409) == Reply(409, "plain é".encode(), TEXT)
    assert Reply(200, b"").location is None


def test_encode_json_is_compact_utf8() -> None:
    assert encode_json({"a": [1, None, True], "b": "é ☃"}) == '{"a":[1,null,true],"b":"é ☃"}'.encode()


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_rate_limit_is_409_plain_text_exactly(action: Action) -> None:
    reply = refusal(RateLimited(5), action)
    assert reply == Reply(409, b"You can perform this action again in 5 seconds.", TEXT)


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_rate_limit_of_one_second_is_singular(action: Action) -> None:
    # CE-C commit 668f8ab; SC-3 matches r"You can perform this action again in (\d+) seconds?\."
    reply = refusal(RateLimited(1), action)
    assert reply.status == 409
    assert reply.body == b"You can perform this action again in 1 second."
    assert reply.content_type == TEXT


def test_rate_limit_text_matches_the_clients_regexes() -> None:
    import re

    for seconds in (1, 2, 59):
        body = refusal(RateLimited(seconds), "post").body.decode()
        match = re.fullmatch(r"You can perform this action again in (\d+) seconds?\.", body)  # SC-3
        assert match is not None and int(match.group(1)) == seconds
        assert re.match(r"You can perform this action again in (\d+) second", body)  # CE-C / CE-M
        assert not body.startswith('"')


@pytest.mark.parametrize("action", ["edit", "delete", "star"])
def test_never_assigned_message_is_a_302(action: Action) -> None:
    reply = refusal(NeverAssigned(99999), action)
    assert reply.status == 302
    assert reply.body == b""
    assert reply.location is not None


def test_never_assigned_elsewhere_is_a_404() -> None:
    for action in ("post", "read", "other"):
        reply = refusal(NeverAssigned(99999), action)
        assert reply.status == 404
        assert reply.body == b"Message ID 99999 was never assigned to a message."


@pytest.mark.parametrize(
    ("error", "body"),
    [
        (TooLate("edit"), b'"It is too late to edit this message"'),
        (AlreadyDeleted("edit"), b'"This message has already been deleted and cannot be edited"'),
        (NotYours("edit"), b'"You can only edit your own messages"'),
    ],
)
def test_edit_refusals_are_json_quoted_strings_with_status_200(error: RemoteError, body: bytes) -> None:
    assert refusal(error, "edit") == Reply(200, body, JSON)


@pytest.mark.parametrize(
    ("error", "body"),
    [
        (TooLate("delete"), b'"It is too late to delete this message"'),
        (AlreadyDeleted("delete"), b'"This message has already been deleted."'),
        (NotYours("delete"), b'"You can only delete your own messages"'),
    ],
)
def test_delete_refusals_are_json_quoted_strings_with_status_200(error: RemoteError, body: bytes) -> None:
    assert refusal(error, "delete") == Reply(200, body, JSON)


def test_edit_and_delete_strings() -> None:
    # sechat.md §9.2; where sources disagree the codec documents its choice.
    assert EDIT_TOO_LATE == "It is too late to edit this message"
    assert EDIT_ALREADY_DELETED == "This message has already been deleted and cannot be edited"
    assert EDIT_NOT_YOURS == "You can only edit your own messages"
    assert DELETE_TOO_LATE == "It is too late to delete this message"
    assert DELETE_ALREADY_DELETED == "This message has already been deleted."
    assert DELETE_NOT_YOURS == "You can only delete your own messages"


def test_edit_strings_are_those_oakbot_and_chatexchange_recognise() -> None:
    # OB/S4J switch on these bodies; CE's ignored_messages accepts them as final answers.
    s4j_edit = {
        '"This message has already been deleted and cannot be edited"',
        '"It is too late to edit this message"',
        '"You can only edit your own messages"',
    }
    for error in (TooLate("edit"), AlreadyDeleted("edit"), NotYours("edit")):
        assert refusal(error, "edit").body.decode() in s4j_edit
    for error in (TooLate("delete"), AlreadyDeleted("delete"), NotYours("delete")):
        assert json.loads(refusal(error, "delete").body) in {
            "This message has already been deleted.",
            "It is too late to delete this message",
            "You can only delete your own messages",
        }


@pytest.mark.parametrize(
    "error",
    [
        NotFound(NO_PERMISSION),
        NotAllowed(NO_PERMISSION),
        LowReputation(20),
        Kicked(58),
        Suspended(1_790_018_000, 5 * 3600),
    ],
)
def test_post_refusals_are_404_with_the_text(error: RemoteError) -> None:
    reply = refusal(error, "post")
    assert reply == Reply(404, str(error).encode(), TEXT)


def test_post_refusal_texts() -> None:
    assert refusal(NotFound(NO_PERMISSION), "post").body == (b"The room does not exist, or you do not have permission")
    assert refusal(Suspended(0, 5 * 3600), "post").body == b"Your account is blocked, ending in 5 hours"


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_not_logged_in_and_bad_fkey_are_403(action: Action) -> None:
    for error in (NotLoggedIn(), InvalidFkey()):
        reply = refusal(error, action)
        assert reply.status == 403
        assert reply.body == str(error).encode()
        assert reply.content_type == TEXT


@pytest.mark.parametrize("error", [TooLong(500, 501, single_line=True), EmptyMessage(), BadRequest("x")])
def test_bad_messages_are_400(error: RemoteError) -> None:
    for action in ("post", "edit"):
        assert refusal(error, action) == Reply(400, str(error).encode(), TEXT)


@pytest.mark.parametrize(
    "error",
    [OwnMessage(), AlreadyDeleted("star"), AlreadyDeleted("pin"), NotAllowed("Only room owners can do that"),
     LimitReached("You have used all your stars for today")],
)  # fmt: skip
def test_star_refusals_are_json_strings_with_status_200(error: RemoteError) -> None:
    reply = refusal(error, "star")
    assert reply == Reply(200, encode_json(str(error)), JSON)
    assert json.loads(reply.body) == str(error)
    assert json.loads(reply.body) != "ok"  # SC-3 raises OperationFailedError on anything but "ok"


def test_star_on_a_message_that_cannot_be_seen_is_404() -> None:
    assert refusal(NotFound("no such message"), "star") == Reply(404, b"no such message", TEXT)
    assert refusal(BadRequest("bad id"), "star").status == 400


def test_read_refusals() -> None:
    assert refusal(NotFound(NO_PERMISSION), "read") == Reply(404, NO_PERMISSION.encode(), TEXT)
    assert refusal(BadRequest("The msgCount parameter must be a number"), "read").status == 400


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_every_refusal_is_a_reply(action: Action) -> None:
    errors: Iterable[RemoteError] = [
        RemoteError("x"),
        BadRequest("x"),
        Conflict("x"),
        LimitReached("x"),
        NotAllowed("x"),
        NotFound("x"),
        TooLong(1, 2, single_line=False),
    ]
    for error in errors:
        reply = refusal(error, action)
        assert 200 <= reply.status < 500
        assert reply.status != 200 or reply.content_type == JSON


# --- event records ----------------------------------------------------------------------------


def test_message_posted_record_matches_the_capture() -> None:
    # OB-wiki-WS sample for type 1 (sechat.md §6.2), field order included.
    record = event_record(message_event(EventType.MESSAGE_POSTED))
    assert wire(record) == (
        '{"event_type":1,"time_stamp":1498317444,"content":"test","id":76625573,"user_id":13379,'
        '"user_name":"Michael","room_id":1,"room_name":"Sandbox","message_id":37799434}'
    )


def test_message_edited_record_carries_the_edit_count() -> None:
    record = event_record(
        message_event(EventType.MESSAGE_EDITED, content="test4", message_id=MessageId(37799446), message_edits=1)
    )
    assert record["event_type"] == 2
    assert record["content"] == "test4"
    assert record["message_edits"] == 1
    assert list(record)[-1] == "message_edits"


def test_message_deleted_record_has_no_content_even_when_the_event_has_some() -> None:
    record = event_record(
        message_event(
            EventType.MESSAGE_DELETED,
            id=EventId(76625609),
            time_stamp=1498317513,
            content="<b>still here</b>",
            message_id=MessageId(37799446),
            message_edits=1,
        )
    )
    assert wire(record) == (
        '{"event_type":10,"time_stamp":1498317513,"id":76625609,"user_id":13379,"user_name":"Michael",'
        '"room_id":1,"room_name":"Sandbox","message_id":37799446,"message_edits":1}'
    )


def test_reply_record_matches_the_capture() -> None:
    record = event_record(
        message_event(
            EventType.MESSAGE_REPLY,
            id=EventId(77322110),
            time_stamp=1500148961,
            content="@OakBot Test2",
            target_user_id=UserId(4258326),
            message_id=MessageId(38145271),
            parent_id=MessageId(38145269),
            show_parent=True,
        )
    )
    assert wire(record) == (
        '{"event_type":18,"time_stamp":1500148961,"content":"@OakBot Test2","id":77322110,"user_id":13379,'
        '"target_user_id":4258326,"user_name":"Michael","room_id":1,"room_name":"Sandbox",'
        '"message_id":38145271,"parent_id":38145269,"show_parent":true}'
    )


def test_zero_and_absent_optional_fields_are_left_out() -> None:
    record = event_record(message_event(EventType.MESSAGE_POSTED))
    for key in (
        "target_user_id",
        "parent_id",
        "show_parent",
        "message_edits",
        "message_stars",
        "message_owner_stars",
        "moved",
        "topic",
        "data",
    ):
        assert key not in record


def test_nonzero_optional_fields_are_present() -> None:
    record = event_record(
        message_event(
            EventType.MESSAGE_POSTED,
            parent_id=MessageId(5),
            show_parent=True,
            message_edits=2,
            message_stars=3,
            message_owner_stars=1,
        )
    )
    assert record["parent_id"] == 5
    assert record["show_parent"] is True
    assert record["message_edits"] == 2
    assert record["message_stars"] == 3
    assert record["message_owner_stars"] == 1


def test_a_single_ping_has_parent_id_without_show_parent() -> None:
    record = event_record(message_event(EventType.MESSAGE_POSTED, parent_id=MessageId(5), show_parent=False))
    assert record["parent_id"] == 5
    assert "show_parent" not in record


def test_moved_messages_say_so() -> None:
    for event_type in (EventType.MESSAGE_MOVED_OUT, EventType.MESSAGE_MOVED_IN):
        record = event_record(message_event(event_type, moved=True))
        assert record["moved"] is True
        assert record["content"] == "test"


def test_star_record_without_a_user_has_no_user_fields() -> None:
    # OB/S4J: "not present for 'message starred' events"; SC-3b: no longer says who starred.
    record = event_record(
        event(
            EventType.MESSAGE_STARRED,
            room_id=RoomId(1),
            room_name="Sandbox",
            message_id=MessageId(9),
            content="hi",
            message_stars=1,
        )
    )
    assert "user_id" not in record
    assert "user_name" not in record
    assert record["message_stars"] == 1
    assert {"id", "room_id", "room_name", "message_id"} <= set(record)


def test_user_entered_has_no_content_key() -> None:
    record = event_record(
        event(EventType.USER_ENTERED, user_id=UserId(3), user_name="Bob", room_id=RoomId(1), room_name="Sandbox")
    )
    assert record == {
        "event_type": 3,
        "time_stamp": 1_790_000_000,
        "id": 100,
        "user_id": 3,
        "user_name": "Bob",
        "room_id": 1,
        "room_name": "Sandbox",
    }


def test_access_level_changed_carries_content_even_when_null() -> None:
    base = {"user_id": UserId(1), "user_name": "Owner", "room_id": RoomId(1), "room_name": "Sandbox"}
    granted = event_record(
        event(EventType.ACCESS_LEVEL_CHANGED, content="Access now read-write", target_user_id=UserId(2), **base)
    )
    assert granted["content"] == "Access now read-write"
    assert granted["target_user_id"] == 2
    room_changed = event_record(event(EventType.ACCESS_LEVEL_CHANGED, **base))
    assert "content" in room_changed
    assert room_changed["content"] is None
    assert '"content":null' in wire(room_changed)
    assert "target_user_id" not in room_changed


def test_missing_names_become_empty_strings() -> None:
    # CE: room_id requires room_name and user_id requires user_name (KeyError otherwise).
    record = event_record(event(EventType.USER_LEFT, user_id=UserId(3), room_id=RoomId(1)))
    assert record["user_name"] == ""
    assert record["room_name"] == ""


def test_feeds_user_id_is_negative() -> None:
    record = event_record(
        event(
            EventType.GLOBAL_NOTIFICATION,
            user_id=UserId(-2),
            user_name="Feeds",
            target_user_id=UserId(5),
            room_id=RoomId(1),
            room_name="Sandbox",
            content="<b>event soon</b>",
        )
    )
    assert record["user_id"] == -2
    assert record["target_user_id"] == 5


@pytest.mark.parametrize("event_type", [EventType.INBOX_CHANGED, EventType.FEED_PUBLISHED])
def test_hubbub_own_events_never_become_records(event_type: EventType) -> None:
    with pytest.raises(ValueError):
        event_record(event(event_type, target_user_id=UserId(1), data="3"))


@pytest.mark.parametrize("event_type", sorted(CHAT_EVENT_TYPES))
def test_every_chat_event_has_the_keys_every_client_requires(event_type: EventType) -> None:
    record = event_record(message_event(event_type))
    # CE events.make: id, event_type, time_stamp; TK: room_id on every event.
    assert {"id", "event_type", "time_stamp", "room_id", "room_name"} <= set(record)
    assert isinstance(record["event_type"], int)
    assert record["event_type"] == int(event_type)
    json.loads(encode_json(record))


# sechat v2 builds dataclasses from these exact keys; any other key raises TypeError and the
# room task dies (sechat.md §6.3).
SC2_MESSAGE_KEYS = {
    "event_type",
    "time_stamp",
    "id",
    "room_id",
    "room_name",
    "content",
    "message_id",
    "user_id",
    "user_name",
    "parent_id",
    "show_parent",
    "target_user_id",
    "message_stars",
    "message_owner_stars",
    "message_edits",
}
SC2_DELETE_KEYS = {
    "event_type",
    "time_stamp",
    "id",
    "room_id",
    "room_name",
    "user_id",
    "user_name",
    "message_id",
    "message_edits",
    "target_user_id",
    "parent_id",
    "show_parent",
}
EVERYTHING = {
    "target_user_id": UserId(9),
    "parent_id": MessageId(5),
    "show_parent": True,
    "message_edits": 2,
    "message_stars": 3,
    "message_owner_stars": 1,
}


@pytest.mark.parametrize(
    "event_type",
    [EventType.MESSAGE_POSTED, EventType.MESSAGE_EDITED, EventType.USER_MENTIONED, EventType.MESSAGE_REPLY],
)
def test_message_records_fit_sechat_v2_and_v3(event_type: EventType) -> None:
    record = event_record(message_event(event_type, **EVERYTHING))
    assert set(record) <= SC2_MESSAGE_KEYS
    # SC-3 MessageEvent/EditEvent/MentionEvent/ReplyEvent required fields.
    assert {"id", "room_id", "room_name", "message_id", "user_id", "user_name", "content"} <= set(record)
    assert isinstance(record["content"], str)


def test_deleted_record_fits_sechat_v3() -> None:
    record = event_record(message_event(EventType.MESSAGE_DELETED, **EVERYTHING))
    assert {"id", "room_id", "room_name", "message_id", "user_id", "user_name"} <= set(record)
    assert "content" not in record


def test_deleted_record_of_a_starred_message_fits_sechat_v2() -> None:
    record = event_record(message_event(EventType.MESSAGE_DELETED, **EVERYTHING))
    assert set(record) <= SC2_DELETE_KEYS


def test_deleted_record_of_an_unstarred_message_fits_sechat_v2() -> None:
    fields = {k: v for k, v in EVERYTHING.items() if k not in {"message_stars", "message_owner_stars"}}
    record = event_record(message_event(EventType.MESSAGE_DELETED, **fields))
    assert set(record) <= SC2_DELETE_KEYS


# --- history records --------------------------------------------------------------------------

ROOM = Room(id=RoomId(1), name="Sandbox")
AUTHOR = User(id=UserId(13379), name="Michael", email=None, reputation=100)


def make_message(**fields: object) -> Message:
    values: dict[str, object] = {
        "id": MessageId(38446514),
        "room_id": RoomId(1),
        "user_id": UserId(13379),
        "source": "three",
        "content": "three",
        "posted_at": 1501636756,
    }
    values.update(fields)
    return Message(**values)  # type: ignore[arg-type]


def test_history_record_matches_the_capture() -> None:
    # seed 001: POST /chats/ROOM_ID/events response (plus id and room_name, which clients read).
    record = history_record(make_message(), ROOM, AUTHOR, EventId(77918739))
    assert wire(record) == (
        '{"event_type":1,"time_stamp":1501636756,"content":"three","id":77918739,"user_id":13379,'
        '"user_name":"Michael","room_id":1,"room_name":"Sandbox","message_id":38446514}'
    )


def test_history_record_counts_only_when_nonzero() -> None:
    # seed 001: "message_edits"/"message_stars" are only present if the message was edited/starred.
    plain = history_record(make_message(), ROOM, AUTHOR, EventId(1))
    assert "message_edits" not in plain
    assert "message_stars" not in plain
    assert "message_owner_stars" not in plain
    busy = history_record(make_message(edits=1, stars=2, owner_stars=1), ROOM, AUTHOR, EventId(1))
    assert busy["message_edits"] == 1
    assert busy["message_stars"] == 2
    assert busy["message_owner_stars"] == 1


def test_history_record_of_a_reply() -> None:
    reply = history_record(make_message(parent_id=MessageId(7), show_parent=True), ROOM, AUTHOR, EventId(1))
    assert reply["parent_id"] == 7
    assert reply["show_parent"] is True
    ping = history_record(make_message(parent_id=MessageId(7)), ROOM, AUTHOR, EventId(1))
    assert ping["parent_id"] == 7
    assert "show_parent" not in ping


def test_history_record_uses_the_current_content_and_the_posting_time() -> None:
    record = history_record(
        make_message(content="<i>edited</i>", edits=1, edited_at=1501636999), ROOM, AUTHOR, EventId(1)
    )
    assert record["content"] == "<i>edited</i>"
    assert record["time_stamp"] == 1501636756


def test_history_record_fits_sechat_v2() -> None:
    record = history_record(
        make_message(parent_id=MessageId(7), show_parent=True, edits=1, stars=2, owner_stars=1),
        ROOM,
        AUTHOR,
        EventId(1),
    )
    assert set(record) <= SC2_MESSAGE_KEYS


# --- frames -----------------------------------------------------------------------------------


def test_idle_frame() -> None:
    # The keep-alive every client ignores harmlessly (sechat.md §5.6).
    assert frame({RoomId(1): RoomFrame([], 23531002)}) == b'{"r1":{"t":23531002,"d":0}}'


def test_frame_with_events() -> None:
    posted = message_event(EventType.MESSAGE_POSTED)
    body = frame({RoomId(1): RoomFrame([posted], 76625573)})
    assert body == b'{"r1":{"e":[' + encode_json(event_record(posted)) + b'],"t":76625573,"d":1}}'


def test_frame_with_several_rooms_keeps_their_order() -> None:
    reply = message_event(EventType.MESSAGE_REPLY, id=EventId(10), target_user_id=UserId(4))
    posted = message_event(EventType.MESSAGE_POSTED, id=EventId(11))
    body = json.loads(frame({RoomId(139): RoomFrame([reply], 11), RoomId(1): RoomFrame([reply, posted], 11)}))
    assert list(body) == ["r139", "r1"]
    assert [e["id"] for e in body["r1"]["e"]] == [10, 11]
    assert body["r1"]["d"] == 2
    assert body["r139"]["d"] == 1
    assert body["r1"]["t"] == body["r139"]["t"] == 11


def test_frame_leaves_out_hubbub_own_events() -> None:
    inbox = event(EventType.INBOX_CHANGED, target_user_id=UserId(1), data="2")
    posted = message_event(EventType.MESSAGE_POSTED, id=EventId(7))
    only_own = json.loads(frame({RoomId(1): RoomFrame([inbox], 8)}))
    assert only_own == {"r1": {"t": 8, "d": 0}}
    mixed = json.loads(frame({RoomId(1): RoomFrame([inbox, posted], 8)}))
    assert [e["id"] for e in mixed["r1"]["e"]] == [7]
    assert mixed["r1"]["d"] == 1


def test_empty_frame() -> None:
    assert frame({}) == b"{}"


def test_frames_are_valid_json_text_in_utf8() -> None:
    posted = message_event(EventType.MESSAGE_POSTED, content="naïve ☃ \u2028 </script>")
    body = frame({RoomId(1): RoomFrame([posted], 1)})
    assert json.loads(body.decode("utf-8"))["r1"]["e"][0]["content"] == "naïve ☃ \u2028 </script>"
    assert b" " not in body.replace("naïve ☃ \u2028 </script>".encode(), b"")


# --- form parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("42", 42), (" 42 ", 42), ("0", 0), ("007", 7)])
def test_parse_int(value: str, expected: int) -> None:
    assert parse_int(value, "n") == expected


@pytest.mark.parametrize("value", [None, "", "   "])
def test_parse_int_missing_uses_the_default(value: str | None) -> None:
    assert parse_int(value, "n", default=5) == 5
    assert parse_int(value, "n", default=0) == 0


@pytest.mark.parametrize("value", [None, "", "  "])
def test_parse_int_missing_without_default_is_a_bad_request(value: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_int(value, "roomid")
    assert str(caught.value) == "The roomid parameter is required"


@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0x10", "12abc", "--1", "9" * 5000])
def test_parse_int_not_a_number(value: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_int(value, "msgCount")
    assert str(caught.value) == "The msgCount parameter must be a number"


def test_parse_int_minimum() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_int("-1", "since")
    assert str(caught.value) == "The since parameter must be at least 0"
    with pytest.raises(BadRequest) as caught:
        parse_int("0", "room id", minimum=1)
    assert str(caught.value) == "The room id parameter must be at least 1"
    assert parse_int("1", "room id", minimum=1) == 1


def test_parse_int_default_is_not_checked_against_the_minimum() -> None:
    assert parse_int(None, "n", default=0, minimum=1) == 0


def test_parse_int_refuses_numbers_beyond_64_bits() -> None:
    with pytest.raises(BadRequest):
        parse_int(str(2**63), "message id", minimum=1)


@pytest.mark.parametrize("parse", [parse_room_id, parse_user_id, parse_message_id])
@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("42", 42), ("007", 7), (str(2**63 - 1), 2**63 - 1)])
def test_path_and_query_ids(parse: Callable[[str | None], int], value: str, expected: int) -> None:
    assert parse(value) == expected


@pytest.mark.parametrize(
    ("parse", "message"),
    [
        (parse_room_id, "The room does not exist, or you do not have permission"),
        (parse_user_id, "No such user"),
        (parse_message_id, "No such message"),
    ],
)
@pytest.mark.parametrize(
    "value",
    [
        "9" * 20,  # issue 8, item 15: twenty digits reached SQLite and raised OverflowError (a 500)
        str(2**63),
        "9" * 5000,  # more digits than int() takes
        "0",
        "000",
        "",
        None,
        "-1",
        "1.0",
        "abc",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: a route's \d+ matches it and int() reads 3
        "1\u00b2",  # SUPERSCRIPT TWO: str.isdigit() is true, int() refuses it
    ],
)
def test_an_id_no_row_can_have_is_not_found(
    parse: Callable[[str | None], int], message: str, value: str | None
) -> None:
    """Out-of-range ids name nothing, so they are "not found" in the words an unknown id gets (sechat.md §9.4)."""
    with pytest.raises(NotFound) as caught:
        parse(value)
    assert str(caught.value) == message
    assert not isinstance(caught.value, NeverAssigned)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", [1]), ("1,2,3", [1, 2, 3]), ("1, 2 ,3", [1, 2, 3]), ("1,,2", [1, 2]), ("5,", [5]), ("3,1,3", [3, 1, 3])],
)
def test_parse_id_list(value: str, expected: list[int]) -> None:
    assert parse_id_list(value, "ids") == expected


@pytest.mark.parametrize("value", [None, "", "  "])
def test_parse_id_list_missing(value: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_id_list(value, "ids")
    assert str(caught.value) == "The ids parameter is required"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1,x", "The ids parameter must be a number"),
        ("1;2", "The ids parameter must be a number"),
        ("1,0", "The ids parameter must be at least 1"),
        ("-3", "The ids parameter must be at least 1"),
    ],
)
def test_parse_id_list_errors(value: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_id_list(value, "ids")
    assert str(caught.value) == message


def test_parse_poll_cursors() -> None:
    # META: fkey=…&r36=0&r49=0&r24938=0
    form = {"fkey": "abc", "r36": "0", "r49": "77918739", "r24938": ""}
    assert parse_poll_cursors(form) == {RoomId(36): EventId(0), RoomId(49): EventId(77918739), RoomId(24938): 0}


@pytest.mark.parametrize("key", ["r", "rx", "R1", "r1a", "ar1", "r-1", "r 1", "room1", "r" + "1" * 19, "fkey"])
def test_parse_poll_cursors_ignores_other_fields(key: str) -> None:
    assert parse_poll_cursors({key: "5"}) == {}


def test_parse_poll_cursors_room_numbers() -> None:
    assert parse_poll_cursors({"r007": "1"}) == {RoomId(7): EventId(1)}
    assert parse_poll_cursors({"r" + "9" * 18: "1"}) == {RoomId(int("9" * 18)): EventId(1)}


@pytest.mark.parametrize(("value", "message"), [("abc", "must be a number"), ("-1", "must be at least 0")])
def test_parse_poll_cursors_bad_cursor(value: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_poll_cursors({"r1": value})
    assert str(caught.value) == f"The r1 parameter {message}"


def test_parse_poll_cursors_empty_form() -> None:
    assert parse_poll_cursors({}) == {}


def history(form: dict[str, str], *, default_count: int = 100, max_count: int = 500) -> HistoryRequest:
    return parse_history_request(form, default_count=default_count, max_count=max_count)


def test_history_request_defaults() -> None:
    assert history({}) == HistoryRequest(count=100, before=None, after=None)
    assert history({}, default_count=7) == HistoryRequest(count=7, before=None, after=None)


def test_history_request_from_each_client() -> None:
    # CE / SC-3 / JS: since=0, mode=Messages, msgCount=100; OB/S4J: mode=messages, msgCount=1.
    assert history({"since": "0", "mode": "Messages", "msgCount": "100", "fkey": "k"}).count == 100
    assert history({"mode": "messages", "msgCount": "1", "fkey": "k"}).count == 1
    # SC-1 (sechat 1.x) sends ``count``.
    assert history({"since": "0", "mode": "Messages", "count": "25", "fkey": "k"}).count == 25
    # TK sends only the fkey.
    assert history({"fkey": "k"}).count == 100


def test_msg_count_wins_over_count() -> None:
    assert history({"msgCount": "10", "count": "20"}).count == 10
    assert history({"msgCount": "", "count": "20"}).count == 20


@pytest.mark.parametrize(("raw", "count"), [("500", 500), ("501", 500), ("100000", 500), ("499", 499)])
def test_history_count_is_clamped_to_the_maximum(raw: str, count: int) -> None:
    assert history({"msgCount": raw}).count == count
    assert history({"count": raw}).count == count


def test_history_count_clamp_follows_the_setting() -> None:
    assert history({"msgCount": "80"}, max_count=50).count == 50
    assert history({}, default_count=100, max_count=50).count == 50


@pytest.mark.parametrize("raw", ["0", "-5"])
def test_history_count_below_one_asks_for_one(raw: str) -> None:
    assert history({"msgCount": raw}).count == 1
    assert history({"count": raw}).count == 1


@pytest.mark.parametrize("raw", ["abc", "1.5", "1_000", "+5", "١٢"])
def test_history_count_must_be_a_number(raw: str) -> None:
    with pytest.raises(BadRequest, match="msgCount"):
        history({"msgCount": raw})
    with pytest.raises(BadRequest, match="msgCount"):
        history({"count": raw})


def test_history_before_and_after() -> None:
    assert history({"before": "500", "after": "100"}) == HistoryRequest(
        count=100, before=MessageId(500), after=MessageId(100)
    )
    assert history({"after": "0"}).after == 0
    assert history({"before": "", "after": ""}) == HistoryRequest(count=100, before=None, after=None)


@pytest.mark.parametrize(
    ("form", "name"),
    [({"before": "0"}, "before"), ({"before": "x"}, "before"), ({"after": "-1"}, "after"), ({"after": "x"}, "after")],
)
def test_history_bounds_errors(form: dict[str, str], name: str) -> None:
    with pytest.raises(BadRequest, match=f"The {name} parameter"):
        history(form)


def test_history_ignores_since_and_mode() -> None:
    assert history({"since": "not-a-number", "mode": "anything"}) == history({})


@pytest.mark.parametrize(
    ("value", "cursor"),
    [
        ("1", 1),
        ("99", 99),
        ("100", 100),  # the log's last id: the client has everything, and gets nothing twice
        ("101", None),  # beyond the log: not an event id
        ("1790000000", None),  # sechat's Unix time
        ("0", None),
        ("-5", None),
        ("", None),
        ("soon", None),
        (None, None),
    ],
)
def test_l_is_a_replay_cursor_only_when_it_can_be_an_event_id(value: str | None, cursor: int | None) -> None:
    assert parse_replay_cursor(value, 100) == cursor
