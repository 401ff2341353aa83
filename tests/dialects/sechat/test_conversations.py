"""Bookmarked conversations over HTTP: ``/conversation/new``, ``/conversation/delete/...`` and the page.

Every refusal is checked for its exact status and body, and for leaving no bookmark behind.
"""

from __future__ import annotations

import json

import aiohttp

from hubbub.core.ids import RoomId
from hubbub.core.models import RoomAccess
from tests.conftest import Browser, Node

NO_ROOM = b"The room does not exist, or you do not have permission"


async def _post(browser: Browser, room: RoomId, text: str) -> int:
    response = await browser.post(f"/chats/{room}/messages/new", {"text": text})
    assert response.status == 200, await response.text()
    return int((await response.json())["id"])


async def _bookmarks(node: Node, room: RoomId) -> list[str]:
    return [c.title for c in await node.service.context.store.read(lambda tx: tx.conversations(room, limit=100))]


async def _expect(response: aiohttp.ClientResponse, status: int, body: bytes) -> None:
    raw = await response.read()
    assert (response.status, raw) == (status, body)


async def test_bookmark_a_conversation_and_read_its_page(node: Node) -> None:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    room, other = await node.room("Den"), await node.room("Elsewhere")
    before = await _post(alice, room, "before the talk")
    first = await _post(alice, room, "shall we ship on Friday?")
    await _post(alice, other, "meanwhile in another room")
    last = await _post(bob, room, "Friday it is")
    after = await _post(bob, room, "after the talk")
    form = {"roomId": room, "firstMessageId": last, "lastMessageId": first, "title": "  Ship  date! "}
    response = await bob.post("/conversation/new", form)
    assert response.status == 200 and response.content_type == "application/json"
    answer = json.loads(await response.read())
    assert answer == {"ok": True, "id": 1, "slug": "ship-date", "url": f"/rooms/{room}/conversation/ship-date"}
    again = json.loads(await (await alice.post("/conversation/new", {**form, "title": "Ship date"})).read())
    assert again["slug"] == "ship-date-2"

    page = await (await node.browser()).soup(answer["url"])
    assert page.h1 is not None and "Ship date!" in page.h1.text
    shown = [int(m["id"].removeprefix("message-")) for m in page.select(".message")]
    assert shown == [first, last]
    assert before not in shown and after not in shown
    assert [a.text for a in page.select(".monologue .username a")] == ["Alice", "Bob"]
    info = await (await node.browser()).soup(f"/rooms/info/{room}")
    listed = [(a.text, a["href"]) for a in info.select(".conversations a")]
    assert listed == [("Ship date", f"/rooms/{room}/conversation/ship-date-2"), ("Ship date!", answer["url"])]
    missing = await (await node.browser()).get(f"/rooms/{room}/conversation/no-such-thing")
    assert missing.status == 404


async def test_refusals_change_nothing(node: Node) -> None:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    room = await node.room("Den")
    secret = await node.room("Vault", access=RoomAccess.PRIVATE)
    elsewhere = await node.room("Elsewhere")
    first = await _post(alice, room, "one")
    stray = await _post(alice, elsewhere, "not in the den")
    good = {"roomId": room, "firstMessageId": first, "lastMessageId": first, "title": "t"}
    visitor = await node.browser()
    cases = [
        (visitor, good, 403, b"You must be logged in to do that"),
        (alice, {**good, "fkey": "wrong"}, 403, b"The fkey parameter is missing or invalid"),
        (alice, {**good, "title": "   "}, 400, b"A conversation needs a title"),
        (alice, {**good, "title": "x" * 201}, 400, b"A conversation title can have at most 200 characters"),
        (alice, {**good, "lastMessageId": stray}, 400, b"The first and last messages must both be in this room"),
        (alice, {**good, "lastMessageId": 999}, 400, b"The first and last messages must both be in this room"),
        (alice, {**good, "roomId": "x"}, 400, b"The roomId parameter must be a number"),
        (alice, {**good, "roomId": 999}, 404, NO_ROOM),
        (alice, {**good, "roomId": secret}, 404, NO_ROOM),
    ]
    for browser, form, status, body in cases:
        await _expect(await browser.post("/conversation/new", form), status, body)
    assert await _bookmarks(node, room) == []

    made = json.loads(await (await alice.post("/conversation/new", {**good, "title": "Release plans"})).read())
    await _expect(
        await bob.post(f"/conversation/delete/{room}/{made['slug']}"),
        403,
        b"Only the person who bookmarked it or a room owner can do that",
    )
    await _expect(
        await alice.post(f"/conversation/delete/{room}/nothing-here"),
        404,
        b"There is no such conversation in this room",
    )
    assert await _bookmarks(node, room) == ["Release plans"]
    # sechat 1.x deletes by title, straight into the path.
    await _expect(await alice.post(f"/conversation/delete/{room}/Release plans"), 200, b'"ok"')
    assert await _bookmarks(node, room) == []


async def test_sechat_3_deletes_by_the_slug_it_computes_from_the_title(node: Node) -> None:
    """sechat v3 ``Room.bookmark`` returns ``"sechattestbookmark"`` for "sechat test bookmark" and deletes with it."""
    alice = await node.signed_in("Alice")
    room = await node.room("Den")
    first = await _post(alice, room, "bookmark me")
    form = {"roomId": room, "firstMessageId": first, "lastMessageId": first}
    made = json.loads(await (await alice.post("/conversation/new", {**form, "title": "sechat test bookmark"})).read())
    assert made["slug"] == "sechat-test-bookmark"
    # Bookmarks whose slugs compact alike get distinct compact forms, so each compact key names one.
    lookalike = json.loads(
        await (await alice.post("/conversation/new", {**form, "title": "sechattest bookmark"})).read()
    )
    assert lookalike["slug"] == "sechattest-bookmark-2"
    page = await (await node.browser()).get(f"/rooms/{room}/conversation/sechattestbookmark")
    assert page.status == 200 and "sechat test bookmark" in await page.text()
    await _expect(await alice.post(f"/conversation/delete/{room}/sechattestbookmark"), 200, b'"ok"')
    assert await _bookmarks(node, room) == ["sechattest bookmark"]
    await _expect(await alice.post(f"/conversation/delete/{room}/sechattestbookmark2"), 200, b'"ok"')
    assert await _bookmarks(node, room) == []
    await _expect(
        await alice.post(f"/conversation/delete/{room}/sechattestbookmark"),
        404,
        b"There is no such conversation in this room",
    )


async def test_room_owners_may_remove_anyones_bookmark(node: Node) -> None:
    owner, member = await node.signed_in("Owner"), await node.signed_in("Member")
    assert owner.user is not None
    room = await node.room("Den", owner=owner.user)
    first = await _post(member, room, "worth keeping")
    form = {"roomId": room, "firstMessageId": first, "lastMessageId": first, "title": "Keep"}
    made = json.loads(await (await member.post("/conversation/new", form)).read())
    await _expect(await owner.post(f"/conversation/delete/{room}/{made['slug']}"), 200, b'"ok"')
    assert await _bookmarks(node, room) == []


async def test_a_private_rooms_bookmarks_stay_private(node: Node) -> None:
    owner, outsider = await node.signed_in("Owner"), await node.signed_in("Outsider")
    assert owner.user is not None
    room = await node.room("Vault", owner=owner.user, access=RoomAccess.PRIVATE)
    first = await _post(owner, room, "secret plans")
    form = {"roomId": room, "firstMessageId": first, "lastMessageId": first, "title": "Plans"}
    made = json.loads(await (await owner.post("/conversation/new", form)).read())
    assert (await owner.get(made["url"])).status == 200
    hidden = await outsider.get(made["url"])
    assert hidden.status == 404 and "secret plans" not in await hidden.text()
    await _expect(await outsider.post(f"/conversation/delete/{room}/{made['slug']}"), 404, NO_ROOM)
    assert await _bookmarks(node, room) == ["Plans"]
