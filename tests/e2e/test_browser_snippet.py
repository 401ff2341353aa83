"""Stack Exchange's own realtime-feed example, run in a real browser against a live ``hubbub serve``.

The JavaScript below is the snippet from the top of the Meta question "How do the Stack
Exchange websockets work?" (shared/seeds/000_bdfd6d84c48e1043.txt), byte for byte; the test
changes only its host and port. It runs in headless Debian Chromium (tests/browser.py), a
question shaped like shared/protocol/realtime.md §A.4.1 is published over the HTTP API, and
the page must log it, decoded, exactly as it logs Stack Exchange's feed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from playwright.async_api import ConsoleMessage

from tests.browser import chromium
from tests.e2e.conftest import LiveServer
from tests.fakes import TIMEOUT

SE_FEED = "ws://qa.sockets.stackexchange.com/"
# Byte for byte, trailing spaces included (one literal per line keeps them visible).
SNIPPET = (
    'var w = new WebSocket("ws://qa.sockets.stackexchange.com/"); \n'
    "w.onmessage = function(e) { \n"
    "    data = JSON.parse(e.data)\n"
    "    data.data = JSON.parse(data.data)\n"
    "    console.log(data) \n"
    "}; \n"
    "w.onopen = function() { \n"
    '    w.send("155-questions-active") \n'
    "};\n"
)
TOPIC = "155-questions-active"
# realtime.md §A.4.1, the 2014 capture.
QUESTION: dict[str, Any] = {
    "siteBaseHostAddress": "biology.stackexchange.com",
    "id": 17647,
    "titleEncodedFancy": "Meaning of &#8220;auto&#8221; in autophosphorylation",
    "bodySummary": "why this process called Auto? ...",
    "tags": ["cell-signaling"],
    "lastActivityDate": 1401048843,
    "url": "http://biology.stackexchange.com/questions/17647/meaning-of-auto-in-autophosphorylation",
    "ownerUrl": "http://biology.stackexchange.com/users/6524/n00b",
    "ownerDisplayName": "N00B",
    "apiSiteParameter": "biology",
}


async def _publish_until_heard(live: LiveServer) -> None:
    """Publish ``QUESTION`` until an item reaches the page's socket.

    The page sends its subscribe frame when the socket opens, but nothing tells the test when
    the server has processed it. The publish answer does: an item that reached no subscriber
    was delivered nowhere, so repeating it until ``subscribers`` is 1 delivers exactly one.
    """
    headers = {"Authorization": f"Bearer {live.publish_token}"}
    async with aiohttp.ClientSession() as http, asyncio.timeout(TIMEOUT):
        while True:
            response = await http.post(
                live.base + "/api/v1/publish", json={"topic": TOPIC, "data": QUESTION}, headers=headers
            )
            assert response.status == 200, await response.text()
            heard = (await response.json())["subscribers"]
            if heard:
                assert heard == 1
                return
            await asyncio.sleep(0.02)  # the subscribe frame is still on its way


@pytest.mark.parametrize("port", ["gateway", "http"])
async def test_the_meta_snippet_logs_a_published_question(live: LiveServer, port: str) -> None:
    socket_port = live.ws_port if port == "gateway" else live.port
    snippet = SNIPPET.replace(SE_FEED, f"ws://127.0.0.1:{socket_port}/")
    assert snippet != SNIPPET

    async with chromium() as browser:
        page = await browser.new_page()
        logged: asyncio.Queue[ConsoleMessage] = asyncio.Queue()
        errors: list[object] = []
        # Playwright tags each handler with an attribute, which builtin methods cannot carry.
        page.on("console", lambda message: logged.put_nowait(message))  # noqa: PLW0108
        page.on("pageerror", lambda error: errors.append(error))  # noqa: PLW0108
        await page.set_content(
            f"<!doctype html><html><head><title>realtime</title></head><body><script>{snippet}</script></body></html>"
        )
        await page.wait_for_function("w.readyState === WebSocket.OPEN", timeout=TIMEOUT * 1000)

        await _publish_until_heard(live)

        message = await asyncio.wait_for(logged.get(), TIMEOUT)
        assert message.type == "log"
        expected = {"action": TOPIC, "data": QUESTION}
        assert await message.args[0].json_value() == expected
        assert await page.evaluate("data") == expected  # the snippet's global, as a console user would inspect it
        assert logged.empty()
        assert errors == []
