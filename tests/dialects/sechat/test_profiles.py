"""``POST /users/usermessage/{id}``: the profile's "about me" line, as sechat 3.x's ``edit_bio`` sets it."""

from __future__ import annotations

import aiohttp

from hubbub.core.ids import UserId
from tests.conftest import Browser, Node


def _uid(browser: Browser) -> UserId:
    assert browser.user is not None
    return browser.user.id


async def _about(node: Node, user_id: UserId) -> str:
    user = await node.service.context.store.read(lambda tx: tx.user(user_id))
    assert user is not None
    return user.about


async def _expect(response: aiohttp.ClientResponse, status: int, body: bytes) -> None:
    assert (response.status, await response.read()) == (status, body)


async def test_people_set_their_about_line_and_it_shows_on_the_profile(node: Node) -> None:
    alice = await node.signed_in("Alice")
    me = _uid(alice)
    response = await alice.post(f"/users/usermessage/{me}", {"message": "  I <b>build</b>\n bots  "})
    await _expect(response, 200, b'"ok"')
    assert response.content_type == "application/json"
    assert await _about(node, me) == "I <b>build</b> bots"
    page = await (await node.browser()).soup(f"/users/{me}")
    cells = [cell.text for cell in page.select(".user-valuecell")]
    assert "I <b>build</b> bots" in cells and page.select("b") == []  # shown as text, never as markup
    await _expect(await alice.post(f"/users/usermessage/{me}", {"message": ""}), 200, b'"ok"')
    assert await _about(node, me) == ""


async def test_refusals_change_nothing(node: Node) -> None:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    me = _uid(alice)
    await alice.post(f"/users/usermessage/{me}", {"message": "before"})
    cases = [
        (await node.browser(), me, {"message": "x"}, 403, b"You must be logged in to do that"),
        (alice, me, {"message": "x", "fkey": "wrong"}, 403, b"The fkey parameter is missing or invalid"),
        (alice, me, {"message": "x" * 201}, 400, b"The about text can have at most 200 characters"),
        (bob, me, {"message": "not yours"}, 403, b"You can only edit your own profile"),
    ]
    for browser, target, form, status, body in cases:
        await _expect(await browser.post(f"/users/usermessage/{target}", form), status, body)
    assert await _about(node, me) == "before"


async def test_moderators_may_edit_anyones(node: Node) -> None:
    alice, moderator = await node.signed_in("Alice"), await node.signed_in("Mod", moderator=True)
    await _expect(await moderator.post(f"/users/usermessage/{_uid(alice)}", {"message": "cleaned"}), 200, b'"ok"')
    assert await _about(node, _uid(alice)) == "cleaned"
    unknown = await moderator.post("/users/usermessage/999", {"message": "x"})
    await _expect(unknown, 404, b"There is no user with id 999")
