"""The web UI's (and the SDK's) JSON endpoints of contacts and direct conversations, on a live node.

Every change needs the session's fkey; a refusal is plain text with the room API's statuses
and changes nothing; the live feed ``/direct/events?wait=1`` is woken by a message and by a
contact's presence change, each within a fraction of its hold, and answers from the log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hubbub.core.direct import Activity
from hubbub.core.ids import EventId, UserId
from tests.conftest import Browser, Node, NodeFactory
from tests.fakes import eventually


async def _json(browser: Browser, path: str, data: dict[str, Any] | None = None, status: int = 200) -> Any:
    response = await (browser.get(path) if data is None else browser.post(path, data))
    assert response.status == status, await response.text()
    return await response.json()


async def _contacts(node: Node) -> tuple[Browser, Browser]:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    assert alice.user is not None and bob.user is not None
    requested = await _json(alice, "/contacts/request", {"user": str(bob.user.id)})
    assert requested == {"user": {"id": bob.user.id, "name": "Bob"}, "relation": "requested"}
    accepted = await _json(bob, "/contacts/accept", {"user": str(alice.user.id)})
    assert accepted["relation"] == "contacts"
    return alice, bob


def _id(browser: Browser) -> int:
    assert browser.user is not None
    return browser.user.id


async def test_request_accept_and_the_contacts_list(node: Node) -> None:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    await _json(alice, "/contacts/request", {"user": str(_id(bob))})
    listed = await _json(bob, "/contacts.json")
    assert [(c["name"], c["relation"], c["presence"]) for c in listed["contacts"]] == [
        ("Alice", "incoming", "offline")  # presence is for contacts only
    ]
    await _json(bob, "/contacts/accept", {"user": str(_id(alice))})
    listed = await _json(bob, "/contacts.json")
    # Seen (API calls) but never active (no page, message or typing): idle, not online.
    assert [(c["name"], c["relation"], c["presence"]) for c in listed["contacts"]] == [("Alice", "contacts", "idle")]
    await _json(alice, f"/direct/{_id(bob)}/typing", {"typing": "1"})
    listed = await _json(bob, "/contacts.json")
    assert [c["presence"] for c in listed["contacts"]] == ["online"]
    # Declining is "remove"; blocking hides the blocker from the blocked one's list.
    await _json(bob, "/contacts/block", {"user": str(_id(alice))})
    assert (await _json(alice, "/contacts.json"))["contacts"] == []
    assert [c["relation"] for c in (await _json(bob, "/contacts.json"))["contacts"]] == ["blocked"]


async def test_refusals_are_plain_text_and_change_nothing(node: Node) -> None:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    anonymous = await node.browser()
    cases: list[tuple[Browser, str, dict[str, str], int, str]] = [
        (alice, "/contacts/request", {"user": str(_id(bob)), "fkey": "wrong"}, 403, "fkey"),
        (anonymous, "/contacts/request", {"user": str(_id(bob))}, 403, "logged in"),
        (alice, "/contacts/request", {"user": "999999"}, 404, "no user"),
        (alice, "/contacts/request", {"user": "bob@example.org"}, 404, "no user"),  # e-mail: operators only
        (alice, "/contacts/befriend", {"user": str(_id(bob))}, 404, "contact action"),
        (alice, "/contacts/accept", {"user": str(_id(bob))}, 404, ""),  # nothing to accept
        (alice, f"/direct/{_id(bob)}/send", {"text": "hi"}, 403, ""),  # not contacts
        (alice, f"/direct/{_id(bob)}/typing", {"typing": "1"}, 403, ""),
        (alice, f"/direct/{_id(bob)}/typing", {"typing": "yes"}, 400, "typing must be"),
        (alice, "/direct/999999/send", {"text": "hi"}, 404, ""),
        (alice, f"/direct/{_id(bob)}/read", {"through": "-1"}, 400, "through"),
    ]
    before = await node.service.queries.last_event_id()
    for browser, path, form, status, words in cases:
        response = await browser.post(path, form)
        text = await response.text()
        assert response.status == status, (path, form, text)
        assert response.content_type == "text/plain" and words.lower() in text.lower(), (path, text)
    assert await node.service.queries.last_event_id() == before  # no event appended
    assert (await _json(bob, "/contacts.json"))["contacts"] == []
    for path, status in [
        ("/direct/events", 400),
        ("/direct/events?since=-1", 400),
        ("/direct/events?since=1e3", 400),
        (f"/direct/{_id(bob)}/history?before=x", 400),
        (f"/direct/{_id(bob)}/history?limit=0", 400),
        ("/direct/999999/history", 404),
    ]:
        response = await alice.get(path)
        assert response.status == status, (path, await response.text())
    assert (await anonymous.get("/direct/events?since=0")).status == 403
    assert (await anonymous.get("/contacts.json")).status == 403


async def test_send_history_unread_and_read(node: Node) -> None:
    alice, bob = await _contacts(node)
    ids = []
    for n in range(7):
        sent = await _json(alice, f"/direct/{_id(bob)}/send", {"text": f"note **{n}**", "client_id": f"c{n}"})
        assert sent["duplicate"] is False and sent["message"]["html"] == f"note <b>{n}</b>"
        ids.append(sent["message"]["id"])
    # A retry with the same client id is the same message, stored once.
    again = await _json(alice, f"/direct/{_id(bob)}/send", {"text": "note **6**", "client_id": "c6"})
    assert again["duplicate"] is True and again["message"]["id"] == ids[-1]
    listed = await _json(bob, "/contacts.json")
    assert listed["contacts"][0]["unread"] == 7
    page = await _json(bob, f"/direct/{_id(alice)}/history?limit=3")
    assert [m["id"] for m in page["messages"]] == ids[-3:] and page["has_older"] is True
    older = await _json(bob, f"/direct/{_id(alice)}/history?limit=3&before={ids[-3]}")
    assert [m["id"] for m in older["messages"]] == ids[1:4]
    assert (await _json(bob, f"/direct/{_id(alice)}/read", {"through": str(ids[2])}))["read"] == ids[2]
    assert (await _json(bob, "/contacts.json"))["contacts"][0]["unread"] == 4
    # A marker never moves back.
    assert (await _json(bob, f"/direct/{_id(alice)}/read", {"through": str(ids[0])}))["read"] == ids[2]
    assert (await _json(bob, f"/direct/{_id(alice)}/read", {}))["read"] == ids[-1]
    assert (await _json(bob, "/contacts.json"))["contacts"][0]["unread"] == 0


async def test_the_feed_resumes_from_any_cursor_exactly_once(node: Node) -> None:
    alice, bob = await _contacts(node)
    start = (await _json(bob, "/contacts.json"))["cursor"]
    for n in range(5):
        await _json(alice, f"/direct/{_id(bob)}/send", {"text": f"m{n}"})
        await _json(bob, f"/direct/{_id(alice)}/send", {"text": f"r{n}"})
    await _json(alice, f"/direct/{_id(bob)}/typing", {"typing": "1"})
    whole = await _json(bob, f"/direct/events?since={start}")
    kinds = [(e["type"], e.get("message", {}).get("text")) for e in whole["events"]]
    texts = [text for kind, text in kinds if kind == "message"]
    assert texts == [x for n in range(5) for x in (f"m{n}", f"r{n}")]
    assert kinds[-1] == ("typing", None) and whole["events"][-1]["typing"] is True
    assert whole["cursor"] == whole["events"][-1]["id"]
    # Resuming after every event gives exactly the rest.
    ids = [e["id"] for e in whole["events"]]
    for i, cursor in enumerate(ids):
        rest = await _json(bob, f"/direct/events?since={cursor}")
        assert [e["id"] for e in rest["events"]] == ids[i + 1 :]
    # Alice sees her own messages and Bob's, never the typing notice she sent.
    mine = await _json(alice, f"/direct/events?since={start}")
    assert [e["type"] for e in mine["events"]].count("typing") == 0


async def _held(browser: Browser, cursor: int) -> asyncio.Task[Any]:
    return asyncio.create_task(_json(browser, f"/direct/events?since={cursor}&wait=1"))


async def test_a_waiting_poll_wakes_for_a_message_and_for_presence(make_node: NodeFactory) -> None:
    node = await make_node(direct_poll_hold_seconds=20.0)
    alice, bob = await _contacts(node)
    cursor = (await _json(bob, "/contacts.json"))["cursor"]
    # Baseline: a poll with nothing to wait for answers at once.
    began = time.monotonic()
    assert (await _json(bob, f"/direct/events?since={cursor}"))["events"] == []
    unloaded = time.monotonic() - began

    watch = node.runtime.direct_watch
    assert watch is not None
    poll = await _held(bob, cursor)
    await eventually(lambda: watch.waiting == 1)
    began = time.monotonic()
    sent = await _json(alice, f"/direct/{_id(bob)}/send", {"text": "wake up"})
    answer = await asyncio.wait_for(poll, 10)
    woke = time.monotonic() - began
    # The message, and Alice's presence turning online with it.
    assert [e["message"]["id"] for e in answer["events"] if e["type"] == "message"] == [sent["message"]["id"]]
    assert woke < 20.0 / 2 + unloaded * 10  # woken, not timed out

    # Alice's client goes quiet: her presence change, a contact's, wakes Bob's waiting poll.
    cursor = answer["cursor"]
    poll = await _held(bob, cursor)
    await eventually(lambda: watch.waiting == 1 and watch.watchers_of(UserId(_id(alice))) == 1)
    node.clock.advance(node.service.settings.presence_idle_seconds + 1)
    await node.service.presence.touch(UserId(_id(bob)), Activity.SEEN)  # Bob stays online
    await node.service.presence.sweep()
    answer = await asyncio.wait_for(poll, 10)
    changes = [(e["type"], e["user_id"], e.get("presence")) for e in answer["events"]]
    assert ("presence", _id(alice), "offline") in changes
    await eventually(lambda: watch.waiting == 0 and watch.watchers_of(UserId(_id(alice))) == 0)


async def test_the_pages_need_a_login_and_carry_their_cursor(node: Node) -> None:
    alice, bob = await _contacts(node)
    anonymous = await node.browser()
    assert (await anonymous.get("/contacts")).headers["Location"] == "/users/login?returnurl=/contacts"
    assert (await anonymous.get(f"/direct/{_id(bob)}")).status == 302
    assert (await alice.get("/direct/999999")).status == 404
    page = await alice.soup(f"/direct/{_id(bob)}")
    assert page.select_one("#direct-data") is not None and page.select_one("#input") is not None
    home = await alice.soup("/")
    assert home.select_one("#nav-contacts") is not None
    assert EventId(0) <= (await _json(alice, "/contacts.json"))["cursor"]


async def test_the_profile_page_offers_a_request_without_script(node: Node) -> None:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    page = await alice.soup(f"/users/{_id(bob)}")
    form = page.select_one("#profile-contact")
    assert form is not None and form["action"] == "/contacts/request"
    fields = {str(i["name"]): str(i["value"]) for i in form.select("input")}
    assert fields["user"] == str(_id(bob)) and fields["next"] == "/contacts"
    response = await alice.post("/contacts/request", fields)
    assert response.status == 302 and response.headers["Location"] == "/contacts"
    assert (await _json(bob, "/contacts.json"))["contacts"][0]["relation"] == "incoming"
    assert (await alice.soup(f"/users/{_id(alice)}")).select_one("#profile-contact") is None  # not to oneself
