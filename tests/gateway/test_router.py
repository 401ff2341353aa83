"""gateway/router.py: which upgrades keep their cookies (no sockets)."""

from __future__ import annotations

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
