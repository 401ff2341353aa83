"""The sechat form/JSON API over real HTTP: exact status codes, bodies and content types."""

from __future__ import annotations

import json

import aiohttp

from hubbub.core.models import AccessLevel, RoomAccess
from hubbub.core.rules import NO_PERMISSION
from tests.conftest import Browser, Node, NodeFactory

JSON = "application/json"
TEXT = "text/plain"


async def _expect(
    response: aiohttp.ClientResponse, status: int, body: bytes | None = None, content_type: str | None = None
) -> bytes:
    raw = await response.read()
    assert response.status == status, raw
    if body is not None:
        assert raw == body
    if content_type is not None:
        assert response.content_type == content_type
    return raw


async def _post_message(browser: Browser, room: int, text: str) -> int:
    response = await browser.post(f"/chats/{room}/messages/new", {"text": text})
    payload = json.loads(await _expect(response, 200, content_type=JSON))
    return int(payload["id"])


async def test_post_message_answers_id_and_time(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    response = await bot.post(f"/chats/{room}/messages/new", {"text": "hello"})
    payload = json.loads(await _expect(response, 200, content_type=JSON))
    assert payload == {"id": 1, "time": int(node.clock.now())}
    duplicate = await bot.post(f"/chats/{room}/messages/new", {"text": "hello"})
    await _expect(duplicate, 200, b'{"id":null,"time":null}', JSON)


async def test_post_message_refusals(node: Node) -> None:
    bot = await node.signed_in("Bot")
    newbie = await node.signed_in("Newbie", reputation=1)
    room = await node.room()
    private = await node.room("Secret", access=RoomAccess.PRIVATE)
    anonymous = await node.browser()
    cases = [
        (anonymous, f"/chats/{room}/messages/new", {"text": "hi"}, 403, b"You must be logged in to do that"),
        (
            bot,
            "/chats/999/messages/new",
            {"text": "hi"},
            404,
            b"The room does not exist, or you do not have permission",
        ),
        (
            bot,
            f"/chats/{private}/messages/new",
            {"text": "hi"},
            404,
            b"The room does not exist, or you do not have permission",
        ),
        (
            newbie,
            f"/chats/{room}/messages/new",
            {"text": "hi"},
            404,
            b"You need 20 reputation points to talk in this room",
        ),
        (bot, f"/chats/{room}/messages/new", {}, 400, b"The text parameter is required"),
        (bot, f"/chats/{room}/messages/new", {"text": " "}, 400, b"A message cannot be empty"),
        (
            bot,
            f"/chats/{room}/messages/new",
            {"text": "x" * 501},
            400,
            b"This message is too long: 501 characters; the limit for single-line messages is 500",
        ),
        (
            bot,
            f"/chats/{room}/messages/new",
            {"text": "hi", "fkey": "wrong"},
            403,
            b"The fkey parameter is missing or invalid",
        ),
    ]
    for browser, path, form, status, body in cases:
        await _expect(await browser.post(path, form), status, body, TEXT)
    without_fkey = await bot.post(f"/chats/{room}/messages/new", {"text": "hi"}, fkey=False)
    await _expect(without_fkey, 403, b"The fkey parameter is missing or invalid", TEXT)
    assert await node.service.queries.last_event_id() == 0  # nothing refused left a trace


async def test_rate_limit_is_a_plain_409(make_node: NodeFactory) -> None:
    node = await make_node(message_rate_burst=1, message_rate_per_second=1.0)
    bot = await node.signed_in("Bot")
    room = await node.room()
    await _post_message(bot, room, "one")
    refused = await bot.post(f"/chats/{room}/messages/new", {"text": "two"})
    await _expect(refused, 409, b"You can perform this action again in 1 second.", TEXT)
    node.clock.advance(1)
    await _post_message(bot, room, "two")


async def test_edit_and_its_exact_refusals(node: Node) -> None:
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    room = await node.room()
    message = await _post_message(alice, room, "frist")
    await _expect(await alice.post(f"/messages/{message}", {"text": "first"}), 200, b'"ok"', JSON)
    await _expect(
        await bob.post(f"/messages/{message}", {"text": "mine"}), 200, b'"You can only edit your own messages"', JSON
    )
    node.clock.advance(121)
    await _expect(
        await alice.post(f"/messages/{message}", {"text": "late"}), 200, b'"It is too late to edit this message"', JSON
    )
    fresh = await _post_message(alice, room, "delete me")
    await _expect(await alice.post(f"/messages/{fresh}/delete"), 200, b'"ok"', JSON)
    await _expect(
        await alice.post(f"/messages/{fresh}", {"text": "undead"}),
        200,
        b'"This message has already been deleted and cannot be edited"',
        JSON,
    )
    never = await alice.post("/messages/999", {"text": "x"})
    await _expect(never, 302)
    assert never.headers["Location"] == "/"
    await _expect(await alice.post(f"/messages/{message}"), 400, b"The text parameter is required", TEXT)


async def test_delete_and_its_exact_refusals(node: Node) -> None:
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    room = await node.room()
    message = await _post_message(alice, room, "bye")
    await _expect(await bob.post(f"/messages/{message}/delete"), 200, b'"You can only delete your own messages"', JSON)
    await _expect(await alice.post(f"/messages/{message}/delete"), 200, b'"ok"', JSON)
    await _expect(
        await alice.post(f"/messages/{message}/delete"), 200, b'"This message has already been deleted."', JSON
    )
    late = await _post_message(alice, room, "later")
    node.clock.advance(121)
    await _expect(await alice.post(f"/messages/{late}/delete"), 200, b'"It is too late to delete this message"', JSON)
    await _expect(await alice.post("/messages/12345/delete"), 302)


async def test_stars_and_pins(node: Node) -> None:
    owner = await node.signed_in("Owner")
    bob = await node.signed_in("Bob")
    assert owner.user is not None
    room = await node.room(owner=owner.user)
    message = await _post_message(bob, room, "star me")
    await _expect(await bob.post(f"/messages/{message}/star"), 200, b'"You can\'t star your own messages"', JSON)
    await _expect(await owner.post(f"/messages/{message}/star"), 200, b'"ok"', JSON)
    await _expect(await bob.post(f"/messages/{message}/owner-star"), 200, b'"Only room owners can do that"', JSON)
    await _expect(await owner.post(f"/messages/{message}/owner-star"), 200, b'"ok"', JSON)
    stored = await node.service.queries.message(None, message)  # type: ignore[arg-type]
    assert (stored.message.stars, stored.message.owner_stars) == (1, 1)
    await _expect(await owner.post(f"/messages/{message}/unowner-star"), 200, b'"ok"', JSON)
    await owner.post(f"/messages/{message}/owner-star")
    await _expect(await owner.post(f"/messages/{message}/unstar"), 200, b'"ok"', JSON)
    stored = await node.service.queries.message(None, message)  # type: ignore[arg-type]
    assert (stored.message.stars, stored.message.owner_stars) == (0, 0)
    await _expect(await owner.post("/messages/777/star"), 302)


async def test_room_events_lists_recent_messages(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    first = await _post_message(bot, room, "one")
    await _post_message(bot, room, "two")
    await bot.post(f"/messages/{first}", {"text": "uno"})
    anonymous = await node.browser()
    for browser in (bot, anonymous):
        response = await browser.post(f"/chats/{room}/events", {"since": 0, "mode": "Messages", "msgCount": 100})
        payload = json.loads(await _expect(response, 200, content_type=JSON))
        assert set(payload) == {"events", "time", "sync", "ms"}
        assert payload["time"] == await node.service.queries.last_event_id()
        assert [e["content"] for e in payload["events"]] == ["uno", "two"]
        assert payload["events"][0]["message_edits"] == 1 and "message_edits" not in payload["events"][1]
        assert all(e["event_type"] == 1 and e["room_name"] == "Sandbox" for e in payload["events"])
    one = await bot.post(f"/chats/{room}/events", {"mode": "messages", "count": 1})
    assert [e["content"] for e in json.loads(await one.read())["events"]] == ["two"]
    before = await bot.post(f"/chats/{room}/events", {"msgCount": 5, "before": first + 1})
    assert [e["message_id"] for e in json.loads(await before.read())["events"]] == [first]
    await _expect(await bot.post("/chats/999/events", {}), 404, content_type=TEXT)
    await _expect(await bot.post(f"/chats/{room}/events", {"msgCount": "many"}), 400, content_type=TEXT)


async def test_poll_events_is_exclusive_and_keeps_every_asked_room(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    other = await node.room("Other")
    await _post_message(bot, room, "one")
    response = await bot.post("/events", {f"r{room}": 0, f"r{other}": 0, "r999": 0})
    payload = json.loads(await _expect(response, 200, content_type=JSON))
    assert set(payload) == {f"r{room}", f"r{other}", "r999"}
    assert [e["event_type"] for e in payload[f"r{room}"]["e"]] == [3, 1]
    last = payload[f"r{room}"]["t"]
    assert payload[f"r{other}"] == {"t": last, "d": 0}
    again = json.loads(await (await bot.post("/events", {f"r{room}": last})).read())
    assert again == {f"r{room}": {"t": last, "d": 0}}
    await _expect(await bot.post("/events", {f"r{room}": "soon"}), 400, content_type=TEXT)


async def test_a_page_of_other_peoples_pings_does_not_end_a_poll_early(make_node: NodeFactory) -> None:
    node = await make_node(poll_max_events=2)
    alice, reader = await node.signed_in("Alice"), await node.signed_in("Reader")
    others = [await node.signed_in(name) for name in ("Bob", "Carol", "Dave")]
    room = await node.room()
    for browser in (reader, alice, *others):
        await browser.post(f"/chats/{room}/events", {})  # everyone enters, so all are pingable
    start = json.loads(await (await reader.post("/events", {f"r{room}": 0})).read())[f"r{room}"]["t"]
    # Three pings (event 8) for others, then the message and one more: the log holds 8, 8, 8, 1, 1.
    await _post_message(alice, room, "@Bob @Carol @Dave standup?")
    later = await _post_message(alice, room, "anyone?")
    seen: list[int] = []
    cursor = start
    for _ in range(3):  # a client polls until an answer has no events
        part = json.loads(await (await reader.post("/events", {f"r{room}": cursor})).read())[f"r{room}"]
        if not part.get("e"):
            break
        seen += [e["message_id"] for e in part["e"] if e["event_type"] == 1]
        cursor = part["t"]
    assert seen[-1] == later, seen


async def test_ws_auth_returns_a_socket_url_without_query(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    response = await bot.post("/ws-auth", {"roomid": room})
    url = json.loads(await _expect(response, 200, content_type=JSON))["url"]
    prefix = f"ws://127.0.0.1:{node.runtime.ws_port}/events/{room}/"
    assert url.startswith(prefix) and "?" not in url
    token = url.removeprefix(prefix)
    assert bot.user is not None
    tokens = node.service.socket_tokens
    claims = tokens.read(token, room)
    assert claims is not None and (claims.user_id, claims.room_id) == (bot.user.id, room)
    assert tokens.read(token, room + 1) is None
    assert tokens.read(token[:-1] + ("0" if token[-1] != "0" else "1"), room) is None  # signature
    node.clock.advance(node.service.settings.ws_token_ttl_seconds + 1)
    assert tokens.read(token, room) is None
    localhost = await bot.post("/ws-auth", {"roomid": room}, headers={"Host": f"localhost:{node.runtime.http_port}"})
    assert json.loads(await localhost.read())["url"].startswith(f"ws://localhost:{node.runtime.ws_port}/events/")
    await _expect(await (await node.browser()).post("/ws-auth", {"roomid": room}), 403, content_type=TEXT)
    await _expect(await bot.post("/ws-auth", {"roomid": 999}), 404, content_type=TEXT)
    await _expect(await bot.post("/ws-auth", {}), 400, b"The roomid parameter is required", TEXT)


async def test_leave_with_double_slash_and_leave_all(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    await bot.post("/ws-auth", {"roomid": room})
    assert bot.user is not None
    assert await node.service.queries.rooms_of(bot.user.id) == [room]
    response = await bot.session.post(f"{node.base}//chats/leave/{room}", data={"fkey": bot.fkey, "quiet": "true"})
    await _expect(response, 200, b'"ok"', JSON)
    assert await node.service.queries.rooms_of(bot.user.id) == []
    await bot.post("/ws-auth", {"roomid": room})
    await _expect(await bot.post("/chats/leave/all"), 200, b'"ok"', JSON)
    assert await node.service.queries.rooms_of(bot.user.id) == []


async def test_acknowledge(node: Node) -> None:
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    room = await node.room()
    await bob.post(f"/chats/{room}/events", {})
    message = await _post_message(alice, room, "@bob hi")
    assert bob.user is not None
    assert await node.service.queries.unread_count(bob.user.id) == 1
    await _expect(await bob.post("/messages/ack", {"id": message}), 200, b'"ok"', JSON)
    assert await node.service.queries.unread_count(bob.user.id) == 0
    await _expect(await bob.post("/messages/ack", {}), 400, b"The id parameter is required", TEXT)


async def test_move_posts(node: Node) -> None:
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    room = await node.room(owner=owner.user)
    trash = await node.room("Trash", owner=owner.user)
    ids = [await _post_message(owner, room, text) for text in ("a", "b")]
    response = await owner.post(f"/admin/movePosts/{room}", {"ids": ",".join(map(str, ids)), "to": trash})
    await _expect(response, 200, b"2", JSON)
    await _expect(await owner.post(f"/admin/movePosts/{room}", {"ids": "x", "to": trash}), 400, content_type=TEXT)


async def test_pingable_thumbs_and_user_info(node: Node) -> None:
    owner = await node.signed_in("Owner")
    assert owner.user is not None
    room = await node.room(owner=owner.user, description="About <things>", tags="a b")
    await _post_message(owner, room, "hi")
    pingable = json.loads(await _expect(await owner.get(f"/rooms/pingable/{room}"), 200, content_type=JSON))
    assert pingable == [[owner.user.id, "Owner", int(node.clock.now()), int(node.clock.now())]]
    thumbs = json.loads(await _expect(await owner.get(f"/rooms/thumbs/{room}"), 200, content_type=JSON))
    assert thumbs["name"] == "Sandbox" and thumbs["description"] == "About <things>"
    assert thumbs["isFavorite"] is False and thumbs["usage"] is None
    assert ">a</a>" in thumbs["tags"] and ">b</a>" in thumbs["tags"]
    info = await owner.post("/user/info", {"ids": f"{owner.user.id},999", "roomId": room}, fkey=False)
    users = json.loads(await _expect(info, 200, content_type=JSON))["users"]
    assert len(users) == 1
    assert users[0]["id"] == owner.user.id and users[0]["is_owner"] is True and users[0]["is_moderator"] is False
    assert set(users[0]) == {
        "id",
        "name",
        "email_hash",
        "reputation",
        "is_moderator",
        "is_owner",
        "last_post",
        "last_seen",
    }
    await _expect(await owner.get("/rooms/pingable/999"), 404, content_type=TEXT)
    await _expect(await owner.get("/rooms/thumbs/999"), 404, content_type=TEXT)


async def test_message_source_and_html(node: Node) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    message = await _post_message(bot, room, "**bold**")
    await _expect(await bot.get(f"/message/{message}?plain=true"), 200, b"**bold**", TEXT)
    await _expect(await bot.get(f"/message/{message}?plain=false"), 200, b"<b>bold</b>", TEXT)
    await _expect(await bot.get("/message/999"), 404, content_type=TEXT)


async def test_private_room_is_invisible_to_strangers(node: Node) -> None:
    owner = await node.signed_in("Owner")
    stranger = await node.signed_in("Stranger")
    assert owner.user is not None and stranger.user is not None
    room = await node.room("Secret", owner=owner.user, access=RoomAccess.PRIVATE)
    message = await _post_message(owner, room, "secret")
    await _expect(await stranger.post(f"/chats/{room}/events", {}), 404, content_type=TEXT)
    # A poll of nothing but rooms one may not read is refused as Stack Exchange refuses the room.
    await _expect(await stranger.post("/events", {f"r{room}": 0}), 404, NO_PERMISSION.encode(), TEXT)
    public = await node.room("Open")
    poll = json.loads(await (await stranger.post("/events", {f"r{room}": 0, f"r{public}": 0})).read())
    assert "e" not in poll[f"r{room}"] and set(poll) == {f"r{room}", f"r{public}"}
    await _expect(await stranger.get(f"/message/{message}?plain=true"), 404)
    await _expect(await stranger.post("/ws-auth", {"roomid": room}), 404)
    await node.service.rooms.set_access(owner.user.id, room, stranger.user.id, AccessLevel.READ_ONLY)
    await _expect(await stranger.get(f"/message/{message}?plain=true"), 200, b"secret")


async def test_save_room_creates_and_edits(node: Node) -> None:
    bot = await node.signed_in("Bot")
    form = {"name": "Bots", "description": "for bots", "defaultAccess": "read-only", "tags": "bots python"}
    form |= {"host": "chat.stackexchange.com", "noDupeCheck": "true"}  # as the JS client sends it
    created = await bot.post("/rooms/save", form)
    await _expect(created, 302)
    location = created.headers["Location"]
    assert location.startswith("/rooms/info/")
    room_id = int(location.rsplit("/", 1)[1])
    view = await node.service.queries.room_view(None, room_id)  # type: ignore[arg-type]
    assert view.room.access is RoomAccess.GALLERY and view.room.tags == ("bots", "python")
    assert [u.name for u in view.owners] == ["Bot"]
    edited = await bot.post("/rooms/save", {"roomId": room_id, "name": "Robots", "description": "", "tags": ""})
    await _expect(edited, 302)
    other = await node.signed_in("Other")
    refused = await other.post("/rooms/save", {"roomId": room_id, "name": "Mine", "description": "", "tags": ""})
    await _expect(refused, 403, b"Only room owners can do that", TEXT)
    await _expect(await bot.post("/rooms/save", {"name": ""}), 400, content_type=TEXT)


async def test_healthz(node: Node) -> None:
    browser = await node.browser()
    await _expect(await browser.get("/healthz"), 200, b"ok", TEXT)


async def test_parent_id_replies_like_the_prefix(node: Node) -> None:
    """sechat.md §4.2: sochat4j sends ``parentId`` instead of the ``:<id> `` prefix."""
    alice = await node.signed_in("Alice")
    bob = await node.signed_in("Bob")
    assert alice.user is not None
    room = await node.room()
    question = await _post_message(alice, room, "question?")
    answer = await bob.post(f"/chats/{room}/messages/new", {"text": "answer", "parentId": question})
    reply = json.loads(await _expect(answer, 200, content_type=JSON))["id"]
    stored = (await node.service.queries.message(None, reply)).message  # type: ignore[arg-type]
    assert (stored.parent_id, stored.show_parent, stored.content) == (question, True, "@Alice answer")
    assert await node.service.queries.unread_count(alice.user.id) == 1
    plain = await bob.post(f"/chats/{room}/messages/new", {"text": "no parent", "parentId": 0})
    stored = (await node.service.queries.message(None, json.loads(await plain.read())["id"])).message  # type: ignore[arg-type]
    assert (stored.parent_id, stored.content) == (None, "no parent")
    refused = await bob.post(f"/chats/{room}/messages/new", {"text": "x", "parentId": "first"})
    await _expect(refused, 400, content_type=TEXT)


async def test_anonymous_readers_get_an_fkey_the_room_history_and_polls(node: Node) -> None:
    """sechat.md §7: sechat 3.x ``Room.anonymous`` scrapes an fkey, asks for ``time``, then polls."""
    bot = await node.signed_in("Bot")
    room = await node.room()
    message = await _post_message(bot, room, "for everyone")
    visitor = await node.browser()
    fkey = (await visitor.soup("/chats/join/favorite")).find(id="fkey")
    assert fkey is not None and fkey["value"] != ""
    visitor.fkey = str(fkey["value"])
    joined = await visitor.post(f"/chats/{room}/events", {"since": 0, "mode": "Messages", "msgCount": 100})
    time = json.loads(await _expect(joined, 200, content_type=JSON))["time"]
    assert time == await node.service.queries.last_event_id()
    later = await _post_message(bot, room, "and later")
    polled = await visitor.post("/events", {f"r{room}": time})
    part = json.loads(await _expect(polled, 200, content_type=JSON))[f"r{room}"]
    assert [e["message_id"] for e in part["e"]] == [later] and message < later
    assert part["t"] == await node.service.queries.last_event_id()


async def test_star_limit_and_never_assigned_ids(make_node: NodeFactory) -> None:
    """sechat.md §9.5 and §9.2: 20 stars a day; an id no message had is a 302 on every star endpoint."""
    node = await make_node(message_rate_burst=100)
    owner = await node.signed_in("Owner")
    poster = await node.signed_in("Poster")
    assert owner.user is not None
    room = await node.room(owner=owner.user)
    ids = [await _post_message(poster, room, f"star {n}") for n in range(21)]
    for message in ids[:20]:
        await _expect(await owner.post(f"/messages/{message}/star"), 200, b'"ok"', JSON)
    await _expect(
        await owner.post(f"/messages/{ids[20]}/star"), 200, b'"You have used all 20 of your stars for today"', JSON
    )
    for action in ("star", "owner-star", "unowner-star", "unstar"):
        never = await owner.post(f"/messages/999/{action}")
        await _expect(never, 302)
        assert never.headers["Location"] == "/"


async def test_every_post_of_a_signed_in_user_needs_the_fkey(node: Node) -> None:
    """sechat.md §1: every chat POST carries the session's fkey (only /user/info goes without)."""
    owner = await node.signed_in("Owner")
    other = await node.signed_in("Other")
    assert owner.user is not None and other.user is not None
    room = await node.room(owner=owner.user)
    trash = await node.room("Trash", owner=owner.user)
    message = await _post_message(owner, room, "keep me")
    await other.post(f"/chats/{room}/events", {})
    last = await node.service.queries.last_event_id()
    forms: list[tuple[str, dict[str, object]]] = [
        (f"/chats/{room}/events", {}),
        ("/events", {f"r{room}": 0}),
        ("/ws-auth", {"roomid": room}),
        (f"/chats/{room}/messages/new", {"text": "forged"}),
        (f"/messages/{message}", {"text": "forged"}),
        (f"/messages/{message}/delete", {}),
        *((f"/messages/{message}/{action}", {}) for action in ("star", "owner-star", "unowner-star", "unstar")),
        ("/messages/ack", {"id": message}),
        (f"/chats/leave/{room}", {"quiet": "true"}),
        ("/chats/leave/all", {}),
        (f"/admin/movePosts/{room}", {"ids": str(message), "to": trash}),
        ("/rooms/save", {"name": "Forged", "description": "", "tags": ""}),
        (f"/rooms/kickmute/{room}", {"userId": other.user.id}),
        (f"/rooms/setuseraccess/{room}", {"aclUserId": other.user.id, "userAccess": "owner"}),
        ("/conversation/new", {"roomId": room, "firstMessageId": message, "lastMessageId": message, "title": "T"}),
        (f"/conversation/delete/{room}/t", {}),
        ("/realtime/auth", {}),
    ]
    for path, form in forms:
        for fkey in ({"fkey": "wrong"}, {}):
            response = await owner.post(path, {**form, **fkey}, fkey=False)
            await _expect(response, 403, b"The fkey parameter is missing or invalid", TEXT)
    assert await node.service.queries.last_event_id() == last  # nothing refused left a trace
    assert await node.service.queries.rooms_of(owner.user.id) == [room]
