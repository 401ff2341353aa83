"""The IRC bridge's sans-I/O rules: splitting at the line limit, CTCP, formatting, flood bucket, settings."""

from __future__ import annotations

import irctokens
import pytest

from hubbub.bridges.irc_codec import (
    LINE_BYTES,
    ChannelMembers,
    TokenBucket,
    incoming,
    irc_casefold,
    privmsg_lines,
    text_budget,
)
from hubbub.core.irc_accounts import check, irc_settings
from hubbub.errors import BadRequest

PREFIX = "relay!~relay@203.0.113.9"


def _wire(prefix: str, target: str, text: str) -> bytes:
    """The line as the server relays it to the other clients (irctokens formats it)."""
    return (irctokens.build("PRIVMSG", [target, text], source=prefix).format() + "\r\n").encode()


def test_a_short_line_is_one_privmsg() -> None:
    assert privmsg_lines("text", "hello", prefix=PREFIX, target="#show") == ["hello"]
    assert privmsg_lines("emote", "waves", prefix=PREFIX, target="#show") == ["\x01ACTION waves\x01"]


@pytest.mark.parametrize("kind", ["text", "emote"])
@pytest.mark.parametrize("prefix", [PREFIX, "relay"])  # "relay": our userhost not seen yet, the worst case
def test_long_lines_fit_as_the_others_receive_them(kind: str, prefix: str) -> None:
    text = " ".join(["ünïcödé-wörd"] * 200) + " " + "x" * 700
    pieces = privmsg_lines(kind, text, prefix=prefix, target="#show")
    seen_as = prefix if "!" in prefix else "relay!~abcdefghij@" + "h" * 63
    for piece in pieces:
        assert len(_wire(seen_as, "#show", piece)) <= LINE_BYTES
        piece.encode().decode()  # never cut inside a UTF-8 character
    bare = [p.removeprefix("\x01ACTION ").removesuffix("\x01") for p in pieces]
    # Word breaks drop the space they fall on; a run with no space is cut where it must be.
    assert "".join(bare).replace(" ", "") == text.replace(" ", "")
    assert all(not piece.startswith(" ") for piece in bare)


def test_the_budget_counts_the_prefix_target_and_ctcp() -> None:
    plain = text_budget(PREFIX, "#show", emote=False)
    assert plain == LINE_BYTES - len(f":{PREFIX} PRIVMSG #show :\r\n")
    assert text_budget(PREFIX, "#show", emote=True) == plain - len("\x01ACTION \x01")
    assert text_budget("relay", "#show", emote=False) < plain


def test_multi_line_messages_are_several_lines_and_nothing_unsendable_gets_through() -> None:
    assert privmsg_lines("text", "one\r\ntwo\rthree\n\n  \nfour\x00", prefix=PREFIX, target="#c") == [
        "one",
        "two",
        "three",
        "four",
    ]
    assert privmsg_lines("emote", "a\x01b\nc", prefix=PREFIX, target="#c") == ["\x01ACTION ab\x01", "\x01ACTION c\x01"]
    assert privmsg_lines("text", " \n\n", prefix=PREFIX, target="#c") == []


def test_incoming_ctcp_and_formatting() -> None:
    assert incoming("hello") == ("text", "hello")
    assert incoming("\x01ACTION waves\x01") == ("emote", "waves")
    assert incoming("\x01ACTION waves") == ("emote", "waves")  # some clients leave the closing \x01 off
    assert incoming("\x01VERSION\x01") is None  # a CTCP request is nobody's chat
    assert incoming("\x02bold\x02 \x0304,01red\x03 \x1ditalic\x1d \x0fplain") == ("text", "bold red italic plain")
    assert incoming("\x02\x02") is None


def test_rfc1459_casefolding() -> None:
    assert irc_casefold("#Show[]\\~") == "#show{}|^"


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    now = 100.0
    for _ in range(3):
        assert bucket.wait(now) == 0
        bucket.take(now)
    assert bucket.wait(now) == pytest.approx(0.5)
    assert bucket.wait(now + 0.5) == 0
    bucket.take(now + 0.5)
    assert bucket.wait(now + 0.5) == pytest.approx(0.5)
    assert bucket.wait(now + 60) == 0  # refills, but never past the burst
    for _ in range(3):
        bucket.take(now + 60)
    assert bucket.wait(now + 60) > 0
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


GOOD = {"server": "irc.example.org", "nick": "relay", "channel": "#show"}


def test_irc_settings_defaults() -> None:
    s = irc_settings(GOOD)
    assert (s.port, s.tls, s.tls_verify, s.auth, s.username, s.sasl_username) == (
        6697,
        True,
        True,
        "none",
        "relay",
        "relay",
    )
    assert irc_settings({**GOOD, "tls": "false"}).port == 6667
    assert irc_settings({**GOOD, "password": "pw"}).auth == "sasl"
    assert irc_settings({**GOOD, "password": "pw", "auth": "pass"}).auth == "pass"
    assert check("irc", {"server": "irc.example.org", "channel": "#show"}, name="Relay Bot!").nick == "RelayBot"
    assert check("hubbub", {}, name="x") is None
    assert irc_settings({**GOOD, "name": "the API's", "note": "kept, ignored"}).nick == "relay"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({**GOOD, "server": ""}, "server"),
        ({**GOOD, "server": "a b"}, "server"),
        ({**GOOD, "nick": "1abc"}, "nick"),
        ({**GOOD, "nick": "a" * 31}, "nick"),
        ({**GOOD, "channel": "show"}, "channel"),
        ({**GOOD, "channel": "#a b"}, "channel"),
        ({**GOOD, "port": "70000"}, "port"),
        ({**GOOD, "port": "x"}, "port"),
        ({**GOOD, "tls": "maybe"}, "tls"),
        ({**GOOD, "auth": "sasl"}, "password"),
        ({**GOOD, "auth": "kerberos", "password": "x"}, "auth"),
        ({**GOOD, "flood_rate": "0"}, "flood_rate"),
        ({**GOOD, "flood_burst": "1000"}, "flood_burst"),
        ({**GOOD, "password": "a\r\nQUIT"}, "line breaks"),
    ],
)
def test_bad_irc_settings_are_refused_with_the_reason(settings: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        irc_settings(settings)


def test_bad_twitch_settings_are_refused() -> None:
    with pytest.raises(BadRequest, match="channel"):
        check("twitch", {"channel": "#no spaces"})
    with pytest.raises(BadRequest, match="nick"):
        check("twitch", {"channel": "show", "nick": "bad nick", "password": "oauth:x"})


def _feed(members: ChannelMembers, raw: str) -> None:
    line = irctokens.tokenise(raw)
    members.observe(line.command, line.hostmask.nickname if line.source else "", line.params)


def test_channel_members_follow_names_joins_parts_quits_kicks_and_nicks() -> None:
    members = ChannelMembers("#Show")
    _feed(members, ":relay!r@h JOIN #show")
    assert members.count("relay") is None  # not known before the NAMES list has ended
    _feed(members, ":irc.example 353 relay = #show :relay @Op +voiced ~owner")
    _feed(members, ":irc.example 353 relay = #other :elsewhere")  # another channel's list
    _feed(members, ":irc.example 353 relay = #SHOW :%half")
    assert members.count("relay") is None
    _feed(members, ":irc.example 366 relay #show :End of /NAMES list.")
    assert members.count("relay") == 4  # op, voiced, owner, half; not ourselves
    _feed(members, ":new!n@h JOIN :#show")
    _feed(members, ":stranger!s@h JOIN #other")
    assert members.count("RELAY") == 5
    _feed(members, ":op!o@h PART #show :bye")
    _feed(members, ":owner!o@h QUIT :gone")
    _feed(members, ":new!n@h KICK #show voiced :out")
    assert members.count("relay") == 2  # new, half
    _feed(members, ":half!h@h NICK whole")
    _feed(members, ":whole!h@h PART #show")
    assert members.count("relay") == 1
    _feed(members, ":relay!r@h NICK relay_")
    assert members.count("relay_") == 1  # our own new nick is still not a viewer
