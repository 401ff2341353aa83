"""/users/bridges: add IRC and Twitch accounts, bridge a room, attach to a stream, refusals change nothing."""

from __future__ import annotations

import json

from hubbub.core.ids import RoomId, UserId
from tests.conftest import PASSWORD, Node


async def test_an_owner_adds_an_irc_account_bridges_a_room_and_no_page_shows_the_password(node: Node) -> None:
    john = await node.user("John")
    room = await node.room("Lobby", owner=john)
    stream = await node.service.streams.create_stream(UserId(john.id), "Show")
    browser = await node.browser()
    assert john.email is not None
    await browser.login(john.email, PASSWORD)

    form = {
        "action": "add-irc", "name": "libera", "server": "127.0.0.1", "port": "1", "tls": "true", "nick": "relay",
        "channel": "#lobby", "auth": "sasl", "password": "s3cret-pw", "flood_rate": "0.5",
    }  # fmt: skip
    response = await browser.post("/users/bridges", form)
    assert response.status == 302, await response.text()
    [account] = await node.service.network_accounts.accounts(UserId(john.id))
    assert json.loads(account.settings)["password"] == "s3cret-pw"  # stored...
    page = await (await browser.get("/users/bridges")).text()
    assert "s3cret-pw" not in page and "libera" in page and "password</b> set" in page  # ...never shown

    bridged = await browser.post("/users/bridges", {"action": "bridge-room", "account_id": account.id, "room_id": room})
    assert bridged.status == 302
    assert [a.id for a in await node.service.room_bridges.accounts(UserId(john.id), RoomId(room))] == [account.id]
    attached = await browser.post(
        "/users/bridges", {"action": "attach-stream", "account_id": account.id, "stream_id": stream.id}
    )
    assert attached.status == 302
    soup = await browser.soup("/users/bridges")
    card = soup.find(id=f"bridge-account-{account.id}")
    assert card is not None and "stream “Show”" in card.text and "Lobby" in card.text

    twitch = await browser.post("/users/bridges", {"action": "add-twitch", "channel": "JprjrDev"})
    assert twitch.status == 302
    names = sorted(a.name for a in await node.service.network_accounts.accounts(UserId(john.id)))
    assert names == ["JprjrDev", "libera"]


async def test_refusals_show_the_reason_and_change_nothing(node: Node) -> None:
    john = await node.user("John")
    bob = await node.user("Bob")
    room = await node.room("Bobs room", owner=bob)
    browser = await node.browser()
    assert john.email is not None
    await browser.login(john.email, PASSWORD)
    bad = {"action": "add-irc", "name": "x", "server": "irc.example.org", "nick": "9lives", "channel": "#c"}
    response = await browser.post("/users/bridges", bad)
    assert response.status == 400 and "nick must be a valid IRC nickname" in await response.text()
    assert await node.service.network_accounts.accounts(UserId(john.id)) == []
    good = {"action": "add-twitch", "channel": "show"}
    assert (await browser.post("/users/bridges", good)).status == 302
    [account] = await node.service.network_accounts.accounts(UserId(john.id))
    not_mine = await browser.post(
        "/users/bridges", {"action": "bridge-room", "account_id": account.id, "room_id": room}
    )
    assert not_mine.status == 400 and "Only an owner of the room can bridge it" in await not_mine.text()
    assert await node.service.room_bridges.bridged_room(RoomId(room)) is None
    no_fkey = await browser.post("/users/bridges", {"action": "delete", "account_id": account.id, "fkey": "wrong"})
    assert no_fkey.status == 403
    assert len(await node.service.network_accounts.accounts(UserId(john.id))) == 1
    anonymous = await (await node.browser()).get("/users/bridges")
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/users/login")
