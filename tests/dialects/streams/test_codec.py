"""The streams codec without sockets: golden frames for every message type (streams.md §B.3, §B.4)."""

from __future__ import annotations

import json

import pytest

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.streams import ChatLevel, LiveState
from hubbub.dialects.streams import codec
from hubbub.dialects.streams.codec import AccountInfo, StreamSnapshot

TWITCH = AccountInfo(14, "jprjrdev", "twitch", "https://twitch.tv/jprjrdev")
OTHER = AccountInfo(17, "gamethattunedev", "twitch")
FACEBOOK = AccountInfo(20, "page", "facebook")
LIVE = LiveState(data_pulling=False, data_pushing=True, data_incoming=True)


def _event(kind: EventType, data: str, *, event_id: int = 7, room: int | None = 3) -> Event:
    return Event(
        id=EventId(event_id), type=kind, time_stamp=1, room_id=None if room is None else RoomId(room), data=data
    )


def test_status_of_a_live_stream_is_the_wikis_example() -> None:
    frame = codec.status_frame(
        user_name="john", state=LIVE, chat_level=ChatLevel.WRITE, attached=[TWITCH], own_others=[OTHER, TWITCH]
    )
    assert frame == (
        b'{"type":"status","status":{"data_pulling":false,"data_pushing":true,"data_incoming":true},'
        b'"accounts":{"0":{"name":"john","ready":true,"live":false,"writable":true,'
        b'"network":{"name":"irc","displayName":"IRC"}},'
        b'"14":{"name":"jprjrdev","ready":true,"live":true,"writable":true,"http_url":"https://twitch.tv/jprjrdev",'
        b'"network":{"name":"twitch","displayName":"Twitch"}},'
        b'"17":{"name":"gamethattunedev","ready":false,"live":false,"writable":true,'
        b'"network":{"name":"twitch","displayName":"Twitch"}}}}'
    )


def test_status_of_an_offline_stream_has_account_zero_only() -> None:
    frame = codec.status_frame(
        user_name="john", state=LiveState(), chat_level=ChatLevel.WRITE, attached=[TWITCH], own_others=[OTHER]
    )
    assert frame == (
        b'{"type":"status","status":{"data_pulling":false,"data_pushing":false,"data_incoming":false},'
        b'"accounts":{"0":{"name":"john","ready":true,"live":false,"writable":true,'
        b'"network":{"name":"irc","displayName":"IRC"}}}}'
    )


def test_status_writable_follows_chat_level_and_the_network() -> None:
    reader = json.loads(
        codec.status_frame(
            user_name="r", state=LIVE, chat_level=ChatLevel.READ, attached=[TWITCH, FACEBOOK], own_others=[]
        )
    )
    assert reader["accounts"]["14"]["writable"] is False
    writer = json.loads(
        codec.status_frame(user_name="w", state=LIVE, chat_level=ChatLevel.WRITE, attached=[FACEBOOK], own_others=[])
    )
    assert writer["accounts"]["20"]["writable"] is False  # Facebook only reads
    assert writer["accounts"]["20"]["network"] == {"name": "facebook", "displayName": "Facebook"}


def test_writerresult_and_viewcountresult() -> None:
    assert codec.writerresult_frame(17, 14) == b'{"type":"writerresult","account_id":17,"cur_stream_account_id":14}'
    assert codec.viewcountresult_frame(21, 14, 0) == (
        b'{"type":"viewcountresult","viewer_count":0,"stream_id":21,"account_id":14}'
    )
    data = codec.viewcountresult_frame(21, 14, 5).decode()
    assert codec.viewcount_frame(_event(EventType.STREAM_VIEWCOUNT, data)) == data.encode()


@pytest.mark.parametrize(
    ("data", "frame"),
    [
        (  # a local room line (the wiki's, with what hubbub adds: stream_id, timestamp, event_id)
            '{"type":"text","text":"yay","markdown":"yay","from":{"name":"test","id":2},"account_id":0,'
            '"network":"irc","timestamp":1700000000000,"stream_id":21}',
            b'{"type":"text","text":"yay","markdown":"yay","from":{"name":"test","id":2},"account_id":0,'
            b'"network":"irc","timestamp":1700000000000,"stream_id":21,"event_id":7}',
        ),
        (  # a private message: "to", no stream_id
            '{"type":"text","text":"hey ban this guy","markdown":"hey ban this guy","from":{"name":"test","id":2},'
            '"account_id":0,"network":"irc","timestamp":1,"to":{"name":"john","id":1}}',
            b'{"type":"text","text":"hey ban this guy","markdown":"hey ban this guy","from":{"name":"test","id":2},'
            b'"account_id":0,"network":"irc","timestamp":1,"to":{"name":"john","id":1},"event_id":7}',
        ),
        (  # a Twitch emote: from.id stays a string
            '{"type":"emote","stream_id":21,"account_id":14,"network":"twitch","text":"is loving this",'
            '"markdown":"is loving this","from":{"name":"gamethattunedev","id":"146521877"},"timestamp":1}',
            b'{"type":"emote","stream_id":21,"account_id":14,"network":"twitch","text":"is loving this",'
            b'"markdown":"is loving this","from":{"name":"gamethattunedev","id":"146521877"},"timestamp":1,'
            b'"event_id":7}',
        ),
        (  # injected with its own network and icon; a stray uuid never leaves
            '{"type":"text","text":"x","network":"instagram","network_icon":"<svg/>","uuid":"u","stream_id":3}',
            b'{"type":"text","text":"x","network":"instagram","network_icon":"<svg/>","stream_id":3,"event_id":7}',
        ),
    ],
)
def test_chat_frames(data: str, frame: bytes) -> None:
    assert codec.chat_frame(_event(EventType.STREAM_CHAT, data)) == frame


def test_relay_lines_and_other_events_make_no_chat_frame() -> None:
    assert codec.chat_frame(_event(EventType.STREAM_CHAT, '{"type":"text","text":"!help","relay":true}')) is None
    assert codec.chat_frame(_event(EventType.MESSAGE_POSTED, '{"type":"text"}')) is None
    assert codec.chat_frame(_event(EventType.STREAM_CHAT, "not json")) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"type":"status"}', "status"),
        ('{"type":"text","account_id":0,"cur_stream_account_id":0,"text":"hi"}', "text"),
        ('{"type":"emote","text":"waves"}', "emote"),
        ('{"type":"writer","account_id":17,"cur_stream_account_id":14}', "writer"),
        ('{"type":"viewcount"}', "viewcount"),
    ],
)
def test_client_frames(text: str, kind: str) -> None:
    frame = codec.parse_client_frame(text)
    assert frame is not None and frame.type == kind and frame.fields == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '"status"',
        "null",
        '{"type":"nope"}',
        '{"type":1}',
        '{"kind":"status"}',
        "[" * 100_000,
        '{"type":"status","x":"\\ud800"}',
        "NaN",
    ],
)
def test_anything_else_is_ignored(text: str) -> None:
    assert codec.parse_client_frame(text) is None


def test_socket_paths_and_cursors() -> None:
    assert codec.parse_socket_path("/ws/21") == 21
    assert codec.parse_socket_path("/ws/21/") == 21
    for path in ("/ws/", "/ws/x", "/ws/-1", "/ws/1/2", "/wss/1", "/ws/" + "9" * 19):
        assert codec.parse_socket_path(path) is None
    assert codec.parse_since("15") == 15
    assert codec.parse_since(None) is None
    assert codec.parse_since("-1") is None
    assert codec.parse_since("1e3") is None


def test_snapshot_reads_what_the_service_writes() -> None:
    data = json.dumps(
        {
            "kind": "start",
            "id": 21,
            "owner_id": 1,
            "name": "Show",
            "status": {"data_pulling": False, "data_pushing": True, "data_incoming": True},
            "accounts": [{"id": 14, "name": "jprjrdev", "network": "twitch", "http_url": "https://twitch.tv/jprjrdev"}],
            "shares": {"5": 1},
        }
    )
    snapshot = StreamSnapshot.from_event(_event(EventType.STREAM_CHANGED, data))
    assert snapshot is not None
    assert (snapshot.id, snapshot.kind, snapshot.state, snapshot.accounts) == (21, "start", LIVE, (TWITCH,))
    assert snapshot.chat_level(UserId(1)) is ChatLevel.WRITE
    assert snapshot.chat_level(UserId(5)) is ChatLevel.READ
    assert snapshot.chat_level(UserId(6)) is ChatLevel.NONE
    assert StreamSnapshot.from_event(_event(EventType.STREAM_CHANGED, '{"id": 1}')) is None


def test_room_messages_are_account_zero_lines() -> None:
    posted = Event(
        id=EventId(9),
        type=EventType.MESSAGE_POSTED,
        time_stamp=1_700_000_000,
        room_id=RoomId(3),
        user_id=UserId(2),
        user_name="test",
        message_id=MessageId(5),
        content="yay <b>a*b</b> &amp; &lt;x&gt;",
    )
    assert codec.room_message_frame(posted, 21) == (
        b'{"type":"text","text":"yay a*b & <x>","markdown":"yay a\\\\*b & &lt;x&gt;","from":{"name":"test","id":2},'
        b'"account_id":0,"network":"irc","stream_id":21,"timestamp":1700000000000,"event_id":9}'
    )
    action = Event(
        id=EventId(10),
        type=EventType.MESSAGE_POSTED,
        time_stamp=1,
        room_id=RoomId(3),
        user_id=UserId(2),
        user_name="test",
        message_id=MessageId(6),
        content="<i>waves</i>",
    )
    frame = json.loads(codec.room_message_frame(action, 21) or b"{}")
    assert (frame["type"], frame["text"]) == ("emote", "waves")
    mixed = Event(
        id=EventId(11),
        type=EventType.MESSAGE_POSTED,
        time_stamp=1,
        room_id=RoomId(3),
        user_id=UserId(2),
        user_name="test",
        message_id=MessageId(7),
        content="<i>a</i> and <i>b</i>",
    )
    assert json.loads(codec.room_message_frame(mixed, 21) or b"{}")["type"] == "text"
