"""The SDK against a live hubbub node: login, join, post, reply, edit, delete, star, refusals, 409 retries."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import AsyncIterator

import pytest

from hubbub.client import Client, errors, events
from hubbub.core.ids import RoomId
from hubbub.core.models import AccessLevel
from hubbub.errors import HubbubError
from tests.client.conftest import SignIn, next_of
from tests.conftest import PASSWORD, Node, NodeFactory
from tests.fakes import eventually


async def test_login_reads_the_fkey_and_who_we_are(node: Node, sign_in: SignIn) -> None:
    client = await sign_in(node, "Bot Name")
    assert client.fkey and client.user_name == "Bot Name" and client.user_id is not None


async def test_wrong_password_and_no_login_are_typed_errors(node: Node) -> None:
    user = await node.user("Someone")
    assert user.email is not None
    async with Client(node.base) as client:
        with pytest.raises(errors.LoginFailed):
            await client.login(user.email, "not the password")
        with pytest.raises(errors.NotLoggedIn):
            await client.join(await node.room())


async def test_send_reply_edit_delete_star_and_their_events(node: Node, sign_in: SignIn) -> None:
    alice = await sign_in(node, "Alice")
    bob = await sign_in(node, "Bob")
    room_id = await node.room()
    alice_room = await alice.join(room_id)
    bob_room = await bob.join(room_id)
    stream = alice_room.events()
    first = await alice_room.send("hello **all**")
    posted = await next_of(stream, events.MessageEvent)
    assert (posted.message_id, posted.content, posted.text) == (first, "hello <b>all</b>", "hello all")
    assert (posted.user_name, posted.user_id, posted.room_id) == ("Alice", alice.user_id, room_id)

    answer = await bob_room.reply(first, "hi Alice")
    reply = await next_of(stream, events.MessageReply)
    assert (reply.message_id, reply.parent_id, reply.show_parent) == (answer, first, True)
    assert reply.target_user_id == alice.user_id
    message = await next_of(stream, events.MessageEvent)
    assert message.message_id == answer and message.parent_id == first

    await alice_room.edit(first, "hello everyone")
    edited = await next_of(stream, events.MessageEdited)
    assert (edited.message_id, edited.content, edited.message_edits) == (first, "hello everyone", 1)

    await bob_room.star(first)
    starred = await next_of(stream, events.MessageStarred)
    assert (starred.message_id, starred.message_stars) == (first, 1)

    await alice_room.delete(first)
    deleted = await next_of(stream, events.MessageDeleted)
    assert deleted.message_id == first and deleted.user_id == alice.user_id
    await stream.aclose()


async def test_mentions_entering_and_leaving(node: Node, sign_in: SignIn) -> None:
    watcher = await sign_in(node, "Watcher")
    other = await sign_in(node, "Other")
    room_id = await node.room()
    room = await watcher.join(room_id)
    stream = room.events()
    await room.send("I am here")
    await next_of(stream, events.MessageEvent)
    other_room = await other.join(room_id)
    entered = await next_of(stream, events.UserEntered)
    assert (entered.user_id, entered.user_name) == (other.user_id, "Other")
    ping = await other_room.send("@Watcher look")
    mention = await next_of(stream, events.UserMentioned)
    assert (mention.message_id, mention.target_user_id) == (ping, watcher.user_id)
    await other_room.leave()
    left = await next_of(stream, events.UserLeft)
    assert left.user_id == other.user_id
    await stream.aclose()


async def test_room_changes_access_changes_and_moves_arrive_typed(node: Node, sign_in: SignIn) -> None:
    owner_client = await sign_in(node, "Owner")
    assert owner_client.user_id is not None
    owner = await node.service.queries.user(owner_client.user_id)  # type: ignore[arg-type]
    assert owner is not None
    room_id = await node.room("First", owner=owner)
    target = await node.room("Second", owner=owner)
    guest = await node.user("Guest")
    room = await owner_client.join(room_id)
    stream = room.events()
    target_stream = (await owner_client.join(target)).events()
    message = await room.send("move me")
    await next_of(stream, events.MessageEvent)
    await node.service.rooms.update_room(owner.id, room_id, name="Renamed", description="new", tags="", access=None)
    renamed = await next_of(stream, events.RoomNameChanged)
    assert renamed.content.startswith("Renamed") and renamed.room_name == "Renamed"
    await node.service.rooms.set_access(owner.id, room_id, guest.id, AccessLevel.READ_WRITE)
    access = await next_of(stream, events.AccessLevelChangedEvent)
    assert (access.content, access.target_user_id, access.user_id) == ("Access now read-write", guest.id, owner.id)
    assert await owner_client.move_messages(room_id, [message], target) == 1
    out = await next_of(stream, events.MessageMovedOutEvent)
    assert out.message_id == message and out.room_id == room_id
    moved_in = await next_of(target_stream, events.MessageMovedInEvent)
    assert moved_in.message_id == message and moved_in.room_id == target
    await stream.aclose()
    await target_stream.aclose()


async def test_refusals_are_typed(node: Node, sign_in: SignIn) -> None:
    alice = await sign_in(node, "Alice")
    bob = await sign_in(node, "Bob")
    room_id = await node.room()
    alice_room = await alice.join(room_id)
    bob_room = await bob.join(room_id)
    message = await alice_room.send("mine")
    with pytest.raises(errors.NotYours):
        await bob_room.delete(message)
    with pytest.raises(errors.NotYours):
        await bob_room.edit(message, "theirs")
    with pytest.raises(errors.OwnMessage):
        await alice_room.star(message)
    with pytest.raises(errors.TooLong):
        await alice_room.send("x" * 501)
    with pytest.raises(errors.EmptyMessage):
        await alice_room.send("   ")
    with pytest.raises(errors.DuplicateMessage):
        await alice_room.send("mine")
    node.clock.advance(121)
    with pytest.raises(errors.TooLate) as late:
        await alice_room.edit(message, "too late")
    assert str(late.value) == "It is too late to edit this message"
    with pytest.raises(errors.TooLate):
        await alice_room.delete(message)
    fresh = await alice_room.send("short-lived")
    await alice_room.delete(fresh)
    with pytest.raises(errors.AlreadyDeleted):
        await alice_room.delete(fresh)
    with pytest.raises(errors.AlreadyDeleted):
        await alice_room.edit(fresh, "again")
    with pytest.raises(errors.NeverAssigned):
        await alice_room.edit(10_000, "nothing there")
    with pytest.raises(errors.NotFound):
        await alice.join(999)


async def test_long_lines_are_split_on_request(node: Node, sign_in: SignIn) -> None:
    client = await sign_in(node, "Talker")
    room = await client.join(await node.room())
    words = " ".join(f"word{n}" for n in range(150))  # about 1,000 characters
    ids = await room.send_long(words)
    assert len(ids) == 3 and ids == sorted(ids)
    sources = [(await node.service.queries.message(None, i)).message.source for i in ids]  # type: ignore[arg-type]
    assert " ".join(sources) == words and all(len(s) <= 500 for s in sources)
    multi = "line one\n" + "y" * 600
    assert len(await room.send_long(multi)) == 1


async def test_rate_limits_are_waited_out_then_reported(make_node: NodeFactory) -> None:
    node = await make_node(message_rate_burst=1, message_rate_per_second=0.5)
    user = await node.user("Hasty")
    assert user.email is not None
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        node.clock.advance(seconds)  # the server's rate limiter runs on the node's clock

    async with Client(node.base, sleep=fake_sleep) as client:
        await client.login(user.email, PASSWORD)
        room = await client.join(await node.room())
        first = await room.send("one")
        second = await room.send("two")  # refused with 409 "... again in 2 seconds.", waited, retried
        assert second > first and waits == [2]

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    async with Client(node.base, sleep=no_sleep, rate_limit_retries=2) as client:
        await client.login(user.email, PASSWORD)
        room = await client.join(await node.room("Other"))
        with pytest.raises(errors.RateLimited) as limited:
            await room.send("three")
        assert limited.value.retry_after == 2 and waits[-2:] == [2, 2]


# --- nothing left open --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def nothing_left_open() -> AsyncIterator[None]:
    """Fail if anything aiohttp opened is left unclosed: the ResourceWarnings it raises when such
    an object is collected, and the "Unclosed client session/connector/connection" reports it
    sends the loop's exception handler (pyproject hides ResourceWarnings from the suite).
    """
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    # Whatever earlier tests left for the collector is finalised now, before recording starts,
    # so that only what this block opens can fail it.
    gc.collect()
    await asyncio.sleep(0)
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(str(context.get("message"))))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            yield
            gc.collect()
            await asyncio.sleep(0)  # reports that finalizers scheduled on the loop
            gc.collect()
    finally:
        loop.set_exception_handler(previous)
    resource_warnings = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert reported + resource_warnings == []


async def _bot(node: Node) -> tuple[str, RoomId]:
    user = await node.user("Bot")
    assert user.email is not None
    return user.email, RoomId(await node.room())


async def test_a_closed_client_opens_no_new_session(node: Node) -> None:
    """Anything after ``async with Client`` used to open a new session quietly (no cookies, so
    "not logged in", and never closed: "Unclosed client session/connector" at exit)."""
    email, room_id = await _bot(node)

    async def leave_after_the_block() -> list[HubbubError]:
        client = Client(node.base)
        async with client:
            await client.login(email, PASSWORD)
            room = await client.join(room_id)
        refusals = []
        for late in (room.leave(), client.__aenter__()):
            try:
                await late
            except HubbubError as error:
                refusals.append(error)
        return refusals

    async with nothing_left_open():
        refusals = await leave_after_the_block()
    assert [type(error).__name__ for error in refusals] == ["ClientClosed", "ClientClosed"]
    assert "create a new Client" in str(refusals[0])


async def test_streams_leave_nothing_open_however_they_end(node: Node) -> None:
    email, room_id = await _bot(node)

    async def left_with_break() -> None:
        """Never closed by the caller: closing the client closes it."""
        async with Client(node.base) as client:
            await client.login(email, PASSWORD)
            room = await client.join(room_id)
            await room.send("one")
            async for event in room.events(since=0):
                if isinstance(event, events.MessageEvent):
                    break

    async def awaited_by_another_task() -> None:
        """The client closes while another task waits in the stream: the wait ends."""
        async with Client(node.base) as client:
            await client.login(email, PASSWORD)
            stream = (await client.join(room_id)).events()
            waiting = asyncio.create_task(anext(stream))
            await eventually(lambda: stream.connections == 1)
        with pytest.raises(StopAsyncIteration):
            await waiting

    async def closed_while_opening() -> None:
        async with Client(node.base) as client:
            await client.login(email, PASSWORD)
            opening = asyncio.create_task(anext((await client.join(room_id)).events()))
            await asyncio.sleep(0)  # the stream has started its first request
        with pytest.raises(StopAsyncIteration):
            await opening

    async with nothing_left_open():
        await left_with_break()
        await awaited_by_another_task()
        await closed_while_opening()
