"""The stream page and the OBS widget in headless Debian Chromium.

The streamer signs in and talks on the stream page; the widget (``/stream/<id>/chat?token=…
&widget``, no session, as OBS opens it) shows the line with its network badge; a line a
bridge injects with its own network and SVG icon shows with the icon as an image; going
live shows on the page. The widget is cut off and comes back (5 s, as multistreamer's
client) without losing or repeating a line said meanwhile.
"""

from __future__ import annotations

import re

from playwright.async_api import Page, WebSocketRoute, expect

from tests.browser import chromium
from tests.conftest import PASSWORD, Node
from tests.dialects.streams.helpers import streams_user
from tests.fakes import TIMEOUT, eventually

expect.set_options(timeout=TIMEOUT * 1000)

ICON = '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><circle cx="8" cy="8" r="8"/></svg>'


def _watch(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)


async def test_stream_page_and_widget(node: Node) -> None:
    john = await streams_user(node, "John")
    twitch = (await john.ok("POST", "/api/v1/account", {"network": "twitch", "name": "jd"}))["account"]["id"]
    stream_id = (await john.ok("POST", "/api/v1/stream", {"name": "Show", "accounts": [{"id": twitch}]}))["stream"][
        "id"
    ]
    sockets: list[WebSocketRoute] = []
    blocked = [False]

    async def route(socket: WebSocketRoute) -> None:
        if blocked[0]:
            await socket.close()
            return
        socket.connect_to_server()
        sockets.append(socket)

    async with chromium() as browser:
        errors: list[str] = []
        # The streamer's stream page, signed in.
        page_context = await browser.new_context()
        page = await page_context.new_page()
        _watch(page, errors)
        await page.goto(f"{node.base}/users/login?returnurl=/stream/{stream_id}")
        await page.fill("#email", str(john.user.email))
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(f"**/stream/{stream_id}")
        await expect(page.locator("#stream-chat[data-connected=true]")).to_have_count(1)
        await expect(page.locator("#stream-status")).to_have_text("offline")

        # The widget, as OBS opens it: no session, the token in the URL.
        widget_context = await browser.new_context()
        await widget_context.route_web_socket(re.compile(r"/ws/\d+"), route)
        widget = await widget_context.new_page()
        _watch(widget, errors)
        await widget.goto(f"{node.base}/stream/{stream_id}/chat?token={john.token}&widget&font_size=20")
        await expect(widget.locator("#stream-chat[data-connected=true]")).to_have_count(1)
        assert await widget.locator("#stream-chat").evaluate("e => e.style.fontSize") == "20px"

        await page.fill("#stream-text", "hello <b>viewers</b>")
        await page.press("#stream-text", "Enter")
        for view in (page, widget):
            line = view.locator(".stream-line", has_text="hello <b>viewers</b>")  # shown as text, never markup
            await expect(line).to_have_count(1)
            await expect(line.locator(".network-badge.network-irc")).to_have_text("IRC")
            await expect(line.locator(".stream-from")).to_have_text("John")

        await john.ok(
            "POST",
            f"/api/v1/stream/{stream_id}/msg",
            {
                "type": "text",
                "text": "from the gram",
                "network": "instagram",
                "network_icon": ICON,
                "from": {"name": "fan", "id": "x1"},
            },
        )
        injected = widget.locator(".stream-line", has_text="from the gram")
        await expect(injected.locator("img.network-icon")).to_have_attribute("alt", "instagram")

        await john.ok("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
        await expect(page.locator("#stream-status")).to_have_text("live")

        # Cut the widget's socket; lines said meanwhile come once when it is back.
        await eventually(lambda: bool(sockets))
        blocked[0] = True
        await sockets[-1].close()
        await expect(widget.locator("#stream-chat[data-connected=false]")).to_have_count(1)
        for text in ("while away 1", "while away 2"):
            await john.ok("POST", f"/api/v1/stream/{stream_id}/msg", {"type": "text", "text": text})
        blocked[0] = False
        for text in ("while away 1", "while away 2"):
            await expect(widget.locator(".stream-line", has_text=text)).to_have_count(1)
        await expect(widget.locator(".stream-line")).to_have_count(4)
        assert errors == []


async def test_the_profile_shows_and_resets_the_token(node: Node) -> None:
    john = await streams_user(node, "John")
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{node.base}/users/login?returnurl=/users/{john.id}")
        await page.fill("#email", str(john.user.email))
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(f"**/users/{john.id}")
        await expect(page.locator("code.access-token")).to_have_text(john.token)
        await page.click("#streams-token button[type=submit]")
        await expect(page.locator("code.access-token")).not_to_have_text(john.token)
        new = await page.locator("code.access-token").text_content()
        assert new is not None and re.fullmatch(r"[0-9A-F]{20}", new)
        assert await node.service.stream_tokens.user_by_token(john.token) is None
        found = await node.service.stream_tokens.user_by_token(new)
        assert found is not None and found.id == john.user.id
