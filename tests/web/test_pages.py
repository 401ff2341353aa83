"""The web UI's pages over HTTP: sign-up, the rooms list, creating rooms, room info, transcripts, search, CSP."""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import replace

import chatexchange.browser
from bs4 import BeautifulSoup

from hubbub.core.markup import TAG_BADGE_STYLE
from hubbub.core.models import Membership, RoomAccess
from hubbub.service.browse import ROOMS_JUDGED, ROOMS_PER_PAGE
from hubbub.service.queries import PRESENT_LISTED
from hubbub.store.base import WriteTx
from hubbub.web.room_pages import BOOKMARKS_LISTED
from tests.conftest import PASSWORD, Node, NodeFactory


async def test_signup_creates_a_signed_in_account(node: Node) -> None:
    browser = await node.browser()
    page = await browser.soup("/users/signup")
    fkey = str(page.select_one("#signup-form input[name=fkey]")["value"])  # type: ignore[index]
    form = {"name": "Ada L", "email": "Ada@Example.org", "password": PASSWORD, "password2": PASSWORD, "fkey": fkey}
    response = await browser.post("/users/signup", form)
    assert response.status == 302 and response.headers["Location"] == "/"
    assert "acct" in {cookie.key for cookie in browser.session.cookie_jar}
    home = await browser.soup("/")
    link = home.select_one(".topbar-menu-links a")
    assert link is not None and link.text == "Ada L"
    user = (await node.service.accounts.list_users())[-1]
    assert (user.name, user.email, user.reputation) == (
        "Ada L",
        "ada@example.org",
        node.service.settings.new_user_reputation,
    )


async def test_signup_refusals_show_the_form_again(node: Node) -> None:
    await node.user("Taken")
    browser = await node.browser()
    good = {"name": "New", "email": "new@example.org", "password": PASSWORD, "password2": PASSWORD}
    cases = [
        ({**good, "fkey": "wrong"}, 403, "The fkey parameter is missing or invalid"),
        ({**good, "password": "short", "password2": "short"}, 400, "A password needs at least 8 characters"),
        ({**good, "password2": "something else"}, 400, "The two passwords differ"),
        ({**good, "name": "  "}, 400, "A display name needs 1 to 64 characters"),
        (
            {**good, "email": "taken@example.org"},
            409,
            "An account with the e-mail address taken@example.org already exists",
        ),
    ]
    for form, status, error in cases:
        response = await browser.post("/users/signup", form)
        assert response.status == status
        assert response.content_type == "text/html"
        html = await response.text()
        assert error in html
    assert [u.name for u in await node.service.accounts.list_users() if u.id > 0] == ["Taken"]


async def test_signup_can_be_closed(make_node: NodeFactory) -> None:
    node = await make_node(allow_signup=False)
    browser = await node.browser()
    assert (await browser.get("/users/signup")).status == 404
    response = await browser.post("/users/signup", {"name": "X", "email": "x@example.org", "password": PASSWORD})
    assert response.status == 404
    assert await node.service.accounts.list_users() == []
    login = await browser.soup("/users/login")
    assert login.find("a", href="/users/signup") is None


async def test_rooms_list_filters_and_shows_who_is_there(node: Node) -> None:
    alice = await node.signed_in("Alice")
    assert alice.user is not None
    python = await node.room("Python", description="snakes & <eggs>", tags="python code")
    await node.room("Cooking", tags="food")
    await node.room("Secret", access=RoomAccess.PRIVATE)
    node.clock.advance(1)
    await alice.post(f"/chats/{python}/messages/new", {"text": "hi"})  # the most recently active
    stranger = await node.browser()
    page = await stranger.soup("/")
    names = [a.text for a in page.select(".room-card h2 a")]
    assert names == ["Python", "Cooking"]
    card = page.select_one(f'.room-card[data-room-id="{python}"]')
    assert card is not None
    assert card.select_one(".room-description").text == "snakes & <eggs>"  # type: ignore[union-attr]
    assert [t.text for t in card.select(".tag")] == ["python", "code"]
    assert card.select_one(f'.room-people a[href^="/users/{alice.user.id}/"]') is not None
    assert "1 message" in card.select_one(".room-meta").text  # type: ignore[union-attr]
    assert [a.text for a in (await stranger.soup("/rooms?q=SNAKES")).select(".room-card h2 a")] == ["Python"]
    assert [a.text for a in (await stranger.soup("/rooms?tag=food")).select(".room-card h2 a")] == ["Cooking"]
    assert (await stranger.soup("/rooms?q=nothing-like-this")).select(".room-card") == []
    assert page.find("a", href="/rooms/new") is None
    mine = await alice.soup("/")
    assert mine.find("a", href="/rooms/new") is not None
    # The JS client's cookie login wants a non-empty fkey input on the chat home page (sechat.md §3.7).
    assert mine.select_one("input[name=fkey]")["value"] == alice.fkey  # type: ignore[index]


async def test_the_rooms_list_goes_page_by_page_through_every_room_most_active_first(node: Node) -> None:
    """More rooms than a page judges: the most active come first, whatever their ids, and the
    pages go on to every room once (the list read the first 1,000 rooms by id and sorted those)."""
    now = int(node.clock.now())
    many = ROOMS_JUDGED + 5

    def fill(tx: WriteTx) -> None:
        for n in range(many):
            # the newest rooms are the most active; every tenth is private, which a visitor never sees
            access = RoomAccess.PRIVATE if n % 10 == 9 else RoomAccess.PUBLIC
            tags = ("odd",) if n % 2 else ()
            room = tx.insert_room(name=f"Room {n}", description="", tags=tags, access=access, created_by=None, now=now)
            tx.update_room(replace(room, last_activity=now + n))

    await node.service.context.store.write(fill)
    visitor = await node.browser()
    first = await visitor.soup("/rooms")
    names = [a.text for a in first.select(".room-card h2 a")]
    assert len(names) == ROOMS_PER_PAGE and names[:2] == [f"Room {many - 1}", f"Room {many - 2}"]
    seen = list(names)
    page = first
    while (older := page.select_one('.pager a[rel="next"]')) is not None:
        page = await visitor.soup(str(older["href"]))
        seen += [a.text for a in page.select(".room-card h2 a")]
    public = [f"Room {n}" for n in reversed(range(many)) if n % 10 != 9]
    assert seen == public  # every public room once, most active first
    assert page.select_one('.pager a[href="/rooms"]') is not None  # back to the first page
    # A filter few rooms pass: a page judges ROOMS_JUDGED rooms at most, then links on.
    tagged = await visitor.soup("/rooms?q=zzz-no-such-room")
    assert tagged.select(".room-card") == []
    further = tagged.select_one('.pager a[rel="next"]')
    assert further is not None and "q=zzz-no-such-room" in str(further["href"])
    rest = await visitor.soup(str(further["href"]))
    assert rest.select(".room-card") == [] and rest.select_one('.pager a[rel="next"]') is None
    assert rest.select_one('.pager a[href="/rooms?q=zzz-no-such-room"]') is not None  # back, with the filter
    odd = await visitor.soup("/rooms?tag=odd")
    assert [a.text for a in odd.select(".room-card h2 a")][:2] == [f"Room {many - 2}", f"Room {many - 4}"]
    # Junk in the place's parameters reads as the first page.
    assert [a.text for a in (await visitor.soup("/rooms?active=x&before=y")).select(".room-card h2 a")] == names


async def test_new_room_form(node: Node) -> None:
    anonymous = await node.browser()
    response = await anonymous.get("/rooms/new")
    assert response.status == 302 and response.headers["Location"] == "/users/login?returnurl=/rooms/new"
    bob = await node.signed_in("Bob")
    page = await bob.soup("/rooms/new")
    form = page.select_one("#room-form")
    assert form is not None and form["action"] == "/rooms/save"
    assert form.select_one("input[name=fkey]")["value"] == bob.fkey  # type: ignore[index]
    assert [i["value"] for i in form.select("input[name=access]")] == ["public", "gallery", "private"]


async def test_room_info_keeps_scraped_parts_and_shows_owner_forms(node: Node) -> None:
    owner = await node.signed_in("Owner")
    member = await node.signed_in("Member")
    assert owner.user is not None
    room = await node.room("Den", owner=owner.user, description="a <b>cosy</b> place", tags="home")
    await member.post(f"/chats/{room}/events", {})
    page = await owner.soup(f"/rooms/info/{room}")
    assert page.select("h1")[0].text == "Den"
    assert page.select(".roomcard-xxl p")[0].text == "a <b>cosy</b> place"
    assert [t.text for t in page.select(".roomcard-xxl .tag")] == ["home"]
    # ChatExchange's own reading of the page: owners' names are their cards' link texts, as they are.
    scraper = chatexchange.browser.Browser()
    scraper.get_soup = lambda url, *args, **kwargs: page
    info = scraper.get_room_info(room)
    assert (info["name"], info["owner_user_ids"], info["owner_user_names"]) == ("Den", [owner.user.id], ["Owner"])
    settings = page.select_one("#room-settings form")
    assert settings is not None and settings.select_one("input[name=roomId]")["value"] == str(room)  # type: ignore[index]
    assert page.select_one(f'#room-access form[action="/rooms/kickmute/{room}"]') is not None
    assert page.select_one(f'#room-access form[action="/rooms/setuseraccess/{room}"]') is not None
    other = await member.soup(f"/rooms/info/{room}")
    assert other.select_one("#room-settings") is None and other.select_one("#room-access") is None


async def test_room_pages_list_a_page_of_bookmarks_and_people_and_say_how_many_more(node: Node) -> None:
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    owner_id = owner.user.id
    room = await node.room("Den", owner=owner.user)
    posted = (await node.service.messages.post(owner_id, room, "worth keeping")).message
    assert posted is not None
    now = int(node.clock.now())

    def fill(tx: WriteTx) -> None:
        for n in range(BOOKMARKS_LISTED + 1):
            tx.insert_conversation(
                room_id=room,
                slug=f"b-{n}",
                title=f"Bookmark {n}",
                first_message_id=posted.id,
                last_message_id=posted.id,
                created_by=owner_id,
                now=now,
            )
        for n in range(PRESENT_LISTED + 2):
            user = tx.insert_user(
                name=f"Guest {n}", email=None, password_hash="", reputation=1, is_moderator=False, now=now
            )
            tx.set_membership(Membership(room_id=room, user_id=user.id, present=True, joined_at=now, last_seen=now))

    await node.service.context.store.write(fill)
    info = await owner.soup(f"/rooms/info/{room}")
    titles = [a.text for a in info.select("ul.conversations a")]
    assert len(titles) == BOOKMARKS_LISTED and titles[0] == f"Bookmark {BOOKMARKS_LISTED}"
    older = info.select_one('a[rel="next"]')
    assert older is not None
    assert [a.text for a in (await owner.soup(str(older["href"]))).select("ul.conversations a")] == ["Bookmark 0"]
    present = PRESENT_LISTED + 2 + 1  # the guests and the owner, who posted
    assert info.select_one(".room-user-count-xxl").text == str(present)  # type: ignore[union-attr]
    assert len(info.select("#room-usercards .usercard")) == PRESENT_LISTED
    assert info.select_one(".more-present").text.startswith(f"and {present - PRESENT_LISTED} more")  # type: ignore[union-attr]
    chat = await owner.soup(f"/rooms/{room}")
    assert len(chat.select("#people-list li")) == PRESENT_LISTED
    assert chat.select_one(".more-present").text == f"and {present - PRESENT_LISTED} more"  # type: ignore[union-attr]


async def test_transcript_by_day(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    await bot.post(f"/chats/{room}/messages/new", {"text": "yesterday's news"})
    node.clock.advance(86_400)
    await bot.post(f"/chats/{room}/messages/new", {"text": "today's <news>"})
    today = datetime.datetime.fromtimestamp(node.clock.now(), tz=datetime.UTC).date()
    yesterday = today - datetime.timedelta(days=1)
    page = await bot.soup(f"/transcript/{room}")
    assert [c.text for c in page.select(".message .content")] == ["today's <news>"]
    nav = page.select_one(".day-nav")
    assert nav is not None
    previous = f"/transcript/{room}/{yesterday.year}/{yesterday.month}/{yesterday.day}"
    assert nav.select_one("a[rel=prev]")["href"] == previous  # type: ignore[index]
    assert nav.select_one("a[rel=next]") is None
    old = await bot.soup(previous)
    assert [c.text for c in old.select(".message .content")] == ["yesterday's news"]
    assert (
        old.select_one(".day-nav a[rel=next]")["href"] == f"/transcript/{room}/{today.year}/{today.month}/{today.day}"
    )  # type: ignore[index]
    empty = await bot.soup(f"/transcript/{room}/2001/2/3")
    assert empty.select(".message") == [] and empty.select_one(".empty") is not None
    assert (
        empty.select_one(".empty a.latest-day")["href"] == f"/transcript/{room}/{today.year}/{today.month}/{today.day}"
    )  # type: ignore[index]
    assert (await bot.get(f"/transcript/{room}/2001/2/30")).status == 404
    assert (await bot.get("/transcript/999")).status == 404
    jump = await bot.get(f"/transcript/{room}?m=2")
    assert jump.status == 302 and jump.headers["Location"] == "/transcript/message/2#2"


async def test_transcript_of_a_private_room_is_refused(node: Node) -> None:
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    room = await node.room("Secret", owner=owner.user, access=RoomAccess.PRIVATE)
    await owner.post(f"/chats/{room}/messages/new", {"text": "hush"})
    stranger = await node.signed_in("Stranger")
    assert (await stranger.get(f"/transcript/{room}")).status == 404
    assert (await stranger.get(f"/search?room={room}&q=hush")).status == 404
    assert (await stranger.soup("/search?q=hush")).select(".search-result") == []
    assert len((await owner.soup("/search?q=hush")).select(".search-result")) == 1


async def test_search_is_literal_and_paginated(make_node: NodeFactory) -> None:
    node = await make_node(duplicate_window_seconds=0)
    bot = await node.signed_in("Bot")
    room = await node.room("Main")
    other = await node.room("Other")
    for index in range(30):
        await bot.post(f"/chats/{room}/messages/new", {"text": f"needle {index}"})
    await bot.post(f"/chats/{room}/messages/new", {"text": "100% done"})
    await bot.post(f"/chats/{room}/messages/new", {"text": "snake_case"})
    await bot.post(f"/chats/{other}/messages/new", {"text": "needle elsewhere"})
    first = await bot.soup(f"/search?q=NEEDLE&room={room}")
    results = first.select(".search-result .content")
    assert len(results) == 25 and results[0].text == "needle 29"
    older = first.select_one(".pager a[rel=next]")
    assert older is not None and str(older["href"]).startswith(f"/search?q=NEEDLE&room={room}&before=")
    second = await bot.soup(str(older["href"]))
    assert [c.text for c in second.select(".search-result .content")][-1] == "needle 0"
    assert second.select_one(".pager a[rel=next]") is None
    everywhere = await bot.soup("/search?q=needle")
    older = everywhere.select_one(".pager a[rel=next]")
    assert older is not None
    everywhere = await bot.soup(str(older["href"]))
    assert [c.text for c in everywhere.select(".search-result .content")][-1] == "needle 0"
    assert len(everywhere.select(".search-result")) == 31 - 25
    assert (await bot.soup("/search?q=needle")).select(".search-result .content")[0].text == "needle elsewhere"
    assert [c.text for c in (await bot.soup("/search?q=%25")).select(".search-result .content")] == ["100% done"]
    assert [c.text for c in (await bot.soup("/search?q=e_c")).select(".search-result .content")] == ["snake_case"]
    blank = await bot.soup("/search")
    assert blank.select(".search-result") == [] and blank.select_one("#search-q") is not None
    assert (await bot.get("/search?room=999&q=x")).status == 404


async def test_html_pages_carry_a_content_security_policy(node: Node) -> None:
    browser = await node.browser()
    for path in ("/", "/users/login", "/users/signup", "/rooms/999"):
        response = await browser.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        # The one inline style allowed is the tag badge's, by its hash.
        badge = base64.b64encode(hashlib.sha256(TAG_BADGE_STYLE.encode()).digest()).decode()
        assert f"style-src 'self' 'unsafe-hashes' 'sha256-{badge}';" in policy
        assert f"ws://127.0.0.1:{node.runtime.ws_port}" in policy
    health = await browser.get("/healthz")
    assert "Content-Security-Policy" not in health.headers
    assert health.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_policy_names_a_configured_public_socket_url(make_node: NodeFactory) -> None:
    node = await make_node(ws_public_url="wss://chat.example.org/socket/")
    browser = await node.browser()
    policy = (await browser.get("/")).headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://chat.example.org;" in policy
    script = await browser.get("/static/hubbub.js")
    assert script.content_type.endswith("javascript") and "Content-Security-Policy" not in script.headers


async def test_a_profile_lists_only_rooms_the_viewer_may_read(node: Node) -> None:
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    secret = await node.room("Secret Plans", owner=owner.user, access=RoomAccess.PRIVATE)
    public = await node.room("Lobby")
    await owner.post(f"/chats/{secret}/messages/new", {"text": "hush"})
    await owner.post(f"/chats/{public}/messages/new", {"text": "hello"})
    stranger = await node.signed_in("Stranger")
    for viewer in (stranger, await node.browser()):
        page = await viewer.soup(f"/users/{owner.user.id}")
        assert [a.text for a in page.select(".profile li a")] == ["Lobby"]
        assert "Secret Plans" not in str(page)
    page = await owner.soup(f"/users/{owner.user.id}")
    assert sorted(a.text for a in page.select(".profile li a")) == ["Lobby", "Secret Plans"]


async def test_login_answers_what_each_client_checks(node: Node) -> None:
    """sechat.md §3.8: the login pages as ChatExchange, sechat 1.x and 3.x and sochat4j read them."""
    user = await node.user("Bot Name")
    assert user.email is not None
    browser = await node.browser()
    login = await browser.soup("/users/login")
    assert login.head is not None and login.head.title is not None
    assert "Human verification" not in login.head.title.text
    first_fkey = login.select_one("[name=fkey]")
    form = login.find(id="login-form")
    assert first_fkey is not None and form is not None and first_fkey in form.select("[name=fkey]")
    assert str(first_fkey["value"]) != "" and login.select(".my-profile") == []

    track = "/users/login-or-signup/validation/track"
    good = {"email": user.email, "password": PASSWORD, "fkey": str(first_fkey["value"])}
    response = await browser.post(track, {**good, "isLogin": "true", "ssrc": "head"})
    assert (response.status, await response.text()) == (200, "Login-OK")
    response = await browser.post(track, {**good, "password": "wrong password"})
    assert (response.status, await response.text()) == (200, "Login-Failed")

    refused = await browser.post("/users/login", {**good, "password": "wrong password"})
    assert refused.status == 200 and "acct" not in refused.cookies
    assert BeautifulSoup(await refused.text(), "html.parser").find(id="login-form") is not None

    form_v3 = {**good, "ssrc": "login", "oauth_version": "", "oauth_server": ""}
    response = await browser.post("/users/login", form_v3)
    assert response.status == 302 and response.headers["Location"] == "/"
    assert {"acct", "prov"} <= set(response.cookies)
    for name in ("acct", "prov"):  # plain HTTP on localhost: a Secure or Domain cookie would not come back
        assert (response.cookies[name]["path"], response.cookies[name]["secure"]) == ("/", "")
        assert response.cookies[name]["domain"] == ""
    universal = await browser.post("/users/login/universal/request", fkey=False)
    assert universal.status == 200

    for method in ("GET", "POST"):  # the login's 302 target; got may re-POST to it
        home = await browser.session.request(method, node.base + "/", allow_redirects=False)
        assert home.status == 200
        assert {"chatusr", "sechatusr"} <= set(home.cookies)  # sechat 3.x wants one of them on this response
        page = BeautifulSoup(await home.text(), "html.parser")
        link = page.select(".topbar-menu-links a")[0]
        assert (link["href"], link.text) == (f"/users/{user.id}/bot-name", "Bot Name")
        assert page.select_one("input[name=fkey]:not([value=''])") is not None  # JS cookie login
    assert (await browser.soup("/users/login")).select(".my-profile") != []  # ChatExchange cookie login

    favorite = await browser.soup("/chats/join/favorite")
    by_id = favorite.find(id="fkey")
    content = favorite.find(id="content")
    assert by_id is not None and content is not None and content.form is not None
    assert by_id is favorite.find("input", {"name": "fkey"}) is content.form.find("input", {"name": "fkey"})
    assert by_id["value"] != ""


async def test_logout_ends_the_session(node: Node) -> None:
    """sechat.md §4.2: the JS client scrapes the fkey from GET /users/logout and posts it back."""
    bot = await node.signed_in("Bot")
    room = await node.room()
    page = await bot.soup("/users/logout")
    fkey = page.find("input", {"name": "fkey"})
    assert fkey is not None and fkey["value"] == bot.fkey
    refused = await bot.post("/users/logout", {"fkey": "wrong"})
    assert refused.status == 403
    response = await bot.post("/users/logout", {"fkey": str(fkey["value"])})
    assert response.status == 302 and response.headers["Location"] == "/"
    assert all(response.cookies[name].value == "" for name in ("acct", "prov", "chatusr", "sechatusr"))
    posted = await bot.session.post(
        f"{node.base}/chats/{room}/messages/new", data={"text": "hi", "fkey": bot.fkey}, allow_redirects=False
    )
    assert (posted.status, await posted.text()) == (403, "You must be logged in to do that")


async def test_room_pages_tell_bots_whether_they_may_talk(node: Node) -> None:
    """sechat.md §3.8: textarea#input only for who may post; private rooms say so; unknown rooms are 404."""
    owner = await node.signed_in("Owner")
    newbie = await node.signed_in("Newbie", reputation=1)
    anonymous = await node.browser()
    assert owner.user is not None
    room = await node.room()
    secret = await node.room("Secret", owner=owner.user, access=RoomAccess.PRIVATE)
    for browser, path, status, may_talk in [
        (owner, f"/rooms/{room}", 200, True),
        (owner, f"/rooms/{secret}", 200, True),
        (newbie, f"/rooms/{room}", 200, False),
        (anonymous, f"/rooms/{room}", 200, False),
    ]:
        response = await browser.get(path)
        html = await response.text()
        assert response.status == status
        assert ('<textarea id="input">' in html) is may_talk, (path, may_talk)
        assert BeautifulSoup(html, "html.parser").find("input", {"name": "fkey"}) is not None
    for browser in (newbie, anonymous):
        response = await browser.get(f"/rooms/{secret}")
        assert response.status == 200
        page = BeautifulSoup(await response.text(), "html.parser")
        assert [h2.text.strip() for h2 in page.find_all("h2")] == ["Private Room"]
        assert 'id="input"' not in str(page) and "Secret" not in page.text
    assert (await owner.get("/rooms/999")).status == 404


async def test_profiles_room_cards_and_transcripts_keep_what_the_js_client_scrapes(node: Node) -> None:
    """sechat.md §4.1: the parts of /users, /rooms/info and /transcript/message that JS and CE read."""
    mod = await node.signed_in("Mod Person", moderator=True)
    bot = await node.signed_in("Bot")
    assert mod.user is not None and bot.user is not None
    room = await node.room("Den")
    await bot.post(f"/chats/{room}/messages/new", {"text": "first"})
    response = await mod.post(f"/chats/{room}/messages/new", {"text": "second"})
    message = int((await response.json())["id"])
    node.clock.advance(300)

    profile = await bot.soup(f"/users/{mod.user.id}")
    assert profile.select("h1")[0].text == "Mod Person"
    assert "\u2666" in profile.select(".user-status")[0].text
    assert profile.select(".reputation-score")[0]["title"] == str(mod.user.reputation)
    assert [int(profile.select(s)[0].text) for s in (".user-message-count-xxl", ".user-room-count-xxl")] == [1, 1]
    # ChatExchange reads the value cells by position: [1] last message, [2] last seen.
    keys, values = profile.select(".user-keycell"), profile.select(".user-valuecell")
    pairs = [(key.text, value.text) for key, value in zip(keys, values, strict=True)]
    assert pairs == [("about", ""), ("last message", "5m ago"), ("last seen", "5m ago"), ("parent user", "n/a")]
    assert "\u2666" not in (await mod.soup(f"/users/{bot.user.id}")).select(".user-status")[0].text

    info = await bot.soup(f"/rooms/info/{room}")
    assert [int(info.select(s)[0].text) for s in (".room-message-count-xxl", ".room-user-count-xxl")] == [2, 2]
    cards = {
        str(card.select_one('.user-header a[href*="/users/"]')["href"]): card  # type: ignore[index]
        for card in info.select("#room-usercards .usercard")
    }
    mod_card, bot_card = cards[f"/users/{mod.user.id}/mod-person"], cards[f"/users/{bot.user.id}/bot"]
    assert str(mod_card.select_one(".user-header")["title"]).removesuffix(" \u2666") == "Mod Person"  # type: ignore[index]
    assert mod_card.select(".user-header .moderator") != [] and bot_card.select(".user-header .moderator") == []
    assert bot_card.select_one(".user-message-info") is not None

    transcript = await bot.soup(f"/transcript/message/{message}")
    [highlight] = transcript.select(".message.highlight")
    assert highlight["id"] == f"message-{message}"
    monologue = highlight.find_parent(class_="monologue")
    assert monologue is not None and str(monologue["class"][-1]).endswith(str(mod.user.id))
    room_link = transcript.select(".room-name a")[-1]
    assert (str(room_link["href"]).split("/")[-2], room_link.text) == (str(room), "Den")


async def test_a_server_without_accounts_says_how_to_create_the_first(node: Node) -> None:
    visitor = await node.browser()
    home = await visitor.soup("/")
    notice = home.select_one("#first-run")
    assert notice is not None
    assert "setup link" in notice.text and "hubbub users create" in notice.text and "--moderator" in notice.text
    await node.user("Someone")
    assert (await visitor.soup("/")).select_one("#first-run") is None


async def test_the_setup_link_creates_a_signed_in_administrator_once(node: Node) -> None:
    token = await node.service.first_run.issue_token()
    assert token is not None
    visitor = await node.browser()
    page = await visitor.soup(f"/setup/{token}")
    form = page.select_one("#setup-form")
    assert form is not None and form["action"] == f"/setup/{token}"
    fkey = str(form.select_one("input[name=fkey]")["value"])  # type: ignore[index]
    fields = {"name": "The Admin", "email": "admin@example.org", "password": PASSWORD, "fkey": fkey}

    refused = await visitor.post(f"/setup/{token}", {**fields, "password2": "something else"}, fkey=False)
    assert refused.status == 400 and "The two passwords differ" in await refused.text()
    wrong_fkey = await visitor.post(f"/setup/{token}", {**fields, "fkey": "wrong"}, fkey=False)
    assert wrong_fkey.status == 403
    assert await node.service.accounts.list_users() == []

    created = await visitor.post(f"/setup/{token}", {**fields, "password2": PASSWORD}, fkey=False)
    assert (created.status, created.headers["Location"]) == (302, "/")
    [admin] = await node.service.accounts.list_users()
    assert (admin.name, admin.is_moderator) == ("The Admin", True)
    home = await visitor.soup("/")
    assert home.select_one("#first-run") is None
    assert home.select_one('a[href="/rooms/new"]') is not None  # signed in

    for again in (await visitor.get(f"/setup/{token}"), await visitor.post(f"/setup/{token}", fields, fkey=False)):
        assert again.status == 404 and "This setup link is not valid" in await again.text()
    assert len(await node.service.accounts.list_users()) == 1
    assert (await visitor.get("/setup/made-up")).status == 404


async def test_changing_ones_password_from_the_account_page(node: Node) -> None:
    member = await node.signed_in("Member")
    elsewhere = await node.browser()
    assert member.user is not None and member.user.email is not None
    await elsewhere.login(member.user.email)
    assert (await member.soup(f"/users/{member.user.id}")).select_one('a[href="/users/password"]') is not None
    page = await member.soup("/users/password")
    form = page.select_one("#password-form")
    assert form is not None and [i["name"] for i in form.select("input")] == [
        "fkey",
        "current",
        "password",
        "password2",
    ]
    new = "a brand new secret"
    response = await member.post("/users/password", {"current": PASSWORD, "password": new, "password2": new})
    assert (response.status, response.headers["Location"]) == (302, "/users/password?done=changed")
    done = await member.soup("/users/password?done=changed")
    notice = done.select_one(".notice")
    assert notice is not None and "Every other session of yours has ended" in notice.text
    assert (await elsewhere.get("/users/password")).status == 302  # that session is logged out
    again = await node.browser()
    await again.login(member.user.email, new)


async def test_password_change_refusals_show_the_form_again_and_change_nothing(node: Node) -> None:
    member = await node.signed_in("Member")
    assert member.user is not None and member.user.email is not None
    good = {"current": PASSWORD, "password": "a brand new secret", "password2": "a brand new secret"}
    cases = [
        ({**good, "fkey": "wrong"}, 403, "The fkey parameter is missing or invalid"),
        ({**good, "current": "not it at all"}, 403, "The current password is incorrect"),
        ({**good, "password": "short", "password2": "short"}, 400, "A password needs at least 8 characters"),
        ({**good, "password2": "something else"}, 400, "The two new passwords differ"),
    ]
    for form, status, error in cases:
        response = await member.post("/users/password", form)
        page = BeautifulSoup(await response.text(), "html.parser")
        shown = page.select_one("#password-form .error")
        assert (response.status, shown.text if shown else None) == (status, error), form
    anonymous = await node.browser()
    assert (await anonymous.get("/users/password")).headers["Location"] == "/users/login?returnurl=/users/password"
    assert (await anonymous.post("/users/password", good)).status == 302
    still = await node.browser()
    await still.login(member.user.email)  # the old password still works
