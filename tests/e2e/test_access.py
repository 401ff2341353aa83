"""Access changes reach open sockets and socket URLs at once, on both ports (issue 8, items 4 and 5).

Removing a member, kicking, suspending, turning a room private, logging out and changing a
password re-filter or close the sockets they concern and revoke the socket URLs handed out
before; a socket URL opens one socket, once; a member who may no longer read a room is not
pingable there, live or in ``?l=`` replays. Everything is driven over HTTP and real
websockets against a running node. That a socket *stopped* carrying a room is shown with a
marker: a message posted afterwards in a room the user still reads. Frames arrive in log
order, so anything of the lost room would have come before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hubbub.core.models import RoomAccess
from hubbub.core.rules import NO_PERMISSION
from hubbub.fanout.connection import CLOSE_FORBIDDEN
from tests.conftest import Browser, Node, NodeFactory
from tests.e2e.test_realtime_live import MARK, feed_url, publisher_for, subscribed, wire
from tests.fakes import TIMEOUT, eventually

Events = dict[int, list[dict[str, Any]]]


@pytest.fixture(params=["gateway", "http"])
def port(request: pytest.FixtureRequest) -> str:
    """Which port sockets are opened on: the picows gateway, or aiohttp's endpoint on the HTTP port."""
    return str(request.param)


def _on(node: Node, url: str, port: str) -> str:
    if port == "gateway":
        return url
    return url.replace(f":{node.runtime.ws_port}/", f":{node.runtime.http_port}/")


async def _socket_url(browser: Browser, room: int) -> str:
    response = await browser.post("/ws-auth", {"roomid": room})
    assert response.status == 200, await response.text()
    return str((await response.json())["url"])


async def _post(browser: Browser, room: int, text: str) -> int:
    response = await browser.post(f"/chats/{room}/messages/new", {"text": text})
    assert response.status == 200, await response.text()
    return int((await response.json())["id"])


async def _ok(response: aiohttp.ClientResponse) -> None:
    assert response.status in (200, 302), (response.status, await response.text())


async def _next_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.TEXT, message
    frame = json.loads(message.data)
    assert isinstance(frame, dict)
    return frame


async def _until_marker(ws: aiohttp.ClientWebSocketResponse, marker: int) -> Events:
    """The events of every frame up to the one carrying message ``marker``, by room."""
    seen: Events = {}
    while True:
        for key, part in (await _next_frame(ws)).items():
            seen.setdefault(int(key[1:]), []).extend(part.get("e", []))
        if any(e["event_type"] == 1 and e.get("message_id") == marker for events in seen.values() for e in events):
            return seen


def _messages(events: Events, room: int) -> list[int]:
    return [e["message_id"] for e in events.get(room, []) if e["event_type"] == 1]


async def _closed(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    """Read until the server closes the socket (frames sent before the close are skipped)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.CLOSE:
                return ws.close_code, str(message.extra)
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return ws.close_code, ""


async def _refused(browser: Browser, url: str) -> int:
    """The HTTP status a refused upgrade answered."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await browser.session.ws_connect(url)
    return refused.value.status


async def _hub_caught_up(node: Node) -> None:
    """The gateway port answers upgrades before the store can be asked, from what its hub has
    delivered: wait until that includes everything committed (the store decides after the upgrade)."""
    last = await node.service.queries.last_event_id()
    assert node.runtime.hub is not None
    hub = node.runtime.hub
    await eventually(lambda: hub.last_event_id >= last)


@contextlib.asynccontextmanager
async def _private_room_with(node: Node, owner: Browser, member: Browser) -> AsyncIterator[tuple[int, int]]:
    """A private room the member may talk in and is in, and a public lobby both are in (for markers)."""
    assert owner.user is not None and member.user is not None
    room = await node.room("Secret", owner=owner.user, access=RoomAccess.PRIVATE)
    lobby = await node.room("Lobby")
    grant = {"aclUserId": member.user.id, "userAccess": "read-write"}
    await _ok(await owner.post(f"/rooms/setuseraccess/{room}", grant))
    for browser in (owner, member):
        await _ok(await browser.post(f"/chats/{lobby}/events", {}))
    await _ok(await member.post(f"/chats/{room}/events", {}))
    yield room, lobby


# --- item 4: removal, kicks, a room turned private, suspension ----------------------------------


async def test_a_removed_member_stops_getting_the_room_and_their_old_url_is_refused(node: Node, port: str) -> None:
    owner, member = await node.signed_in("Owner"), await node.signed_in("Member")
    assert member.user is not None
    async with _private_room_with(node, owner, member) as (room, lobby):
        live_url, spare_url = await _socket_url(member, room), await _socket_url(member, room)
        async with member.session.ws_connect(_on(node, live_url, port)) as ws:
            before = await _post(owner, room, "still a member")
            assert _messages(await _until_marker(ws, before), room) == [before]
            removal = {"aclUserId": member.user.id, "userAccess": "remove"}
            await _ok(await owner.post(f"/rooms/setuseraccess/{room}", removal))
            secret = await _post(owner, room, "after the removal")
            marker = await _post(owner, lobby, "marker")
            seen = await _until_marker(ws, marker)
            assert [e["event_type"] for e in seen[room]] == [15, 4]  # told, then nothing more of the room
            assert secret not in _messages(seen, room)
        await _hub_caught_up(node)
        assert await _refused(member, _on(node, spare_url, port)) == 403
        # A URL for the room cannot be had any more, and the room's log is closed to the member.
        assert (await member.post("/ws-auth", {"roomid": room})).status == 404


async def test_a_poll_after_removal_returns_nothing_of_the_room(node: Node) -> None:
    owner, member = await node.signed_in("Owner"), await node.signed_in("Member")
    assert member.user is not None
    async with _private_room_with(node, owner, member) as (room, lobby):
        polled = await member.post("/events", {f"r{room}": 0})
        cursor = (await polled.json())[f"r{room}"]["t"]
        await _ok(
            await owner.post(f"/rooms/setuseraccess/{room}", {"aclUserId": member.user.id, "userAccess": "remove"})
        )
        await _post(owner, room, "after the removal")
        refused = await member.post("/events", {f"r{room}": cursor})
        assert (refused.status, await refused.text()) == (404, NO_PERMISSION)
        both = await (await member.post("/events", {f"r{room}": cursor, f"r{lobby}": cursor})).json()
        assert "e" not in both[f"r{room}"]


async def test_a_socket_url_opens_one_socket_once(node: Node, port: str) -> None:
    bot = await node.signed_in("Bot")
    room = await node.room()
    url = await _socket_url(bot, room)
    async with bot.session.ws_connect(_on(node, url, port)):
        assert await _refused(bot, _on(node, url, port)) == 403
    assert await _refused(bot, _on(node, url, port)) == 403
    assert await _refused(bot, _on(node, url, "http" if port == "gateway" else "gateway")) == 403


async def test_a_socket_url_opened_on_one_node_is_refused_on_another(make_node: NodeFactory, tmp_path: Path) -> None:
    """Two nodes on one database: the store, not a node's memory, decides that a URL opened once."""
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = await make_node(database=database), await make_node(database=database)
    bot = await first.signed_in("Bot")
    assert bot.user is not None and bot.user.email is not None
    on_second = await second.browser()
    await on_second.login(bot.user.email)  # one database: the session is good on either node
    room = await first.room()
    for port in ("gateway", "http"):
        url = await _socket_url(bot, room)
        elsewhere = url.replace(f":{first.runtime.ws_port}/", f":{second.runtime.ws_port}/")
        async with on_second.session.ws_connect(elsewhere) as ws:
            message = await _post(on_second, room, f"opened on the second node ({port})")  # on its bus
            assert _messages(await _until_marker(ws, message), room) == [message]
        if port == "http":  # the HTTP port asks the store before it upgrades
            assert await _refused(bot, _on(first, url, "http")) == 403
        else:  # the gateway port must answer the upgrade first: it closes the socket at once
            async with bot.session.ws_connect(url) as ws:
                code, reason = await _closed(ws)
            assert code == CLOSE_FORBIDDEN and "already used" in reason


async def test_a_kicked_user_stops_getting_the_room_and_their_old_url_is_refused(node: Node, port: str) -> None:
    owner, member = await node.signed_in("Owner"), await node.signed_in("Member")
    assert owner.user is not None and member.user is not None
    room, lobby = await node.room("Den", owner=owner.user), await node.room("Lobby")
    for browser in (owner, member):
        await _ok(await browser.post(f"/chats/{lobby}/events", {}))
    live_url, spare_url = await _socket_url(member, room), await _socket_url(member, room)
    async with member.session.ws_connect(_on(node, live_url, port)) as ws:
        await _ok(await owner.post(f"/rooms/kickmute/{room}", {"userId": member.user.id}))
        after = await _post(owner, room, "after the kick")
        marker = await _post(owner, lobby, "marker")
        seen = await _until_marker(ws, marker)
        assert [e["event_type"] for e in seen[room]] == [4, 15] and after not in _messages(seen, room)
    await _hub_caught_up(node)
    assert await _refused(member, _on(node, spare_url, port)) == 403


async def test_a_room_turned_private_drops_readers_without_a_grant(node: Node, port: str) -> None:
    owner, member = await node.signed_in("Owner"), await node.signed_in("Member")
    assert owner.user is not None
    room, lobby = await node.room("Den", owner=owner.user), await node.room("Lobby")
    for browser in (owner, member):
        await _ok(await browser.post(f"/chats/{lobby}/events", {}))
    live_url, spare_url = await _socket_url(member, room), await _socket_url(member, room)
    async with member.session.ws_connect(_on(node, live_url, port)) as ws:
        form = {"roomId": room, "name": "Den", "description": "", "tags": "", "access": "private"}
        await _ok(await owner.post("/rooms/save", form))
        after = await _post(owner, room, "private now")
        marker = await _post(owner, lobby, "marker")
        seen = await _until_marker(ws, marker)
        assert after not in _messages(seen, room) and seen[room][-1]["event_type"] == 4
    await _hub_caught_up(node)
    assert await _refused(member, _on(node, spare_url, port)) == 403


async def test_a_suspended_user_leaves_private_rooms_and_gets_event_29(node: Node, port: str) -> None:
    moderator = await node.signed_in("Moderator", moderator=True)
    owner, member = await node.signed_in("Owner"), await node.signed_in("Member")
    assert member.user is not None and moderator.user is not None
    async with _private_room_with(node, owner, member) as (room, lobby):
        live_url, spare_url = await _socket_url(member, room), await _socket_url(member, room)
        async with member.session.ws_connect(_on(node, live_url, port)) as ws:
            await _ok(await moderator.post(f"/users/suspend/{member.user.id}", {"hours": 2}))
            secret = await _post(owner, room, "while suspended")
            marker = await _post(owner, lobby, "marker")
            seen = await _until_marker(ws, marker)
        [suspension] = [e for e in seen[lobby] if e["event_type"] == 29]
        until = int(node.clock.now()) + 7200
        assert (suspension["target_user_id"], suspension["user_id"]) == (member.user.id, moderator.user.id)
        assert suspension["content"] == f'7200 {{"old":null,"new":{until}}}'
        assert [e["event_type"] for e in seen[room]] == [29, 4] and secret not in _messages(seen, room)
        assert _messages(seen, lobby) == [marker]  # public rooms stay readable
        await _hub_caught_up(node)
        assert await _refused(member, _on(node, spare_url, port)) == 403
        assert (await member.post("/ws-auth", {"roomid": room})).status == 404
        refused = await member.post(f"/chats/{lobby}/messages/new", {"text": "hello?"})
        assert (refused.status, await refused.text()) == (404, "Your account is blocked, ending in 2 hours")
        await _ok(await moderator.post(f"/users/unsuspend/{member.user.id}"))
        assert (await member.post("/ws-auth", {"roomid": room})).status == 200


# --- item 4: logging out and password changes -----------------------------------------------------


async def _second_session(node: Node, browser: Browser) -> Browser:
    assert browser.user is not None and browser.user.email is not None
    other = await node.browser()
    await other.login(browser.user.email)
    other.user = browser.user
    return other


async def test_logging_out_closes_that_sessions_sockets_and_signs_its_feed_out(node: Node, port: str) -> None:
    poster = await node.signed_in("Poster")
    here = await node.signed_in("Member")
    there = await _second_session(node, here)
    assert here.user is not None
    room = await node.room()
    publisher = await publisher_for(node)
    topbar = f"{here.user.id}-topbar"
    await _ok(await poster.post(f"/chats/{room}/events", {}))
    spare_url = await _socket_url(here, room)
    sockets = [await _socket_url(browser, room) for browser in (here, there)]
    async with contextlib.AsyncExitStack() as stack:
        leaving, staying = [
            await stack.enter_async_context(b.session.ws_connect(_on(node, url, port)))
            for b, url in zip((here, there), sockets, strict=True)
        ]
        feeds = [await stack.enter_async_context(b.session.ws_connect(feed_url(node, port))) for b in (here, there)]
        for feed in feeds:
            await feed.send_str(topbar)
            await feed.send_str(MARK)
        await subscribed(node, MARK, 2)
        assert node.runtime.topics is not None
        topics = node.runtime.topics
        await eventually(lambda: sorted(s.user_id or 0 for s in topics.topic_subscribers(topbar)) == [here.user.id] * 2)
        await _ok(await here.post("/users/logout"))
        code, reason = await _closed(leaving)
        assert code == CLOSE_FORBIDDEN and "session has ended" in reason
        await eventually(lambda: sorted(s.user_id or 0 for s in topics.topic_subscribers(topbar)) == [0, here.user.id])
        marker = await _post(poster, room, "@Member still there?")
        assert _messages(await _until_marker(staying, marker), room) == [marker]
        assert json.loads((await feeds[1].receive()).data)["action"] == topbar  # the ping's new unread count
        await publisher.publish(MARK, {"mark": True})
        assert (await feeds[0].receive()).data == wire(MARK, {"mark": True})  # and nothing before it
    await _hub_caught_up(node)
    assert await _refused(here, _on(node, spare_url, port)) == 403


async def test_a_password_change_ends_the_other_sessions_and_their_sockets(node: Node, port: str) -> None:
    poster = await node.signed_in("Poster")
    here = await node.signed_in("Member")
    there = await _second_session(node, here)
    room = await node.room()
    await _ok(await poster.post(f"/chats/{room}/events", {}))
    mine_spare, theirs_spare = await _socket_url(here, room), await _socket_url(there, room)
    mine, theirs = await _socket_url(here, room), await _socket_url(there, room)
    async with (
        here.session.ws_connect(_on(node, mine, port)) as staying,
        there.session.ws_connect(_on(node, theirs, port)) as ended,
    ):
        form = {"current": "correct horse battery", "password": "a new long secret", "password2": "a new long secret"}
        await _ok(await here.post("/users/password", form))
        code, reason = await _closed(ended)
        assert code == CLOSE_FORBIDDEN and "session has ended" in reason
        marker = await _post(poster, room, "still here?")
        assert _messages(await _until_marker(staying, marker), room) == [marker]
    await _hub_caught_up(node)
    assert await _refused(there, _on(node, theirs_spare, port)) == 403
    async with here.session.ws_connect(_on(node, mine_spare, port)):
        pass  # this session's own URLs still open
    assert (await there.post("/ws-auth", {"roomid": room})).status == 403  # logged out


# --- item 5: a removed member is not pingable ---------------------------------------------------


async def test_a_removed_member_is_not_pinged_live_nor_in_replays(node: Node, port: str) -> None:
    owner, member = await node.signed_in("Owner"), await node.signed_in("Member")
    assert member.user is not None
    async with _private_room_with(node, owner, member) as (room, lobby):
        own_message = await _post(member, room, "my last words here")
        before = await node.service.queries.last_event_id()
        early = await _post(owner, room, "@Member a secret for you")
        removal = {"aclUserId": member.user.id, "userAccess": "remove"}
        await _ok(await owner.post(f"/rooms/setuseraccess/{room}", removal))
        # The replay from before the removal, then live: a ping, and a reply to the member's message.
        async with member.session.ws_connect(_on(node, await _socket_url(member, lobby), port) + f"?l={before}") as ws:
            ping = await _post(owner, room, "@Member another secret")
            reply = await _post(owner, room, f":{own_message} and a reply")
            marker = await _post(owner, lobby, "marker")
            seen = await _until_marker(ws, marker)
        events = [e for in_room in seen.values() for e in in_room]
        assert [(e["event_type"], e.get("message_id")) for e in events if e["event_type"] in (8, 18)] == []
        assert {early, ping, reply}.isdisjoint(e.get("message_id") for e in events)
        pingable = await (await owner.get(f"/rooms/pingable/{room}")).json()
        assert member.user.id not in [row[0] for row in pingable]
        unread = await node.service.queries.unread_count(member.user.id)
        assert unread == 1  # the ping from before the removal; none since


async def test_a_realtime_token_opens_one_socket_once_and_a_logout_revokes_the_rest(node: Node, port: str) -> None:
    member = await node.signed_in("Member")

    async def token_url() -> str:
        response = await member.post("/realtime/auth")
        assert response.status == 200, await response.text()
        return _on(node, str((await response.json())["url"]), port)

    used, spare = await token_url(), await token_url()
    async with member.session.ws_connect(used):
        pass
    assert await _refused(member, used) == 403
    await _ok(await member.post("/users/logout"))
    await _hub_caught_up(node)
    assert await _refused(member, spare) == 403
