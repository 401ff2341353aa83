"""The IRC codec without sockets: registration, CAP and SASL, numerics for bad input, rendering."""

from __future__ import annotations

import base64

from irctokens.line import Line, tokenise

from hubbub.dialects.irc import codec
from hubbub.dialects.irc.codec import IrcSession, LoginFailure, TagStyle, render_chat
from hubbub.dialects.irc.names import channel_names, nick_of, split_text


def _session() -> IrcSession:
    return IrcSession(server="hub", version="hubbub-test", created="today", motd=("hello",))


def _lines(session: IrcSession) -> list[Line]:
    return [tokenise(raw) for raw in session.data_to_send().split(b"\r\n") if raw]


def _feed(session: IrcSession, *lines: str) -> list[codec.Command]:
    return session.receive_data("".join(f"{line}\r\n" for line in lines).encode())


def _registered(nick: str = "ann") -> IrcSession:
    session = _session()
    [login] = _feed(session, "PASS :secret words", f"NICK {nick}", "USER u 0 * :Ann")
    assert login == codec.Login(nick, "secret words", by_email=False, sasl=False)
    session.login_succeeded(account="Ann Lee", nick="AnnLee", user_id=7, sasl=False)
    session.data_to_send()
    return session


def test_pass_login_welcomes_with_the_accounts_nick_and_isupport() -> None:
    session = _session()
    _feed(session, "PASS :pw", "NICK ann", "USER u 0 * :Ann")
    session.login_succeeded(account="Ann Lee", nick="AnnLee", user_id=7, sasl=False)
    lines = _lines(session)
    assert lines[0].command == "NICK" and lines[0].params == ["AnnLee"] and lines[0].source == "ann!u7@hub"
    commands = [line.command for line in lines]
    assert commands[1:] == ["001", "002", "003", "004", "005", "375", "372", "376"]
    isupport = lines[5].params
    assert "CASEMAPPING=ascii" in isupport and "CHATHISTORY=100" in isupport and isupport[0] == "AnnLee"
    assert session.registered and session.mask == "AnnLee!u7@hub"


def test_pass_with_an_email_logs_in_by_email() -> None:
    session = _session()
    [login] = _feed(session, "PASS :ann@example.org:pass:with:colons", "NICK a", "USER u 0 * :A")
    assert login == codec.Login("ann@example.org", "pass:with:colons", by_email=True, sasl=False)


def test_a_wrong_password_is_464_then_error_and_close() -> None:
    session = _session()
    _feed(session, "PASS :pw", "NICK ann", "USER u 0 * :Ann")
    session.login_failed(LoginFailure.WRONG, sasl=False)
    lines = _lines(session)
    assert [line.command for line in lines] == ["464", "ERROR"] and session.closing


def test_no_password_at_all_is_refused() -> None:
    session = _session()
    assert _feed(session, "NICK ann", "USER u 0 * :Ann") == []
    assert [line.command for line in _lines(session)] == ["464", "ERROR"]


def test_sasl_plain_waits_for_cap_end_and_answers_900_903() -> None:
    session = _session()
    _feed(session, "CAP LS 302", "NICK ann", "USER u 0 * :Ann")
    ls = _lines(session)
    assert ls[0].params[:2] == ["*", "LS"] and "sasl=PLAIN" in ls[0].params[2].split()
    _feed(session, "CAP REQ :sasl message-tags", "AUTHENTICATE PLAIN")
    assert [(line.command, line.params[-1]) for line in _lines(session)] == [
        ("CAP", "sasl message-tags"),
        ("AUTHENTICATE", "+"),
    ]
    token = base64.b64encode(b"\0ann@example.org\0pw").decode()
    [login] = _feed(session, f"AUTHENTICATE {token}")
    assert login == codec.Login("ann@example.org", "pw", by_email=True, sasl=True)
    session.login_succeeded(account="Ann", nick="Ann", user_id=1, sasl=True)
    assert [line.command for line in _lines(session)] == ["NICK", "900", "903"]
    assert not session.registered  # CAP negotiation still open
    _feed(session, "CAP END")
    assert _lines(session)[0].command == "001"
    assert session.tag_style is TagStyle.ALL


def test_sasl_failures_and_abort() -> None:
    session = _session()
    _feed(session, "CAP REQ :sasl", "AUTHENTICATE EXTERNAL")
    assert [line.command for line in _lines(session)][-2:] == ["908", "904"]
    _feed(session, "AUTHENTICATE PLAIN", "AUTHENTICATE *")
    assert [line.command for line in _lines(session)][-1] == "906"
    _feed(session, "AUTHENTICATE PLAIN", "AUTHENTICATE !!notbase64")
    assert [line.command for line in _lines(session)][-1] == "904"
    _feed(session, "AUTHENTICATE PLAIN", *["AUTHENTICATE " + "A" * 400] * 4)
    assert [line.command for line in _lines(session)][-1] == "905"
    assert len(_feed(session, "AUTHENTICATE PLAIN", "AUTHENTICATE " + base64.b64encode(b"\0a@b\0c").decode())) == 1
    session.login_failed(LoginFailure.WRONG, sasl=True)
    assert [line.command for line in _lines(session)][-1] == "904" and not session.closing


def test_cap_req_of_an_unknown_capability_is_naked_whole() -> None:
    session = _session()
    _feed(session, "CAP REQ :server-time nonsense")
    [nak] = _lines(session)
    assert nak.params[1:] == ["NAK", "server-time nonsense"] and session.caps == set()


def test_commands_before_registration_get_451_and_unknown_ones_421() -> None:
    session = _session()
    assert _feed(session, "JOIN #a", "PRIVMSG #a :hi") == []
    assert [line.command for line in _lines(session)] == ["451", "451"]
    session = _registered()
    _feed(session, "FROBNICATE x")
    [unknown] = _lines(session)
    assert unknown.command == "421" and unknown.params[1] == "FROBNICATE"


def test_an_over_long_line_is_417_and_the_next_line_still_works() -> None:
    session = _registered()
    huge = b"PRIVMSG #a :" + b"x" * (codec.MAX_INPUT_BYTES + 10)
    # Fed in pieces, as TCP delivers it: the line is dropped as it grows, never buffered whole.
    for start in range(0, len(huge), 1000):
        assert session.receive_data(huge[start : start + 1000]) == []
    commands = session.receive_data(b"\r\nPING :x\r\nPRIVMSG #a :ok\r\n")
    assert commands == [codec.Say("#a", "ok", False)]
    assert [line.command for line in _lines(session)] == ["417", "PONG"]


def test_invalid_utf8_falls_back_to_latin1() -> None:
    session = _registered()
    assert session.receive_data(b"PRIVMSG #a :caf\xe9\r\n") == [codec.Say("#a", "café", False)]
    assert session.receive_data(b"@bad=\xff\xfe PRIVMSG #a :x\r\n") == []  # tags must be UTF-8: dropped


def test_empty_and_junk_lines_are_ignored() -> None:
    session = _registered()
    assert session.receive_data(b"\r\n   \r\n:onlyprefix\r\n\x00\r\n") == []
    assert session.data_to_send() == b""


def test_a_nick_flood_before_login_closes_the_link() -> None:
    session = _session()
    _feed(session, *[f"NICK n{i}" for i in range(codec.MAX_NICKS_BEFORE_LOGIN + 5)])
    lines = _lines(session)
    assert lines[-1].command == "ERROR" and session.closing


def test_nick_changes_after_login_are_refused() -> None:
    session = _registered()
    _feed(session, "NICK other", "NICK annlee")
    [refused] = _lines(session)
    assert refused.command == "902"


def test_join_part_privmsg_and_ctcp_action() -> None:
    session = _registered()
    assert _feed(session, "JOIN #a,#b,c") == [codec.Join("#a"), codec.Join("#b")]
    assert _lines(session)[0].command == "476"
    assert _feed(session, "JOIN " + ",".join(f"#c{i}" for i in range(codec.MAX_TARGETS + 1))) == []
    assert _lines(session)[0].command == "407"
    assert _feed(session, "PART #a :bye") == [codec.Part("#a", "bye")]
    assert _feed(session, "JOIN 0") == [codec.Part("*", "Left all channels")]
    assert _feed(session, "PRIVMSG #a :\x01ACTION waves\x01") == [codec.Say("#a", "waves", True)]
    assert _feed(session, "PRIVMSG #a :\x01VERSION\x01") == []
    assert _feed(session, "PRIVMSG bob :hi", "PRIVMSG", "PRIVMSG #a") == []
    assert [line.command for line in _lines(session)] == ["401", "411", "412"]


def test_mode_topic_and_away_answers() -> None:
    session = _registered()
    _feed(session, "MODE #a", "MODE #a b", "MODE #a +o x", "MODE AnnLee", "MODE bob", "TOPIC #a :new", "AWAY :lunch")
    assert [line.command for line in _lines(session)] == ["324", "368", "482", "221", "502", "482", "306"]


def test_chathistory_parsing() -> None:
    session = _registered()
    assert _feed(session, "CHATHISTORY AFTER #a msgid=41 500") == [codec.HistoryQuery("AFTER", "#a", 41, None, 100)]
    [latest] = _feed(session, "CHATHISTORY LATEST #a timestamp=2026-01-01T00:00:00.000Z 5")
    assert isinstance(latest, codec.HistoryQuery) and latest.at_ms == 1767225600000
    assert _feed(session, "CHATHISTORY AROUND #a msgid=1 5", "CHATHISTORY AFTER #a * 5", "CHATHISTORY LATEST") == []
    assert [line.params[1] for line in _lines(session)] == ["INVALID_PARAMS", "INVALID_PARAMS", "NEED_MORE_PARAMS"]


def test_history_lines_are_batched_when_the_client_asked_for_batch() -> None:
    session = _registered()
    session.caps = {"batch", "message-tags"}
    line = render_chat(source="b!u2@hub", target="#a", text="x\ny", action=False, style=TagStyle.ALL, ms=0, msgid=9)
    session.history("#a", [line], "h1")
    lines = _lines(session)
    assert [entry.command for entry in lines] == ["BATCH", "PRIVMSG", "PRIVMSG", "BATCH"]
    assert lines[1].tags == {"batch": "h1", "time": "1970-01-01T00:00:00.000Z", "msgid": "9"}


def test_render_chat_splits_long_and_multiline_text_within_512_bytes() -> None:
    text = "word " * 300 + "\n\nsecond line"
    data = render_chat(source="n!u1@hub", target="#room", text=text, action=True, style=TagStyle.NONE, ms=0, msgid=None)
    lines = data.split(b"\r\n")[:-1]
    assert all(len(line) + 2 <= codec.MAX_LINE_BYTES for line in lines)
    parsed = [tokenise(line) for line in lines]
    assert all(p.params[1].startswith("\x01ACTION ") and p.params[1].endswith("\x01") for p in parsed)
    assert parsed[-1].params[1] == "\x01ACTION second line\x01"
    assert "".join(p.params[1][8:-1] + " " for p in parsed[:-1]).split() == ["word"] * 300


def test_split_text_never_cuts_a_character() -> None:
    pieces = split_text("é" * 100, 33)
    assert "".join(pieces) == "é" * 100 and all(len(p.encode()) <= 33 for p in pieces)


def test_nicks_and_channel_names() -> None:
    assert nick_of("Ann Lee", 1) == "AnnLee"
    assert nick_of("4chan fan", 2) == "_4chanfan"
    assert nick_of("a,b*c!d@e", 3) == "a_b_c_d_e"
    assert nick_of("   ", 4) == "user4"
    names = channel_names([(1, "sandbox"), (2, "sandbox"), (3, "show")], [(7, 3, "ann", "show")])
    assert {key: (t.room_id, t.stream_id) for key, t in names.items()} == {
        "#sandbox": (1, None),
        "#sandbox.2": (2, None),
        "#ann-show": (3, 7),
    }


def test_lines_sent_while_the_password_is_checked_run_after_it() -> None:
    session = _session()
    commands = _feed(session, "PASS :pw", "NICK ann", "USER u 0 * :Ann", "JOIN #a", "PRIVMSG #a :hi")
    assert [type(c) for c in commands] == [codec.Login]
    assert session.data_to_send() == b""  # no 451 for the JOIN: it waits
    after = session.login_succeeded(account="ann", nick="ann", user_id=1, sasl=False)
    assert after == [codec.Join("#a"), codec.Say("#a", "hi", False)]
    flood = _session()
    _feed(flood, "PASS :pw", "NICK ann", "USER u 0 * :Ann", *["JOIN #a"] * (codec.MAX_HELD_LINES + 1))
    assert flood.closing and _lines(flood)[-1].params[-1] == "Closing link: Excess Flood"
