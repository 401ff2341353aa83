"""Contacts and direct conversations in headless Chromium: two people in two browser contexts.

Alice and Bob sign in through the login form and use the contacts panel and a conversation as
people would. Expectations auto-wait; nothing sleeps. The cut test stops the feed's requests
the way a dead network does and checks that every message sent meanwhile shows up once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from playwright.async_api import Browser, Page, Request, Route, expect

from hubbub.core.direct import Activity
from hubbub.core.ids import UserId
from hubbub.core.models import User
from tests.browser import chromium
from tests.conftest import PASSWORD, Node
from tests.fakes import TIMEOUT, eventually
from tests.web.test_room_ui import _watch

expect.set_options(timeout=TIMEOUT * 1000)


@dataclass
class Person:
    user: User
    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.user.id

    async def open(self, path: str) -> None:
        await self.page.goto(self.base + path)
        await expect(self.page.locator("body[data-direct-feed=live]")).to_have_count(1)

    async def say(self, text: str) -> None:
        box = self.page.locator("#input")
        await box.fill(text)
        await box.press("Enter")
        await expect(box).to_have_value("")

    def message(self, text: str) -> object:
        return self.page.locator("#direct-messages .message", has_text=text)


class CuttableFeed:
    """Routes a page's /direct/events polls through Playwright, so a test can cut them."""

    def __init__(self) -> None:
        self.blocked = False
        self.refused = 0

    async def route(self, route: Route) -> None:
        if self.blocked:
            self.refused += 1
            await route.abort("internetdisconnected")
            return
        await route.continue_()


async def _sign_in(browser: Browser, node: Node, user: User, path: str, feed: CuttableFeed | None = None) -> Person:
    context = await browser.new_context(viewport={"width": 1000, "height": 700})
    if feed is not None:
        await context.route(re.compile(r"/direct/events\?"), feed.route)
    page = await context.new_page()
    person = Person(user, page, node.base)
    _watch(page, person.errors)
    await page.goto(f"{node.base}/users/login?returnurl={path}")
    await page.fill("#email", str(user.email))
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url(f"**{path}")
    await expect(page.locator("body[data-direct-feed=live]")).to_have_count(1)
    return person


@asynccontextmanager
async def _pair(
    node: Node, alice_path: str = "/contacts", bob_path: str = "/contacts", *, linked: bool = True, cut: bool = False
) -> AsyncIterator[tuple[Person, Person, CuttableFeed]]:
    first, second = await node.user("Alice"), await node.user("Bob")
    if linked:
        await node.service.contacts.link(UserId(first.id), UserId(second.id))
    feed = CuttableFeed()
    async with chromium() as browser:
        alice = await _sign_in(browser, node, first, alice_path.replace("{bob}", str(second.id)))
        bob = await _sign_in(browser, node, second, bob_path.replace("{alice}", str(first.id)), feed if cut else None)
        yield alice, bob, feed
        # A cut feed's refused polls are the test's doing, not page errors.
        assert alice.errors == [] and [e for e in bob.errors if "direct/events" not in e] == []


async def test_a_request_accepted_makes_two_contacts_live(node: Node) -> None:
    async with _pair(node, linked=False) as (alice, bob, _):
        await alice.page.fill("#contact-user", f"/users/{bob.id}/bob")
        await alice.page.click("#contact-request-button")
        await expect(alice.page.locator("#contact-list .contact", has_text="Bob")).to_contain_text("request sent")
        # Bob's panel shows the request without a reload, and he accepts it.
        incoming = bob.page.locator("#contact-list .contact", has_text="Alice")
        await expect(incoming).to_contain_text("wants to be your contact")
        await incoming.get_by_role("button", name="accept").click()
        await expect(incoming.locator(".relation")).to_have_text("contact")
        both = alice.page.locator("#contact-list .contact", has_text="Bob")
        await expect(both.locator(".relation")).to_have_text("contact")
        await expect(both.locator("[data-presence]")).to_have_attribute("data-presence", "online")
        # A refusal is shown in the server's words and changes nothing.
        await alice.page.fill("#contact-user", "999999")
        await alice.page.click("#contact-request-button")
        await expect(alice.page.locator("#contacts-status")).to_contain_text("There is no user")
        await expect(alice.page.locator("#contact-list .contact")).to_have_count(1)
        assert [e for e in alice.errors if "/contacts/request" in e and e.startswith("404")] != []
        alice.errors.clear()  # that 404 was the point
        # Remove, then block: the list follows on both sides.
        await both.get_by_role("button", name="block").click()
        await expect(both.locator(".relation")).to_have_text("blocked")
        await expect(bob.page.locator("#contact-list .contact")).to_have_count(0)


async def test_messages_live_both_ways_with_typing_and_unread(node: Node) -> None:
    async with _pair(node, "/direct/{bob}", "/contacts") as (alice, bob, _):
        await alice.say("hello **Bob**")
        # Bob is on his panel: the unread count shows there and in the navigation.
        row = bob.page.locator("#contact-list .contact", has_text="Alice")
        await expect(row.locator(".unread")).to_have_text("1")
        await expect(bob.page.locator("#nav-unread")).to_have_text("1")
        await row.locator(".contact-name").click()
        await bob.page.wait_for_url(f"**/direct/{alice.id}")
        await expect(bob.message("hello Bob").locator(".content b")).to_have_text("Bob")
        await expect(bob.page.locator("#nav-unread")).to_be_hidden()  # read by opening it
        # Typing shows on the other side, and the message ends it.
        await bob.page.locator("#input").type("hi Al")
        await expect(alice.page.locator("#typing")).to_have_text("Bob is typing…")
        await bob.page.locator("#input").press("Enter")
        await expect(alice.message("hi Al")).to_have_count(1)
        await expect(alice.page.locator("#typing")).to_be_hidden()
        await alice.say("and back")
        await expect(bob.message("and back")).to_have_count(1)
        await expect(bob.page.locator("#direct-messages .message")).to_have_count(3)
        await expect(alice.page.locator("#direct-messages .message")).to_have_count(3)
        # Sending to someone who is no longer a contact is refused in words, and the text stays.
        await node.service.contacts.remove(UserId(bob.id), UserId(alice.id))
        box = alice.page.locator("#input")
        await box.fill("still there?")
        await box.press("Enter")
        await expect(alice.page.locator("#chat-status")).to_have_class(re.compile(r"\berror\b"))
        await expect(box).to_have_value("still there?")
        await expect(bob.message("still there?")).to_have_count(0)
        alice.errors.clear()  # the refused send's 403


async def test_history_scrolls_back_to_the_first_message(node: Node) -> None:
    first, second = await node.user("Alice"), await node.user("Bob")
    await node.service.contacts.link(UserId(first.id), UserId(second.id))
    for n in range(120):
        await node.service.direct.send(UserId(second.id), UserId(first.id), f"old {n}")
    async with chromium() as browser:
        alice = await _sign_in(browser, node, first, f"/direct/{second.id}")
        messages = alice.page.locator("#direct-messages .message")
        await expect(messages).to_have_count(50)
        await expect(alice.message("old 119")).to_be_in_viewport()
        for count in (100, 120):
            await alice.page.locator("#chat").evaluate("node => node.scrollTo(0, 0)")
            await expect(messages).to_have_count(count)
        await expect(messages.first).to_contain_text("old 0")
        await expect(alice.page.locator("#chat-older")).to_be_hidden()
        assert alice.errors == []


async def test_presence_changes_show_everywhere(node: Node) -> None:
    first, second = await node.user("Alice"), await node.user("Bob")
    await node.service.contacts.link(UserId(first.id), UserId(second.id))
    room = await node.room("Sandbox")
    for user in (first, second):
        await node.service.rooms.join(UserId(user.id), room)
    async with chromium() as browser:
        bob = await _sign_in(browser, node, second, "/contacts")
        async with chromium() as own_browser:  # Alice's own browser, to quit it
            alice = await _sign_in(own_browser, node, first, "/contacts")
            dot = bob.page.locator(f"#contact-list [data-presence-of='{alice.id}']")
            await expect(dot).to_have_attribute("data-presence", "online")
            # The room list and the room sidebar show the same.
            await bob.open("/rooms")
            avatar = bob.page.locator(f".room-people [data-presence-of='{alice.id}']")
            await expect(avatar).to_have_attribute("data-presence", "online")
            await bob.open(f"/rooms/{room}")
            sidebar = bob.page.locator(f"#people-list [data-presence-of='{alice.id}']")
            await expect(sidebar).to_have_attribute("data-presence", "online")
            assert alice.errors == []
        # Alice quits her browser and time passes: Bob's sidebar turns her offline, live.
        node.clock.advance(node.service.settings.presence_seen_seconds + 1)
        await node.service.presence.touch(UserId(bob.id), Activity.ACTIVE)
        await node.service.presence.sweep()
        await expect(sidebar).to_have_attribute("data-presence", "offline")
        await expect(sidebar).to_have_text("offline")
        # She is back (a message is activity): online again, live, and one unread.
        await node.service.direct.send(UserId(alice.id), UserId(bob.id), "back")
        await expect(sidebar).to_have_attribute("data-presence", "online")
        await expect(bob.page.locator("#nav-unread")).to_have_text("1")
        assert bob.errors == []


async def test_a_cut_feed_loses_and_doubles_nothing(node: Node) -> None:
    async with _pair(node, "/direct/{bob}", "/direct/{alice}", cut=True) as (alice, bob, feed):
        await alice.say("before the cut")
        await expect(bob.message("before the cut")).to_have_count(1)
        feed.blocked = True
        await bob.page.evaluate("window.hubbubDirectFeed.interrupt()")
        await expect(bob.page.locator("#direct-banner")).to_be_visible()
        await eventually(lambda: feed.refused >= 1)  # its retry met the dead network too
        for n in range(5):
            await alice.say(f"during the cut {n}")
        feed.blocked = False
        await bob.page.evaluate("window.hubbubDirectFeed.retryNow()")
        await expect(bob.page.locator("#direct-banner")).to_be_hidden()
        await alice.say("after the cut")
        texts = ["before the cut", *(f"during the cut {n}" for n in range(5)), "after the cut"]
        messages = bob.page.locator("#direct-messages .message .content")
        await expect(messages).to_have_text(texts)
        bob.errors.clear()


async def test_tabs_share_one_poll_and_hand_it_over(node: Node) -> None:
    """Three tabs of Bob's poll once between them (a browser has six connections to a host); when
    the polling tab closes another takes over, and every tab shows every message once."""
    first, second = await node.user("Alice"), await node.user("Bob")
    await node.service.contacts.link(UserId(first.id), UserId(second.id))
    watch = node.runtime.direct_watch
    assert watch is not None
    async with chromium() as browser:
        bob = await _sign_in(browser, node, second, f"/direct/{first.id}")
        tabs = [bob.page]
        held_by: list[int] = []  # which tab asked for each held poll (wait=1)

        def count(index: int) -> Callable[[Request], None]:
            return lambda request: held_by.append(index) if "wait=1" in request.url else None

        bob.page.on("request", count(0))
        for index in (1, 2):
            tab = await bob.page.context.new_page()
            tab.on("request", count(index))
            _watch(tab, bob.errors)
            await tab.goto(f"{node.base}/direct/{first.id}")
            await expect(tab.locator("body[data-direct-feed=live]")).to_have_count(1)
            tabs.append(tab)
        await eventually(lambda: watch.waiting == 1)
        await node.service.direct.send(UserId(first.id), UserId(second.id), "to every tab")
        for tab in tabs:
            await expect(tab.locator("#direct-messages .message .content")).to_have_text(["to every tab"])
        assert set(held_by) == {0}  # one tab polls for all three
        # The leader (the first tab) closes: a follower takes the lock and polls from its cursor.
        await tabs[0].close()
        await node.service.direct.send(UserId(first.id), UserId(second.id), "after the handover")
        for tab in tabs[1:]:
            await expect(tab.locator("#direct-messages .message .content")).to_have_text(
                ["to every tab", "after the handover"]
            )
        await eventually(lambda: set(held_by) - {0} != set())  # the new leader holds its polls
        assert len(set(held_by) - {0}) == 1  # one new leader, not two
        assert bob.errors == []
