"""The chat room screen in headless Chromium: two people in two browser contexts.

Each test starts a live node (``node`` fixture), signs two users in through the login
form and drives the room page as they would: typing, pressing Enter, clicking the
message actions. Expectations auto-wait; nothing sleeps.

``HUBBUB_SCREENSHOTS=1`` makes ``test_room_screenshot`` write docs/screenshots/room.png and
room-phone-dark.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Locator, Page, Response, Route, WebSocketRoute, expect

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import User
from tests.browser import chromium
from tests.conftest import PASSWORD, Node, NodeFactory
from tests.fakes import TIMEOUT, eventually

expect.set_options(timeout=TIMEOUT * 1000)

SCREENSHOT: Path = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "room.png"


def _watch(page: Page, errors: list[str]) -> None:
    """Collect script errors and failed requests (Chromium's own favicon probe is not one)."""
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )


@dataclass
class Person:
    """One signed-in user's browser tab on the room screen, and the page errors it logged."""

    name: str
    user_id: int
    page: Page
    errors: list[str] = field(default_factory=list)

    @property
    def input(self) -> Locator:
        return self.page.locator("#input")

    def message(self, text: str) -> Locator:
        return self.page.locator("#chat-messages .message", has_text=text)

    async def say(self, text: str) -> None:
        await self.input.fill(text)
        await self.input.press("Enter")
        await expect(self.input).to_have_value("")


class CuttableSockets:
    """Routes a page's event sockets through Playwright, so a test can cut them like a dead network."""

    def __init__(self) -> None:
        self.blocked = False
        self.opened: list[WebSocketRoute] = []

    async def route(self, socket: WebSocketRoute) -> None:
        if self.blocked:  # while cut, every new event socket is closed at once
            await socket.close()
            return
        socket.connect_to_server()
        self.opened.append(socket)

    async def cut(self) -> None:
        await eventually(lambda: bool(self.opened))
        self.blocked = True
        await self.opened[-1].close()


async def _room_with_history(node: Node, count: int) -> tuple[RoomId, UserId, list[MessageId]]:
    """Sandbox with ``count`` messages "old message <n>" by Poster (who is in the room): room, poster, ids."""
    room = await node.room("Sandbox")
    poster = UserId((await node.user("Poster")).id)
    await node.service.rooms.join(poster, room)
    ids = []
    for n in range(count):
        posted = await node.service.messages.post(poster, room, f"old message {n}")
        assert posted.message is not None
        ids.append(posted.message.id)
    return room, poster, ids


async def _enter(
    browser: Browser,
    node: Node,
    who: str | User,
    room: RoomId,
    *,
    width: int = 1100,
    sockets: CuttableSockets | None = None,
) -> Person:
    user = await node.user(who) if isinstance(who, str) else who
    name = user.name
    context: BrowserContext = await browser.new_context(viewport={"width": width, "height": 720})
    if sockets is not None:
        await context.route_web_socket(re.compile(r"/events/\d+/"), sockets.route)
    page = await context.new_page()
    person = Person(name, user.id, page)
    page.on("pageerror", lambda error: person.errors.append(str(error)))
    _watch(page, person.errors)
    await page.goto(f"{node.base}/users/login?returnurl=/rooms/{room}")
    await page.fill("#email", str(user.email))
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url(f"**/rooms/{room}")
    await expect(page.locator("body[data-chat-ready=true]")).to_have_count(1)
    return person


@asynccontextmanager
async def _two_people(node: Node, **room: str) -> AsyncIterator[tuple[Person, Person]]:
    """Alice (owner of the room) and Bob, each on the room screen, both connected."""
    first = await node.user("Alice")
    room_id = await node.room("Sandbox", owner=first, **room)
    async with chromium() as browser:
        alice = await _enter(browser, node, first, room_id)
        bob = await _enter(browser, node, "Bob", room_id)
        for person in (alice, bob):
            await expect(person.page.locator("#connection-banner")).to_be_hidden()
        yield alice, bob
        assert alice.errors == [] and bob.errors == []


async def test_a_message_appears_live_for_the_other_person(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        # The message box has focus as soon as the room is open: typing goes straight in.
        await expect(alice.input).to_be_focused()
        await alice.page.keyboard.type("typed at once")
        await expect(alice.input).to_have_value("typed at once")
        await alice.input.fill("")
        await alice.say("hello **Bob**")
        message = bob.message("hello Bob")
        await expect(message).to_have_count(1)
        await expect(message.locator(".content b")).to_have_text("Bob")
        await expect(message.locator(".username")).to_have_text("Alice")
        # Shift+Enter makes a new line; Enter then sends both lines as one message.
        await bob.input.fill("line one")
        await bob.input.press("Shift+Enter")
        await bob.input.type("line two")
        await expect(bob.input).to_have_value("line one\nline two")
        await bob.input.press("Enter")
        multi = alice.message("line one")
        await expect(multi).to_have_count(1)
        await expect(multi.locator(".content br")).to_have_count(1)
        await expect(multi).to_contain_text("line two")
        # Bob shows up among the people in Alice's sidebar.
        await expect(alice.page.locator("#people-list .person", has_text="Bob")).to_have_count(1)


async def test_tag_badges_and_quotes_show_as_stack_exchange_sends_them(node: Node) -> None:
    """The badge's inline style (SE's, allowed by its CSP hash) applies without a CSP violation."""
    async with _two_people(node) as (alice, bob):
        await alice.say("> about [tag:python] and *more*")
        message = bob.message("about python")
        badge = message.locator(".content .quote a .ob-post-tag")
        await expect(badge).to_have_text("python")
        await expect(badge).to_have_css("background-color", "rgb(224, 234, 241)")  # #E0EAF1, the light theme
        await expect(message.locator(".content .quote i")).to_have_text("more")


async def test_timestamps_are_in_local_time(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        await alice.say("what time is it")
        stamp = bob.message("what time is it").locator("time")
        await expect(stamp).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
        iso = await stamp.get_attribute("datetime")
        local = await bob.page.evaluate(
            "iso => new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit'}).format(new Date(iso))",
            iso,
        )
        await expect(stamp).to_contain_text(local)


async def test_reply_shows_the_parent_and_raises_the_inbox_count(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        await expect(alice.page.locator("#inbox-count")).to_have_text("0")
        await expect(alice.page.locator("#inbox-button[data-live=true]")).to_have_count(1)
        await alice.say("who wants tea?")
        original = bob.message("who wants tea?")
        await expect(original).to_have_count(1)
        message_id = await original.get_attribute("data-message-id")
        await original.hover()
        await original.get_by_role("button", name="Reply to Alice").click()
        await expect(bob.input).to_have_value(f":{message_id} ")
        await expect(bob.input).to_be_focused()
        await bob.input.type("me, please")
        await bob.input.press("Enter")
        reply = alice.message("me, please")
        await expect(reply.locator(".reply-parent")).to_contain_text("who wants tea?")
        await expect(reply).to_have_class(re.compile(r"\bmention\b"))
        await expect(alice.page.locator("#inbox-count")).to_have_text("1")
        # Opening the inbox marks the reply read.
        await alice.page.locator("#inbox-button").click()
        await expect(alice.page.locator("#inbox-count")).to_have_text("0")


async def test_mention_autocompletes_highlights_and_counts(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        await expect(alice.page.locator("#inbox-button[data-live=true]")).to_have_count(1)
        await alice.say("I am here")  # Alice is now pingable in the room
        await expect(bob.message("I am here")).to_have_count(1)
        await bob.input.fill("")
        await bob.input.type("hi @Ali")
        option = bob.page.get_by_role("option", name="@Alice")
        await expect(option).to_be_visible()
        await bob.input.press("Enter")  # accepts the suggestion, does not send
        await expect(bob.input).to_have_value("hi @Alice ")
        await bob.input.type("look at this")
        await bob.input.press("Enter")
        mention = alice.message("look at this")
        await expect(mention).to_have_class(re.compile(r"\bmention\b"))
        await expect(alice.page.locator("#inbox-count")).to_have_text("1")
        # Bob's own copy is not highlighted for him.
        await expect(bob.message("look at this")).not_to_have_class(re.compile(r"\bmention\b"))


async def test_a_reply_in_another_room_is_counted_not_shown(node: Node) -> None:
    # The page's socket carries every room Alice is in: the reply comes under r<There> with
    # its message, and under r<Here> too (a reply is filed under every room of its target).
    # Neither is this room's message.
    alice = await node.user("Alice")
    bob = await node.user("Bob")
    here = await node.room("Here", owner=alice)
    there = await node.room("There")
    for user, room in ((alice, there), (bob, there)):
        await node.service.rooms.join(UserId(user.id), room)
    original = await node.service.messages.post(UserId(alice.id), there, "over there")
    assert original.message is not None
    async with chromium() as browser:
        person = await _enter(browser, node, alice, here)
        await expect(person.page.locator("#inbox-button[data-live=true]")).to_have_count(1)
        await node.service.messages.post(UserId(bob.id), there, f":{original.message.id} answered there")
        await expect(person.page.locator("#inbox-count")).to_have_text("1")
        await person.say("said here")
        await expect(person.message("said here")).to_have_count(1)
        await expect(person.page.locator("#chat-messages .message")).to_have_count(1)
        await expect(person.page.locator("#people-list .person", has_text="Bob")).to_have_count(0)
        assert person.errors == []


async def test_edit_with_up_arrow_and_delete(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        await alice.say("teh typo")
        await expect(bob.message("teh typo")).to_have_count(1)
        await alice.input.press("ArrowUp")
        await expect(alice.input).to_have_value("teh typo")
        await expect(alice.page.locator("#compose-mode")).to_contain_text("Editing")
        await alice.input.fill("the typo, fixed")
        await alice.input.press("Enter")
        edited = bob.message("the typo, fixed")
        await expect(edited).to_have_count(1)
        await expect(edited.locator(".edited")).to_be_visible()
        await expect(bob.message("teh typo")).to_have_count(0)
        # Bob cannot edit or delete Alice's message: no buttons for him.
        await expect(edited.get_by_role("button", name="Delete this message")).to_have_count(0)

        mine = alice.message("the typo, fixed")
        await mine.hover()
        await mine.get_by_role("button", name="Delete this message").click()
        await expect(bob.message("the typo, fixed")).to_have_count(0)
        await expect(alice.message("the typo, fixed")).to_have_count(0)

        # Past the window the server refuses, and its words are shown.
        await alice.say("too slow")
        late = alice.message("too slow")
        await expect(late).to_have_count(1)
        node.clock.advance(300)
        await late.hover()
        await late.get_by_role("button", name="Delete this message").click()
        await expect(alice.page.locator("#chat-status")).to_have_text("It is too late to delete this message")
        await expect(bob.message("too slow")).to_have_count(1)


async def test_star_and_pin_fill_the_sidebar(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        await alice.say("a quotable line")
        line = bob.message("a quotable line")
        await expect(line).to_have_count(1)
        await line.hover()
        await line.get_by_role("button", name="Star this message").click()
        await expect(alice.message("a quotable line").locator(".stars")).to_have_text("★ 1")
        await expect(alice.page.locator("#starred-list .starred-item", has_text="a quotable line")).to_have_count(1)
        await expect(line.get_by_role("button", name="Remove your star")).to_have_attribute("aria-pressed", "true")
        # Alice owns the room: she pins Bob's message; Bob cannot pin.
        await bob.say("pin me")
        pinned = alice.message("pin me")
        await expect(pinned).to_have_count(1)
        await expect(bob.message("pin me").get_by_role("button", name="Pin this message")).to_have_count(0)
        await pinned.hover()
        await pinned.get_by_role("button", name="Pin this message").click()
        await expect(bob.page.locator("#starred-list .starred-item.pinned", has_text="pin me")).to_have_count(1)
        # Starring one's own message is refused with the server's words.
        await bob.say("my own")
        own = alice.message("my own")
        await expect(own).to_have_count(1)
        await expect(bob.message("my own").get_by_role("button", name="Star this message")).to_have_count(0)


async def test_lost_connection_reconnects_and_fills_the_gap_once(node: Node) -> None:
    room = await node.room("Sandbox")
    async with chromium() as browser:
        sockets = CuttableSockets()
        alice = await _enter(browser, node, "Alice", room, sockets=sockets)
        page, errors = alice.page, alice.errors
        bob = await _enter(browser, node, "Bob", room)
        await bob.say("before the cut")
        await expect(alice.message("before the cut")).to_have_count(1)

        await sockets.cut()
        banner = page.locator("#connection-banner")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("Reconnecting")
        await bob.say("while you were away")
        await bob.say("and this too")
        await expect(bob.message("and this too")).to_have_count(1)
        await expect(alice.message("while you were away")).to_have_count(0)

        polls: list[Response] = []
        page.on("response", lambda response: polls.append(response) if response.url.endswith("/events") else None)
        sockets.blocked = False
        await page.evaluate("() => window.dispatchEvent(new Event('online'))")  # retry now, not after backoff
        await expect(banner).to_be_hidden()
        await expect(alice.message("while you were away")).to_have_count(1)
        # The gap came from the event log: the first poll after the cut returned the missed messages.
        assert polls and f"r{room}=" in (polls[0].request.post_data or "")
        missed = [event.get("content") for event in (await polls[0].json())[f"r{room}"]["e"]]
        assert "while you were away" in missed and "and this too" in missed
        await expect(alice.message("and this too")).to_have_count(1)
        # Live again, and the replayed messages are still there once each.
        await bob.say("after the cut")
        await expect(alice.message("after the cut")).to_have_count(1)
        for text in ("before the cut", "while you were away", "and this too"):
            await expect(alice.message(text)).to_have_count(1)
        ids = await page.locator("#chat-messages .message").evaluate_all("nodes => nodes.map(n => n.id)")
        assert len(ids) == len(set(ids)) == 4
        assert errors == [] and bob.errors == []


async def test_a_gap_longer_than_the_poll_budget_is_still_filled(make_node: NodeFactory) -> None:
    # Each /events answer holds 2 events here, so one reconnect's 50 polls cannot cover
    # the gap: the stream must not go live over the rest of it.
    node = await make_node(poll_max_events=2)
    room = await node.room("Sandbox")
    poster = await node.user("Poster")
    await node.service.rooms.join(UserId(poster.id), room)
    async with chromium() as browser:
        sockets = CuttableSockets()
        reader = await _enter(browser, node, "Reader", room, sockets=sockets)
        page, errors = reader.page, reader.errors
        await node.service.messages.post(UserId(poster.id), room, "before the cut")
        await expect(reader.message("before the cut")).to_have_count(1)

        await sockets.cut()
        await expect(page.locator("#connection-banner")).to_be_visible()
        for n in range(110):
            await node.service.messages.post(UserId(poster.id), room, f"missed {n}")
        sockets.blocked = False
        await page.evaluate("() => window.dispatchEvent(new Event('online'))")
        await expect(page.locator("#connection-banner")).to_be_hidden()
        await node.service.messages.post(UserId(poster.id), room, "after the cut")
        await expect(reader.message("after the cut")).to_have_count(1)
        exactly = page.locator("#chat-messages").get_by_text
        for n in (0, 99, 100, 109):
            await expect(exactly(f"missed {n}", exact=True)).to_have_count(1)
        await expect(page.locator("#chat-messages .message")).to_have_count(112)
        assert errors == []


async def test_an_event_twice_in_one_frame_counts_once(node: Node) -> None:
    room = await node.room("Sandbox")
    async with chromium() as browser:
        sockets: list[WebSocketRoute] = []

        async def events(socket: WebSocketRoute) -> None:
            socket.connect_to_server()
            sockets.append(socket)

        async def realtime(socket: WebSocketRoute) -> None:
            await socket.close()  # the inbox feed is down: pings on the event stream count

        user = await node.user("Reader")
        context = await browser.new_context()
        await context.route_web_socket(re.compile(r"/events/\d+/"), events)
        await context.route_web_socket(re.compile(r"/\?token="), realtime)
        page = await context.new_page()
        errors: list[str] = []
        _watch(page, errors)
        await page.goto(f"{node.base}/users/login?returnurl=/rooms/{room}")
        await page.fill("#email", str(user.email))
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("body[data-chat-ready=true]")).to_have_count(1)
        await expect(page.locator("#connection-banner")).to_be_hidden()
        await expect(page.locator("#inbox-count")).to_have_text("0")
        ping = {
            "event_type": 8,
            "time_stamp": node.clock.now(),
            "content": "@Reader look",
            "id": 10**6,
            "user_id": user.id + 1,
            "target_user_id": user.id,
            "user_name": "Someone",
            "room_id": room,
            "room_name": "Sandbox",
            "message_id": 10**6,
        }
        await eventually(lambda: bool(sockets))  # the page may be ready a moment before its socket opens
        sockets[-1].send(json.dumps({f"r{room}": {"e": [ping, ping], "t": 10**6, "d": 2}}))
        # One frame is applied in one go: the count shows all of it at once.
        await expect(page.locator("#inbox-count")).to_have_text("1")
        assert errors == []


async def test_older_messages_load_on_scroll_up(node: Node) -> None:
    room, _, _ = await _room_with_history(node, 130)
    async with chromium() as browser:
        reader = await _enter(browser, node, "Reader", room)
        await expect(reader.message("old message 129")).to_have_count(1)
        await expect(reader.page.locator("#chat-messages .message")).to_have_count(100)
        await reader.page.locator("#chat").evaluate("log => { log.scrollTop = 0; }")
        await expect(reader.page.locator("#chat-messages .message")).to_have_count(130)
        await expect(reader.message("old message 0")).to_have_count(1)
        assert reader.errors == []


async def test_an_edit_of_a_message_not_on_the_page_leaves_the_list_alone(node: Node) -> None:
    room, poster, ids = await _room_with_history(node, 130)
    async with chromium() as browser:
        reader = await _enter(browser, node, "Reader", room)
        messages = reader.page.locator("#chat-messages .message")
        await expect(messages).to_have_count(100)
        # Message 0 is older than the page holds: its edit must not be slotted in above the
        # oldest shown (that would also make "load older" skip messages 1 to 29).
        await node.service.messages.edit(poster, ids[0], "old message 0, edited")
        await node.service.messages.delete(poster, ids[1])
        await node.service.messages.post(poster, room, "after the edit")
        await expect(reader.message("after the edit")).to_have_count(1)
        await expect(messages).to_have_count(101)
        await expect(reader.message("old message 0, edited")).to_have_count(0)
        await reader.page.locator("#chat").evaluate("log => { log.scrollTop = 0; }")
        await expect(messages).to_have_count(130)
        await expect(reader.message("old message 0, edited")).to_have_count(1)
        await expect(reader.page.locator("#chat-messages").get_by_text("old message 2", exact=True)).to_have_count(1)
        assert reader.errors == []


async def test_older_messages_loading_meanwhile_take_the_live_edits_and_deletions(node: Node) -> None:
    room, poster, ids = await _room_with_history(node, 130)
    async with chromium() as browser:
        reader = await _enter(browser, node, "Reader", room)
        messages = reader.page.locator("#chat-messages .message")
        await expect(messages).to_have_count(100)
        read, release = asyncio.Event(), asyncio.Event()

        async def hold(route: Route) -> None:
            # The older page is read now, and answered after the changes below went live.
            response = await route.fetch()
            read.set()
            await release.wait()
            await route.fulfill(response=response)

        await reader.page.route(re.compile(r"/chats/\d+/events$"), hold)
        await reader.page.locator("#chat").evaluate("log => { log.scrollTop = 0; }")
        await read.wait()
        await node.service.messages.edit(poster, ids[28], "old message 28, edited")
        await node.service.messages.delete(poster, ids[29])
        newcomer = await node.user("Newcomer")
        await node.service.rooms.join(UserId(newcomer.id), room)
        await expect(reader.page.locator("#people-list .person", has_text="Newcomer")).to_have_count(1)
        release.set()
        await expect(messages).to_have_count(129)
        exactly = reader.page.locator("#chat-messages").get_by_text
        await expect(exactly("old message 29", exact=True)).to_have_count(0)
        await expect(exactly("old message 28, edited", exact=True)).to_have_count(1)
        await expect(exactly("old message 0", exact=True)).to_have_count(1)
        assert reader.errors == []


async def test_a_long_room_keeps_the_dom_capped(node: Node) -> None:
    room = await node.room("Sandbox")
    poster = await node.user("Poster")
    for n in range(460):
        await node.service.messages.post(UserId(poster.id), room, f"old message {n}")
    async with chromium() as browser:
        reader = await _enter(browser, node, "Reader", room)
        messages = reader.page.locator("#chat-messages .message")

        def exactly(text: str) -> Locator:
            return reader.page.locator("#chat-messages").get_by_text(text, exact=True)

        log = reader.page.locator("#chat")
        for count in (150, 200, 250, 300, 350, 400):
            await log.evaluate("log => { log.scrollTop = 0; }")
            await expect(messages).to_have_count(count)
        await log.evaluate("log => { log.scrollTop = 0; }")
        await expect(exactly("old message 10")).to_have_count(1)
        await log.evaluate("log => { log.scrollTop = 0; }")
        await expect(exactly("old message 0")).to_have_count(1)
        await expect(reader.page.locator("#chat-older")).to_have_text("This is the start of the room.")
        await expect(messages).to_have_count(400)  # the newest ones were dropped to keep the cap
        await expect(exactly("old message 459")).to_have_count(0)
        jump = reader.page.locator("#jump-latest")
        await expect(jump).to_be_visible()
        await jump.click()
        await expect(exactly("old message 459")).to_have_count(1)
        await expect(messages).to_have_count(100)
        await expect(jump).to_be_hidden()
        assert reader.errors == []


async def test_live_messages_keep_the_dom_capped_while_reading_above(node: Node) -> None:
    room, poster, _ = await _room_with_history(node, 100)
    async with chromium() as browser:
        reader = await _enter(browser, node, "Reader", room)
        messages = reader.page.locator("#chat-messages .message")
        await expect(messages).to_have_count(100)
        # The reader scrolls up a little (not to the top, which would load older ones).
        await reader.page.locator("#chat").evaluate("log => { log.scrollTop = log.scrollHeight / 2; }")
        for n in range(320):
            await node.service.messages.post(poster, room, f"live message {n}")
        jump = reader.page.locator("#jump-latest")
        await expect(jump).to_be_visible()
        await expect(reader.page.locator("#chat-messages").get_by_text("live message 299", exact=True)).to_have_count(1)
        # Events apply in order: once the newcomer shows in the sidebar, every message is in.
        late = await node.user("Latecomer")
        await node.service.rooms.join(UserId(late.id), room)
        await node.service.messages.post(UserId(late.id), room, "the very last")
        await expect(reader.page.locator("#people-list .person", has_text="Latecomer")).to_have_count(1)
        assert await messages.count() == 400
        await jump.click()
        await expect(reader.page.locator("#chat-messages").get_by_text("the very last", exact=True)).to_have_count(1)
        await expect(messages).to_have_count(100)
        assert reader.errors == []


async def test_jump_to_latest_keeps_what_arrives_while_it_loads(node: Node) -> None:
    room, poster, _ = await _room_with_history(node, 100)
    async with chromium() as browser:
        reader = await _enter(browser, node, "Reader", room)
        messages = reader.page.locator("#chat-messages .message")
        await expect(messages).to_have_count(100)
        await reader.page.locator("#chat").evaluate("log => { log.scrollTop = log.scrollHeight / 2; }")
        for n in range(301):
            await node.service.messages.post(poster, room, f"live message {n}")
        jump = reader.page.locator("#jump-latest")
        await expect(jump).to_be_visible()
        await expect(reader.page.locator("#chat-messages").get_by_text("live message 299", exact=True)).to_have_count(1)

        # The latest messages are read, but their answer is held back while more arrive live.
        read, release = asyncio.Event(), asyncio.Event()

        async def hold(route: Route) -> None:
            if "msgCount=100" not in (route.request.post_data or ""):
                await route.continue_()
                return
            response = await route.fetch()
            read.set()
            await release.wait()
            await route.fulfill(response=response)

        await reader.page.route(re.compile(r"/chats/\d+/events$"), hold)
        await jump.click()
        await read.wait()
        newcomer = await node.user("Newcomer")
        await node.service.rooms.join(UserId(newcomer.id), room)
        await node.service.messages.post(UserId(newcomer.id), room, "said during the reload")
        await expect(reader.page.locator("#people-list .person", has_text="Newcomer")).to_have_count(1)
        release.set()
        await expect(jump).to_be_hidden()
        await expect(reader.message("live message 300")).to_have_count(1)
        await expect(reader.message("said during the reload")).to_have_count(1)
        assert reader.errors == []


async def test_a_renamed_room_updates_the_open_screens(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        room = RoomId(int(await bob.page.locator("#content").get_attribute("data-room-id") or 0))
        await node.service.rooms.update_room(
            UserId(alice.user_id), room, name="Tea Room", description="Only / for tea", tags="tea"
        )
        await expect(bob.page.locator("#room-name")).to_have_text("Tea Room")
        await expect(bob.page.locator("#room-desc")).to_have_text("Only / for tea")
        await expect(bob.page).to_have_title(re.compile("Tea Room"))
        # A name is text, never a replacement pattern ("$&" would bring the old name back).
        await node.service.rooms.update_room(
            UserId(alice.user_id), room, name="Tea $& Cake", description="Only / for tea", tags="tea"
        )
        await expect(bob.page.locator("#room-name")).to_have_text("Tea $& Cake")
        await expect(bob.page).to_have_title("Tea $& Cake - hubbub")


async def test_a_kicked_person_is_told(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        room = RoomId(int(await bob.page.locator("#content").get_attribute("data-room-id") or 0))
        await node.service.rooms.kick(UserId(alice.user_id), room, UserId(bob.user_id))
        await expect(bob.page.locator("#chat-status")).to_have_text("You were kicked from this room for a while.")
        await expect(alice.page.locator("#people-list .person", has_text="Bob")).to_have_count(0)
        # Bob's page tries to get back in, and shows why it cannot yet.
        await expect(bob.page.locator("#connection-banner")).to_contain_text("kicked")
        bob.errors[:] = [error for error in bob.errors if not re.match(r"403 .*/ws-auth$", error)]


async def test_people_who_went_quiet_show_as_idle(node: Node) -> None:
    room = await node.room("Sandbox")
    async with chromium() as browser:
        early = await _enter(browser, node, "Early", room)
        await early.say("anyone here?")
        node.clock.advance(20 * 60)
        late = await _enter(browser, node, "Late", room)
        people = late.page.locator("#people-list")
        await expect(people.get_by_role("listitem", name="Early, idle")).to_have_count(1)
        await expect(people.get_by_role("listitem", name="Late, present")).to_have_count(1)
        # Speaking again makes Early present on Late's screen.
        await early.say("yes, back")
        await expect(people.get_by_role("listitem", name="Early, present")).to_have_count(1)


async def test_keyboard_only_reply_and_star(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        await alice.say("first line")
        await alice.say("reply to me by keyboard")
        await expect(bob.message("reply to me by keyboard")).to_have_count(1)
        await bob.input.focus()
        await bob.page.keyboard.press("Shift+Tab")  # from the box back to the message log
        await expect(bob.page.locator("#chat")).to_be_focused()
        await bob.page.keyboard.press("ArrowUp")
        last = bob.message("reply to me by keyboard")
        await expect(last).to_be_focused()
        await bob.page.keyboard.press("Tab")
        await expect(last.get_by_role("button", name="Reply to Alice")).to_be_focused()
        await bob.page.keyboard.press("Tab")
        await expect(last.get_by_role("button", name="Star this message")).to_be_focused()
        await bob.page.keyboard.press("Enter")
        await expect(alice.message("reply to me by keyboard").locator(".stars")).to_have_text("★ 1")
        await bob.page.keyboard.press("Shift+Tab")
        await bob.page.keyboard.press("Enter")
        message_id = await last.get_attribute("data-message-id")
        await expect(bob.input).to_be_focused()
        await expect(bob.input).to_have_value(f":{message_id} ")
        # Escape in the log goes back to the box; ArrowUp twice reaches the older message.
        await bob.page.locator("#chat").focus()
        await bob.page.keyboard.press("ArrowUp")
        await bob.page.keyboard.press("ArrowUp")
        await expect(bob.message("first line")).to_be_focused()
        await bob.page.keyboard.press("Escape")
        await expect(bob.input).to_be_focused()


async def test_keyboard_only_send_and_phone_width(node: Node) -> None:
    room = await node.room("Sandbox")
    async with chromium() as browser:
        phone = await _enter(browser, node, "Phoebe", room, width=380)
        await phone.page.locator("#input").focus()
        await phone.page.keyboard.type("typed without a mouse")
        await phone.page.keyboard.press("Enter")
        message = phone.message("typed without a mouse")
        await expect(message).to_have_count(1)
        # Nothing overflows sideways at phone width.
        overflow = await phone.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        await expect(phone.page.get_by_role("log", name="Messages")).to_be_visible()
        # The theme follows the system setting.
        body = phone.page.locator("body")
        light = await body.evaluate("b => getComputedStyle(b).backgroundColor")
        await phone.page.emulate_media(color_scheme="dark")
        await expect(body).not_to_have_css("background-color", light)
        assert phone.errors == []


async def test_mention_completion_recovers_from_a_failed_name_list_without_another_keystroke(node: Node) -> None:
    async with _two_people(node) as (alice, bob):
        await bob.say("hello")
        await expect(alice.message("hello")).to_have_count(1)
        refused: list[str] = []

        async def fail_once(route: Route) -> None:
            if refused:
                await route.continue_()
            else:
                refused.append(route.request.url)
                await route.fulfill(status=503, body="busy")

        await alice.page.route(re.compile(r"/rooms/pingable/\d+$"), fail_once)
        await alice.input.fill("thanks @B")  # one input event: one ask for the names, refused
        await expect(alice.page.get_by_role("option", name="@Bob")).to_be_visible()
        assert len(refused) == 1
        alice.errors[:] = [error for error in alice.errors if not error.startswith("503 ")]  # the refusal above


async def test_a_name_list_drawn_just_after_focus_returns_stays_open(node: Node) -> None:
    # A click on a message's button takes focus away; typing "@B" straight after brings it back,
    # and the names (already known) are drawn before the close that leaving the box scheduled.
    async with _two_people(node) as (alice, bob):
        await bob.say("hello")
        await expect(alice.message("hello")).to_have_count(1)
        await alice.input.fill("thanks @B")
        await expect(alice.page.get_by_role("option", name="@Bob")).to_be_visible()
        still_open = await alice.page.evaluate(
            """async () => {
                const input = document.getElementById("input");
                input.blur();
                input.focus();
                input.value = "thanks @Bo";
                input.setSelectionRange(input.value.length, input.value.length);
                input.dispatchEvent(new Event("input"));
                // timers run in deadline order: the close scheduled by blur (150 ms) runs first
                await new Promise((resolve) => setTimeout(resolve, 300));
                return !document.getElementById(input.getAttribute("aria-controls")).hidden;
            }"""
        )
        assert still_open
        await expect(alice.page.get_by_role("option", name="@Bob")).to_be_visible()


async def test_room_screenshot(node: Node, tmp_path: Path) -> None:
    """A populated room, as in the README; written to docs/screenshots/ with HUBBUB_SCREENSHOTS=1."""
    async with _two_people(node, description="Release planning and the odd cup of tea") as (alice, bob):
        await alice.say("Morning all! Release notes for **0.4** are up: [changelog](https://example.org/changelog)")
        await bob.say("Nice. Does it include the `/events` gap fill?")
        first = alice.message("Release notes")
        await expect(first).to_have_count(1)
        first_id = await first.get_attribute("data-message-id")
        await alice.say("It does, and the reconnect banner")
        await bob.say(f":{first_id} starring this one")
        star = bob.page.locator(f"#message-{first_id}")
        await star.hover()
        await star.get_by_role("button", name="Star this message").click()
        await bob.say("    def fill_gap(cursor):\n        return poll('/events', cursor)")
        await expect(alice.message("starring this one")).to_have_count(1)
        question = alice.message("Does it include")
        await question.hover()
        await question.get_by_role("button", name="Pin this message").click()
        await expect(alice.page.locator("#starred-list .starred-item")).to_have_count(2)
        await alice.input.type("thanks @B")
        await expect(alice.page.get_by_role("option", name="@Bob")).to_be_visible()
        await alice.page.mouse.move(0, 0)
        folder = SCREENSHOT.parent if os.environ.get("HUBBUB_SCREENSHOTS") else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        await alice.page.screenshot(path=str(folder / "room.png"))
        # The same room at phone width in the dark theme, as Bob sees it.
        await bob.page.set_viewport_size({"width": 390, "height": 720})
        await bob.page.emulate_media(color_scheme="dark")
        await bob.page.mouse.move(0, 0)
        await bob.page.screenshot(path=str(folder / "room-phone-dark.png"))
        for name in ("room.png", "room-phone-dark.png"):
            assert (folder / name).stat().st_size > 10_000


async def test_a_visitor_who_is_not_signed_in_reads_live_by_polling(node: Node) -> None:
    author = await node.user("Author")
    room = await node.room("Sandbox", owner=author)
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors: list[str] = []
        _watch(page, errors)
        await page.goto(f"{node.base}/rooms/{room}")
        await expect(page.locator("body[data-chat-ready=true]")).to_have_count(1)
        await expect(page.locator("#input")).to_have_count(0)
        await expect(page.locator(".compose-closed").get_by_role("link", name="Log in")).to_be_visible()
        await node.service.messages.post(UserId(author.id), room, "anyone can read this")
        await expect(page.locator("#chat-messages .message", has_text="anyone can read this")).to_have_count(1)
        await expect(page.locator("#connection-banner")).to_be_hidden()
        assert errors == []


async def test_the_page_keeps_what_bots_scrape(node: Node) -> None:
    """sechat.md §3.8: textarea#input, the fkey input last, the topbar link first, present users."""
    bot = await node.signed_in("Bot Name")
    assert bot.user is not None
    room = await node.room("Sandbox")
    await node.service.rooms.join(UserId(bot.user.id), room)
    response = await bot.get(f"/rooms/{room}")
    html = await response.text()
    assert response.status == 200
    assert '<textarea id="input">' in html
    page = await bot.soup(f"/rooms/{room}")
    assert page.select(".topbar-menu-links a")[0]["href"] == f"/users/{bot.user.id}/bot-name"
    assert page.find_all("input")[-1]["id"] == "fkey"
    assert page.find_all("input", {"name": "fkey"})[-1]["value"] == bot.fkey
    body_scripts = page.body.find_all("script") if page.body else []
    assert "CHAT.RoomUsers.initPresent" in body_scripts[0].text
    assert re.search(r'\{id: \d+, name: \("Bot Name"\)', body_scripts[0].text)
    assert '"name": "Bot Name"' in str(page.select_one(".js-present")["data-users"])
