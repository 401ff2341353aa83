"""hosts.py: which Host and Origin values are hubbub's, and when cookies get Secure (no sockets)."""

from __future__ import annotations

import pytest

from hubbub.errors import ConfigError
from hubbub.hosts import Authority, Origin, Site, parse_authority, parse_origin
from hubbub.settings import Settings


def site(**overrides: object) -> Site:
    return Site(Settings(**overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost", Authority("localhost")),
        ("LocalHost.:8080", Authority("localhost", 8080)),
        ("127.0.0.1:1", Authority("127.0.0.1", 1)),
        ("chat.example.org", Authority("chat.example.org")),
        ("my_service-1", Authority("my_service-1")),
        ("[::1]", Authority("[::1]")),
        ("[0:0::1]:65535", Authority("[::1]", 65535)),
        (" localhost ", Authority("localhost")),
    ],
)
def test_well_formed_hosts_are_normalised(text: str, expected: Authority) -> None:
    assert parse_authority(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a; script-src * 'unsafe-inline'",
        "a b",
        "evil.example/x",
        "user@localhost",
        "localhost:",
        "localhost:0",
        "localhost:65536",
        "localhost:80:80",
        "localhost:8o",
        "::1",
        "[::1",
        "[::1]x",
        "[fe80::1%25eth0]",
        "[not-an-address]",
        "exa%6dple.org",
        "*",
        "-leading.example",
        "a" * 64 + ".example",
        "x." * 127 + "x",
        "ex'ample",
        'ex"ample',
        "example\r\nX-Injected: 1",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    assert parse_authority(text) is None


def test_origins() -> None:
    assert parse_origin("http://127.0.0.1:8080") == Origin("http", "127.0.0.1", 8080)
    assert parse_origin("HTTPS://Chat.Example.org") == Origin("https", "chat.example.org", 443)
    assert parse_origin("http://localhost") == Origin("http", "localhost", 80)
    for bad in ("null", "", "localhost:8080", "ws://localhost:8080", "http://a/b", "http://a;b", "file://"):
        assert parse_origin(bad) is None, bad


def test_the_default_hosts_are_loopback_and_the_listening_address() -> None:
    default = site(host="192.0.2.7")
    for allowed in ("localhost:8080", "127.0.0.1", "[::1]:8080", "192.0.2.7:8080"):
        assert default.host(allowed) is not None, allowed
    for refused in ("evil.example", "127.0.0.2", "a; script-src *"):
        assert default.host(refused) is None, refused
    assert site(host="0.0.0.0").host("0.0.0.0") is None  # a wildcard address names no host


def test_allowed_hosts_and_public_urls_add_hosts() -> None:
    configured = site(
        allowed_hosts="Chat.Example.org, ::1",
        public_url="https://www.example.org",
        ws_public_url="wss://ws.example.org/socket",
    )
    for allowed in ("chat.example.org", "[::1]:1", "www.example.org", "ws.example.org", "127.0.0.1"):
        assert configured.host(allowed) is not None, allowed
    assert configured.host("localhost") is None  # a list replaces the default one
    anything = site(allowed_hosts="*")
    assert anything.host("whatever.example:9") == Authority("whatever.example", 9)
    assert anything.host("a; b") is None  # "*" still takes only well-formed hosts


def test_a_request_without_host_gets_the_default_one() -> None:
    assert site().host(None) == Authority("127.0.0.1")
    assert site(public_url="https://chat.example.org").host(None) == Authority("chat.example.org")
    assert site(host="0.0.0.0", allowed_hosts="").host(None) == Authority("localhost")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("public_url", "chat.example.org"),
        ("public_url", "ftp://chat.example.org"),
        ("public_url", "https://chat.example.org; script-src *"),
        ("public_url", "https://user@chat.example.org"),
        ("ws_public_url", "https://chat.example.org"),
        ("ws_public_url", "wss://"),
        ("allowed_hosts", "chat.example.org:8080"),
        ("allowed_hosts", "https://chat.example.org"),
        ("allowed_hosts", "a b"),
    ],
)
def test_malformed_settings_stop_the_start(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        site(**{name: value})


def test_websocket_base() -> None:
    assert site().websocket_base(Authority("localhost", 8080), 8081) == "ws://localhost:8081"
    assert site().websocket_base(Authority("[::1]", 8080), 8081) == "ws://[::1]:8081"
    assert site().websocket_base(None, 8081) == "ws://127.0.0.1:8081"
    public = site(ws_public_url="wss://chat.example.org/socket/")
    assert public.websocket_base(Authority("localhost"), 8081) == "wss://chat.example.org/socket"


def test_own_origins_are_the_pages_hubbub_serves() -> None:
    local = site(port=8080)
    assert local.is_own_origin("http://127.0.0.1:8080")
    assert local.is_own_origin("http://localhost:8080")
    assert not local.is_own_origin("http://localhost:3000")  # another program on this machine
    assert not local.is_own_origin("http://evil.example:8080")
    assert not local.is_own_origin("null")
    public = site(port=8080, public_url="https://chat.example.org")
    assert public.is_own_origin("https://chat.example.org")
    assert public.is_own_origin("https://chat.example.org:443")
    assert not public.is_own_origin("http://chat.example.org")  # another scheme is another origin
    assert not public.is_own_origin("https://chat.example.org.evil.example")
    bound = site(port=0)
    bound.http_port = 40001
    assert bound.is_own_origin("http://127.0.0.1:40001")


def test_cookies_may_sign_in_a_socket_from_own_pages_or_programs() -> None:
    local = site(port=8080)
    assert local.may_use_cookies(None)  # no Origin: not a browser
    assert local.may_use_cookies("http://localhost:8080")
    assert not local.may_use_cookies("https://evil.example")
    assert not local.may_use_cookies("null")


def test_secure_cookies_whenever_served_over_tls() -> None:
    assert not site().cookies_secure(request_is_tls=False)
    assert site().cookies_secure(request_is_tls=True)
    assert site(public_url="https://chat.example.org").cookies_secure(request_is_tls=False)
    assert not site(public_url="http://chat.example.org").cookies_secure(request_is_tls=False)
    assert site(ws_public_url="wss://chat.example.org").cookies_secure(request_is_tls=False)
    assert site(secure_cookies=True).cookies_secure(request_is_tls=False)
