"""hubbub/cookie_header.py: one lenient reading of ``Cookie`` for the HTTP routes, the socket gateway
and the comet poll connections; a cookie another application set costs only its own pair."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from hubbub.cookie_header import cookie_value, parse_cookies
from hubbub.gateway.router import parse_handshake

# Headers a browser really sends when other applications on the same host set cookies that
# ``http.cookies.SimpleCookie`` refuses: each made the whole header unreadable for it.
BAD_NEIGHBOURS = [
    "theme=dark mode; acct=T0KEN; c_user=7",
    'acct=T0KEN; note="unterminated; c_user=7',
    "flag; acct=T0KEN; =orphan; c_user=7",
    "acct=T0KEN;;  ; c_user=7",
]


@pytest.mark.parametrize("header", BAD_NEIGHBOURS)
def test_a_bad_neighbour_costs_only_its_own_pair(header: str) -> None:
    cookies = parse_cookies(header)
    assert cookies["acct"] == "T0KEN" and cookies["c_user"] == "7"
    assert cookie_value(header, "acct") == "T0KEN"


def test_the_reading_simplecookie_gave_up_on() -> None:
    jar: SimpleCookie = SimpleCookie()
    jar.load(BAD_NEIGHBOURS[0])
    assert "acct" not in jar  # why the gateway and the poll connections no longer use it


def test_values_spaces_quotes_and_repeats() -> None:
    assert parse_cookies(' acct = "abc" ; b=x=y; c=') == {"acct": "abc", "b": "x=y", "c": ""}
    assert cookie_value("acct=first; acct=second", "acct") == "second"  # the last, as aiohttp reads it
    assert cookie_value("xacct=1; acctx=2", "acct") is None  # names match whole
    assert cookie_value("", "acct") is None and cookie_value(None, "acct") is None
    assert parse_cookies(None) == {} and parse_cookies('q="') == {"q": '"'}


def test_a_socket_handshake_with_a_bad_neighbour_keeps_its_session_cookie() -> None:
    handshake = parse_handshake("/events/1/t", {"cookie": BAD_NEIGHBOURS[0]})
    assert handshake.cookies["acct"] == "T0KEN"
