"""Owners' actions over HTTP: ``/rooms/kickmute/{room}`` and ``/rooms/setuseraccess/{room}``.

Every refusal is checked for its exact status and body, and for leaving the state as it was.
"""

from __future__ import annotations

import aiohttp

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel, RoomAccess
from tests.conftest import Browser, Node

TEXT = "text/plain"
JSON = "application/json"
OWNERS_ONLY = b"Only room owners can do that"
NO_ROOM = b"The room does not exist, or you do not have permission"


async def _expect(response: aiohttp.ClientResponse, status: int, body: bytes | None = None) -> bytes:
    raw = await response.read()
    assert response.status == status, raw
    if body is not None:
        assert raw == body
    return raw


async def _setup(node: Node, access: RoomAccess = RoomAccess.PUBLIC) -> tuple[Browser, Browser, RoomId]:
    owner = await node.signed_in("Owner")
    member = await node.signed_in("Member")
    assert owner.user is not None
    room = await node.room("Den", owner=owner.user, access=access)
    return owner, member, room


def _uid(browser: Browser) -> UserId:
    assert browser.user is not None
    return browser.user.id


async def _level(node: Node, room: RoomId, user: UserId) -> AccessLevel | None:
    return await node.service.context.store.read(lambda tx: tx.access_level(room, user))


async def _can_post(browser: Browser, room: RoomId, text: str) -> int:
    return (await browser.post(f"/chats/{room}/messages/new", {"text": text})).status


async def test_kickmute_mutes_for_longer_each_time(node: Node) -> None:
    owner, member, room = await _setup(node)
    response = await owner.post(f"/rooms/kickmute/{room}", {"userId": _uid(member)})
    await _expect(response, 200, b"The user has been kicked and cannot return for 1 minute.")
    assert response.content_type == TEXT
    refused = await member.post(f"/chats/{room}/messages/new", {"text": "let me in"})
    await _expect(refused, 404, b"You have been kicked from this room; you can return in 60 seconds")
    socket = await member.post("/ws-auth", {"roomid": room})  # the kick left the room; no way back in by socket
    await _expect(socket, 403, b"You have been kicked from this room; you can return in 60 seconds")
    assert socket.content_type == TEXT
    again = await owner.post(f"/rooms/kickmute/{room}", {"userId": _uid(member)})
    await _expect(again, 200, b"The user has been kicked and cannot return for 5 minutes.")
    node.clock.advance(301)
    assert await _can_post(member, room, "back") == 200


async def test_kickmute_refusals_change_nothing(node: Node) -> None:
    owner, member, room = await _setup(node)
    anonymous = await node.browser()
    target = {"userId": _uid(member)}
    cases: list[tuple[Browser, str, dict[str, object], int, bytes]] = [
        (anonymous, f"/rooms/kickmute/{room}", target, 403, b"You must be logged in to do that"),
        (member, f"/rooms/kickmute/{room}", {"userId": _uid(owner)}, 403, OWNERS_ONLY),
        (
            owner,
            f"/rooms/kickmute/{room}",
            {**target, "fkey": "wrong"},
            403,
            b"The fkey parameter is missing or invalid",
        ),
        (owner, "/rooms/kickmute/999", target, 404, NO_ROOM),
        (owner, f"/rooms/kickmute/{room}", {}, 400, b"The userId parameter is required"),
        (owner, f"/rooms/kickmute/{room}", {"userId": "x"}, 400, b"The userId parameter must be a number"),
        (owner, f"/rooms/kickmute/{room}", {"userId": 424242}, 400, b"There is no user with id 424242"),
        (
            owner,
            f"/rooms/kickmute/{room}",
            {"userId": _uid(owner)},
            403,
            b"Room owners and moderators cannot be kicked",
        ),
    ]
    for browser, path, form, status, body in cases:
        response = await browser.post(path, form)
        await _expect(response, status, body)
        assert response.content_type == TEXT
    assert await _can_post(member, room, "still here") == 200
    assert await _can_post(owner, room, "me too") == 200
    assert await node.service.context.store.read(lambda tx: tx.kick(room, _uid(member))) is None


async def test_setuseraccess_grants_and_removes(node: Node) -> None:
    owner, member, room = await _setup(node, RoomAccess.GALLERY)
    assert await _can_post(member, room, "hello?") == 404
    granted = await owner.post(f"/rooms/setuseraccess/{room}", {"aclUserId": _uid(member), "userAccess": "read-write"})
    await _expect(granted, 200, b'"ok"')
    assert granted.content_type == JSON
    assert await _can_post(member, room, "now I talk") == 200
    promoted = await owner.post(f"/rooms/setuseraccess/{room}", {"aclUserId": _uid(member), "userAccess": "owner"})
    await _expect(promoted, 200, b'"ok"')
    assert await _level(node, room, _uid(member)) is AccessLevel.OWNER
    removed = await owner.post(f"/rooms/setuseraccess/{room}", {"aclUserId": _uid(member), "userAccess": "remove"})
    await _expect(removed, 200, b'"ok"')
    assert await _level(node, room, _uid(member)) is None
    assert await _can_post(member, room, "and now?") == 404


async def test_setuseraccess_in_a_private_room_opens_it(node: Node) -> None:
    owner, member, room = await _setup(node, RoomAccess.PRIVATE)
    assert (await member.get(f"/rooms/info/{room}")).status == 404
    granted = await owner.post(f"/rooms/setuseraccess/{room}", {"aclUserId": _uid(member), "userAccess": "read-only"})
    await _expect(granted, 200, b'"ok"')
    assert (await member.get(f"/rooms/info/{room}")).status == 200
    assert await _can_post(member, room, "read only") == 404


async def test_setuseraccess_refusals_change_nothing(node: Node) -> None:
    owner, member, room = await _setup(node, RoomAccess.GALLERY)
    anonymous = await node.browser()
    grant = {"aclUserId": _uid(member), "userAccess": "owner"}
    cases: list[tuple[Browser, str, dict[str, object], int, bytes]] = [
        (anonymous, f"/rooms/setuseraccess/{room}", grant, 403, b"You must be logged in to do that"),
        (member, f"/rooms/setuseraccess/{room}", grant, 403, OWNERS_ONLY),
        (
            owner,
            f"/rooms/setuseraccess/{room}",
            {**grant, "fkey": ""},
            403,
            b"The fkey parameter is missing or invalid",
        ),
        (owner, "/rooms/setuseraccess/999", grant, 404, NO_ROOM),
        (owner, f"/rooms/setuseraccess/{room}", {"userAccess": "owner"}, 400, b"The aclUserId parameter is required"),
        (
            owner,
            f"/rooms/setuseraccess/{room}",
            {"aclUserId": _uid(member), "userAccess": "god"},
            400,
            b"userAccess must be read-only, read-write, owner or remove",
        ),
        (
            owner,
            f"/rooms/setuseraccess/{room}",
            {"aclUserId": 424242, "userAccess": "owner"},
            400,
            b"There is no user with id 424242",
        ),
    ]
    for browser, path, form, status, body in cases:
        response = await browser.post(path, form)
        await _expect(response, status, body)
        assert response.content_type == TEXT
    assert await _level(node, room, _uid(member)) is None
    assert await _level(node, room, _uid(owner)) is AccessLevel.OWNER


async def test_web_forms_are_sent_back_to_a_same_site_next_page(node: Node) -> None:
    owner, member, room = await _setup(node)
    kicked = await owner.post(
        f"/rooms/kickmute/{room}", {"userId": _uid(member), "next": f"/rooms/info/{room}?done=kicked"}
    )
    await _expect(kicked, 302)
    assert kicked.headers["Location"] == f"/rooms/info/{room}?done=kicked"
    page = await owner.soup(kicked.headers["Location"])
    assert page.select_one(".notice") is not None
    elsewhere = await owner.post(
        f"/rooms/setuseraccess/{room}",
        {"aclUserId": _uid(member), "userAccess": "read-only", "next": "//evil.example/"},
    )
    await _expect(elsewhere, 200, b'"ok"')
