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


# --- moderators' suspensions: POST /users/suspend/{id}, /users/unsuspend/{id} ---------------------


async def _suspended_until(node: Node, user_id: UserId) -> int | None:
    user = await node.service.queries.user(user_id)
    assert user is not None
    return user.suspended_until if user.is_suspended(node.service.context.now()) else None


async def test_moderators_suspend_and_lift_suspensions_from_the_profile(node: Node) -> None:
    alice, moderator = await node.signed_in("Alice"), await node.signed_in("Mod", moderator=True)
    target = _uid(alice)
    await _expect(await moderator.post(f"/users/suspend/{target}", {"hours": "3"}), 200, b'"ok"')
    assert await _suspended_until(node, target) == node.service.context.now() + 3 * 3600
    page = await moderator.soup(f"/users/{target}")
    status = page.select_one(".user-suspension")
    assert status is not None and status.text.startswith("Suspended until ")
    assert page.select_one(f'form[action="/users/unsuspend/{target}"]') is not None
    lifted = await moderator.post(f"/users/unsuspend/{target}", {"next": f"/users/{target}"})
    assert (lifted.status, lifted.headers["Location"]) == (302, f"/users/{target}")
    assert await _suspended_until(node, target) is None
    # Only moderators see the forms, and nobody gets them on a moderator's or their own profile.
    assert (await alice.soup(f"/users/{target}")).select(".moderation") == []
    assert (await moderator.soup(f"/users/{_uid(moderator)}")).select(".moderation") == []


async def test_refused_suspensions_change_nothing(node: Node) -> None:
    alice, bob = await node.signed_in("Alice"), await node.signed_in("Bob")
    moderator, other_moderator = await node.signed_in("Mod", moderator=True), await node.signed_in("M2", moderator=True)
    target = _uid(alice)
    cases = [
        (await node.browser(), f"/users/suspend/{target}", {"hours": "1"}, 403, b"You must be logged in to do that"),
        (
            moderator,
            f"/users/suspend/{target}",
            {"hours": "1", "fkey": "x"},
            403,
            b"The fkey parameter is missing or invalid",
        ),
        (bob, f"/users/suspend/{target}", {"hours": "1"}, 403, b"Only moderators can do that"),
        (moderator, f"/users/suspend/{_uid(other_moderator)}", {"hours": "1"}, 403, b"Moderators cannot be suspended"),
        (moderator, f"/users/suspend/{target}", {"hours": "soon"}, 400, b"The hours parameter must be a number"),
        (moderator, f"/users/suspend/{target}", {}, 400, b"The hours parameter is required"),
        (
            moderator,
            f"/users/suspend/{target}",
            {"hours": "8761"},
            400,
            b"A suspension lasts from 1 second to 365 days",
        ),
        (moderator, "/users/suspend/999", {"hours": "1"}, 404, b"There is no user with id 999"),
        (moderator, f"/users/unsuspend/{target}", {}, 400, b"Alice is not suspended"),
        (bob, f"/users/unsuspend/{target}", {}, 403, b"Only moderators can do that"),
    ]
    for browser, path, form, status, body in cases:
        await _expect(await browser.post(path, form), status, body)
    assert await _suspended_until(node, target) is None
    assert await _suspended_until(node, _uid(other_moderator)) is None
