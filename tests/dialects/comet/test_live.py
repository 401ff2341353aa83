"""Every behaviour of comet.md §C.11 against a served hubbub, driven by the seed's client (driver.py).

Polls that must wait are answered by a send made while they wait; polls that must time out
run with a short configured hold. Nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hubbub.core.direct import Activity
from hubbub.core.ids import UserId
from hubbub.dialects.comet import routes as comet_routes
from hubbub.dialects.comet.codec import ErrorCode, error_body
from hubbub.dialects.comet.routes import hold_seconds
from tests import fakes
from tests.conftest import PASSWORD, Node, NodeFactory
from tests.dialects.comet.driver import FacebookChat, parse_json
from tests.fakes import TIMEOUT, eventually

Chats = tuple[Node, FacebookChat, FacebookChat]
SHORT_HOLD = {"comet_poll_timeout_min": 0.3, "comet_poll_timeout_max": 0.4}
LONG_HOLD = {"comet_poll_timeout_min": 30.0, "comet_poll_timeout_max": 30.0}


async def _chat(node: Node, name: str) -> FacebookChat:
    user = await node.user(name)
    assert user.email is not None
    chat = FacebookChat(node.base, user.email, PASSWORD)
    await chat.login()
    return chat


@pytest.fixture
async def chats(make_node: NodeFactory) -> AsyncIterator[Chats]:
    node = await make_node(**LONG_HOLD)
    alice, bob = await _chat(node, "Alice Smith"), await _chat(node, "Bob Jones")
    await node.service.contacts.link(UserId(alice.uid), UserId(bob.uid))
    yield node, alice, bob
    await alice.close()
    await bob.close()


@pytest.fixture
async def short(make_node: NodeFactory) -> AsyncIterator[Chats]:
    node = await make_node(**SHORT_HOLD)
    alice, bob = await _chat(node, "Alice Smith"), await _chat(node, "Bob Jones")
    await node.service.contacts.link(UserId(alice.uid), UserId(bob.uid))
    yield node, alice, bob
    await alice.close()
    await bob.close()


async def _raw(chat: FacebookChat, seq: int | str, *, host: str | None = None) -> aiohttp.ClientResponse:
    path, channel_host = chat.message_url(0)
    path = path.rsplit("=", 1)[0] + f"={seq}"
    response = await chat.agent.get(path, headers={"Host": host or channel_host})
    await response.read()
    return response


async def _last_event(node: Node) -> int:
    return int(await node.service.queries.last_event_id())


async def test_the_seed_client_logs_in_lists_buddies_and_talks(chats: Chats) -> None:
    """The Ruby client's main loop: log in, buddy list, then messages both ways over the long poll."""
    _, alice, bob = chats
    assert alice.channel == "01" and alice.post_form_id and alice.uid != bob.uid
    assert await alice.buddy_list() == {str(bob.uid): "Bob Jones"}
    async with asyncio.timeout(TIMEOUT):
        for chat in (alice, bob):
            await chat.determine_initial_seq_number()
        waiting = asyncio.create_task(bob.wait_for_messages())
        await asyncio.sleep(0)
        sent = await alice.send_message(bob.uid, "hey man wassup? & more")
        assert sent == {"error": 0, "errorSummary": "", "errorDescription": "No error.", "payload": []}
        received = await waiting
    assert [(m.from_, m.from_name, m.text) for m in received] == [(alice.uid, "Alice Smith", "hey man wassup? & more")]
    # Alice's own channel holds the mirror; her client filters it out.
    async with asyncio.timeout(TIMEOUT):
        assert await alice.wait_for_messages() == []
        await bob.send_message(alice.uid, "not much")
        assert [m.text for m in await alice.wait_for_messages()] == ["not much"]


async def test_minus_one_answers_refresh_with_seq_zero_byte_exactly(
    chats: Chats,
) -> None:
    _, alice, _ = chats
    response = await _raw(alice, -1)
    assert await response.read() == b'for (;;);{"t":"refresh","seq":0}'
    assert response.headers["Content-Type"] == "application/x-javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache, no-store"


async def test_an_idle_poll_answers_continue_after_the_hold(short: Chats) -> None:
    _, alice, _ = short
    started = time.monotonic()
    async with asyncio.timeout(TIMEOUT):
        response = await _raw(alice, 0)  # seq 0 is valid at start: never refresh (Kopete)
    assert await response.read() == b'for (;;);{"t":"continue"}'
    assert time.monotonic() - started >= SHORT_HOLD["comet_poll_timeout_min"]  # held, not answered at once


def test_the_hold_is_jittered_in_range_and_never_over_55_seconds(tmp_path: Path) -> None:
    settings = fakes.test_settings(tmp_path, comet_poll_timeout_min=45.0, comet_poll_timeout_max=55.0)
    holds = {hold_seconds(settings) for _ in range(200)}
    assert all(45.0 <= h <= 55.0 for h in holds) and len(holds) > 100
    reckless = fakes.test_settings(tmp_path, comet_poll_timeout_min=90.0, comet_poll_timeout_max=120.0)
    assert hold_seconds(reckless) == 55.0


async def test_a_waiting_poll_gets_one_entry_mirrored_to_the_sender(
    chats: Chats,
) -> None:
    _, alice, bob = chats
    async with asyncio.timeout(TIMEOUT):
        waiting = asyncio.create_task(_raw(bob, 0))
        await asyncio.sleep(0.05)
        await alice.send_message(bob.uid, "yo")
        answer = parse_json(await (await waiting).text())
    assert answer["t"] == "msg" and answer["c"] == f"p_{bob.uid}" and len(answer["ms"]) == 1
    assert answer["ms"][0]["msg"]["text"] == "yo" and answer["ms"][0]["to"] == bob.uid
    mirror = parse_json(await (await _raw(alice, 0)).text())
    assert mirror["ms"][0]["from"] == alice.uid and mirror["ms"][0]["msg"] == answer["ms"][0]["msg"]


async def test_two_messages_are_two_answers_and_old_seqs_replay_the_same_bytes(
    chats: Chats,
) -> None:
    _, alice, bob = chats
    await alice.send_message(bob.uid, "one")
    await alice.send_message(bob.uid, "two")
    first, second = await (await _raw(bob, 0)).read(), await (await _raw(bob, 1)).read()
    texts = [parse_json(b.decode())["ms"] for b in (first, second)]
    assert [len(ms) for ms in texts] == [1, 1] and [ms[0]["msg"]["text"] for ms in texts] == ["one", "two"]
    # A client counting per answer and one counting per entry both stand at seq 2 now.
    per_answer = per_entry = 0
    for data in (first, second):
        per_answer += 1
        per_entry += len(parse_json(data.decode())["ms"])
    assert per_answer == per_entry == 2
    assert await (await _raw(bob, 0)).read() == first  # replay: same msgID, same time, same bytes
    assert await (await _raw(bob, 3)).read() == b'for (;;);{"t":"refresh","seq":2}'  # beyond the next seq


async def test_concurrent_polls_on_one_seq_all_get_the_entry(chats: Chats) -> None:
    _, alice, bob = chats
    async with asyncio.timeout(TIMEOUT):
        tabs = [asyncio.create_task(_raw(bob, 0)) for _ in range(3)]
        await asyncio.sleep(0.05)
        await alice.send_message(bob.uid, "to every tab")
        bodies = {await (await tab).read() for tab in tabs}
    assert len(bodies) == 1 and b"to every tab" in bodies.pop()


async def test_a_lost_answer_is_repaired_by_polling_the_same_seq(
    chats: Chats,
) -> None:
    _, alice, bob = chats
    with pytest.raises(TimeoutError):
        await bob.get_body(0, timeout=0.2)  # the client gives up; the server may still answer it
    await alice.send_message(bob.uid, "still there")
    assert "still there" in await bob.get_body(0, timeout=TIMEOUT)


async def test_send_is_idempotent_on_the_senders_msg_id(chats: Chats) -> None:
    node, alice, bob = chats

    async def send(msg_id: str, client_time: str) -> bytes:
        form = {"msg_text": "hi", "msg_id": msg_id, "to": str(bob.uid), "client_time": client_time}
        form["post_form_id"] = alice.post_form_id
        async with alice.agent.post(f"{alice.base}/ajax/chat/send.php", data=form) as response:
            return await response.read()

    ok = b'for (;;);{"error":0,"errorSummary":"","errorDescription":"No error.","payload":[]}'
    assert await send("-1992480367", "1211177325") == ok  # negative id, seconds
    mark = await _last_event(node)
    assert await send("-1992480367", "1211177325") == ok  # pidgin's retry: nothing new
    assert await _last_event(node) == mark
    assert await send("4177168544", str(int(time.time() * 1000))) == ok  # 10 digits, milliseconds
    first, second = [parse_json((await (await _raw(bob, s)).read()).decode())["ms"][0]["msg"] for s in (0, 1)]
    assert (first["msgID"], first["clientTime"]) == ("-1992480367", 1211177325)
    assert second["msgID"] == "4177168544"
    assert await (await _raw(bob, 3)).read() == b'for (;;);{"t":"refresh","seq":2}'  # only two entries


async def test_refusals_are_the_dialects_envelopes_and_store_nothing(
    short: Chats,
) -> None:
    node, alice, bob = short
    carol = await _chat(node, "Carol White")
    mark = await _last_event(node)

    async def post(chat: FacebookChat | None, path: str, form: dict[str, str]) -> bytes:
        if chat is None:
            async with (
                aiohttp.ClientSession() as anonymous,
                anonymous.post(f"{node.base}{path}", data=form) as response,
            ):
                assert response.status == 200
                return await response.read()
        async with chat.agent.post(f"{chat.base}{path}", data=form) as response:
            assert response.status == 200
            return await response.read()

    good = {"msg_text": "hi", "msg_id": "1", "to": str(bob.uid), "post_form_id": alice.post_form_id}
    unexpected = error_body(ErrorCode.UNEXPECTED)
    assert await post(None, "/ajax/chat/send.php", good) == error_body(ErrorCode.NOT_LOGGED_IN)
    assert await post(alice, "/ajax/chat/send.php", {**good, "post_form_id": "wrong"}) == error_body(ErrorCode.CSRF)
    assert await post(alice, "/ajax/chat/send.php", {k: v for k, v in good.items() if k != "post_form_id"}) == (
        error_body(ErrorCode.CSRF)
    )
    for field, value in (("to", str(carol.uid)), ("to", "999999"), ("to", "bob"), ("msg_id", "x"), ("msg_text", "")):
        assert await post(alice, "/ajax/chat/send.php", {**good, field: value}) == unexpected, (field, value)
    assert await post(alice, "/ajax/chat/send.php", {**good, "msg_text": "x" * 5000}) == unexpected
    assert await post(
        alice, "/ajax/chat/typ.php", {"typ": "7", "to": str(bob.uid), "post_form_id": alice.post_form_id}
    ) == (unexpected)
    assert await post(
        alice, "/ajax/chat/settings.php", {"visibility": "maybe", "post_form_id": alice.post_form_id}
    ) == (unexpected)
    assert await post(alice, "/ajax/presence/update.php", {"buddy_list": "1", "post_form_id": "no"}) == (
        error_body(ErrorCode.CSRF)
    )
    assert await _last_event(node) == mark
    # Bob goes offline (no poll, socket or request for longer than presence_seen_seconds).
    node.clock.advance(node.service.settings.presence_seen_seconds + 1)
    await node.service.presence.touch(UserId(alice.uid), Activity.ACTIVE)
    mark = await _last_event(node)
    offline = await post(alice, "/ajax/chat/send.php", good)
    assert offline == (
        b'for (;;);{"error":1356003,"errorSummary":"Send destination not online",'
        b'"errorDescription":"This person is no longer online.","payload":null}'
    )
    assert await _last_event(node) == mark
    assert await (await _raw(bob, -1)).read() == b'for (;;);{"t":"refresh","seq":0}'


async def test_bad_polls_get_refresh_never_an_error(short: Chats) -> None:
    node, alice, bob = short
    await alice.send_message(bob.uid, "one")
    for seq in ("-1", "-7", "99999999999999999999", "abc", "", "1.5", "٣"):
        response = await _raw(bob, seq)
        assert response.status == 200 and await response.read() == b'for (;;);{"t":"refresh","seq":1}', seq
    # Another user's channel, a path without a session, malformed paths: refresh without seq.
    assert await (await _raw(alice, 0, host="x")).read() != b'for (;;);{"t":"refresh"}'
    other = await alice.agent.get(f"{node.base}/x/0/false/p_{bob.uid}=0")
    assert await other.read() == b'for (;;);{"t":"refresh"}'
    async with aiohttp.ClientSession() as anonymous:
        for path in (f"/x/0/false/p_{bob.uid}=0", "/x/0/false/p_=0", "/x/0/p_1=0", "/x/", "/x/a/b/c/d/e"):
            async with anonymous.get(f"{node.base}{path}") as response:
                assert response.status == 200 and await response.read() == b'for (;;);{"t":"refresh"}', path


async def test_polls_answer_any_host_and_other_pages_do_not(short: Chats) -> None:
    node, alice, _ = short
    for host in ("0.channel01.facebook.com", "anything.channel20.example", "10.0.0.1:8080"):
        response = await _raw(alice, -1, host=host)
        assert response.status == 200 and await response.read() == b'for (;;);{"t":"refresh","seq":0}'
    async with alice.agent.get(f"{node.base}/home.php", headers={"Host": "0.channel01.facebook.com"}) as page:
        assert page.status == 400


async def test_a_flood_of_polls_is_bounded(make_node: NodeFactory) -> None:
    node = await make_node(comet_max_waiters_per_user=2, **LONG_HOLD)
    alice, bob = await _chat(node, "Alice Smith"), await _chat(node, "Bob Jones")
    await node.service.contacts.link(UserId(alice.uid), UserId(bob.uid))
    try:
        async with asyncio.timeout(TIMEOUT):
            held = [asyncio.create_task(_raw(bob, 0)) for _ in range(2)]
            waiters = node.runtime.channel_waiters
            assert waiters is not None
            await eventually(lambda: waiters.count(UserId(bob.uid)) == 2)
            excess = await asyncio.gather(*(_raw(bob, 0) for _ in range(5)))
            assert {await r.read() for r in excess} == {b'for (;;);{"t":"continue"}'}  # at once
            await alice.send_message(bob.uid, "the held ones still get it")
            for task in held:
                assert b"still get it" in await (await task).read()
    finally:
        await alice.close()
        await bob.close()


async def test_typing_makes_two_entries_on_the_recipient_channel_only(
    chats: Chats,
) -> None:
    _, alice, bob = chats
    for st in ("1", "0"):
        form = {"typ": st, "to": str(bob.uid), "post_form_id": alice.post_form_id}
        async with alice.agent.post(f"{alice.base}/ajax/chat/typ.php", data=form) as response:
            assert json.loads((await response.text())[9:])["error"] == 0
    entries = [parse_json((await (await _raw(bob, s)).read()).decode())["ms"][0] for s in (0, 1)]
    assert entries == [
        {"type": "typ", "st": 1, "from": alice.uid, "to": bob.uid},
        {"type": "typ", "st": 0, "from": alice.uid, "to": bob.uid},
    ]
    assert await (await _raw(alice, -1)).read() == b'for (;;);{"t":"refresh","seq":0}'


async def test_the_buddy_list_diff_per_session(short: Chats) -> None:
    node, alice, bob = short
    carol = await _chat(node, "Carol White")
    await node.service.contacts.link(UserId(alice.uid), UserId(carol.uid))

    async def buddy_list(**extra: str) -> dict[str, object]:
        form = {"buddy_list": "1", "force_render": "true", "post_form_id": alice.post_form_id, **extra}
        async with alice.agent.post(f"{alice.base}/ajax/presence/update.php", data=form) as response:
            payload = parse_json(await response.text())["payload"]
            assert isinstance(payload, dict)
            return payload

    node.clock.advance(node.service.settings.presence_seen_seconds + 1)  # everyone offline ...
    await _raw(bob, -1, host=None)  # ... but Bob polls: seen, not active: idle
    await node.service.presence.touch(UserId(carol.uid), Activity.ACTIVE)
    first = await buddy_list(notifications="1")
    blist = first["buddy_list"]
    assert isinstance(blist, dict)
    assert blist["listChanged"] is True and blist["availableCount"] == 2
    assert blist["nowAvailableList"] == {str(bob.uid): {"i": True}, str(carol.uid): {"i": False}}
    assert set(blist["userInfos"]) == {str(bob.uid), str(carol.uid)} and first["notifications"] == {"inboxCount": 0}
    again = (await buddy_list())["buddy_list"]
    assert isinstance(again, dict)
    assert again["listChanged"] is False and again["nowAvailableList"] == blist["nowAvailableList"]
    node.clock.advance(node.service.settings.presence_seen_seconds + 1)
    await node.service.presence.touch(UserId(carol.uid), Activity.ACTIVE)  # Bob lapses, Carol stays
    gone = (await buddy_list())["buddy_list"]
    assert isinstance(gone, dict)
    assert gone["listChanged"] is True and gone["wasAvailableIDs"] == [bob.uid]
    assert gone["nowAvailableList"] == {str(carol.uid): {"i": False}} and str(bob.uid) in gone["userInfos"]
    assert ((await buddy_list())["buddy_list"])["wasAvailableIDs"] == []  # once  # type: ignore[index]


async def test_reconnect_and_settings(chats: Chats) -> None:
    node, alice, bob = chats
    await bob.send_message(alice.uid, "unread")
    assert (await node.service.direct.unread_counts(UserId(alice.uid))) == {UserId(bob.uid): 1}
    async with alice.agent.get(f"{alice.base}/ajax/presence/reconnect.php?reason=3&__a=1") as response:
        assert await response.read() == (
            b'for (;;);{"error":0,"errorSummary":"","errorDescription":"No error.",'
            b'"payload":{"host":"channel01","seq":1}}'
        )
    form = {"focus_chat": str(bob.uid), "window_id": "12345", "post_form_id": alice.post_form_id}
    async with alice.agent.post(f"{alice.base}/ajax/chat/settings.php?_ecdc=false", data=form) as response:
        assert json.loads((await response.text())[9:])["error"] == 0
    assert await node.service.direct.unread_counts(UserId(alice.uid)) == {}


async def test_pages_carry_every_marker_and_logout_ends_the_session(
    chats: Chats,
) -> None:
    _, alice, _ = chats
    for path in ("/home.php", "/presence/popout.php"):
        async with alice.agent.get(f"{alice.base}{path}") as page:
            body = await page.text()
        assert re.search(r'<a href=".+?/profile.php\?id=(\d+)" class="profile_nav_link">Profile</a>', body)
        assert re.match(r'.+Presence\("(\d+)"', body, re.S) and re.match(r".+channel(\d+)", body, re.S)
        assert 'js", "channel01"' in body and 'js","channel01"' in body
        assert f'<input type="hidden" id="post_form_id" name="post_form_id" value="{alice.post_form_id}"' in body
    async with alice.agent.post(f"{alice.base}/logout.php", data={"confirm": "1"}, allow_redirects=False) as out:
        assert out.status == 403  # without the session's post_form_id a cross-site form cannot log anyone out
    form = {"confirm": "1", "post_form_id": alice.post_form_id}
    async with alice.agent.post(f"{alice.base}/logout.php", data=form, allow_redirects=False) as out:
        assert out.status == 302 and out.headers["Location"] == "/login.php"
    async with alice.agent.get(f"{alice.base}/home.php", allow_redirects=False) as page:
        assert page.status == 302
    assert await (await _raw(alice, -1)).read() == b'for (;;);{"t":"refresh"}'


async def test_a_wrong_password_is_the_form_again_with_200(chats: Chats) -> None:
    node, _, _ = chats
    async with aiohttp.ClientSession() as session:
        form = {"email": "alice.smith@example.org", "pass": "wrong"}
        async with session.post(f"{node.base}/login.php", data=form, allow_redirects=False) as response:
            assert response.status == 200 and 'name="pass"' in await response.text()
        form["pass"] = PASSWORD
        async with session.post(f"{node.base}/login.php", data=form, allow_redirects=False) as response:
            assert response.status == 302 and response.cookies["c_user"].value.isdigit()


async def test_old_entries_beyond_retention_answer_refresh(make_node: NodeFactory) -> None:
    node = await make_node(comet_channel_retention=60, comet_channel_retention_entries=2, **SHORT_HOLD)
    alice, bob = await _chat(node, "Alice Smith"), await _chat(node, "Bob Jones")
    await node.service.contacts.link(UserId(alice.uid), UserId(bob.uid))
    try:
        for i in range(4):
            await alice.send_message(bob.uid, f"m{i}")
        assert b'"m0"' in await (await _raw(bob, 0)).read()  # young: kept
        node.clock.advance(61)
        await node.service.presence.touch(UserId(bob.uid), Activity.SEEN)
        await alice.send_message(bob.uid, "m4")
        assert await (await _raw(bob, 0)).read() == b'for (;;);{"t":"refresh","seq":5}'
        assert await (await _raw(bob, 2)).read() == b'for (;;);{"t":"refresh","seq":5}'
        assert b'"m3"' in await (await _raw(bob, 3)).read()
    finally:
        await alice.close()
        await bob.close()


async def test_a_poll_whose_client_left_frees_its_place(chats: Chats, monkeypatch: pytest.MonkeyPatch) -> None:
    node, _, bob = chats
    monkeypatch.setattr(comet_routes, "CONNECTION_CHECK_SECONDS", 0.1)
    waiters = node.runtime.channel_waiters
    assert waiters is not None
    with pytest.raises(TimeoutError):
        await bob.get_body(0, timeout=0.5)  # held for 30 s, but the client gives up
    await eventually(lambda: waiters.count(UserId(bob.uid)) == 0)  # long before the hold ends


async def test_rate_limits_and_out_of_range_fields_are_envelopes(make_node: NodeFactory) -> None:
    node = await make_node(message_rate_burst=1, message_rate_per_second=0.001, **SHORT_HOLD)
    alice, bob = await _chat(node, "Alice Smith"), await _chat(node, "Bob Jones")
    await node.service.contacts.link(UserId(alice.uid), UserId(bob.uid))
    try:
        form = {"msg_text": "hi", "msg_id": "1", "to": str(bob.uid), "post_form_id": alice.post_form_id}

        async def send(**extra: str) -> bytes:
            async with alice.agent.post(f"{alice.base}/ajax/chat/send.php", data={**form, **extra}) as response:
                return await response.read()

        mark = await _last_event(node)
        assert await send(client_time="9" * 20) == error_body(ErrorCode.UNEXPECTED)  # beyond 64 bits
        assert await _last_event(node) == mark
        assert json.loads((await send())[9:])["error"] == 0
        mark = await _last_event(node)
        assert await send(msg_id="2") == error_body(ErrorCode.TOO_MANY)
        assert json.loads((await send())[9:])["error"] == 0  # the retry of a stored one is no new message
        assert await _last_event(node) == mark
    finally:
        await alice.close()
        await bob.close()
