"""The ``hubbub`` command: serve, and manage users and rooms (with or without a running server).

Every command reads the same settings as ``hubbub serve`` (flags, ``HUBBUB_*``
variables, the TOML file), so ``hubbub users create`` writes to the database the
server uses. Commands that create something print the new id alone on their last
line, for scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import signal
import sys
from typing import TypeVar

import click

from hubbub import __version__
from hubbub.app import Runtime
from hubbub.cli import bridges, chat, contacts, data, streams
from hubbub.cli.logs import configure_logging
from hubbub.cli.options import settings_options
from hubbub.cli.runner import _load, _remote, _run, _with_service
from hubbub.core.ids import UserId
from hubbub.core.models import RoomAccess, User
from hubbub.errors import ConfigError
from hubbub.service.first_run import SETUP_PATH
from hubbub.service.service import Service
from hubbub.settings import Settings

__all__ = ["main"]

T = TypeVar("T")


def _utc(unix_seconds: int) -> str:
    return datetime.datetime.fromtimestamp(unix_seconds, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hubbub")
def cli() -> None:
    """hubbub: a self-hosted real-time chat server that speaks Stack Exchange chat's protocols."""


@cli.command()
@click.option("--host", default=None, help="Address to listen on [env HUBBUB_HOST; default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="HTTP port; 0 picks a free one [env HUBBUB_PORT; default 8080].")
@click.option("--ws-port", type=int, default=None, help="Websocket gateway port [env HUBBUB_WS_PORT; default 8081].")
@click.option("--bus", default=None, help="Event bus URL: memory: or redis://host:6379/0 [env HUBBUB_BUS].")
@click.option(
    "--irc-port", type=int, default=None, help="Serve the IRC gateway on this port [env HUBBUB_IRC_PORT; default off]."
)
@settings_options
def serve(**flags: object) -> None:
    """Run the server until interrupted (Ctrl-C or SIGTERM)."""
    settings = _load(**flags)
    try:
        repeats = configure_logging(settings)
    except ConfigError as error:
        raise click.UsageError(str(error)) from error

    async def report_repeats() -> None:
        while True:
            await asyncio.sleep(settings.log_repeat_window)
            repeats.report()

    async def main() -> None:
        runtime = Runtime(settings)
        try:
            await runtime.start()
        except BaseException:
            await runtime.stop()
            raise
        # What start-up made (modules, templates, the schema) lives as long as the process: kept
        # out of the collector's full passes, which walk every tracked object each time and
        # otherwise stall every connection while a node holds many.
        gc.collect()
        gc.freeze()
        reporter = asyncio.create_task(report_repeats(), name="hubbub-log-repeats")
        click.echo(f"hubbub {__version__}: http listening on http://{settings.host}:{runtime.http_port}")
        click.echo(f"hubbub: websocket gateway listening on ws://{settings.host}:{runtime.ws_port}")
        if runtime.irc is not None:
            click.echo(f"hubbub: IRC gateway listening on {settings.host}:{runtime.irc_port}")
        click.echo(f"hubbub: data in {settings.data_dir.resolve()}", err=False)
        assert runtime.service is not None
        token = await runtime.service.first_run.issue_token()
        if token is not None:
            click.echo(_first_run_message(settings, runtime.http_port, token))
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await runtime.stop()
            reporter.cancel()
            repeats.report(everything=True)

    try:
        _run(main())
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"cannot start: {error}") from error


def _first_run_message(settings: Settings, port: int, token: str) -> str:
    """How to get into a server that has no account yet (printed by ``serve``)."""
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    else:
        # A wildcard listen address is nowhere to browse to; loopback is, on the server itself.
        host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
        base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return "\n".join(
        (
            "hubbub: no account exists yet. Create the first one, an administrator, at this one-time link",
            f"        {base}{SETUP_PATH}{token}",
            "        (valid until it is used or an account exists; each start of hubbub serve prints a new one),",
            '        or run: hubbub users create "Your Name" --email you@example.org --moderator',
        )
    )


@cli.group()
def users() -> None:
    """Create, list, suspend and unsuspend user accounts; set their passwords."""


@users.command("create")
@click.argument("name")
@click.option("--email", required=True, help="E-mail address; the login name.")
@click.option(
    "--password",
    default=None,
    help="Password (at least 8 characters). Omit it to be asked, or set HUBBUB_PASSWORD.",
    envvar="HUBBUB_PASSWORD",
)
@click.option("--reputation", type=int, default=None, help="Starting reputation [default: new_user_reputation].")
@click.option("--moderator", is_flag=True, help="Make the user a moderator.")
@settings_options
def users_create(
    name: str, email: str, password: str | None, reputation: int | None, moderator: bool, **flags: object
) -> None:
    """Create a user; prints the new user's id on the last line."""
    settings = _load(**flags)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    assert password is not None
    secret = password

    async def work(service: Service) -> int:
        user = await service.accounts.create_user(
            name, email=email, password=secret, reputation=reputation, is_moderator=moderator
        )
        return user.id

    user_id = _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"created user {name!r} <{email}>")
    click.echo(user_id)


@users.command("list")
@settings_options
def users_list(**flags: object) -> None:
    """List users: id, name, e-mail, reputation, moderator, and a suspension's end while it lasts."""
    settings = _load(**flags)

    def status(user: User, now: int) -> str:
        if user.is_moderator:
            return "moderator"
        if user.suspended_until is not None and user.is_suspended(now):
            return f"suspended until {_utc(user.suspended_until)}"
        return ""

    async def work(service: Service) -> list[str]:
        now = service.context.now()
        return [
            f"{u.id}\t{u.name}\t{u.email or ''}\t{u.reputation}\t{status(u, now)}".rstrip()
            for u in await service.accounts.list_users()
        ]

    for line in _run(_with_service(settings, work)):
        click.echo(line)


@users.command("suspend")
@click.argument("user_id", type=int)
@click.option("--hours", type=click.IntRange(min=1), default=None, help="Suspend for this many hours.")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Suspend for this many days (at most 365).")
@settings_options
def users_suspend(user_id: int, hours: int | None, days: int | None, **flags: object) -> None:
    """Suspend a user: they cannot talk, lose their private rooms, and their open sockets follow at once."""
    if (hours is None) == (days is None):
        raise click.UsageError("give exactly one of --hours and --days")
    seconds = hours * 3600 if hours is not None else (days or 0) * 86_400
    settings = _load(**flags)

    async def work(service: Service) -> int:
        user = await service.moderation.suspend(None, UserId(user_id), seconds)
        assert user.suspended_until is not None
        return user.suspended_until

    until = _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"suspended user {user_id} until {_utc(until)}")


@users.command("unsuspend")
@click.argument("user_id", type=int)
@settings_options
def users_unsuspend(user_id: int, **flags: object) -> None:
    """Lift a user's suspension now."""
    settings = _load(**flags)

    async def work(service: Service) -> None:
        await service.moderation.unsuspend(None, UserId(user_id))

    _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"lifted the suspension of user {user_id}")


@users.command("set-password")
@click.argument("user_id", type=int)
@click.option(
    "--password",
    default=None,
    help="The new password (at least 8 characters). Omit it to be asked, or set HUBBUB_PASSWORD.",
    envvar="HUBBUB_PASSWORD",
)
@settings_options
def users_set_password(user_id: int, password: str | None, **flags: object) -> None:
    """Set a user's password; every session of theirs ends, and their sockets close."""
    settings = _load(**flags)
    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    assert password is not None
    secret = password

    async def work(service: Service) -> None:
        await service.accounts.set_password(UserId(user_id), secret)

    _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"set the password of user {user_id}; their sessions have ended")


@cli.group()
def rooms() -> None:
    """Create and list rooms."""


@rooms.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the room is for.")
@click.option("--tags", default="", help='Space- or comma-separated tags, e.g. "python bots".')
@click.option(
    "--access",
    type=click.Choice([a.value for a in RoomAccess]),
    default=RoomAccess.PUBLIC.value,
    show_default=True,
    help="public: anyone talks; gallery: only granted users talk; private: only granted users read.",
)
@click.option("--owner", "owner_id", type=int, default=None, help="User id of the room's first owner.")
@settings_options
def rooms_create(name: str, description: str, tags: str, access: str, owner_id: int | None, **flags: object) -> None:
    """Create a room; prints the new room's id on the last line."""
    settings = _load(**flags)

    async def work(service: Service) -> int:
        room = await service.rooms.create_room(
            name,
            description=description,
            tags=tags,
            access=RoomAccess(access),
            owner_id=None if owner_id is None else UserId(owner_id),
        )
        return room.id

    room_id = _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"created {access} room {name!r}")
    click.echo(room_id)


@rooms.command("list")
@settings_options
def rooms_list(**flags: object) -> None:
    """List rooms: id, name, access, messages, tags."""
    settings = _load(**flags)

    async def work(service: Service) -> list[str]:
        return [
            f"{r.id}\t{r.name}\t{r.access.value}\t{r.message_count}\t{' '.join(r.tags)}".rstrip()
            for r in await service.rooms.list_rooms()
        ]

    for line in _run(_with_service(settings, work)):
        click.echo(line)


@cli.group()
def tokens() -> None:
    """Create, list and revoke API tokens (for POST /api/v1/publish)."""


@tokens.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. the program using it.")
@click.option("--scope", type=click.Choice(["publish"]), default="publish", show_default=True, help="What it may do.")
@settings_options
def tokens_create(name: str, scope: str, **flags: object) -> None:
    """Create a token; prints it (shown only this once) on the last line."""
    settings = _load(**flags)

    async def work(service: Service) -> tuple[int, str]:
        token, record = await service.tokens.create(name, scope)
        return record.id, token

    token_id, token = _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"created {scope} token {token_id} {name!r}; store it now, it is not shown again")
    click.echo(token)


@tokens.command("list")
@settings_options
def tokens_list(**flags: object) -> None:
    """List tokens: id, name, scope, created (Unix time), active or revoked."""
    settings = _load(**flags)

    async def work(service: Service) -> list[str]:
        return [
            f"{t.id}\t{t.name}\t{t.scope}\t{t.created_at}\t{'revoked' if t.revoked_at else 'active'}"
            for t in await service.tokens.list()
        ]

    for line in _run(_with_service(settings, work)):
        click.echo(line)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@settings_options
def tokens_revoke(token_id: int, **flags: object) -> None:
    """Revoke a token by id; requests using it are refused from then on."""
    settings = _load(**flags)

    async def work(service: Service) -> None:
        await service.tokens.revoke(token_id)

    _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"revoked token {token_id}")


# The chat commands (SDK-based) live in their own module.
cli.add_command(chat.tail)
cli.add_command(chat.say)
cli.add_command(contacts.contacts)
# Moving and copying databases, likewise.
cli.add_command(data.migrate)
cli.add_command(data.backup)
cli.add_command(bridges.bridges)
cli.add_command(streams.streams)


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        cli()
