"""The sechat codec's reading side (hubbub.dialects.sechat.reading): no loop, no socket."""

from __future__ import annotations

import pytest

from hubbub.core.ids import RoomId
from hubbub.core.markup import render_message
from hubbub.dialects.sechat.codec import Action, refusal
from hubbub.dialects.sechat.reading import (
    content_text,
    parse_chat_page,
    parse_frame,
    parse_history_time,
    parse_json_string,
    parse_posted,
    parse_present_users,
    parse_rate_limit,
    parse_refusal,
    parse_socket_url,
)
from hubbub.errors import (
    AlreadyDeleted,
    BadRequest,
    InvalidFkey,
    Kicked,
    LowReputation,
    NeverAssigned,
    NotFound,
    NotLoggedIn,
    NotYours,
    OwnMessage,
    RateLimited,
    RemoteError,
    TooLate,
)


def test_frames_keep_each_rooms_records_and_cursor() -> None:
    rooms = parse_frame('{"r1":{"e":[{"id":5},7],"t":5,"d":1},"r2":{"t":5,"d":0},"other":1,"r3":[]}')
    assert set(rooms) == {RoomId(1), RoomId(2)}
    assert rooms[RoomId(1)].records == ({"id": 5},) and rooms[RoomId(1)].cursor == 5
    assert rooms[RoomId(2)].records == () and rooms[RoomId(2)].cursor == 5
    assert parse_frame("{}") == {}
    for bad in ("not json", "[1]", '"ok"'):
        with pytest.raises(ValueError):
            parse_frame(bad)


def test_answers_of_the_form_api() -> None:
    assert parse_json_string('"ok"') == "ok" and parse_json_string("ok") is None and parse_json_string("1") is None
    assert parse_posted('{"id":12,"time":1}') == 12 and parse_posted('{"id":null,"time":null}') is None
    assert parse_history_time('{"events":[],"time":77,"sync":1,"ms":0}') == 77
    assert parse_socket_url('{"url":"ws://h:1/events/1/abc"}') == "ws://h:1/events/1/abc"
    for call, body in ((parse_posted, "[]"), (parse_history_time, "{}"), (parse_socket_url, '{"url":1}')):
        with pytest.raises(ValueError):
            call(body)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("You can perform this action again in 4 seconds.", 4),
        ("You can perform this action again in 1 second.", 1),
        ("You can perform this action again in 2 seconds", 2),  # sochat4j's fixture: no period
        ("Something else", None),
    ],
)
def test_rate_limit_text(text: str, seconds: int | None) -> None:
    assert parse_rate_limit(text) == seconds


@pytest.mark.parametrize(
    "error",
    [
        TooLate("edit"),
        TooLate("delete"),
        AlreadyDeleted("edit"),
        AlreadyDeleted("delete"),
        NotYours("edit"),
        NotYours("delete"),
        RateLimited(3),
        NeverAssigned(9),
        NotLoggedIn(),
        InvalidFkey(),
        Kicked(30),
        LowReputation(20),
        OwnMessage(),
    ],
)
def test_refusals_read_back_as_the_error_they_encode(error: RemoteError) -> None:
    wire_action: Action = "post"
    if isinstance(error, TooLate | AlreadyDeleted | NotYours):
        wire_action = "edit" if error.action == "edit" else "delete"
    elif isinstance(error, NeverAssigned):
        wire_action = "edit"  # answered with a 302 to /
    elif isinstance(error, OwnMessage):
        wire_action = "star"
    reply = refusal(error, wire_action)
    parsed = parse_refusal(reply.status, reply.body.decode(), wire_action, message_id=9)
    assert type(parsed) is type(error)
    assert str(parsed) == str(error) or isinstance(error, AlreadyDeleted)


@pytest.mark.parametrize("action", ["read", "other"])
@pytest.mark.parametrize("error", [Kicked(30), LowReputation(20)], ids=["kicked", "low-reputation"])
def test_kicks_read_back_typed_whatever_the_action(error: RemoteError, action: Action) -> None:
    reply = refusal(error, action)  # 403 here (e.g. /ws-auth), 404 when posting
    assert type(parse_refusal(reply.status, reply.body.decode(), action)) is type(error)


def test_other_servers_wordings_are_recognised() -> None:
    assert isinstance(parse_refusal(200, '"It is too late to edit this message."', "edit"), TooLate)
    assert isinstance(parse_refusal(200, '"The message has been deleted and cannot be edited"', "edit"), AlreadyDeleted)
    assert isinstance(parse_refusal(404, "The room does not exist, or you do not have permission", "post"), NotFound)
    assert isinstance(parse_refusal(400, "The text parameter is required", "post"), BadRequest)
    odd = parse_refusal(500, "boom", "post")
    assert type(odd) is RemoteError and "500" in str(odd)


def test_pages_give_the_fkey_and_the_user() -> None:
    favorite = (
        '<html><head><title>x</title><meta charset="utf-8"></head><body>'
        '<nav class="topbar-menu-links" aria-label="Account"><a href="/users/42/bot-name" title="Bot Name">Bot'
        ' &amp; Co</a> <a href="/users/logout">log out</a></nav>'
        '<div id="content"><form method="post" action=""><input id="fkey" name="fkey" type="hidden" value="abc" />'
        '</form></div><input name="fkey" value="second"></body></html>'
    )
    page = parse_chat_page(favorite)
    assert (page.fkey, page.user_id, page.user_name) == ("abc", 42, "Bot & Co")
    anonymous = parse_chat_page('<span class="topbar-menu-links"><a href="/users/login">log in</a></span>')
    assert (anonymous.fkey, anonymous.user_id, anonymous.user_name) == (None, None, None)


def test_a_room_page_gives_its_present_users() -> None:
    stack_exchange = (
        '<script>CHAT.RoomUsers.initPresent([\n{id: 17, name: ("Jon"), reputation: 5},'
        '\n{id:-2, name: ("Feeds"), reputation: 1},\n{id: 17, name: ("Jon")}]);</script>'
        '<div class="message">{id: 99, not a user}</div>'
    )
    assert parse_present_users(stack_exchange) == [17, -2]  # in order, once each, only inside the call
    assert parse_present_users("<html><body>no users block</body></html>") == []


def test_content_as_text() -> None:
    assert content_text("hello <strong>all</strong> &amp; <a href='x'>you</a>") == "hello all & you"
    # The shapes hubbub and Stack Exchange send: b/i/strike, entities for quote marks, tag badges, quotes.
    assert content_text(render_message('**all** *of* ---them--- say "it\'s" [tag:c#]')) == 'all of them say "it\'s" c#'
    assert content_text(render_message("> quoted [tag:x]")) == "quoted x"
    assert content_text("<div class='full'>line one <br> line two</div>") == "line one\nline two"
    assert content_text("  spaced  ") == "  spaced  "
