"""The pages around the chat room, in headless Chromium: sign-up, rooms, settings, transcripts, CSP.

Each test starts a live node and drives the pages as a person would, by label and
role. Every page is also watched for script errors and Content-Security-Policy
violations (Chromium reports both on the console), so a page that needs an inline
script or style fails here.

``HUBBUB_SCREENSHOTS=1`` makes ``test_screenshots`` write docs/screenshots/{rooms,
rooms-dark,room-info,transcript,search,login,signup}.png (the README shows them).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from hubbub.core.ids import RoomId
from hubbub.core.models import AccessLevel, RoomAccess, User
from tests.browser import chromium
from tests.conftest import PASSWORD, Node
from tests.fakes import TIMEOUT

expect.set_options(timeout=TIMEOUT * 1000)

SCREENSHOTS: Path = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def _page(browser: Browser, errors: list[str], *, width: int = 1100, dark: bool = False) -> Page:
    context = await browser.new_context(
        viewport={"width": width, "height": 760}, color_scheme="dark" if dark else "light"
    )
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if _is_problem(message.type, message.text) else None)
    return page


def _is_problem(kind: str, text: str) -> bool:
    """Script errors and CSP refusals; a 4xx page the test asked for is not one (its status is checked)."""
    return kind in ("error", "warning") and not text.startswith("Failed to load resource")


async def _log_in(page: Page, node: Node, user: User, returnurl: str = "/") -> None:
    await page.goto(f"{node.base}/users/login?returnurl={returnurl}")
    await page.get_by_label("E-mail").fill(str(user.email))
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator(".topbar-menu-links a").first).to_have_text(user.name)


async def test_sign_up_and_land_signed_in(node: Node) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors)
        await page.goto(node.base)
        await page.get_by_role("navigation", name="Account").get_by_role("link", name="sign up").click()
        await expect(page).to_have_title("Sign up - hubbub")
        await page.get_by_label("Display name").fill("Grace H")
        await page.get_by_label("E-mail").fill("grace@example.org")
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_label("Password again").fill("not the same")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.get_by_role("alert")).to_have_text("The two passwords differ")
        await expect(page.get_by_label("Display name")).to_have_value("Grace H")
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_label("Password again").fill(PASSWORD)
        await page.get_by_role("button", name="Create account").click()
        await expect(page).to_have_url(f"{node.base}/")
        await expect(page.locator(".topbar-menu-links a").first).to_have_text("Grace H")
        await expect(page.get_by_role("link", name="Create a room")).to_be_visible()
    users = [u for u in await node.service.accounts.list_users() if u.name == "Grace H"]
    assert len(users) == 1 and users[0].reputation == node.service.settings.new_user_reputation
    assert errors == []


async def test_create_a_room_with_the_form(node: Node) -> None:
    errors: list[str] = []
    dora = await node.user("Dora")
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _log_in(page, node, dora)
        await page.get_by_role("link", name="Create a room").click()
        await page.get_by_label("Name").fill("Lounge <b>&</b>")
        await page.get_by_label("Description").fill("Coffee & chat")
        await page.get_by_label("Tags").fill("coffee, Social")
        await page.get_by_role("radio", name=re.compile("^gallery")).check()
        await page.get_by_role("button", name="Create room").click()
        await expect(page).to_have_url(re.compile(r"/rooms/info/\d+$"))
        await expect(page.locator("h1")).to_have_text("Lounge <b>&</b>")
        await expect(page.locator(".roomcard-xxl .tag")).to_have_text(["coffee", "social"])
        await expect(page.locator(".room-access .badge")).to_have_text("gallery")
        await page.get_by_role("link", name="Rooms", exact=True).click()
        card = page.locator(".room-card", has_text="Lounge")
        await expect(card.locator(".room-description")).to_have_text("Coffee & chat")
        await page.get_by_label("Filter rooms by name, description or tag").fill("nothing like it")
        await expect(card).to_be_hidden()  # filtered as you type
        await expect(page.get_by_role("status")).to_have_text("0 of 1 rooms shown")
        await page.get_by_label("Filter rooms by name, description or tag").press("Enter")
        await expect(page.locator(".room-card")).to_have_count(0)
    rooms = await node.service.rooms.list_rooms()
    assert [(r.name, r.access) for r in rooms] == [("Lounge <b>&</b>", RoomAccess.GALLERY)]
    assert errors == []


async def test_a_private_room_is_refused_to_a_non_member(node: Node) -> None:
    errors: list[str] = []
    owner = await node.user("Olga")
    stranger = await node.user("Sam")
    room = await node.room("Back office", owner=owner, access=RoomAccess.PRIVATE)
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _log_in(page, node, stranger)
        await expect(page.locator(".room-card", has_text="Back office")).to_have_count(0)
        await page.goto(f"{node.base}/rooms/{room}")
        await expect(page.locator("h2")).to_have_text("Private Room")
        await expect(page.locator("#input")).to_have_count(0)
        response = await page.goto(f"{node.base}/rooms/info/{room}")
        assert response is not None and response.status == 404
        response = await page.goto(f"{node.base}/transcript/{room}")
        assert response is not None and response.status == 404
    assert errors == []


async def test_owner_edits_settings_and_manages_people(node: Node) -> None:
    errors: list[str] = []
    owner = await node.user("Olga")
    member = await node.user("Max")
    room = await node.room("Workshop", owner=owner, description="tools", tags="diy")
    await node.service.rooms.join(member.id, room)
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _log_in(page, node, owner, f"/rooms/info/{room}")
        settings = page.get_by_role("region", name="Room settings")
        await settings.get_by_label("Name").fill("Workshop & Lab")
        await settings.get_by_label("Description").fill("tools and <experiments>")
        await settings.get_by_label("Tags").fill("diy science")
        await settings.get_by_role("radio", name=re.compile("^private")).check()
        await settings.get_by_role("button", name="Save settings").click()
        await expect(page.locator("h1")).to_have_text("Workshop & Lab")
        await expect(page.locator(".roomcard-xxl p").first).to_have_text("tools and <experiments>")
        await expect(page.locator(".roomcard-xxl .tag")).to_have_text(["diy", "science"])
        people = page.get_by_role("region", name="People and access")
        await people.get_by_label("Access for Max", exact=True).select_option("read-write")
        await people.get_by_role("button", name="Set access for Max").click()
        await expect(page.get_by_role("status")).to_have_text("The user's access is changed.")
        await people.get_by_role("button", name="Kick Max from the room").click()
        await expect(page.get_by_role("status")).to_have_text("The user was kicked from the room.")
        await page.set_viewport_size({"width": 380, "height": 760})
        width = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert await page.evaluate(width) <= 0, "the owner's page scrolls sideways on a phone"
    stored = await node.service.queries.room_view(None, room)
    assert (stored.room.name, stored.room.access, stored.room.tags) == (
        "Workshop & Lab",
        RoomAccess.PRIVATE,
        ("diy", "science"),
    )
    level = await node.service.context.store.read(lambda tx: tx.access_level(room, member.id))
    kick = await node.service.context.store.read(lambda tx: tx.kick(room, member.id))
    assert level is AccessLevel.READ_WRITE and kick is not None
    assert errors == []


async def test_transcript_days_and_search_from_the_keyboard(node: Node) -> None:
    errors: list[str] = []
    bot = await node.user("Bot")
    room = await node.room("Archive", owner=bot)
    await node.service.messages.post(bot.id, room, "first day: the kettle <broke>")
    node.clock.advance(86_400)
    await node.service.messages.post(bot.id, room, "second day: new kettle")
    async with chromium() as browser:
        page = await _page(browser, errors)
        await page.goto(f"{node.base}/transcript/{room}")
        await expect(page.locator(".message .content")).to_have_text(["second day: new kettle"])
        await page.get_by_role("link", name="previous day").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator(".message .content")).to_have_text(["first day: the kettle <broke>"])
        await page.get_by_role("link", name="next day").click()
        await expect(page.locator(".message .content")).to_have_text(["second day: new kettle"])
        await page.get_by_label("Search this room's messages").focus()
        await page.keyboard.type("KETTLE")
        await page.keyboard.press("Enter")
        results = page.locator(".search-result .content")
        await expect(results).to_have_text(["second day: new kettle", "first day: the kettle <broke>"])
        await results.first.locator("xpath=..").get_by_role("link", name=re.compile(r"\d")).click()
        await expect(page.locator(".message.highlight .content")).to_have_text("second day: new kettle")
    assert errors == []


async def test_pages_carry_the_csp_and_work_under_it(node: Node) -> None:
    errors: list[str] = []
    bot = await node.user("Bot")
    room = await node.room("Sandbox", owner=bot)
    await node.service.messages.post(bot.id, room, "at **noon** `code`")
    async with chromium() as browser:
        page = await _page(browser, errors, width=380)
        for path in (
            "/",
            "/users/login",
            "/users/signup",
            f"/rooms/info/{room}",
            f"/transcript/{room}",
            "/search?q=noon",
        ):
            response = await page.goto(node.base + path)
            assert response is not None and response.status == 200, path
            policy = await response.header_value("content-security-policy")
            assert policy is not None and "script-src 'self'" in policy and "unsafe-inline" not in policy
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways on a phone"
        # hubbub.js ran (module scripts from 'self' are allowed): search words are marked, times are local.
        await page.goto(f"{node.base}/search?q=NOON")
        await expect(page.locator(".search-result .content mark")).to_have_text("noon")
        await expect(page.locator(".search-result .content b")).to_have_count(1)
        await page.goto(f"{node.base}/transcript/{room}")
        await expect(page.locator(".message time.local-time")).to_have_attribute("title", re.compile(r"\d"))
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert errors == []


async def test_screenshots(node: Node, tmp_path: Path) -> None:
    """The main screens, as in the README; written to docs/screenshots/ with HUBBUB_SCREENSHOTS=1."""
    target = SCREENSHOTS if os.environ.get("HUBBUB_SCREENSHOTS") else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    node.clock.value = time.time() - 900  # "active 5 minutes ago" reads better than the fake clock's date
    ada = await node.user("Ada Lovelace")
    grace = await node.user("Grace Hopper")
    linus = await node.user("Linus")
    rooms: dict[str, RoomId] = {}
    for name, description, tags, owner in (
        ("Python", "Snakes, eggs and the occasional descriptor. Be kind, post code.", "python asyncio", ada),
        ("Release planning", "Where 0.4 gets scheduled, and re-scheduled.", "hubbub releases", grace),
        ("Rust", "Borrow checker support group.", "rust", linus),
        ("Random", "Anything goes (within reason).", "offtopic", ada),
    ):
        rooms[name] = await node.room(name, owner=owner, description=description, tags=tags)
    script = [
        (ada, "Python", "Morning! Has anyone tried the new **TaskGroup** error handling?"),
        (grace, "Python", "Yes: exceptions come back as an `ExceptionGroup`, use `except*`"),
        (linus, "Python", "TIL. Is that 3.11+?"),
        (ada, "Python", "3.11 and later, yes"),
        (grace, "Release planning", "Freeze for 0.4 is Friday"),
        (linus, "Rust", "cargo build is done. I made tea in the meantime"),
    ]
    for user, room_name, text in script:
        await node.service.messages.post(user.id, rooms[room_name], text)
        node.clock.advance(97)
    node.clock.value = time.time()
    async with chromium() as browser:
        errors: list[str] = []
        page = await _page(browser, errors)
        await page.goto(f"{node.base}/users/login")
        await page.screenshot(path=str(target / "login.png"))
        await page.goto(f"{node.base}/users/signup")
        await page.screenshot(path=str(target / "signup.png"))
        await _log_in(page, node, ada)
        await page.screenshot(path=str(target / "rooms.png"), full_page=True)
        await page.goto(f"{node.base}/rooms/info/{rooms['Python']}")
        await page.screenshot(path=str(target / "room-info.png"), full_page=True)
        await page.goto(f"{node.base}/transcript/{rooms['Python']}")
        await page.screenshot(path=str(target / "transcript.png"), full_page=True)
        await page.goto(f"{node.base}/search?q=3.11")
        await page.screenshot(path=str(target / "search.png"))
        dark = await _page(browser, errors, dark=True)
        await _log_in(dark, node, grace)
        await dark.screenshot(path=str(target / "rooms-dark.png"), full_page=True)
        phone = await _page(browser, errors, width=390)
        await _log_in(phone, node, linus)
        await phone.screenshot(path=str(target / "rooms-phone.png"))
        assert errors == []
    for name in ("login", "signup", "rooms", "room-info", "transcript", "search", "rooms-dark", "rooms-phone"):
        assert (target / f"{name}.png").stat().st_size > 5_000
