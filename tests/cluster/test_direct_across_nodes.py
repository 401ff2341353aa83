"""Direct messages across two nodes on one database and one Redis bus: a poll held on node B is
woken by a message sent on node A, and by a contact's presence changing there, within a small
part of its hold, and answers every event once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from hubbub.core.direct import Activity
from hubbub.core.ids import UserId
from tests.conftest import Browser, NodeFactory
from tests.fakes import TIMEOUT, eventually

HOLD = 20.0


async def _json(browser: Browser, path: str, data: dict[str, str] | None = None) -> Any:
    response = await (browser.get(path) if data is None else browser.post(path, data))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_poll_on_one_node_wakes_for_a_send_on_another(
    make_node: NodeFactory, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    shared: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "bus": redis_url,
        "redis_prefix": redis_prefix,
        "direct_poll_hold_seconds": HOLD,
    }
    node_a, node_b = await make_node(**shared), await make_node(**shared)
    alice = await node_a.signed_in("Alice")
    bob = await node_b.signed_in("Bob")
    assert alice.user is not None and bob.user is not None
    await _json(alice, "/contacts/request", {"user": str(bob.user.id)})
    assert (await _json(bob, "/contacts/accept", {"user": str(alice.user.id)}))["relation"] == "contacts"
    cursor = (await _json(bob, "/contacts.json"))["cursor"]
    watch = node_b.runtime.direct_watch
    assert watch is not None

    # Baseline: an unheld read on B.
    began = time.monotonic()
    await _json(bob, f"/direct/events?since={cursor}")
    unloaded = time.monotonic() - began

    sent_ids = []
    for n in range(5):
        poll = asyncio.create_task(_json(bob, f"/direct/events?since={cursor}&wait=1"))
        await eventually(lambda: watch.waiting == 1)
        began = time.monotonic()
        sent = await _json(alice, f"/direct/{bob.user.id}/send", {"text": f"across {n}"})
        answer = await asyncio.wait_for(poll, TIMEOUT)
        woke = time.monotonic() - began
        assert woke < HOLD / 4 + unloaded * 10, (woke, unloaded)  # woken through the bus, not timed out
        messages = [e["message"]["id"] for e in answer["events"] if e["type"] == "message"]
        assert messages == [sent["message"]["id"]]
        sent_ids += messages
        cursor = answer["cursor"]

    # Alice's presence changes on node A (her client went quiet): Bob's held poll on B hears it.
    poll = asyncio.create_task(_json(bob, f"/direct/events?since={cursor}&wait=1"))
    await eventually(lambda: watch.waiting == 1 and watch.watchers_of(UserId(alice.user.id)) == 1)
    node_a.clock.advance(node_a.service.settings.presence_seen_seconds + 1)
    await node_b.service.presence.touch(UserId(bob.user.id), Activity.SEEN)
    await node_a.service.presence.sweep()
    answer = await asyncio.wait_for(poll, TIMEOUT)
    assert [(e["type"], e["presence"]) for e in answer["events"] if e["user_id"] == alice.user.id] == [
        ("presence", "offline")
    ]
    # Everything, read again from the start, once each.
    whole = await _json(bob, "/direct/events?since=0")
    assert [e["message"]["id"] for e in whole["events"] if e["type"] == "message"] == sent_ids
