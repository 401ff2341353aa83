"""The bot toolkit against a live node: commands, mentions, replies, cooldowns, shutdown."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hubbub.client import Client, EventStream, Room, events
from hubbub.client.bot import Bot, Context, parse_command
from tests.client.conftest import SignIn
from tests.conftest import PASSWORD, Node
from tests.fakes import TIMEOUT, eventually


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def running_bot(node: Node) -> AsyncIterator[tuple[Bot, Clock, int]]:
    user = await node.user("Echo Bot")
    assert user.email is not None
    room_id = await node.room()
    clock = Clock()
    bot = Bot(node.base, user.email, PASSWORD, rooms=[room_id], cooldown=5.0, clock=clock)

    @bot.command("ping")
    async def ping(ctx: Context) -> str:
        """Answers pong."""
        return "pong"

    @bot.command("echo", cooldown=0)
    async def echo(ctx: Context) -> str:
        return ctx.args or "(nothing)"

    @bot.on_mention
    async def mentioned(ctx: Context) -> str:
        return f"you said: {ctx.args}"

    task = asyncio.create_task(bot.start())
    async with asyncio.timeout(TIMEOUT):
        await bot.ready.wait()
    yield bot, clock, room_id
    bot.stop()
    async with asyncio.timeout(TIMEOUT):
        await task


async def _replies(
    stream: EventStream, bot: Bot, count: int, ids: list[int] | None = None
) -> list[tuple[int | None, str]]:
    """The next ``count`` messages the bot posts: (parent id, text without the @name); their ids go to ``ids``."""
    found: list[tuple[int | None, str]] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in stream:
            if type(event) is events.MessageEvent and event.user_id == bot.client.user_id:
                found.append((event.parent_id, event.text.split(" ", 1)[1]))
                if ids is not None:
                    ids.append(event.message_id)
                if len(found) == count:
                    return found
    raise AssertionError("the stream ended")


async def test_commands_mentions_and_cooldowns(
    node: Node, sign_in: SignIn, running_bot: tuple[Bot, Clock, int]
) -> None:
    bot, clock, room_id = running_bot
    alice = await sign_in(node, "Alice")
    bob = await sign_in(node, "Bob")
    alice_room, bob_room = await alice.join(room_id), await bob.join(room_id)
    stream = alice_room.events()
    first = await alice_room.send("!ping")
    assert await _replies(stream, bot, 1) == [(first, "pong")]
    await alice_room.send("!ping again")  # within Alice's cooldown: ignored
    mention = await alice_room.send("@EchoBot echo hello there")
    assert await _replies(stream, bot, 1) == [(mention, "hello there")]
    bobs = await bob_room.send("!ping")  # Bob's cooldown is his own
    assert await _replies(stream, bot, 1) == [(bobs, "pong")]
    clock.now += 5
    again = await alice_room.send("!PING")
    pong: list[int] = []
    assert await _replies(stream, bot, 1, pong) == [(again, "pong")]
    chat = await alice_room.send("@Echo how are you?")
    assert await _replies(stream, bot, 1) == [(chat, "you said: how are you?")]
    answer = await alice_room.reply(pong[0], "help")  # a reply to the bot is addressed to it
    [(parent, text)] = await _replies(stream, bot, 1)
    assert parent == answer and text == "Commands: !echo; !ping (Answers pong.)"
    await alice_room.send("just talking")  # neither a command nor addressed: no answer
    last = await alice_room.send("!echo done")
    assert await _replies(stream, bot, 1) == [(last, "done")]
    await stream.aclose()


async def test_stop_leaves_the_rooms_and_ends_the_session(node: Node, sign_in: SignIn) -> None:
    user = await node.user("Quitter")
    assert user.email is not None
    room_id = await node.room()
    watcher = await sign_in(node, "Watcher")
    stream = (await watcher.join(room_id)).events()
    client = Client(node.base)
    bot = Bot(node.base, user.email, PASSWORD, rooms=[room_id], client=client)
    task = asyncio.create_task(bot.start())
    async with asyncio.timeout(TIMEOUT):
        await bot.ready.wait()
        entered = await anext(stream)
        assert isinstance(entered, events.UserEntered) and entered.user_id == user.id
    bot.stop()
    async with asyncio.timeout(TIMEOUT):
        await task
        left = await anext(stream)
    assert isinstance(left, events.UserLeft) and left.user_id == user.id
    assert client._session is None
    await stream.aclose()


def test_parse_command() -> None:
    assert parse_command("!ping now", prefix="!", my_name="Bot", addressed=False) == ("ping", "now")
    assert parse_command("ping", prefix="!", my_name="Bot", addressed=False) is None
    assert parse_command("@Bot ping", prefix="!", my_name="Bot", addressed=True) == ("ping", "")
    assert parse_command("@EchoB, !echo x", prefix="!", my_name="Echo Bot", addressed=True) == ("echo", "x")
    assert parse_command("@Other ping", prefix="!", my_name="Bot", addressed=True) == ("@other", "ping")
    assert parse_command("!", prefix="!", my_name="Bot", addressed=False) is None


async def test_a_failed_leave_still_ends_the_session(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    user = await node.user("Quitter")
    assert user.email is not None
    client = Client(node.base)
    bot = Bot(node.base, user.email, PASSWORD, rooms=[await node.room()], client=client)
    task = asyncio.create_task(bot.start())
    async with asyncio.timeout(TIMEOUT):
        await bot.ready.wait()

    async def dropped(self: Room) -> None:
        raise aiohttp.ServerDisconnectedError()

    monkeypatch.setattr(Room, "leave", dropped)
    bot.stop()
    async with asyncio.timeout(TIMEOUT):
        await task  # before the fix: ServerDisconnectedError, and the session left open
    assert client._session is None


def test_run_reports_an_unreachable_server_as_the_reason_to_stop() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        bot = Bot(f"http://127.0.0.1:{port}", "bot@example.org", "secret", rooms=[1])
        with pytest.raises(SystemExit, match="bot stopped"):
            bot.run()  # before the fix: a ClientConnectorError traceback


async def test_cancelling_start_leaves_no_task_behind(node: Node) -> None:
    user = await node.user("Quitter")
    assert user.email is not None
    client = Client(node.base)
    bot = Bot(node.base, user.email, PASSWORD, rooms=[await node.room()], client=client)
    before = asyncio.all_tasks()
    task = asyncio.create_task(bot.start())
    async with asyncio.timeout(TIMEOUT):
        await bot.ready.wait()
    task.cancel()  # as asyncio.run does on Ctrl-C when the bot runs inside the caller's loop
    with pytest.raises(asyncio.CancelledError):
        await task
    # Before the fix: the task waiting for stop() stayed pending for ever.
    await eventually(lambda: asyncio.all_tasks() - before == set())
    assert client._session is None
