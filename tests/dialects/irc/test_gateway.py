"""The IRC gateway on a live node: log in, list, join, talk with web users, parts, kicks, access, replay."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import pytest

from hubbub.core.events import EventType
from hubbub.core.ids import EventId, RoomId
from hubbub.core.models import AccessLevel, RoomAccess, User
from hubbub.core.streams import ChatLevel
from hubbub.service.stream_chat import WriteRequest
from hubbub.service.streams import ShareRequest
from tests.conftest import PASSWORD, Node, NodeFactory
from tests.dialects.irc.support import RawClient


@pytest.fixture
async def irc(make_node: NodeFactory) -> Node:
    return await make_node(irc_port=0)


async def _client(node: Node, user: User, *, caps: str = "") -> RawClient:
    client = await RawClient.connect(node.runtime.irc_port)
    got = await client.login(user.name.replace(" ", ""), PASSWORD, caps=caps)
    assert got[-1].command in ("376", "422"), [line.format() for line in got]
    return client


async def _join(client: RawClient, channel: str) -> list[str]:
    client.send(f"JOIN {channel}")
    got = await client.until_command("366", "403", "474")
    assert got[-1].command == "366", [line.format() for line in got]
    return [nick for line in got if line.command == "353" for nick in line.params[-1].split()]


async def test_pass_email_and_sasl_logins_and_their_failures(irc: Node) -> None:
    ann = await irc.user("Ann Lee")
    by_nick = await RawClient.connect(irc.runtime.irc_port)
    assert (await by_nick.login("annlee", PASSWORD))[-1].command == "422"  # the nick is case-insensitive
    by_email = await RawClient.connect(irc.runtime.irc_port)
    got = await by_email.login("whatever", PASSWORD, email=ann.email)
    assert got[0].command == "NICK" and got[0].params == ["AnnLee"]  # the account's nick is imposed
    sasl = await RawClient.connect(irc.runtime.irc_port)
    got = await sasl.sasl(str(ann.email), PASSWORD)
    assert [line.command for line in got if line.command in ("900", "903", "001")] == ["900", "903", "001"]
    wrong = await RawClient.connect(irc.runtime.irc_port)
    assert [line.command for line in await wrong.sasl(str(ann.email), "nope")][-1] == "904"
    bad = await RawClient.connect(irc.runtime.irc_port)
    bad.send("PASS :nope", "NICK AnnLee", "USER u 0 * :x")
    assert [line.command for line in await bad.closed()] == ["464", "ERROR"]
    for client in (by_nick, by_email, sasl, wrong):
        await client.close()


async def test_login_attempts_share_the_login_limits(make_node: NodeFactory) -> None:
    node = await make_node(irc_port=0, login_attempts_per_account_per_minute=2)
    await node.user("Ann")
    for _ in range(2):
        client = await RawClient.connect(node.runtime.irc_port)
        client.send("PASS :wrong", "NICK Ann", "USER u 0 * :x")
        assert (await client.closed())[0].params[-1] == "Password incorrect"
    client = await RawClient.connect(node.runtime.irc_port)
    client.send(f"PASS :{PASSWORD}", "NICK Ann", "USER u 0 * :x")  # the right password, but the bucket is empty
    assert (await client.closed())[0].params[-1] == "Too many login attempts; try again later"


async def test_list_shows_only_what_the_user_may_read(irc: Node) -> None:
    ann, bob = await irc.user("Ann"), await irc.user("Bob")
    await irc.room("Sandbox")
    await irc.room("Secret", owner=bob, access=RoomAccess.PRIVATE)
    await irc.service.streams.create_stream(bob.id, "Late Show")
    shared = await irc.service.streams.create_stream(
        bob.id, "Day Show", shares=[ShareRequest(ann.id, ChatLevel.READ, 0)]
    )
    client = await _client(irc, ann)
    client.send("LIST")
    listed = {line.params[1] for line in await client.until_command("323") if line.command == "322"}
    assert listed == {"#sandbox", "#bob-day-show"}
    client.send("JOIN #secret", "JOIN #bob-late-show", "JOIN #nowhere")
    got = await client.until(lambda line: line.command == "403" and line.params[1] == "#nowhere")
    assert [line.params[1] for line in got if line.command == "403"] == ["#secret", "#bob-late-show", "#nowhere"]
    assert await _join(client, "#BOB-day-show") == ["Ann"]  # the names compare in ASCII case
    assert shared.room_id in {j.room_id for j in _connections(irc)[0].rooms.values()}
    await client.close()


def _connections(node: Node) -> list:  # type: ignore[type-arg]
    assert node.runtime.irc is not None
    return list(node.runtime.irc._connections)


async def test_irc_and_web_users_talk_live_with_presence(irc: Node) -> None:
    ann = await irc.user("Ann Lee")
    room = await irc.room("Tavern on the Meta", owner=ann)
    client = await _client(irc, ann, caps="message-tags server-time")
    assert await _join(client, "#tavern-on-the-meta") == ["@AnnLee"]
    web = await irc.signed_in("Bob")
    response = await web.post(f"/chats/{room}/messages/new", {"text": "hi **Ann**"})
    assert response.status == 200
    got = await client.until_command("PRIVMSG")
    assert [line.command for line in got] == ["JOIN", "PRIVMSG"] and got[0].source == "Bob!u2@hubbub"
    assert got[1].params == ["#tavern-on-the-meta", "hi Ann"] and got[1].tags is not None and "msgid" in got[1].tags
    client.send("PRIVMSG #tavern-on-the-meta :hello from irc", "PRIVMSG #tavern-on-the-meta :\x01ACTION waves\x01")
    client.send("NAMES #tavern-on-the-meta")
    names = await client.until_command("366")
    assert sorted(names[0].params[-1].split()) == ["@AnnLee", "Bob"]
    history = await irc.service.queries.history(ann, room, count=5)
    assert [m.source for m in history.messages][-2:] == ["hello from irc", "*waves*"]
    assert not [line for line in client.seen if line.params[-1:] == ["hello from irc"]]  # no echo
    await web.post(f"/chats/leave/{room}", {"quiet": "true"})
    left = await client.until_command("PART")
    assert left[-1].source == "Bob!u2@hubbub"
    client.send("PART #tavern-on-the-meta :bye")
    await client.until_command("PART")
    assert (await irc.service.queries.room_view(ann, room)).present == []
    await client.close()


async def _ann_in_sandbox_with_bob(irc: Node) -> tuple[User, RoomId, RawClient]:
    """Ann Lee on IRC in #sandbox; Bob, who posts there, and the room."""
    ann = await irc.user("Ann Lee")
    bob = await irc.user("Bob")
    room = await irc.room("Sandbox")
    client = await _client(irc, ann)
    await _join(client, "#sandbox")
    return bob, room, client


async def test_a_mention_without_the_nick_in_it_is_made_a_highlight(irc: Node) -> None:
    bob, room, client = await _ann_in_sandbox_with_bob(irc)
    await irc.service.messages.post(bob.id, room, "@Ann look")  # pings Ann Lee, but "AnnLee" is not in it
    got = await client.until_command("PRIVMSG")
    assert got[-1].params[-1] == "AnnLee: @Ann look"
    await client.close()


async def test_a_ping_added_by_a_later_edit_does_not_make_the_post_a_highlight(irc: Node) -> None:
    """The hub may deliver a post and its later edit together: only the post's own pings count."""
    bob, room, client = await _ann_in_sandbox_with_bob(irc)
    posted = await irc.service.messages.post(bob.id, room, "look")
    assert posted.message is not None
    assert (await client.until_command("PRIVMSG"))[-1].params[-1] == "look"
    await irc.service.messages.edit(bob.id, posted.message.id, "@Ann look")
    events = await irc.service.context.store.read(lambda tx: tx.events_after(EventId(0), limit=1000))
    post_and_edit = tuple(e for e in events if e.message_id == posted.message.id)
    assert [e.type for e in post_and_edit] == [
        EventType.MESSAGE_POSTED,
        EventType.USER_MENTIONED,
        EventType.MESSAGE_EDITED,
    ]
    assert irc.runtime.irc is not None
    assert irc.runtime.irc.delivery.deliver(post_and_edit) == 1  # the two transactions in one delivery
    assert (await client.until_command("PRIVMSG"))[-1].params[-1] == "look"
    await client.close()


async def test_kick_and_lost_access_act_at_once(irc: Node) -> None:
    owner, ann = await irc.user("Owner"), await irc.user("Ann")
    room = await irc.room("Club", owner=owner, access=RoomAccess.PRIVATE)
    sync = await irc.room("Sync")
    await irc.service.rooms.set_access(owner.id, room, ann.id, AccessLevel.READ_WRITE)
    client = await _client(irc, ann)
    await _join(client, "#sync")
    await _join(client, "#club")

    async def nothing_from(channel: str, token: str) -> None:
        # The hub delivers in log order: once a later line of #sync is here, anything of the other room was too.
        await irc.service.messages.post(owner.id, sync, token)
        got = await client.until(lambda line: line.command == "PRIVMSG" and line.params[-1] == token)
        assert not [line for line in got if line.command == "PRIVMSG" and line.params[0] == channel]

    await irc.service.rooms.kick(owner.id, room, ann.id)
    await irc.service.messages.post(owner.id, room, "after the kick")
    got = await client.until_command("KICK")
    assert got[-1].params[:2] == ["#club", "Ann"] and got[-1].source == "Owner!u1@hubbub"
    await nothing_from("#club", "sync one")
    client.send("JOIN #club")
    assert (await client.until_command("474", "366"))[-1].command == "474"
    # Access taken away: parted at once, and nothing of the room after that reaches the client.
    other = await irc.room("Lounge", owner=owner, access=RoomAccess.PRIVATE)
    await irc.service.rooms.set_access(owner.id, other, ann.id, AccessLevel.READ_WRITE)
    await _join(client, "#lounge")
    await irc.service.rooms.set_access(owner.id, other, ann.id, None)
    await irc.service.messages.post(owner.id, other, "secret")
    got = await client.until_command("PART")
    assert got[-1].params[0] == "#lounge" and got[-1].source == "Ann!u2@hubbub"
    await nothing_from("#lounge", "sync two")
    client.send("LIST")
    listed = {line.params[1] for line in await client.until_command("323") if line.command == "322"}
    assert listed == {"#sync", "#club"}  # kicked from #club: still listed (readable), #lounge is not
    await client.close()


async def test_stream_channels_carry_stream_chat_both_ways(irc: Node) -> None:
    owner, ann = await irc.user("Jo"), await irc.user("Ann")
    stream = await irc.service.streams.create_stream(
        owner.id, "Show", shares=[ShareRequest(ann.id, ChatLevel.WRITE, 0)]
    )
    jo, an = await _client(irc, owner), await _client(irc, ann)
    await _join(jo, "#jo-show")
    await _join(an, "#jo-show")
    an.send("PRIVMSG #jo-show :hello stream", "PRIVMSG #jo-show :\x01ACTION dances\x01")
    got = await jo.until(lambda line: line.command == "PRIVMSG" and "dances" in line.params[-1])
    chat = [line for line in got if line.command == "PRIVMSG"]
    assert [(line.source, line.params[-1]) for line in chat] == [
        ("Ann!u2@hubbub", "hello stream"),
        ("Ann!u2@hubbub", "\x01ACTION dances\x01"),
    ]
    await irc.service.stream_chat.say(owner.id, stream.id, {"type": "text", "text": "/msg Ann psst", "account_id": 0})
    got = await an.until_command("PRIVMSG")
    assert got[-1].params == ["Ann", "psst"] and got[-1].source == "Jo!u1@hubbub"
    # A share taken away kicks at once.
    await irc.service.streams.update_stream(owner.id, stream.id, shares=[ShareRequest(ann.id, ChatLevel.NONE, 0)])
    got = await an.until_command("KICK")
    assert got[-1].params[:2] == ["#jo-show", "Ann"]
    await jo.close()
    await an.close()


async def test_chathistory_resumes_after_a_reconnect_without_loss_or_duplicates(irc: Node) -> None:
    ann, bob = await irc.user("Ann"), await irc.user("Bob")
    room = await irc.room("Sandbox")
    client = await _client(irc, ann, caps="message-tags batch draft/chathistory")
    await _join(client, "#sandbox")
    await irc.service.messages.post(bob.id, room, "one")
    last = (await client.until_command("PRIVMSG"))[-1]
    assert last.tags is not None
    seen = last.tags["msgid"]
    await client.close()
    for word in ("two", "three", "four", "five"):
        await irc.service.messages.post(bob.id, room, word)
    again = await _client(irc, ann, caps="message-tags batch draft/chathistory")
    again.send(f"CHATHISTORY AFTER #sandbox msgid={seen} 3")
    got = await again.until(lambda line: line.command == "BATCH" and line.params[0].startswith("-"))
    first_page = [line for line in got if line.command == "PRIVMSG"]
    assert [line.params[-1] for line in first_page] == ["two", "three", "four"]
    assert all(line.tags and line.tags.get("batch") == got[0].params[0][1:] for line in first_page)
    assert first_page[-1].tags is not None
    again.send(f"CHATHISTORY AFTER #sandbox msgid={first_page[-1].tags['msgid']} 3")
    got = await again.until(lambda line: line.command == "BATCH" and line.params[0].startswith("-"))
    assert [line.params[-1] for line in got if line.command == "PRIVMSG"] == ["five"]
    again.send("CHATHISTORY LATEST #sandbox * 2", "CHATHISTORY LATEST #nowhere * 2")
    got = await again.until_command("FAIL")
    assert [line.params[-1] for line in got if line.command == "PRIVMSG"] == ["four", "five"]
    await again.close()


async def test_a_password_change_closes_irc_connections(irc: Node) -> None:
    ann = await irc.user("Ann")
    client = await _client(irc, ann)
    await irc.service.accounts.set_password(ann.id, "a new long password")
    got = await client.closed()
    assert got[-1].command == "ERROR"


async def test_quit_leaves_only_the_rooms_the_connection_entered(irc: Node) -> None:
    ann = await irc.user("Ann")
    web_room, irc_room = await irc.room("Web"), await irc.room("Chat")
    await irc.service.rooms.join(ann.id, web_room)  # already there from the web
    client = await _client(irc, ann)
    await _join(client, "#web")
    await _join(client, "#chat")
    client.send("QUIT :gone")
    assert (await client.closed())[-1].command == "ERROR"
    for _ in range(200):
        if not (await irc.service.queries.room_view(ann, irc_room)).present:
            break
        await asyncio.sleep(0.01)
    assert not (await irc.service.queries.room_view(ann, irc_room)).present
    assert [u.name for _, u in (await irc.service.queries.room_view(ann, web_room)).present] == ["Ann"]


class _Writers:
    """The bridges, recorded: every account has a writer; lines written are kept."""

    def __init__(self) -> None:
        self.written: list[tuple[int, int, str]] = []

    def writer(self, stream: object, target: object, account: object) -> bool:
        return True

    def write(self, request: WriteRequest) -> bool:
        self.written.append((request.account.id, request.target.id, request.text))
        return True

    def ready(self, stream_id: int, account_id: int) -> bool:
        return True


async def test_bots_of_a_stream_channel_write_to_networks_when_allowed(irc: Node) -> None:
    owner, guest = await irc.user("Jo"), await irc.user("Ann")
    account = await irc.service.network_accounts.create_account(owner.id, network="twitch", name="jprjr2")
    stream = await irc.service.streams.create_stream(
        owner.id, "Show", account_ids=[account.id], shares=[ShareRequest(guest.id, ChatLevel.WRITE, 0)]
    )
    writers = _Writers()
    irc.service.stream_chat.writers = writers
    jo, ann = await _client(irc, owner), await _client(irc, guest)
    await _join(jo, "#jo-show")
    await _join(ann, "#jo-show")
    jo.send("PRIVMSG #jo-show :@twitch-jprjr2 hello twitch")  # the quirk: a name ending in a digit, no colon
    ann.send("PRIVMSG #jo-show :twitch-jprjr2: me too")
    refused = (await ann.until_command("PRIVMSG"))[-1]
    assert refused.source == "root!root@hubbub" and refused.params[-1] == "Ann: not authorized"
    jo.send("NAMES #jo-show")  # jo's commands run in order: its line was handled once NAMES is answered
    await jo.until_command("366")
    assert writers.written == [(account.id, account.id, "hello twitch")]
    jo.send("PRIVMSG #jo-show :!help", "PRIVMSG #jo-show :!bogus", "PRIVMSG #jo-show :!viewcount")
    answers = [line.params[-1] for line in await jo.until(lambda line: "viewer counts" in line.params[-1])]
    assert answers[0].startswith("Jo: commands: !help") and "unknown command !bogus" in answers[1]
    history = await irc.service.queries.history(owner, stream.room_id, count=10)
    assert history.messages == []  # none of it became room chat
    await jo.close()
    await ann.close()


async def test_tls_with_a_configured_certificate(make_node: NodeFactory, tmp_path: Path) -> None:
    cert, key = tmp_path / "irc.crt", tmp_path / "irc.key"
    made = await asyncio.create_subprocess_exec(
        "openssl",
        *["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
        *["-keyout", str(key), "-out", str(cert)],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await made.wait() == 0
    node = await make_node(irc_port=0, irc_tls_cert=str(cert), irc_tls_key=str(key))
    ann = await node.user("Ann")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    reader, writer = await asyncio.open_connection("127.0.0.1", node.runtime.irc_port, ssl=context)
    client = RawClient(reader, writer)
    assert (await client.login(ann.name, PASSWORD))[-1].command == "422"
    await client.close()
    plain = await RawClient.connect(node.runtime.irc_port)  # the port speaks TLS only
    plain.send("NICK x")
    with contextlib.suppress(ConnectionError):
        assert await plain.line() is None
