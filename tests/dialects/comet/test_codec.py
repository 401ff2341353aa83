"""The comet codec without sockets: golden bytes for every answer, the poll table, the parsers
clients of §C.11 item 14 use on our bytes, and the scraping markers of §C.8."""

from __future__ import annotations

import io
import json
import re

import pytest

from hubbub.core.direct import ChannelEntry, ChannelKind, DirectPayload, TypingPayload
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.dialects.comet.codec import (
    PREFIX,
    TRANSITIONS,
    Answer,
    BuddyInfo,
    CometError,
    ErrorCode,
    PollInput,
    PollSession,
    PollState,
    buddy_list_body,
    continue_body,
    entry_object,
    error_body,
    msg_body,
    parse_poll_path,
    parse_send,
    parse_typing,
    reconnect_body,
    refresh_body,
    success_body,
)
from hubbub.dialects.comet.markup import home_page, login_page
from hubbub.errors import LocalError

ME, FRIEND = UserId(800753867), UserId(596176850)


def _dm(text: str, *, client_id: str | None = "4177168544", client_time: int | None = 1209557232415) -> ChannelEntry:
    payload = DirectPayload(
        message_id=7,
        text=text,
        sent_ms=1209557234412,
        client_time=client_time,
        client_id=client_id,
        to_name="Eion Robb",
    )
    event = Event(
        id=EventId(40),
        type=EventType.DIRECT_MESSAGE,
        time_stamp=1209557234,
        user_id=FRIEND,
        user_name="Jeremy Lawson",
        target_user_id=ME,
        data=payload.to_data(),
    )
    return ChannelEntry(user_id=ME, seq=0, kind=ChannelKind.MESSAGE, event=event)


def _typing(typing: bool, expires_at: int = 100) -> ChannelEntry:
    event = Event(
        id=EventId(41),
        type=EventType.TYPING,
        time_stamp=70,
        user_id=FRIEND,
        target_user_id=ME,
        data=TypingPayload(typing=typing, to_name="Eion Robb").to_data(),
    )
    return ChannelEntry(user_id=ME, seq=1, kind=ChannelKind.TYPING, event=event, expires_at=expires_at)


# --- golden bytes ------------------------------------------------------------------------------


def test_refresh_continue_and_msg_bytes() -> None:
    assert refresh_body(0) == b'for (;;);{"t":"refresh","seq":0}'
    assert refresh_body(12) == b'for (;;);{"t":"refresh","seq":12}'
    assert refresh_body() == b'for (;;);{"t":"refresh"}'
    assert continue_body() == b'for (;;);{"t":"continue"}'
    assert msg_body(ME, entry_object(_dm("yo"), 0)) == (
        b'for (;;);{"t":"msg","c":"p_800753867","ms":[{"type":"msg","msg":{"text":"yo","time":1209557234412,'
        b'"clientTime":1209557232415,"msgID":"4177168544"},"from":596176850,"to":800753867,'
        b'"from_name":"Jeremy Lawson","to_name":"Eion Robb","from_first_name":"Jeremy","to_first_name":"Eion"}]}'
    )


def test_typing_entries_and_their_lapse() -> None:
    assert msg_body(ME, entry_object(_typing(True), 99)) == (
        b'for (;;);{"t":"msg","c":"p_800753867","ms":[{"type":"typ","st":1,"from":596176850,"to":800753867}]}'
    )
    assert entry_object(_typing(True), 100) == {"type": "typ", "st": 0, "from": 596176850, "to": 800753867}
    assert entry_object(_typing(False), 0)["st"] == 0


def test_text_is_ascii_escaped_and_msg_id_stays_a_string() -> None:
    item = entry_object(_dm('say "hi" & \u5341\u4e00 \\ http://x/', client_id="-1992480367", client_time=None), 0)
    data = msg_body(ME, item)
    assert data.isascii()
    assert b'"text":"say \\"hi\\" & \\u5341\\u4e00 \\\\ http://x/"' in data
    assert b'"msgID":"-1992480367"' in data
    assert b'"clientTime":1209557234412' in data  # no client time: the server's


def test_a_message_sent_without_a_decimal_id_carries_hubbubs() -> None:
    assert entry_object(_dm("x", client_id="web:3f2a"), 0)["msg"]["msgID"] == "7"
    assert entry_object(_dm("x", client_id=None), 0)["msg"]["msgID"] == "7"


def test_envelopes() -> None:
    assert success_body() == b'for (;;);{"error":0,"errorSummary":"","errorDescription":"No error.","payload":[]}'
    assert error_body(ErrorCode.OFFLINE) == (
        b'for (;;);{"error":1356003,"errorSummary":"Send destination not online",'
        b'"errorDescription":"This person is no longer online.","payload":null}'
    )
    assert error_body(ErrorCode.UNEXPECTED) == (
        b'for (;;);{"error":1356004,"errorSummary":"Unexpected error",'
        b'"errorDescription":"An unexpected error occurred. Please try again.","errorIsWarning":false,"payload":null}'
    )
    assert error_body(ErrorCode.NOT_LOGGED_IN) == (
        b'for (;;);{"error":1357001,"errorSummary":"Not Logged In",'
        b'"errorDescription":"You must be logged in to do that.","payload":null}'
    )
    assert error_body(ErrorCode.CSRF).startswith(b'for (;;);{"error":1357004,')
    assert error_body(ErrorCode.TOO_MANY).startswith(b'for (;;);{"error":1356008,')
    assert reconnect_body(5) == (
        b'for (;;);{"error":0,"errorSummary":"","errorDescription":"No error.","payload":{"host":"channel01","seq":5}}'
    )


def test_buddy_list_bytes_and_diff() -> None:
    infos = [
        BuddyInfo(UserId(2), "Buddi Two", "http://h/users/2/avatar.svg"),
        BuddyInfo(UserId(1), "Buddy One", "http://h/users/1/avatar.svg"),
    ]
    first = buddy_list_body(
        available={UserId(1): False}, previous=None, infos=infos, time_ms=1209560380000, inbox_count=None
    )
    assert first == (
        b'for (;;);{"error":0,"errorSummary":"","errorDescription":"No error.","payload":{"buddy_list":'
        b'{"listChanged":true,"availableCount":1,"nowAvailableList":{"1":{"i":false}},"wasAvailableIDs":[],'
        b'"userInfos":{"1":{"name":"Buddy One","firstName":"Buddy","thumbSrc":"http://h/users/1/avatar.svg",'
        b'"status":null,"statusTime":0,"statusTimeRel":""},"2":{"name":"Buddi Two","firstName":"Buddi",'
        b'"thumbSrc":"http://h/users/2/avatar.svg","status":null,"statusTime":0,"statusTimeRel":""}},'
        b'"forcedRender":true},"time":1209560380000}}'
    )
    same = json.loads(
        buddy_list_body(
            available={UserId(1): False}, previous={UserId(1): False}, infos=infos, time_ms=1, inbox_count=3
        )[9:]
    )
    assert same["payload"]["buddy_list"]["listChanged"] is False
    assert same["payload"]["buddy_list"]["nowAvailableList"] == {"1": {"i": False}}  # still complete
    assert same["payload"]["notifications"] == {"inboxCount": 3}
    idle = json.loads(
        buddy_list_body(
            available={UserId(1): True}, previous={UserId(1): False}, infos=infos, time_ms=1, inbox_count=0
        )[9:]
    )
    assert idle["payload"]["buddy_list"]["listChanged"] is True
    gone = json.loads(
        buddy_list_body(available={}, previous={UserId(1): True}, infos=infos, time_ms=1, inbox_count=None)[9:]
    )
    assert gone["payload"]["buddy_list"]["wasAvailableIDs"] == [1]
    assert gone["payload"]["buddy_list"]["availableCount"] == 0


# --- the parsers clients use on these bytes (§C.11 item 14) ----------------------------------

SAMPLES = [
    msg_body(ME, entry_object(_dm('quotes "here" & amp \u00e9\u5341'), 0)),
    msg_body(ME, entry_object(_typing(True), 0)),
    refresh_body(3),
    continue_body(),
    success_body(),
    error_body(ErrorCode.OFFLINE),
]


@pytest.mark.parametrize("data", SAMPLES)
def test_python_slice_kopete_read9_ruby_regex_and_adium_prefix_all_parse(data: bytes) -> None:
    expected = json.loads(data.decode()[len("for (;;);") :])
    assert data.startswith(PREFIX) and data[:9] == b"for (;;);"  # Adium hasPrefix, Jitsi startsWith
    assert json.loads(data.decode()[9:]) == expected  # the Python client's [9:]
    stream = io.BytesIO(data)
    assert stream.read(9) == PREFIX and json.loads(stream.read()) == expected  # Kopete read(9)
    assert json.loads(re.sub(r"^[^{]+", "", data.decode(), count=1)) == expected  # coderrr's Ruby
    text = data.decode()
    assert json.loads(text[text.find("for (;;);") + 9 :]) == expected  # libfacebook strstr + skip


def test_old_libfacebook_string_scraping_reads_a_message() -> None:
    """The 2008 C client compares bodies byte for byte and cuts fields out with strstr."""
    text = 'he said "hi" & left \u5341'
    data = msg_body(ME, entry_object(_dm(text, client_id="-12"), 0)).decode()
    assert data.startswith('for (;;);{"t":"msg"')  # strncmp(data, ..., 19)
    start = data.index('"text":"') + len('"text":"')
    scraped = data[start : data.index('","time":', start)]
    assert json.loads(f'"{scraped}"') == text  # the escapes it converts itself (fb_convert_unicode)
    msg_id = data[data.index('"msgID":"') + 9 :]
    assert msg_id[: msg_id.index('"')] == "-12"
    time_field = data[data.index('"time":') + 7 :]
    assert int(time_field[: time_field.index(",")][:-3]) == 1209557234  # ms -> s by dropping 3 digits
    assert continue_body() == b'for (;;);{"t":"continue"}' and refresh_body() == b'for (;;);{"t":"refresh"}'


# --- the poll path and the state table ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "uid", "seq", "active"),
    [
        ("0/false/p_123=-1", 123, -1, False),
        ("1209557234/true/p_123=0", 123, 0, True),
        ("3033635267/4230476693/false/p_123=16", 123, 16, False),
        ("0/false/p_123=abc", 123, None, False),
        ("0/false/p_123=", 123, None, False),
        ("0/false/p_123=99999999999999999999999", 123, None, False),
    ],
)
def test_poll_paths(tail: str, uid: int, seq: int | None, active: bool) -> None:
    target = parse_poll_path(tail)
    assert target is not None and (target.uid, target.seq, target.active) == (uid, seq, active)


@pytest.mark.parametrize("tail", ["", "p_1=0", "0/p_1=0", "0/false/q_1=0", "0/false/p_x=0", "a/b/c/d/p_1=0"])
def test_malformed_poll_paths(tail: str) -> None:
    assert parse_poll_path(tail) is None


def test_classify_against_the_channel_bounds() -> None:
    assert PollSession.classify(-1, 0, 0) is PollInput.OUT_OF_RANGE
    assert PollSession.classify(None, 0, 5) is PollInput.OUT_OF_RANGE
    assert PollSession.classify(6, 0, 5) is PollInput.OUT_OF_RANGE
    assert PollSession.classify(1, 2, 5) is PollInput.OUT_OF_RANGE  # trimmed by retention
    assert PollSession.classify(2, 2, 5) is PollInput.KEPT
    assert PollSession.classify(5, 2, 5) is PollInput.NEXT
    assert PollSession.classify(0, 0, 0) is PollInput.NEXT  # a valid seq 0 at start waits (Kopete)


def test_the_poll_table() -> None:
    waiting = PollSession()
    assert waiting.step(PollInput.NEXT) is Answer.WAIT and waiting.state is PollState.WAITING
    assert waiting.step(PollInput.WOKEN) is Answer.WAIT
    assert waiting.step(PollInput.KEPT) is Answer.MSG and waiting.state is PollState.DONE
    with pytest.raises(LocalError):
        waiting.step(PollInput.KEPT)
    expired = PollSession()
    expired.step(PollInput.NEXT)
    assert expired.step(PollInput.EXPIRED) is Answer.CONTINUE
    full = PollSession()
    assert full.step(PollInput.NO_ROOM) is Answer.CONTINUE
    with pytest.raises(LocalError):
        PollSession().step(PollInput.EXPIRED)
    # Nothing but an out-of-range seq or a bad session is ever answered with refresh.
    refreshes = {key for key, (_, answer) in TRANSITIONS.items() if answer in (Answer.REFRESH, Answer.REFRESH_SEQ)}
    assert {i for _, i in refreshes} == {PollInput.NOT_SIGNED_IN, PollInput.OUT_OF_RANGE}


# --- forms --------------------------------------------------------------------------------------


def test_send_forms() -> None:
    form = parse_send({"msg_text": "a & b", "msg_id": "-1992480367", "to": "5", "client_time": "1211177325"})
    assert (form.to, form.text, form.msg_id, form.client_time) == (5, "a & b", "-1992480367", 1211177325)
    assert parse_send({"msg_text": "x", "msg_id": "12345678901234567890", "to": "5"}).client_time is None
    for bad in (
        {"msg_text": "x", "to": "5"},
        {"msg_text": "x", "msg_id": "1.5", "to": "5"},
        {"msg_text": "x", "msg_id": "1", "to": "bob"},
        {"msg_id": "1", "to": "5"},
        {"msg_text": "x", "msg_id": "1", "to": "5", "client_time": "soon"},
        {"msg_text": "x", "msg_id": "123456789012345678901", "to": "5"},
    ):
        with pytest.raises(CometError) as refused:
            parse_send(bad)
        assert refused.value.code is ErrorCode.UNEXPECTED


def test_typing_forms() -> None:
    assert parse_typing({"typ": "1", "to": "9"}).typing
    assert not parse_typing({"typ": "0", "to": "9"}).typing
    with pytest.raises(CometError):
        parse_typing({"typ": "2", "to": "9"})


# --- pages: the scraping markers of §C.8 -------------------------------------------------------


def test_every_client_finds_its_markers_on_the_home_page() -> None:
    page = home_page(base_url="http://chat.example", uid=UserId(4321), name="Ann Lee", post_form_id="abc123")
    # coderrr (the seed)
    assert re.search(r'<a href=".+?/profile.php\?id=(\d+)" class="profile_nav_link">Profile</a>', page)[1] == "4321"  # type: ignore[index]
    assert re.search(r'"channel(\d+)"', page)[1] == "01"  # type: ignore[index]
    post_form_id = re.search(r'<input type="hidden" id="post_form_id" name="post_form_id" value="([^"]+)', page)
    assert post_form_id is not None and post_form_id[1] == "abc123"
    # the 2009 Python patterns (re.match from the start, re.S)
    assert re.match(r'.+Presence\("(\d+)"', page, re.S)[1] == "4321"  # type: ignore[index]
    assert re.match(r".+channel(\d+)", page, re.S)[1] == "01"  # type: ignore[index]
    assert 'window.presence = new Presence("4321"' in page
    # libfacebook and Kopete string searches
    assert 'js", "channel01"' in page and 'js","channel01"' in page and '", "channel' in page


def test_the_login_pages_first_form_posts_email_and_pass() -> None:
    page = login_page(error='bad <"password">', email="a@b.c")
    first_form = page[page.index("<form") : page.index("</form>")]
    assert 'name="email"' in first_form and 'name="pass"' in first_form and 'action="/login.php"' in first_form
    assert "&lt;&quot;password&quot;&gt;" in page
