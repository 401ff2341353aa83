"""Operators' endpoints (/healthz, /readyz, /metrics), JSON logs, and client addresses behind trusted proxies."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from hubbub.cli.logs import JsonFormatter, configure_logging
from hubbub.errors import ConfigError
from hubbub.settings import Settings
from tests.conftest import Node, NodeFactory
from tests.fakes import TIMEOUT
from tests.redis_support import PrivateRedis


def metric(text: str, name: str) -> float:
    """The value of one sample line (``name`` includes its labels) in a Prometheus text page."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def scrape(node: Node, **kwargs: Any) -> str:
    browser = await node.browser()
    response = await browser.get("/metrics", **kwargs)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return await response.text()


async def test_healthz_and_readyz_answer_when_store_and_bus_do(node: Node) -> None:
    browser = await node.browser()
    assert (await (await browser.get("/healthz")).text()) == "ok"
    ready = await browser.get("/readyz")
    assert ready.status == 200
    assert await ready.text() == "store: ok\nbus: ok\n"


async def test_readyz_is_503_naming_a_store_that_fails(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(work: object) -> object:
        raise OSError("disk gone")

    monkeypatch.setattr(node.service.context.store, "read", broken)
    browser = await node.browser()
    ready = await browser.get("/readyz")
    assert ready.status == 503
    assert await ready.text() == "store: unreachable\nbus: ok\n"
    assert (await browser.get("/healthz")).status == 200  # the process itself is fine


async def test_readyz_is_503_while_redis_is_away_and_200_when_it_is_back(
    make_node: NodeFactory, private_redis: PrivateRedis
) -> None:
    node = await make_node(bus=private_redis.url, redis_prefix="ops:", bus_reconnect_seconds=0.05)
    browser = await node.browser()
    assert (await browser.get("/readyz")).status == 200
    private_redis.stop()
    ready = await browser.get("/readyz")
    assert ready.status == 503
    assert await ready.text() == "store: ok\nbus: unreachable\n"
    private_redis.start()
    assert (await browser.get("/readyz")).status == 200


async def test_metrics_count_appends_deliveries_sockets_and_refusals(make_node: NodeFactory) -> None:
    node = await make_node(message_rate_burst=1, message_rate_per_second=0.001)
    before = await scrape(node)
    poster = await node.signed_in("Poster")
    room = await node.room()
    url = str((await (await poster.post("/ws-auth", {"roomid": room})).json())["url"])
    async with poster.session.ws_connect(url) as ws:
        during = await scrape(node)
        assert (
            metric(during, 'hubbub_connections{dialect="sechat"}')
            == metric(before, 'hubbub_connections{dialect="sechat"}') + 1
        )
        assert (await poster.post(f"/chats/{room}/messages/new", {"text": "one"})).status == 200
        async with asyncio.timeout(TIMEOUT):
            while "one" not in (await ws.receive()).data:
                pass
        assert (await poster.post(f"/chats/{room}/messages/new", {"text": "two"})).status == 409
    after = await scrape(node)
    for name in ("hubbub_events_appended_total", "hubbub_events_delivered_total"):
        assert metric(after, name) > metric(before, name)
    assert metric(after, 'hubbub_rate_limit_refusals_total{limit="message"}') == 1 + metric(
        before, 'hubbub_rate_limit_refusals_total{limit="message"}'
    )
    assert metric(after, 'hubbub_store_seconds_count{op="write"}') > metric(
        before, 'hubbub_store_seconds_count{op="write"}'
    )
    for name in ("hubbub_fanout_lag_seconds_count", "hubbub_longpoll_waiters", "hubbub_bus_catch_ups_total"):
        metric(after, name)  # present


async def test_metrics_are_refused_to_addresses_not_allowed(make_node: NodeFactory) -> None:
    node = await make_node(metrics_allowed="10.0.0.0/8")
    browser = await node.browser()
    response = await browser.get("/metrics")
    assert response.status == 403
    proxied = await make_node(metrics_allowed="198.51.100.0/24", trusted_proxies="127.0.0.1")
    await scrape(proxied, headers={"X-Forwarded-For": "198.51.100.20"})


async def _login(node: Node, email: str, client: str) -> bool:
    """One failed login "from" ``client``; True when it was refused by the login limit."""
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            node.base + "/users/login",
            data={"email": email, "password": "wrong password"},
            headers={"X-Forwarded-For": client},
            allow_redirects=False,
        )
        return "You can perform this action again in" in await response.text()


async def test_login_throttling_counts_the_client_behind_a_trusted_proxy(make_node: NodeFactory) -> None:
    node = await make_node(login_attempts_per_address_per_minute=2, trusted_proxies="127.0.0.1")
    assert [await _login(node, f"u{i}@example.org", "198.51.100.1") for i in range(3)] == [False, False, True]
    assert not await _login(node, "u9@example.org", "198.51.100.2")  # another client behind the proxy


async def test_without_trusted_proxies_a_forwarded_for_header_changes_nothing(make_node: NodeFactory) -> None:
    node = await make_node(login_attempts_per_address_per_minute=2)
    refused = [await _login(node, f"u{i}@example.org", f"198.51.100.{i}") for i in range(3)]
    assert refused == [False, False, True]  # all three came from 127.0.0.1, whatever they claimed


@pytest.mark.parametrize("port_kind", ["gateway", "http"])
async def test_connections_per_address_count_the_client_behind_a_trusted_proxy(
    make_node: NodeFactory, port_kind: str
) -> None:
    node = await make_node(ws_max_connections_per_ip=1, trusted_proxies="127.0.0.1")
    port = node.runtime.ws_port if port_kind == "gateway" else node.runtime.http_port
    url = f"ws://127.0.0.1:{port}/"
    async with aiohttp.ClientSession() as session:
        first = await session.ws_connect(url, headers={"X-Forwarded-For": "198.51.100.1"})
        other = await session.ws_connect(url, headers={"X-Forwarded-For": "198.51.100.2"})
        again = await session.ws_connect(url, headers={"X-Forwarded-For": "198.51.100.1"})
        async with asyncio.timeout(TIMEOUT):
            await again.receive()
        assert again.close_code == 1013
        gateway = node.runtime._gateway
        assert gateway is not None
        counted = [gateway.router.connections_from(f"198.51.100.{i}") for i in (1, 2)]
        assert counted == [1, 1]
        assert gateway.router.connections_from("127.0.0.1") == 0
        for ws in (first, other):
            await ws.close()


def test_json_logs_are_one_object_per_record() -> None:
    record = logging.LogRecord("hubbub.bus", logging.WARNING, __file__, 1, "lost the bus (%s)", ("reset",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "warning"
    assert entry["logger"] == "hubbub.bus"
    assert entry["message"] == "lost the bus (reset)"
    assert entry["time"].endswith("+00:00")


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ConfigError, match="log_format: expected text or json, got 'xml'"):
        configure_logging(Settings(log_format="xml"))
