"""web/app.py: the Host header is checked before anything is built from it (CSP, /ws-auth URLs)."""

from __future__ import annotations

import asyncio
import contextlib

from hubbub.core.ids import RoomId
from tests.conftest import Browser, Node, NodeFactory
from tests.fakes import TIMEOUT

INJECTION = "a; script-src * 'unsafe-inline'"


async def _raw_request(node: Node, head: str, *, whole: bool = True) -> tuple[int, str]:
    """Send a request head exactly as given (no Host added); the status and the answer (or its status line)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.runtime.http_port)
    try:
        writer.write(head.encode("latin-1"))
        async with asyncio.timeout(TIMEOUT):
            answer = (await (reader.read() if whole else reader.readline())).decode("latin-1")
        return int(answer.split()[1]), answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _ws_auth(browser: Browser, room: RoomId, host: str) -> tuple[int, str]:
    response = await browser.post("/ws-auth", {"roomid": str(room)}, headers={"Host": host})
    body = await response.json() if response.status == 200 else {}
    return response.status, str(body.get("url", ""))


async def test_a_host_header_cannot_add_a_directive_to_the_policy(node: Node) -> None:
    """Item 8: ``Host: a; script-src * 'unsafe-inline'`` used to become part of connect-src."""
    browser = await node.browser()
    for path in ("/", "/users/login", "/rooms/1"):
        response = await browser.get(path, headers={"Host": INJECTION})
        assert response.status == 400, path
        assert "Content-Security-Policy" not in response.headers
        assert "unsafe-inline" not in await response.text()


async def test_a_host_header_cannot_choose_the_socket_url(node: Node) -> None:
    """Item 8: /ws-auth built its URL from whatever Host the request carried."""
    alice = await node.signed_in("Alice")
    room = await node.room()
    for host in (INJECTION, "evil.example", "evil.example:8080", "127.0.0.1@evil.example"):
        assert await _ws_auth(alice, room, host) == (400, ""), host
    status, url = await _ws_auth(alice, room, f"localhost:{node.runtime.http_port}")
    assert status == 200 and url.startswith(f"ws://localhost:{node.runtime.ws_port}/events/{room}/")


async def test_pages_name_the_host_they_were_asked_for_when_it_is_allowed(make_node: NodeFactory) -> None:
    node = await make_node(allowed_hosts="chat.example.org")
    alice = await node.signed_in("Alice")
    room = await node.room()
    status, url = await _ws_auth(alice, room, "Chat.Example.org.")
    assert status == 200 and url.startswith(f"ws://chat.example.org:{node.runtime.ws_port}/events/")
    policy = (await alice.get("/", headers={"Host": "chat.example.org"})).headers["Content-Security-Policy"]
    assert f"connect-src 'self' ws://chat.example.org:{node.runtime.ws_port};" in policy
    assert (await alice.get("/", headers={"Host": "localhost"})).status == 400  # the list replaced the default
    assert (await alice.get("/")).status == 200  # 127.0.0.1, where hubbub listens, is always its own


async def test_health_checks_answer_whatever_the_host(node: Node) -> None:
    browser = await node.browser()
    response = await browser.get("/healthz", headers={"Host": "10.1.2.3:8080"})
    assert (response.status, await response.text()) == (200, "ok")


async def test_a_request_without_host_gets_the_default_host(node: Node) -> None:
    status, answer = await _raw_request(node, "GET /users/login HTTP/1.0\r\n\r\n")
    assert status == 200
    assert f"connect-src 'self' ws://127.0.0.1:{node.runtime.ws_port};" in answer
    status, answer = await _raw_request(node, f"GET / HTTP/1.0\r\nHost: {INJECTION}\r\n\r\n")
    assert status == 400 and "unsafe-inline" not in answer


async def test_a_websocket_upgrade_with_a_foreign_host_is_refused(node: Node) -> None:
    def upgrade(host: str) -> str:
        return (
            f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )

    assert (await _raw_request(node, upgrade("evil.example"), whole=False))[0] == 400
    assert (await _raw_request(node, upgrade(f"127.0.0.1:{node.runtime.http_port}"), whole=False))[0] == 101
