"""core.webhooks: the checks, which events fire, the golden bodies of both types, and what an answer means."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.webhooks import (
    DISCORD_CONTENT_MAX,
    Answer,
    HookAccount,
    HookEvent,
    HookStream,
    HookType,
    Trigger,
    WebhookFields,
    answer_of,
    body_bytes,
    check_events,
    check_notes,
    check_type,
    check_url,
    events_from_text,
    events_text,
    payload,
    retry_after_seconds,
    trigger_of,
)
from hubbub.errors import BadRequest

STREAM = HookStream(id=21, slug="my-show", name="My Show", owner_id=2, owner_name="john")
TWITCH = HookAccount(id=14, network="twitch", name="jprjrdev", slug="jprjrdev", http_url="https://twitch.tv/jprjrdev")
OWN = HookAccount(id=17, network="hubbub", name="Other Room", slug="other-room", http_url=None)
# A Twitch line as a bridge shows it (streams.md §B.4), and one injected through the API with its own icon.
TWITCH_LINE: dict[str, Any] = {
    "type": "text",
    "stream_id": 21,
    "account_id": 14,
    "network": "twitch",
    "text": "here's a message from twitch",
    "markdown": "here's a message from twitch",
    "from": {"name": "gamethattunedev", "id": "146521877", "picture": "https://x.example/a.png"},
    "timestamp": 1,
}
INJECTED: dict[str, Any] = {
    "type": "emote",
    "text": "waves",
    "network": "instagram",
    "network_icon": "<svg/>",
    "network_icon_css": ".x{}",
    "stream_id": 21,
    "timestamp": 2,
}


def _event(kind: EventType, data: object, room: int | None = 5) -> Event:
    return Event(
        id=EventId(9),
        type=kind,
        time_stamp=1,
        room_id=None if room is None else RoomId(room),
        data=json.dumps(data),
        user_id=UserId(2),
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/api/webhooks/1/abc",
        "http://127.0.0.1:8080/hook?x=1",
        "HTTPS://Example.org",
        "http://[::1]/",
    ],
)
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert check_url(f"  {url} ") == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "non-empty"),
        (5, "non-empty"),
        ("ftp://x.example/", "http"),
        ("javascript:alert(1)", "http"),
        ("file:///etc/passwd", "http"),
        ("https:///nohost", "host"),
        ("http://x.example:0/", "port"),
        ("http://x.example:99999/", "not a URL"),
        ("http://x.example/a b", "spaces"),
        ("http://x.example/\x00", "control"),
        ("https://x.example/" + "a" * 2048, "2048"),
    ],
)
def test_other_urls_are_refused_with_a_reason(url: object, why: str) -> None:
    with pytest.raises(BadRequest, match=why):
        check_url(url)


def test_types_notes_and_events() -> None:
    assert check_type("discord") is HookType.DISCORD and check_type("raw") is HookType.RAW
    for bad in ("Discord", "slack", None, 1):
        with pytest.raises(BadRequest, match="discord"):
            check_type(bad)
    assert check_notes("  for the mods ") == "for the mods"
    with pytest.raises(BadRequest, match="500"):
        check_notes("x" * 501)
    with pytest.raises(BadRequest, match="string"):
        check_notes(["x"])
    assert check_events(["comment:in", "stream:start"]) == {HookEvent.COMMENT_IN, HookEvent.STREAM_START}
    # multistreamer's own shape: an object of booleans.
    assert check_events({"stream:start": True, "stream:end": False, "comment:in": True}) == {
        HookEvent.STREAM_START,
        HookEvent.COMMENT_IN,
    }
    assert check_events([]) == frozenset()
    refused: list[object] = [["stream:begin"], [{"a": 1}], {"comment:in": "yes"}, {"nope": True}, "comment:in", 3]
    for events in refused:
        with pytest.raises(BadRequest):
            check_events(events)


def test_fields_are_checked_together_and_none_stays_none() -> None:
    fields = WebhookFields.check(url="https://a.example/", events=["stream:end"])
    assert fields == WebhookFields(url="https://a.example/", events=frozenset({HookEvent.STREAM_END}))
    with pytest.raises(BadRequest):
        WebhookFields.check(url="https://a.example/", type="slack")


def test_the_stored_form_of_events_round_trips_and_ignores_unknown_names() -> None:
    events = frozenset({HookEvent.COMMENT_IN, HookEvent.STREAM_START})
    assert events_text(events) == "comment:in,stream:start"
    assert events_from_text("comment:in,stream:start,someday") == events
    assert events_from_text("") == frozenset()


def test_live_transitions_fire_start_and_end_with_the_accounts() -> None:
    start = trigger_of(_event(EventType.STREAM_CHANGED, {"kind": "start", "id": 21, "accounts": [{"id": 14}]}))
    assert start == Trigger(event=HookEvent.STREAM_START, stream_id=21, event_id=9, account_ids=(14,))
    end = trigger_of(_event(EventType.STREAM_CHANGED, {"kind": "end", "id": 21, "accounts": [{"id": 14}]}))
    assert end == Trigger(event=HookEvent.STREAM_END, stream_id=21, event_id=9)
    assert trigger_of(_event(EventType.STREAM_CHANGED, {"kind": "update", "id": 21})) is None


def test_network_lines_fire_but_private_relay_and_other_events_do_not() -> None:
    comment = trigger_of(_event(EventType.STREAM_CHAT, TWITCH_LINE))
    assert comment is not None and comment.event is HookEvent.COMMENT_IN and comment.comment == TWITCH_LINE
    assert trigger_of(_event(EventType.STREAM_CHAT, INJECTED)) is not None
    private = {"type": "text", "text": "hi", "to": {"name": "bob", "id": 3}, "account_id": 0}
    assert trigger_of(_event(EventType.STREAM_CHAT, private, room=None)) is None
    assert trigger_of(_event(EventType.STREAM_CHAT, {**TWITCH_LINE, "relay": True})) is None
    # A line typed into hubbub's own chat is a room message, never STREAM_CHAT.
    assert trigger_of(_event(EventType.MESSAGE_POSTED, {"text": "hi"})) is None
    assert trigger_of(Event(id=EventId(1), type=EventType.STREAM_CHAT, time_stamp=1, data="{not json")) is None


def _body(hook_type: HookType, trigger: Trigger, accounts: tuple[HookAccount, ...] = ()) -> Any:
    return json.loads(body_bytes(payload(hook_type, trigger, STREAM, accounts)))


COMMENT = Trigger(event=HookEvent.COMMENT_IN, stream_id=21, event_id=9, comment=TWITCH_LINE)
START = Trigger(event=HookEvent.STREAM_START, stream_id=21, event_id=9, account_ids=(14, 17))
END = Trigger(event=HookEvent.STREAM_END, stream_id=21, event_id=9)


def test_golden_discord_bodies() -> None:
    assert _body(HookType.DISCORD, COMMENT) == {
        "content": "here's a message from twitch",
        "username": "gamethattunedev @ Twitch",
        "avatar_url": "https://x.example/a.png",
    }
    injected = Trigger(event=HookEvent.COMMENT_IN, stream_id=21, event_id=9, comment=INJECTED)
    assert _body(HookType.DISCORD, injected) == {"content": "waves", "username": "instagram"}
    assert _body(HookType.DISCORD, START, (TWITCH, OWN)) == {
        "content": "john is now streaming! https://twitch.tv/jprjrdev",
        "username": "john",
    }
    assert _body(HookType.DISCORD, END) == {"content": "john has stopped streaming", "username": "john"}
    long = Trigger(event=HookEvent.COMMENT_IN, stream_id=21, event_id=9, comment={**TWITCH_LINE, "text": "x" * 5000})
    assert len(_body(HookType.DISCORD, long)["content"]) == DISCORD_CONTENT_MAX


def test_golden_raw_bodies() -> None:
    assert _body(HookType.RAW, COMMENT) == {
        "hook_type": "comment:in",
        "type": "text",
        "text": "here's a message from twitch",
        "markdown": "here's a message from twitch",
        "from": {"name": "gamethattunedev", "id": "146521877", "picture": "https://x.example/a.png"},
        "network": {"displayname": "Twitch", "name": "twitch"},
        "account": {"id": 14},
        "stream": {"id": 21},
        "user": {"username": "john", "id": 2},
    }
    injected = Trigger(event=HookEvent.COMMENT_IN, stream_id=21, event_id=9, comment=INJECTED)
    assert _body(HookType.RAW, injected) == {
        "hook_type": "comment:in",
        "type": "emote",
        "text": "waves",
        "network": {"displayname": "instagram", "name": "instagram", "icon": "<svg/>", "icon_css": ".x{}"},
        "account": {},
        "stream": {"id": 21},
        "user": {"username": "john", "id": 2},
    }
    assert _body(HookType.RAW, START, (TWITCH, OWN)) == {
        "hook_type": "stream:start",
        "accounts": [
            {
                "id": 14,
                "network": {"displayname": "Twitch", "name": "twitch"},
                "slug": "jprjrdev",
                "name": "jprjrdev",
                "http_url": "https://twitch.tv/jprjrdev",
            },
            {
                "id": 17,
                "network": {"displayname": "hubbub", "name": "hubbub"},
                "slug": "other-room",
                "name": "Other Room",
            },
        ],
        "user": {"id": 2, "username": "john"},
        "stream": {"id": 21, "slug": "my-show", "name": "My Show"},
    }
    assert _body(HookType.RAW, END) == {
        "hook_type": "stream:end",
        "user": {"id": 2, "username": "john"},
        "stream": {"id": 21, "slug": "my-show", "name": "My Show"},
    }


def test_bodies_are_compact_utf8_json() -> None:
    assert body_bytes({"content": "héllo", "n": 1}) == '{"content":"héllo","n":1}'.encode()


def test_what_an_answer_means() -> None:
    assert [answer_of(s) for s in (200, 204, 299)] == [Answer.DELIVERED] * 3
    assert [answer_of(s) for s in (500, 502, 503, 408, 429)] == [Answer.RETRY] * 5
    assert [answer_of(s) for s in (301, 400, 401, 404, 413)] == [Answer.REFUSED] * 5


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("7", 100.0) == 7.0
    assert retry_after_seconds(" 0 ", 100.0) == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490.0) == 0.0  # in the past: now
    for unreadable in (None, "soon", "-3", "1.5"):
        assert retry_after_seconds(unreadable, 100.0) is None
