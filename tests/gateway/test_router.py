"""gateway/router.py: which upgrades keep their cookies, and the cap on sockets per address (no sockets)."""

from __future__ import annotations

from dataclasses import replace

from hubbub.gateway.router import GatewayLimits, SocketRouter
from hubbub.hosts import Site
from hubbub.settings import Settings

LIMITS = GatewayLimits(send_buffer_bytes=1, max_frame_bytes=1, max_connections_per_ip=1, allowed_origins=None)


def test_only_own_pages_and_programs_hand_their_cookies_to_a_socket() -> None:
    router = SocketRouter([], LIMITS, Site(Settings(port=8080)))
    cookie = {"cookie": "acct=secret; other=1"}
    for origin in (None, "http://localhost:8080", "http://127.0.0.1:8080"):
        headers = cookie if origin is None else {**cookie, "origin": origin}
        handshake = router.handshake("/?x=1", headers)
        assert handshake.cookies == {"acct": "secret", "other": "1"}, origin
    for origin in ("https://evil.example", "null", "http://localhost:3000"):
        handshake = router.handshake("/?x=1", {**cookie, "origin": origin})
        assert handshake.cookies == {} and "cookie" not in handshake.headers, origin
        assert handshake.headers["origin"] == origin and handshake.query == {"x": "1"}


def test_sockets_per_address_are_capped_and_zero_means_no_cap() -> None:
    router = SocketRouter([], replace(LIMITS, max_connections_per_ip=2), Site(Settings(port=8080)))
    assert router.admit("192.0.2.1") and router.admit("192.0.2.1")
    assert not router.admit("192.0.2.1") and router.connections_from("192.0.2.1") == 2  # refused: not counted
    assert router.admit("192.0.2.2")  # another address has its own count
    router.release("192.0.2.1")
    assert router.admit("192.0.2.1")
    uncapped = SocketRouter([], replace(LIMITS, max_connections_per_ip=0), Site(Settings(port=8080)))
    assert all(uncapped.admit("192.0.2.1") for _ in range(5000))  # as http_max_connections_per_ip = 0
