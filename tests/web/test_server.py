"""web/server.py: slow clients on the HTTP port are cut off; running requests and websockets are not.

Issue 8, item 12 (slowloris): connections that sent nothing, half a head, or one header byte
every ten seconds were kept for 150 s and more, with no cap per address. The nodes here run
with timeouts of a fraction of a second; a test asserts only that a connection is closed
before a generous bound derived from the setting, never how fast. Probes come from
127.0.0.2 (still loopback), so the per-address cap they meet never touches the test's own
requests from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from hubbub.core.addresses import AddressCounts
from hubbub.errors import SlowRequest
from hubbub.settings import Settings
from hubbub.web.port_limits import HttpLimits, address_key
from hubbub.web.server import GuardedSite
from tests.conftest import Node, NodeFactory
from tests.fakes import TIMEOUT
from tests.slowclients import DRIPPED_HEAD, PARTIAL_HEAD, PROBE_ADDRESS, Probe, bound, cut_off, form_post, is_408

HEAD = 0.5  # http_head_timeout in these tests
BODY = 0.5  # http_body_timeout
RATE = 200.0  # http_body_min_rate, bytes per second
KEEPALIVE = 1.0  # http_keepalive_timeout: longer than the head timeout, as by default


@pytest.fixture
async def guarded(make_node: NodeFactory) -> Node:
    return await make_node(
        http_head_timeout=HEAD,
        http_body_timeout=BODY,
        http_body_min_rate=RATE,
        http_keepalive_timeout=KEEPALIVE,
        http_max_connections_per_ip=200,
    )


@pytest.fixture
async def probes() -> AsyncIterator[list[Probe]]:
    opened: list[Probe] = []
    yield opened
    for probe in opened:
        probe.close()


async def open_probe(node: Node, probes: list[Probe], source: str = PROBE_ADDRESS) -> Probe:
    probe = await Probe.open(node.runtime.http_port, source)
    probes.append(probe)
    return probe


async def test_a_connection_that_sends_nothing_is_closed(guarded: Node, probes: list[Probe]) -> None:
    probe = await open_probe(guarded, probes)
    assert await probe.closed(within=bound(HEAD)) == b""  # nothing was asked, so nothing is answered


async def test_a_partial_head_gets_408_and_is_closed(guarded: Node, probes: list[Probe]) -> None:
    probe = await open_probe(guarded, probes)
    probe.writer.write(PARTIAL_HEAD)
    answer = await probe.closed(within=bound(HEAD))
    assert is_408(answer)
    assert answer.endswith(b"The request head did not arrive within 0.5 seconds")


async def test_a_head_sent_a_byte_at_a_time_is_cut_off(guarded: Node, probes: list[Probe]) -> None:
    """The head clock runs from the first byte; bytes that keep trickling in do not reset it."""
    probe = await open_probe(guarded, probes)
    answer = await probe.drip(DRIPPED_HEAD, every=HEAD / 5, within=bound(HEAD))
    assert cut_off(probe, answer)


async def test_empty_lines_before_a_request_neither_begin_nor_end_a_head(guarded: Node, probes: list[Probe]) -> None:
    probe = await open_probe(guarded, probes)
    probe.writer.write(b"\r\n\r\n\r\n")
    assert await probe.closed(within=bound(HEAD)) == b""  # still a connection that asked nothing
    dripping = await open_probe(guarded, probes)
    dripping.writer.write(b"\r\n\r\n")
    assert cut_off(dripping, await dripping.drip(DRIPPED_HEAD, every=HEAD / 5, within=bound(HEAD)))


async def test_a_head_gets_its_whole_time_from_its_first_byte(make_node: NodeFactory, probes: list[Probe]) -> None:
    """A spare connection a browser opened early and uses late is not cut in the middle of its head."""
    head = 3.0
    node = await make_node(http_head_timeout=head)
    probe = await open_probe(node, probes)
    await asyncio.sleep(head * 2 / 3)  # the client's pace: idle for most of the time allowed ...
    probe.writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    await asyncio.sleep(head * 2 / 3)  # ... then a head that takes most of its own time
    probe.writer.write(b"Connection: close\r\n\r\n")
    answer = await probe.closed(within=bound(head))
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok")


async def test_the_head_clock_restarts_for_the_next_request(guarded: Node, probes: list[Probe]) -> None:
    """On a keep-alive connection the next head gets its own time, from its first byte."""
    probe = await open_probe(guarded, probes)
    probe.writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    async with asyncio.timeout(TIMEOUT):
        first = await probe.reader.readuntil(b"ok")
    assert first.startswith(b"HTTP/1.1 200 ")
    probe.writer.write(PARTIAL_HEAD)
    assert is_408(await probe.closed(within=bound(HEAD)))


async def test_an_idle_keepalive_connection_is_closed(guarded: Node, probes: list[Probe]) -> None:
    probe = await open_probe(guarded, probes)
    probe.writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await probe.closed(within=bound(KEEPALIVE))
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok")  # served, then idle, then closed


@pytest.mark.parametrize(
    ("path", "content_type", "style"),
    [
        ("/chats/1/messages/new", "application/x-www-form-urlencoded", b"Content-Type: text/plain"),  # form API
        ("/users/login", "application/x-www-form-urlencoded", b"Content-Type: text/html"),  # a page
        ("/api/v1/publish", "application/json", b"Content-Type: application/json"),  # realtime publish
    ],
)
async def test_a_body_that_stops_gets_408_in_the_dialects_style(
    guarded: Node, probes: list[Probe], path: str, content_type: str, style: bytes
) -> None:
    token, _ = await guarded.service.tokens.create("tests", "publish")
    probe = await open_probe(guarded, probes)
    head = form_post(path, 1000, content_type).replace(
        b"\r\n\r\n", f"\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    probe.writer.write(head + b"text=")
    answer = await probe.closed(within=bound(BODY))
    assert is_408(answer), answer[:200]
    assert style in answer
    assert b"The request body arrived too slowly" in answer


async def test_a_body_dripped_below_the_rate_is_cut_off(guarded: Node, probes: list[Probe]) -> None:
    probe = await open_probe(guarded, probes)
    probe.writer.write(form_post("/users/login", 100_000))
    answer = await probe.drip(b"email=" + b"a" * 99_994, every=0.05, within=bound(BODY) + 100_000 / RATE)
    assert cut_off(probe, answer)


async def test_a_body_that_keeps_the_rate_is_read(guarded: Node, probes: list[Probe]) -> None:
    """Slower than one packet but faster than ``http_body_min_rate``, and for longer than ``http_body_timeout``."""
    body = b"email=someone%40example.org&password=" + b"x" * 1200
    probe = await open_probe(guarded, probes)
    probe.writer.write(form_post("/users/login-or-signup/validation/track", len(body)))
    chunk = 100
    started = time.monotonic()
    for start in range(0, len(body), chunk):
        probe.writer.write(body[start : start + chunk])
        await asyncio.sleep(chunk / (4 * RATE))  # the client's upload pace: four times the minimum rate
    assert time.monotonic() - started > BODY  # the rate rule, not only the grace period, was in force
    async with asyncio.timeout(TIMEOUT):
        answer = await probe.reader.readuntil(b"Login-Failed")
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_connections_per_address_are_capped(make_node: NodeFactory, probes: list[Probe]) -> None:
    cap = 5
    node = await make_node(http_head_timeout=bound(HEAD), http_max_connections_per_ip=cap)
    held = [await open_probe(node, probes) for _ in range(cap)]
    refused = await open_probe(node, probes)
    answer = await refused.closed(within=TIMEOUT)
    assert answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(b"Too many connections from your address")
    # Another address is not affected.
    async with aiohttp.ClientSession() as session, session.get(node.base + "/healthz") as response:
        assert response.status == 200
    # A connection that ends frees its place.
    held[0].close()

    async def admitted() -> bool:
        probe = await open_probe(node, probes)
        probe.writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return (await probe.closed(within=TIMEOUT)).startswith(b"HTTP/1.1 200 ")

    async with asyncio.timeout(TIMEOUT):
        while not await admitted():  # the server learns of the close asynchronously
            pass


async def test_a_trusted_proxy_is_not_capped_like_one_client(make_node: NodeFactory, probes: list[Probe]) -> None:
    """Behind a load balancer every connection comes from it: the cap would throttle everyone at once."""
    cap = 2
    node = await make_node(
        http_head_timeout=bound(HEAD), http_max_connections_per_ip=cap, trusted_proxies=PROBE_ADDRESS
    )
    held = [await open_probe(node, probes) for _ in range(cap + 3)]
    for probe in held:
        probe.writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    for probe in held:
        assert (await probe.closed(within=TIMEOUT)).startswith(b"HTTP/1.1 200 ")


async def test_a_websocket_on_the_http_port_outlives_every_timeout(guarded: Node, probes: list[Probe]) -> None:
    """Once upgraded, a socket is a request in progress: no head, body or idle clock applies."""
    token, _ = await guarded.service.tokens.create("tests", "publish")
    async with aiohttp.ClientSession() as session, session.ws_connect(guarded.base + "/") as socket:
        await socket.send_str("live-feed")
        # Both clocks have run out for connections opened after the socket, so they have for it too.
        idle, slow = await open_probe(guarded, probes), await open_probe(guarded, probes)
        slow.writer.write(form_post("/users/login", 1000) + b"email=")
        await idle.closed(within=bound(HEAD))
        await slow.closed(within=bound(BODY))
        async with asyncio.timeout(bound(KEEPALIVE)):
            while True:  # the subscription is made asynchronously; publish until it counts
                async with session.post(
                    guarded.base + "/api/v1/publish",
                    json={"topic": "live-feed", "data": {"n": 1}},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    if (await response.json())["subscribers"] == 1:
                        break
            message = await socket.receive_json()
        assert message == {"action": "live-feed", "data": '{"n":1}'}
        assert not socket.closed


async def test_a_long_running_request_is_not_cut(probes: list[Probe]) -> None:
    """A handler that waits (a long-poll) keeps its connection past every clock once its request is in."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def long_poll(request: web.Request) -> web.Response:
        try:
            await request.post()
        except SlowRequest as error:  # as the dialects' body readers answer it
            return web.Response(status=408, text=str(error))
        started.set()
        await release.wait()
        return web.Response(text="done")

    app = web.Application()
    app.router.add_post("/poll", long_poll)
    limits = HttpLimits(
        head_timeout=HEAD,
        body_timeout=BODY,
        body_min_rate=RATE,
        keepalive_timeout=KEEPALIVE,
        max_connections_per_address=0,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, limits=limits)
    try:
        await site.start()
        waiting = await Probe.open(site.port)
        probes.append(waiting)
        waiting.writer.write(form_post("/poll", 3) + b"a=b")
        async with asyncio.timeout(TIMEOUT):
            await started.wait()
        idle, slow = await Probe.open(site.port), await Probe.open(site.port)
        probes.extend((idle, slow))
        slow.writer.write(form_post("/poll", 1000) + b"a=")
        assert await idle.closed(within=bound(HEAD)) == b""
        assert is_408(await slow.closed(within=bound(BODY)))
        release.set()
        async with asyncio.timeout(TIMEOUT):
            answer = await waiting.reader.readuntil(b"done")
        assert answer.startswith(b"HTTP/1.1 200 ")
    finally:
        release.set()
        await runner.cleanup()


# --- the pieces, without a server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("peername", "key"),
    [
        (("192.0.2.7", 50000), "192.0.2.7"),
        (("2001:db8:1:2:3:4:5:6", 50000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:ffff::1", 50000, 0, 0), "2001:db8:1:2::/64"),  # the same host's /64
        (("::ffff:192.0.2.7", 50000, 0, 0), "192.0.2.7"),
        (("fe80::1%eth0", 50000, 0, 2), "fe80::/64"),
        ("/run/hubbub.sock", None),
        (None, None),
    ],
)
def test_address_key(peername: object, key: str | None) -> None:
    assert address_key(peername) == key


def test_address_counts_admit_up_to_the_cap_and_forget_empty_addresses() -> None:
    counts = AddressCounts(2)
    assert counts.admit("a") and counts.admit("a") and not counts.admit("a")
    assert counts.admit("b")
    counts.release("a")
    assert counts.admit("a")
    for _ in range(3):
        counts.release("a")
    assert counts.open_from("a") == 0
    assert AddressCounts(0).admit("a")  # 0: no cap


def test_limits_come_from_the_settings() -> None:
    settings = Settings(
        http_head_timeout=1.5,
        http_body_timeout=2.5,
        http_body_min_rate=3.5,
        http_keepalive_timeout=4.5,
        http_max_connections_per_ip=6,
    )
    assert HttpLimits.from_settings(settings) == HttpLimits(1.5, 2.5, 3.5, 4.5, 6)
