"""A small bot toolkit on the SDK: commands, replies to mentions, per-user cooldowns, graceful shutdown.

::

    bot = Bot("http://127.0.0.1:8080", "bot@example.org", "secret", rooms=[1])

    @bot.command("ping")
    async def ping(ctx: Context) -> str:
        return "pong"          # a returned string is posted as a reply to the command

    bot.run()                  # until Ctrl-C or SIGTERM

A command is a message starting with the prefix (``!ping``), or a ping or reply
to the bot that starts with the command's name (``@Bot ping``). Each user may run
each command once per ``cooldown`` seconds; extra calls are ignored. Handlers run
concurrently (at most ``max_concurrency`` at once); on shutdown the bot stops
reading, lets running handlers finish (within ``shutdown_grace`` seconds),
leaves its rooms and closes its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import aiohttp

from hubbub.client.client import Client, Room
from hubbub.client.events import Event, MentionEvent, MessageEvent, ReplyEvent
from hubbub.errors import HubbubError

__all__ = ["Bot", "Context", "Handler", "parse_command", "strip_mention"]

log = logging.getLogger("hubbub.client.bot")

MAX_REMEMBERED: Final = 10_000  # cooldown entries and handled message ids kept; the oldest are forgotten


@dataclass(frozen=True)
class Context:
    """What a handler gets: the bot, the room, the triggering message, and the command's arguments."""

    bot: Bot
    room: Room
    event: MessageEvent
    command: str
    args: str

    @property
    def user_id(self) -> int:
        return self.event.user_id

    @property
    def user_name(self) -> str:
        return self.event.user_name

    async def reply(self, text: str) -> int:
        """Reply to the triggering message; returns the new message's id."""
        return await self.room.reply(self.event.message_id, text)


Handler = Callable[[Context], Awaitable[str | None]]


@dataclass
class _Command:
    handler: Handler
    cooldown: float
    help: str = ""
    last_use: OrderedDict[int, float] = field(default_factory=OrderedDict)


def strip_mention(text: str, my_name: str | None) -> str:
    """The text without a leading ``@<my name>`` (a ping names a prefix of the name without spaces)."""
    words = text.strip()
    if words.startswith("@"):
        first, _, rest = words.partition(" ")
        typed = first[1:].rstrip(",:").lower()
        if my_name is None or my_name.replace(" ", "").lower().startswith(typed):
            return rest.strip()
    return words


def parse_command(text: str, *, prefix: str, my_name: str | None, addressed: bool) -> tuple[str, str] | None:
    """``(name, args)`` from a message's plain text, or None when it is not a command.

    ``addressed`` says the message pings or replies to the bot: then a leading
    ``@<my name>`` is dropped and the prefix is optional.
    """
    words = strip_mention(text, my_name) if addressed else text.strip()
    if words.startswith(prefix) and prefix:
        words = words[len(prefix) :]
    elif not addressed:
        return None
    name, _, args = words.partition(" ")
    return (name.lower(), args.strip()) if name else None


class Bot:
    """A chat bot: register handlers, then ``run()`` (or ``await start()``)."""

    def __init__(
        self,
        url: str,
        email: str,
        password: str,
        *,
        rooms: Sequence[int],
        prefix: str = "!",
        cooldown: float = 3.0,
        max_concurrency: int = 8,
        shutdown_grace: float = 10.0,
        client: Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client or Client(url)
        self.email, self.password = email, password
        self.room_ids = list(rooms)
        self.prefix = prefix
        self.cooldown = cooldown
        self.shutdown_grace = shutdown_grace
        self.clock = clock
        self.rooms: dict[int, Room] = {}
        self._commands: dict[str, _Command] = {}
        self._mention_handlers: list[Handler] = []
        self._event_handlers: list[Callable[[Room, Event], Awaitable[None]]] = []
        self._handled: OrderedDict[int, None] = OrderedDict()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set once logged in and every room is joined

    def command(self, name: str, *, cooldown: float | None = None, help: str = "") -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``!name`` (or ``@Bot name``); a returned string is replied."""

        def register(handler: Handler) -> Handler:
            doc = (handler.__doc__ or "").strip()
            summary = help or (doc.splitlines()[0] if doc else "")
            self._commands[name.lower()] = _Command(handler, self.cooldown if cooldown is None else cooldown, summary)
            return handler

        return register

    def on_mention(self, handler: Handler) -> Handler:
        """Register a handler for pings and replies to the bot that are not a command."""
        self._mention_handlers.append(handler)
        return handler

    def on_event(self, handler: Callable[[Room, Event], Awaitable[None]]) -> Callable[[Room, Event], Awaitable[None]]:
        """Register a handler that sees every event of every room (before commands are dispatched)."""
        self._event_handlers.append(handler)
        return handler

    def stop(self) -> None:
        """Ask the bot to shut down; ``start()`` returns once it has."""
        self._stop.set()

    def run(self) -> None:
        """Run until SIGINT (Ctrl-C) or SIGTERM, then shut down gracefully.

        Raises:
            SystemExit: With the reason, when the bot cannot log in or loses its rooms.
        """
        try:
            asyncio.run(self._run_with_signals())
        except KeyboardInterrupt:
            pass
        except (HubbubError, OSError, aiohttp.ClientError) as error:
            raise SystemExit(f"bot stopped: {error}") from error

    async def _run_with_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stop)
        await self.start()

    async def start(self) -> None:
        """Log in, join the rooms, serve until ``stop()``, then shut down."""
        tasks: list[asyncio.Task[object]] = []
        try:
            await self.client.login(self.email, self.password)
            for room_id in self.room_ids:
                self.rooms[room_id] = await self.client.join(room_id)
            readers = [asyncio.create_task(self._read(room)) for room in self.rooms.values()]
            tasks.extend(readers)
            self.ready.set()
            log.info("bot %s ready in rooms %s", self.client.user_name, self.room_ids)
            stop = asyncio.create_task(self._stop.wait())
            tasks.append(stop)
            await asyncio.wait([stop, *readers], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            for task in readers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task  # a reader that failed raises here, after the others were stopped
        finally:
            for task in tasks:
                task.cancel()  # when start() itself was cancelled, nothing of it may run on
            await self._shut_down()

    async def _shut_down(self) -> None:
        if self._running:
            _, late = await asyncio.wait(self._running, timeout=self.shutdown_grace)
            for task in late:
                task.cancel()
        try:
            for room in self.rooms.values():
                with contextlib.suppress(HubbubError, OSError, aiohttp.ClientError):
                    await room.leave()
        finally:
            await self.client.close()
        log.info("bot stopped")

    async def _read(self, room: Room) -> None:
        stream = room.events()
        try:
            async for event in stream:
                await self._slots.acquire()  # back-pressure: no more than max_concurrency handlers at once
                task = asyncio.create_task(self._dispatch(room, event))
                self._running.add(task)
                task.add_done_callback(self._finished)
        finally:
            await stream.aclose()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _dispatch(self, room: Room, event: Event) -> None:
        try:
            for handler in self._event_handlers:
                await handler(room, event)
            if isinstance(event, MessageEvent) and event.user_id != self.client.user_id:
                await self._message(room, event)
        except Exception:
            log.exception("handler failed on event %s", event.id)

    def _first_time(self, message_id: int) -> bool:
        """A ping comes as a message and a mention event; act on whichever arrives first."""
        if message_id in self._handled:
            return False
        self._handled[message_id] = None
        if len(self._handled) > MAX_REMEMBERED:
            self._handled.popitem(last=False)
        return True

    async def _message(self, room: Room, event: MessageEvent) -> None:
        addressed = isinstance(event, MentionEvent | ReplyEvent) and event.target_user_id == self.client.user_id
        if type(event) is not MessageEvent and not addressed:
            return  # edits, and pings of other users
        parsed = parse_command(event.text, prefix=self.prefix, my_name=self.client.user_name, addressed=addressed)
        if parsed is not None and (parsed[0] in self._commands or parsed[0] == "help"):
            if not self._first_time(event.message_id):
                return
            name, args = parsed
            if name == "help" and "help" not in self._commands:
                await room.reply(event.message_id, self._help())
                return
            await self._run_command(room, event, name, args)
        elif addressed and self._mention_handlers and self._first_time(event.message_id):
            for handler in self._mention_handlers:
                text = strip_mention(event.text, self.client.user_name)
                answer = await handler(Context(self, room, event, "", text))
                if answer:
                    await room.reply(event.message_id, answer)

    async def _run_command(self, room: Room, event: MessageEvent, name: str, args: str) -> None:
        command = self._commands[name]
        now = self.clock()
        last = command.last_use.get(event.user_id)
        if last is not None and now - last < command.cooldown:
            log.info("%s: %s is cooling down for user %s", name, command.cooldown - (now - last), event.user_id)
            return
        command.last_use[event.user_id] = now
        command.last_use.move_to_end(event.user_id)
        if len(command.last_use) > MAX_REMEMBERED:
            command.last_use.popitem(last=False)
        answer = await command.handler(Context(self, room, event, name, args))
        if answer:
            await room.reply(event.message_id, answer)

    def _help(self) -> str:
        names = "; ".join(
            f"{self.prefix}{name}" + (f" ({command.help})" if command.help else "")
            for name, command in sorted(self._commands.items())
        )
        return f"Commands: {names}" if names else "I know no commands."
