"""The stream page's webhooks section: shown to editors only; adding and removing with the session's fkey."""

from __future__ import annotations

from tests.conftest import Browser, Node
from tests.dialects.streams.helpers import streams_user

EVENTS = {"event.stream:start": "on", "event.stream:end": "on", "event.comment:in": "on"}


async def _hooks(node: Node, stream_id: int) -> list[tuple[str, str, list[str]]]:
    hooks = await node.service.context.store.read(lambda tx: tx.stream_webhooks(stream_id))
    return [(h.url, str(h.type), sorted(str(e) for e in h.events)) for h in hooks]


async def _signed_in(node: Node, name: str) -> Browser:
    browser = await node.browser()
    await browser.login(f"{name.lower()}@example.org")
    return browser


async def test_an_editor_adds_and_removes_hooks_on_the_page(node: Node) -> None:
    john = await streams_user(node, "John")
    bob = await streams_user(node, "Bob")
    stream_id = (await john.ok("POST", "/api/v1/stream", {"name": "Show"}))["stream"]["id"]
    share = {"chat_level": 2, "metadata_level": 1, "user": {"id": bob.id}}
    await john.ok("POST", f"/api/v1/stream/{stream_id}", {"shares": [share]})
    page = await _signed_in(node, "John")

    soup = await page.soup(f"/stream/{stream_id}")
    form = soup.select_one(f"form[action='/stream/{stream_id}/webhooks']")
    assert form is not None and form.select_one("input[name=fkey]") is not None
    assert [o["value"] for o in form.select("select[name=type] option")] == ["discord", "raw"]

    added = await page.post(
        f"/stream/{stream_id}/webhooks",
        {"url": "https://hooks.example/d", "type": "discord", "notes": "to discord", "event.comment:in": "on"},
    )
    assert added.status == 302 and added.headers["Location"] == f"/stream/{stream_id}#stream-webhooks"
    assert await _hooks(node, stream_id) == [("https://hooks.example/d", "discord", ["comment:in"])]
    soup = await page.soup(f"/stream/{stream_id}")
    [item] = soup.select("#stream-webhooks li.webhook")
    assert "https://hooks.example/d" in item.text and "to discord" in item.text

    # Refused: a bad URL (the page again, with the reason), no fkey, and a user who may not edit.
    bad = await page.post(f"/stream/{stream_id}/webhooks", {"url": "ftp://x.example/", "type": "raw", **EVENTS})
    assert bad.status == 400 and "url must start with http:// or https://" in await bad.text()
    no_fkey = await page.post(f"/stream/{stream_id}/webhooks", {"url": "https://x.example/", "type": "raw"}, fkey=False)
    assert no_fkey.status == 403
    reader = await _signed_in(node, "Bob")
    assert (await reader.soup(f"/stream/{stream_id}")).select_one("#stream-webhooks") is None
    hook_id = item["data-hook-id"]
    refused = await reader.post(f"/stream/{stream_id}/webhooks/{hook_id}/delete")
    assert refused.status == 403
    stranger = await node.signed_in("Eve")
    assert (
        await stranger.post(f"/stream/{stream_id}/webhooks", {"url": "https://x.example/", "type": "raw"})
    ).status == 404
    assert await _hooks(node, stream_id) == [("https://hooks.example/d", "discord", ["comment:in"])]

    removed = await page.post(f"/stream/{stream_id}/webhooks/{hook_id}/delete")
    assert removed.status == 302
    assert await _hooks(node, stream_id) == []
