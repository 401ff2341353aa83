"""``hubbub tail`` and ``hubbub say``: a room, or direct messages, in the terminal, through the SDK (docs/sdk.md).

Both log in like any Stack Exchange chat client, so they work against a hubbub
server anywhere (and, with ``--login-url``, against chat.stackexchange.com).
Credentials come from flags, then ``HUBBUB_URL`` / ``HUBBUB_EMAIL`` /
``HUBBUB_PASSWORD``, then a TOML file (``--client-config``, ``HUBBUB_CLIENT_CONFIG``,
default ``~/.config/hubbub/client.toml``); a missing password is asked for on a
terminal. So a password never has to appear on a shared command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
import time
import tomllib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import click

from hubbub.client import Client, DirectEvent, EventStream, Room, events
from hubbub.errors import HubbubError

__all__ = ["say", "tail"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_URL = "http://127.0.0.1:8080"
# Name colours: distinct on dark and light terminals; a user keeps one colour for the whole session.
PALETTE = ("cyan", "green", "yellow", "magenta", "blue", "red", "bright_cyan", "bright_green", "bright_magenta")


def _default_config() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hubbub" / "client.toml"


def _connection_options(function: F) -> F:
    options = [
        click.option(
            "--url", envvar="HUBBUB_URL", default=None, help=f"Chat server [env HUBBUB_URL; default {DEFAULT_URL}]."
        ),
        click.option("--email", envvar="HUBBUB_EMAIL", default=None, help="Login e-mail [env HUBBUB_EMAIL]."),
        click.option(
            "--password",
            envvar="HUBBUB_PASSWORD",
            default=None,
            help="Password [env HUBBUB_PASSWORD]; better in the config file, or typed when asked.",
        ),
        click.option(
            "--login-url", envvar="HUBBUB_LOGIN_URL", default=None, help="Where /users/login lives, if elsewhere."
        ),
        click.option(
            "--client-config",
            envvar="HUBBUB_CLIENT_CONFIG",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="TOML file with url, email, password, login_url [default ~/.config/hubbub/client.toml].",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@dataclass(frozen=True)
class Credentials:
    url: str
    email: str
    password: str
    login_url: str | None


def _credentials(
    url: str | None, email: str | None, password: str | None, login_url: str | None, config: Path | None
) -> Credentials:
    """Flags and environment first (click resolved those), then the config file, then defaults or a prompt."""
    path = config or _default_config()
    from_file: dict[str, Any] = {}
    if path.is_file():
        try:
            from_file = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise click.UsageError(f"{path}: {error}") from error
        if "password" in from_file and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            click.echo(f"warning: {path} holds a password and others may read it (chmod 600 it)", err=True)
    elif config is not None:
        raise click.UsageError(f"{config}: no such file")

    def pick(value: str | None, key: str) -> str | None:
        found = value if value is not None else from_file.get(key)
        return None if found is None else str(found)

    email = pick(email, "email")
    if not email:
        raise click.UsageError("no e-mail address: pass --email, set HUBBUB_EMAIL or put email in the config file")
    password = pick(password, "password")
    if password is None:
        if not sys.stdin.isatty():
            raise click.UsageError("no password: set HUBBUB_PASSWORD or put password in the config file")
        password = click.prompt(f"Password for {email}", hide_input=True)
    return Credentials(pick(url, "url") or DEFAULT_URL, email, password, pick(login_url, "login_url"))


def _run_until_signal(work: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
    """Run ``work``; SIGINT (Ctrl-C) or SIGTERM cancel it quietly and give None."""

    async def main() -> T | None:
        task = asyncio.ensure_future(work())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return None

    try:
        return asyncio.run(main())
    except HubbubError as error:
        raise click.ClickException(str(error)) from error
    except (OSError, aiohttp.ClientError) as error:
        raise click.ClickException(f"cannot reach the server: {error}") from error


async def _open(credentials: Credentials, client: Client, room_id: int) -> Room:
    await client.login(credentials.email, credentials.password)
    return await client.join(room_id)


class Printer:
    """Turns events into terminal lines: coloured names, replies and edits marked."""

    def __init__(self, *, color: bool | None) -> None:
        self.color = color

    def _name(self, user_id: int, name: str) -> str:
        return click.style(name, fg=PALETTE[user_id % len(PALETTE)], bold=True)

    def _dim(self, text: str) -> str:
        return click.style(text, dim=True)

    def line(self, event: events.Event) -> str | None:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time_stamp)) if event.time_stamp else "--:--:--"
        if isinstance(event, events.MentionEvent | events.ReplyEvent):
            return None  # the same message also arrives as a MessageEvent
        if isinstance(event, events.MessageEvent):
            marks = []
            if isinstance(event, events.EditEvent):
                marks.append(click.style("(edited)", fg="yellow"))
            if event.parent_id is not None and event.show_parent:
                marks.append(click.style(f"(reply to #{event.parent_id})", fg="cyan"))
            text = event.text.replace("\n", "\n" + " " * 11)
            head = " ".join([self._name(event.user_id, event.user_name), *marks])
            return f"{self._dim(stamp)} {head}: {text}  {self._dim(f'#{event.message_id}')}"
        if isinstance(event, events.DeleteEvent):
            return self._dim(f"{stamp} {event.user_name} deleted #{event.message_id}")
        if isinstance(event, events.MessageStarredEvent):
            return self._dim(f"{stamp} #{event.message_id} now has {event.message_stars} star(s)")
        if isinstance(event, events.UserEnteredEvent):
            return self._dim(f"{stamp} → {event.user_name} entered")
        if isinstance(event, events.UserLeftEvent):
            return self._dim(f"{stamp} ← {event.user_name} left")
        if isinstance(event, events.RoomNameChangedEvent):
            return self._dim(f"{stamp} room is now: {event.content}")
        if isinstance(event, events.AccessLevelChangedEvent):
            return self._dim(f"{stamp} access changed: {event.content or 'room access'}")
        return self._dim(f"{stamp} (event type {event.event_type})")

    def direct_line(self, event: DirectEvent, me: int | None) -> str | None:
        """A direct event as a line: messages (``→ name`` when sent to someone else), presence and
        contact changes dimmed; typing and read markers are not shown."""
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time)) if event.time else "--:--:--"
        if event.kind == "message" and event.message is not None:
            text = event.message.text.replace("\n", "\n" + " " * 11)
            head = self._name(event.user_id, event.user_name)
            if event.message.sender_id == me and event.target_user_id not in (None, me):
                head += self._dim(f" → user {event.target_user_id}")
            return f"{self._dim(stamp)} {head}: {text}  {self._dim(f'#{event.message.id}')}"
        if event.kind == "presence":
            return self._dim(f"{stamp} {event.user_name} is {event.presence}")
        if event.kind == "contact":
            return self._dim(
                f"{stamp} contacts: {event.user_name} → user {event.target_user_id}: {event.relation or 'changed'}"
            )
        return None

    def echo(self, text: str) -> None:
        click.echo(text, color=self.color)


@click.command()
@click.argument("target", metavar="ROOM | USER", type=int, required=False)
@click.option("--dm", is_flag=True, help="Show direct messages (with USER, or all of them) instead of a room.")
@click.option("--color/--no-color", default=None, help="Colour the output [default: when writing to a terminal].")
@_connection_options
def tail(
    target: int | None,
    dm: bool,
    color: bool | None,
    url: str | None,
    email: str | None,
    password: str | None,
    login_url: str | None,
    client_config: Path | None,
) -> None:
    """Show a room live (or, with --dm, direct messages): names coloured, replies and edits marked; Ctrl-C quits."""
    if target is None and not dm:
        raise click.UsageError("name a ROOM, or pass --dm (optionally with a USER id)")
    credentials = _credentials(url, email, password, login_url, client_config)
    printer = Printer(color=color)
    if dm:
        _run_until_signal(lambda: _tail_direct(credentials, printer, target))
        return
    assert target is not None
    room_id = target

    async def work() -> None:
        async with Client(credentials.url, login_url=credentials.login_url) as client:
            room = await _open(credentials, client, room_id)
            printer.echo(printer._dim(f"-- room {room_id} on {credentials.url} as {client.user_name}; Ctrl-C quits"))
            sys.stdout.flush()
            stream: EventStream = room.events()
            try:
                async for event in stream:
                    line = printer.line(event)
                    if line is not None:
                        printer.echo(line)
                        sys.stdout.flush()
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()

    _run_until_signal(work)


async def _tail_direct(credentials: Credentials, printer: Printer, with_user: int | None) -> None:
    async with Client(credentials.url, login_url=credentials.login_url) as client:
        await client.login(credentials.email, credentials.password)
        if with_user is None:
            stream = client.direct_events()
            what = "direct messages"
        else:
            stream = (await client.direct(with_user)).events()
            what = f"direct messages with user {with_user}"
        printer.echo(printer._dim(f"-- {what} on {credentials.url} as {client.user_name}; Ctrl-C quits"))
        sys.stdout.flush()
        try:
            async for event in stream:
                line = printer.direct_line(event, client.user_id)
                if line is not None:
                    printer.echo(line)
                    sys.stdout.flush()
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()


@click.command()
@click.argument("words", metavar="[ROOM] TEXT...", nargs=-1, required=True)
@click.option("--to", "to_user", type=int, default=None, metavar="USER", help="Send a direct message to this user id.")
@click.option("--reply-to", type=int, default=None, help="Reply to this message id.")
@click.option("--split", is_flag=True, help="Split a line over 500 characters into several messages.")
@_connection_options
def say(
    words: tuple[str, ...],
    to_user: int | None,
    reply_to: int | None,
    split: bool,
    url: str | None,
    email: str | None,
    password: str | None,
    login_url: str | None,
    client_config: Path | None,
) -> None:
    """Post TEXT to ROOM, or with --to USER send it as a direct message ("-" reads it from stdin);
    prints the new message id on the last line."""
    room_id: int | None = None
    text = words
    if to_user is None:
        if len(words) < 2 or not words[0].isdigit():
            raise click.UsageError("give a ROOM id and the TEXT (or --to USER for a direct message)")
        room_id, text = int(words[0]), words[1:]
    elif reply_to is not None or split:
        raise click.UsageError("--reply-to and --split are for rooms, not direct messages")
    message = sys.stdin.read().rstrip("\n") if text == ("-",) else " ".join(text)
    credentials = _credentials(url, email, password, login_url, client_config)

    async def work() -> list[int]:
        async with Client(credentials.url, login_url=credentials.login_url) as client:
            if to_user is not None:
                await client.login(credentials.email, credentials.password)
                return [(await (await client.direct(to_user)).send(message)).id]
            assert room_id is not None
            room = await _open(credentials, client, room_id)
            if reply_to is not None:
                return [await room.reply(reply_to, message)]
            if split:
                return await room.send_long(message)
            return [await room.send(message)]

    for message_id in _run_until_signal(work) or []:
        click.echo(message_id)
