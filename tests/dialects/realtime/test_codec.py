"""dialects/realtime/codec.py: commands, frames, topic items and publishable topics, with no I/O.

Expected shapes come from shared/protocol/realtime.md §A.2-A.5 (the wire as real consumers
use it) and §A.7 (hubbub's normative rules); the room activity payload from the docstring
of ``room_activity_payload`` and docs/dialects/realtime.md.
"""

from __future__ import annotations

import json

import pytest

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.dialects.realtime.codec import (
    MAX_TOPIC_CHARS,
    Heartbeat,
    Publish,
    Subscribe,
    TopicItem,
    Unsubscribe,
    activity_topic_room,
    frame,
    heartbeat_frame,
    owned_topic_user,
    parse_command,
    parse_publish,
    room_activity_payload,
    topic_items,
    validate_publish_topic,
)
from hubbub.errors import BadRequest

# realtime.md §A.4.1, the sample frame's payload (types as the feed sends them).
QUESTION = {
    "siteBaseHostAddress": "biology.stackexchange.com",
    "id": 17647,
    "titleEncodedFancy": "Meaning of &#8220;auto&#8221; in autophosphorylation",
    "bodySummary": "why this process called Auto? ...",
    "tags": ["cell-signaling"],
    "lastActivityDate": 1401048843,
    "url": "http://biology.stackexchange.com/questions/17647/meaning-of-auto",
    "ownerUrl": "http://biology.stackexchange.com/users/6524/n00b",
    "ownerDisplayName": "N00B",
    "apiSiteParameter": "biology",
}


def event(event_type: EventType, **fields: object) -> Event:
    values: dict[str, object] = {"id": EventId(2231), "time_stamp": 1_795_356_306}
    values.update(fields)
    return Event(type=event_type, **values)  # type: ignore[arg-type]


def message_event(event_type: EventType, **fields: object) -> Event:
    values: dict[str, object] = {
        "room_id": RoomId(1),
        "room_name": "Sandbox",
        "user_id": UserId(7),
        "user_name": "Jon Skeet",
        "message_id": MessageId(412),
        "content": "hello <b>world</b>",
    }
    values.update(fields)
    return event(event_type, **values)


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- client -> server commands (§A.2, §A.7 item 3) ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hb",  # SmokeDetector, Charcoal, the code-golf answer; Rob W's echo of data "hb"
        "pong",  # danielzgtg notifier
        "",  # an empty frame (also the echo of the 2014 heartbeat's empty data)
        '{"action":"hb","data":"hb"}',  # CVQMonitor
        '{"action": "hb"}',
        '{"data": "", "action": "hb", "extra": [1]}',
        " hb",
        "hb\n",
        "\r\n pong \t",
        "   ",
        '\n{"action":"hb","data":"hb"}\r\n',
        "\x0chb\x0c",  # form feed is ASCII whitespace too (WHATWG: tab, LF, FF, CR, space)
    ],
)
def test_heartbeat_answers(text: str) -> None:
    assert parse_command(text) == Heartbeat()


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("155-questions-active", "155-questions-active"),
        ("1-questions-newest-tag-java", "1-questions-newest-tag-java"),
        ("  12-topbar\n", "12-topbar"),
        ("\t1-review-dashboard-update\r\n", "1-review-dashboard-update"),
        ("1-room-activity", "1-room-activity"),
        ("hbx", "hbx"),  # only the exact words are heartbeats
        ("HB", "HB"),
        ("pong!", "pong!"),
        ("h b", "h b"),  # inner whitespace is part of the topic
        ('{"action":"155-questions-active"}', '{"action":"155-questions-active"}'),  # JSON, but not a heartbeat
        ('{"action":"hb"', '{"action":"hb"'),  # not JSON at all
        ('["hb"]', '["hb"]'),  # JSON, but not an object
        ('{"data":"hb"}', '{"data":"hb"}'),
        ("\u00e9t\u00e9-\u2603", "\u00e9t\u00e9-\u2603"),
    ],
)
def test_anything_else_subscribes_to_that_exact_topic(text: str, topic: str) -> None:
    assert parse_command(text) == Subscribe(topic)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("-155-questions-active", "155-questions-active"),
        (" -1-question-42\n", "1-question-42"),
        ("--x", "-x"),  # only one leading "-" is the command
        ("-hb", "hb"),  # unsubscribing a heartbeat word is a harmless no-op, not a heartbeat
        ("-", ""),
    ],
)
def test_a_leading_minus_unsubscribes(text: str, topic: str) -> None:
    assert parse_command(text) == Unsubscribe(topic)


@pytest.mark.parametrize(
    "text",
    [
        "{" * 30_000,
        '{"a":' * 30_000 + "1" + "}" * 30_000,  # valid JSON, nested deeper than Python's parser goes
        '{"action":"hb","data":' + "[" * 30_000 + "]" * 30_000 + "}",
    ],
)
def test_json_nested_too_deep_to_parse_is_not_a_heartbeat_and_raises_nothing(text: str) -> None:
    """A frame of a JSON object too deep to read is what any other unreadable text is: a topic name
    (far too long for any topic, so the socket ignores it)."""
    assert parse_command(text) == Subscribe(text)


# --- server -> client frames (§A.3, §A.5) -------------------------------------------------------


def test_frame_is_exactly_action_and_data_with_the_payload_as_a_string() -> None:
    payload = compact(QUESTION)
    data = frame("155-questions-active", payload)
    assert data == compact({"action": "155-questions-active", "data": payload}).encode("utf-8")
    assert data.startswith(b'{"action":"155-questions-active","data":"{\\"siteBaseHostAddress\\":')
    envelope = json.loads(data)
    assert list(envelope) == ["action", "data"]
    assert isinstance(envelope["data"], str)
    # What SmokeDetector does: json.loads(json.loads(a)["data"]), types intact.
    assert json.loads(envelope["data"]) == QUESTION
    assert isinstance(json.loads(envelope["data"])["id"], int)


@pytest.mark.parametrize(
    "payload",
    ["3", '"text"', "null", "[]", '{"id":"23859640","siteid":1,"fetch":false}', '{"t":"\u00e9 \u201cq\u201d \u2603"}'],
)
def test_frames_double_decode_for_any_json_payload(payload: str) -> None:
    data = frame("1-questions-newest", payload)
    assert json.loads(json.loads(data)["data"]) == json.loads(payload)
    assert json.loads(data)["data"] == payload  # the payload's text, byte for byte


def test_frame_is_utf8_and_keeps_the_topic_byte_for_byte() -> None:
    data = frame("caf\u00e9-\u2603", '"\u00e9"')
    assert data == '{"action":"caf\u00e9-\u2603","data":"\\"\u00e9\\""}'.encode()
    assert json.loads(data)["action"] == "caf\u00e9-\u2603"


def test_heartbeat_frame() -> None:
    assert heartbeat_frame() == b'{"action":"hb","data":"hb"}'
    assert heartbeat_frame("hb") == b'{"action":"hb","data":"hb"}'
    assert heartbeat_frame("") == b'{"action":"hb","data":""}'  # the 2014 form


# --- topic names --------------------------------------------------------------------------------


def test_owned_topics() -> None:
    assert owned_topic_user("12-topbar") == UserId(12)
    assert owned_topic_user("12-inbox") == UserId(12)
    assert owned_topic_user("007-topbar") == UserId(7)
    for topic in [
        "topbar",
        "-topbar",
        "12-topbar-x",
        "x12-topbar",
        "12-inboxes",
        "1-12-reputation",
        "12-room-activity",
    ]:
        assert owned_topic_user(topic) is None, topic
    # Digits of other scripts are not user ids, although int() would read "\u0661\u0662" as 12.
    assert owned_topic_user("\u0661\u0662-topbar") is None


def test_activity_topics() -> None:
    assert activity_topic_room("3-room-activity") == RoomId(3)
    for topic in ["room-activity", "3-room-activity-x", "3-topbar", "3-question-4", "a3-room-activity"]:
        assert activity_topic_room(topic) is None, topic
    assert activity_topic_room("\u0663-room-activity") is None


@pytest.mark.parametrize(
    "topic",
    [
        "155-questions-active",
        "1-questions-newest-tag-c.net",
        "site:example.org",
        "A_b",
        "0",
        "x" * MAX_TOPIC_CHARS,
        "12-topbarx",
        "hb",
        "1234567890123456789-topbar",  # more digits than any user id: not an owned topic
    ],
)
def test_publishable_topics(topic: str) -> None:
    assert validate_publish_topic(topic) == topic


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        (None, "topic must be a non-empty string"),
        (5, "topic must be a non-empty string"),
        (["a"], "topic must be a non-empty string"),
        ("", "topic must be a non-empty string"),
        ("x" * (MAX_TOPIC_CHARS + 1), "topic must be at most 200 characters"),
        ("a b", "topic may contain only letters, digits and . _ : - (and not start with - or .)"),
        ("-155-questions-active", "topic may contain only letters, digits and . _ : - (and not start with - or .)"),
        (".hidden", "topic may contain only letters, digits and . _ : - (and not start with - or .)"),
        ("a/b", "topic may contain only letters, digits and . _ : - (and not start with - or .)"),
        ("topic\n", "topic may contain only letters, digits and . _ : - (and not start with - or .)"),
        ("caf\u00e9", "topic may contain only letters, digits and . _ : - (and not start with - or .)"),
        ('{"action":"hb"}', "topic may contain only letters, digits and . _ : - (and not start with - or .)"),
        ("5-topbar", "topic '5-topbar' is fed by hubbub itself and cannot be published to"),
        ("5-inbox", "topic '5-inbox' is fed by hubbub itself and cannot be published to"),
        ("05-topbar", "topic '05-topbar' is fed by hubbub itself and cannot be published to"),
        ("1-room-activity", "topic '1-room-activity' is fed by hubbub itself and cannot be published to"),
    ],
)
def test_unpublishable_topics(topic: object, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        validate_publish_topic(topic)
    assert str(refused.value) == message


def test_a_publish_body_is_its_topic_and_compact_data() -> None:
    body = json.dumps({"topic": "155-questions-active", "data": QUESTION}, indent=2).encode()
    assert parse_publish(body, max_depth=4) == Publish("155-questions-active", compact(QUESTION))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "The JSON nests 30000 levels deep; at most 32 are allowed"),
        (
            b'{"topic": "x", "data": ' + b"[" * 32 + b"]" * 32 + b"}",
            "The JSON nests 33 levels deep; at most 32 are allowed",
        ),
        (b'{"topic": "x", "data": "\\ud800"}', "The JSON holds a lone surrogate (\\ud800), which is not valid Unicode"),
        (b"{not json", "The body must be JSON"),
        (b'{"topic": "x", "data": NaN}', "The body must be JSON"),
        (b'["x", 1]', 'The body must be a JSON object {"topic": ..., "data": ...}'),
        (b'{"topic": "x"}', "data is required (any JSON value)"),
        (b'{"topic": "5-topbar", "data": 1}', "topic '5-topbar' is fed by hubbub itself and cannot be published to"),
    ],
)
def test_a_bad_publish_body_is_a_bad_request_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_publish(body, max_depth=32)
    assert str(refused.value) == message


def test_publish_data_at_the_depth_limit_is_taken() -> None:
    body = b'{"topic": "x", "data": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert parse_publish(body, max_depth=32).payload == "[" * 31 + "]" * 31


# --- which topics an event feeds ----------------------------------------------------------------


def test_a_published_item_feeds_its_topic_with_its_payload_unchanged() -> None:
    payload = compact(QUESTION)
    published = event(EventType.FEED_PUBLISHED, user_id=UserId(-2), topic="155-questions-active", data=payload)
    assert topic_items(published) == (TopicItem("155-questions-active", payload),)
    assert topic_items(published)[0].owner is None


def test_a_published_item_without_topic_or_data_feeds_nothing() -> None:
    assert topic_items(event(EventType.FEED_PUBLISHED, data="1")) == ()
    assert topic_items(event(EventType.FEED_PUBLISHED, topic="x")) == ()


@pytest.mark.parametrize("count", [0, 1, 42])
def test_an_inbox_change_feeds_the_owners_topbar_and_inbox(count: int) -> None:
    changed = event(EventType.INBOX_CHANGED, target_user_id=UserId(12), data=str(count))
    topbar, inbox = topic_items(changed)
    assert topbar == TopicItem("12-topbar", compact({"Inbox": {"UnreadInboxCount": count}}), owner=UserId(12))
    assert topbar.payload == f'{{"Inbox":{{"UnreadInboxCount":{count}}}}}'
    assert inbox == TopicItem("12-inbox", str(count), owner=UserId(12))
    # Rob W's notifier reads data.Inbox.UnreadInboxCount; the pre-2015 one used +data.
    assert json.loads(json.loads(frame(topbar.topic, topbar.payload))["data"]) == {"Inbox": {"UnreadInboxCount": count}}
    assert json.loads(json.loads(frame(inbox.topic, inbox.payload))["data"]) == count


def test_an_inbox_change_without_target_or_count_feeds_nothing() -> None:
    assert topic_items(event(EventType.INBOX_CHANGED, data="1")) == ()
    assert topic_items(event(EventType.INBOX_CHANGED, target_user_id=UserId(12))) == ()


def test_room_activity_for_a_posted_message() -> None:
    posted = message_event(EventType.MESSAGE_POSTED)
    expected = {
        "a": "message-posted",
        "id": 412,
        "roomid": 1,
        "acctid": 7,
        "userName": "Jon Skeet",
        "content": "hello <b>world</b>",
        "stars": 0,
        "pins": 0,
        "edits": 0,
        "time": 1_795_356_306,
        "eventid": 2231,
    }
    assert room_activity_payload(posted) == expected
    [item] = topic_items(posted)
    assert item == TopicItem("1-room-activity", compact(expected))
    assert item.owner is None
    assert list(json.loads(item.payload)) == list(expected)  # the documented key order


def test_room_activity_for_an_edit_a_star_and_a_delete() -> None:
    edited = message_event(EventType.MESSAGE_EDITED, content="hello again", message_edits=2)
    assert room_activity_payload(edited) == {
        "a": "message-edited",
        "id": 412,
        "roomid": 1,
        "acctid": 7,
        "userName": "Jon Skeet",
        "content": "hello again",
        "stars": 0,
        "pins": 0,
        "edits": 2,
        "time": 1_795_356_306,
        "eventid": 2231,
    }
    # The service's star events carry no user fields: the payload does not say who starred.
    starred = message_event(
        EventType.MESSAGE_STARRED, user_id=None, user_name=None, message_stars=3, message_owner_stars=1
    )
    assert room_activity_payload(starred) == {
        "a": "message-starred",
        "id": 412,
        "roomid": 1,
        "content": "hello <b>world</b>",
        "stars": 3,
        "pins": 1,
        "edits": 0,
        "time": 1_795_356_306,
        "eventid": 2231,
    }
    deleted = message_event(EventType.MESSAGE_DELETED)  # even if content were present, it is left out
    assert room_activity_payload(deleted) == {
        "a": "message-deleted",
        "id": 412,
        "roomid": 1,
        "acctid": 7,
        "userName": "Jon Skeet",
        "stars": 0,
        "pins": 0,
        "edits": 0,
        "time": 1_795_356_306,
        "eventid": 2231,
    }
    assert room_activity_payload(message_event(EventType.MESSAGE_DELETED, content=None)) == room_activity_payload(
        deleted
    )


def test_a_missing_user_name_is_an_empty_string() -> None:
    payload = room_activity_payload(message_event(EventType.MESSAGE_POSTED, user_name=None))
    assert payload is not None and payload["userName"] == ""


@pytest.mark.parametrize(
    "other",
    [
        message_event(EventType.USER_ENTERED),
        message_event(EventType.USER_MENTIONED, target_user_id=UserId(9)),
        message_event(EventType.MESSAGE_REPLY, target_user_id=UserId(9)),
        message_event(EventType.MESSAGE_MOVED_OUT),
        message_event(EventType.ACCESS_LEVEL_CHANGED),
        message_event(EventType.MESSAGE_POSTED, room_id=None),
        message_event(EventType.MESSAGE_POSTED, message_id=None),
        event(EventType.USER_LEFT, room_id=RoomId(1), user_id=UserId(7)),
    ],
    ids=["entered", "mention", "reply", "moved-out", "access", "no-room", "no-message", "left"],
)
def test_other_events_feed_no_topic(other: Event) -> None:
    assert room_activity_payload(other) is None
    assert topic_items(other) == ()
