"""``hubbub bridges``: IRC and Twitch accounts, attached to streams or ordinary rooms, from the shell.

The same service calls as the JSON API (``/api/v1/account``, ``/api/v1/stream``,
``/api/v1/room/:id/bridge``) and the web UI's bridges page, on the database the server
uses; a running ``hubbub serve`` picks the change up from the log and starts or stops the
bridge. Passwords and tokens are read from a prompt or an environment variable, never
from the command line's echo, and ``list`` never prints them.
"""

from __future__ import annotations

import json

import click

from hubbub.cli.options import settings_options
from hubbub.cli.runner import call_service
from hubbub.core.ids import RoomId, UserId
from hubbub.core.irc_accounts import AUTH_MODES
from hubbub.core.streams import NetworkAccount
from hubbub.service.service import Service

__all__ = ["bridges"]

SECRET_KEYS = frozenset({"password"})


async def _attach(
    service: Service, owner: UserId, account: NetworkAccount, stream: int | None, room: int | None
) -> str:
    if stream is not None:
        view = await service.streams.view(owner, stream)
        ids = [a.id for a in view.accounts if a.id != account.id] + [account.id]
        await service.streams.update_stream(owner, stream, account_ids=ids)
        return f" attached to stream {stream}"
    if room is not None:
        current = [a.id for a in await service.room_bridges.accounts(owner, RoomId(room)) if a.id != account.id]
        await service.room_bridges.attach(owner, RoomId(room), [*current, account.id])
        return f" bridged to room {room}"
    return ""


def _create(
    flags: dict[str, object], owner_id: int, network: str, name: str, settings: dict[str, str], stream: int | None,
    room: int | None,
) -> None:  # fmt: skip
    owner = UserId(owner_id)

    async def work(service: Service) -> tuple[int, str]:
        account = await service.network_accounts.create_account(owner, network=network, name=name, settings=settings)
        try:
            where = await _attach(service, owner, account, stream, room)
        except BaseException:
            await service.network_accounts.delete_account(owner, account.id)  # nothing half-made is left behind
            raise
        return account.id, where

    account_id, where = call_service(flags, work)
    click.echo(f"created {network} account {name!r}{where}")
    click.echo(account_id)


def _where(stream: int | None, room: int | None) -> None:
    if stream is not None and room is not None:
        raise click.UsageError("attach to a --stream or a --room, not both")


@click.group()
def bridges() -> None:
    """Bridge streams and rooms to IRC channels and Twitch chat."""


@bridges.command("add-irc")
@click.argument("owner_id", type=int)
@click.option("--name", required=True, help="The account's name in hubbub (and its relay user's: irc-NAME).")
@click.option("--server", required=True, help="The IRC server's host name.")
@click.option("--port", type=int, default=None, help="[default: 6697 with TLS, 6667 without]")
@click.option("--tls/--no-tls", default=True, show_default=True, help="Connect with TLS.")
@click.option("--tls-verify/--no-tls-verify", default=True, show_default=True, help="Check the certificate.")
@click.option("--nick", required=True, help="The bridge's nick (a trailing _ is added while it is taken).")
@click.option("--channel", required=True, help="The channel, e.g. '#hubbub'.")
@click.option("--auth", type=click.Choice(AUTH_MODES), default=None, help="[default: sasl with a password]")
@click.option("--sasl-username", default="", help="SASL account name [default: the nick].")
@click.option("--password", envvar="HUBBUB_IRC_PASSWORD", default=None, help="Or HUBBUB_IRC_PASSWORD; asked if needed.")
@click.option("--flood-burst", type=int, default=None, help="Lines sent at once before the rate applies [5].")
@click.option("--flood-rate", type=float, default=None, help="Lines a second after the burst [1].")
@click.option("--stream", type=int, default=None, help="Attach to this stream (its owner's).")
@click.option("--room", type=int, default=None, help="Bridge this ordinary room (an owner of it).")
@settings_options
def add_irc(
    owner_id: int, name: str, server: str, port: int | None, tls: bool, tls_verify: bool, nick: str, channel: str,
    auth: str | None, sasl_username: str, password: str | None, flood_burst: int | None, flood_rate: float | None,
    stream: int | None, room: int | None, **flags: object,
) -> None:  # fmt: skip
    """Add an IRC account for OWNER_ID (a user id); prints its id on the last line."""
    _where(stream, room)
    if auth in ("pass", "sasl") and password is None:
        password = click.prompt("Password", hide_input=True)
    settings = {"server": server, "nick": nick, "channel": channel, "tls": str(tls).lower()}
    settings["tls_verify"] = str(tls_verify).lower()
    optional = {
        "port": None if port is None else str(port), "auth": auth, "sasl_username": sasl_username or None,
        "password": password, "flood_burst": None if flood_burst is None else str(flood_burst),
        "flood_rate": None if flood_rate is None else str(flood_rate),
    }  # fmt: skip
    settings.update({k: v for k, v in optional.items() if v})
    _create(dict(flags), owner_id, "irc", name, settings, stream, room)


@bridges.command("add-twitch")
@click.argument("owner_id", type=int)
@click.option("--channel", required=True, help="The Twitch channel (its streamer's login).")
@click.option("--nick", default="", help="The Twitch login the token belongs to [default: the channel].")
@click.option("--token", envvar="HUBBUB_TWITCH_TOKEN", default=None, help="OAuth token, or HUBBUB_TWITCH_TOKEN.")
@click.option("--anonymous", is_flag=True, help="Read only, with no token (Twitch's justinfan login).")
@click.option("--server", default="", help="[default: irc.chat.twitch.tv]")
@click.option("--port", type=int, default=None, help="[default: 6697]")
@click.option("--tls/--no-tls", default=True, show_default=True)
@click.option("--stream", type=int, default=None, help="Attach to this stream (its owner's).")
@click.option("--room", type=int, default=None, help="Bridge this ordinary room (an owner of it).")
@settings_options
def add_twitch(
    owner_id: int, channel: str, nick: str, token: str | None, anonymous: bool, server: str, port: int | None,
    tls: bool, stream: int | None, room: int | None, **flags: object,
) -> None:  # fmt: skip
    """Add a Twitch account for OWNER_ID, configured by its channel; prints its id on the last line."""
    _where(stream, room)
    if token is None and not anonymous:
        token = click.prompt("OAuth token", hide_input=True)
    settings = {"channel": channel, "tls": str(tls).lower()}
    optional = {"nick": nick, "password": token, "server": server, "port": None if port is None else str(port)}
    settings.update({k: v for k, v in optional.items() if v})
    _create(dict(flags), owner_id, "twitch", channel.removeprefix("#").lower(), settings, stream, room)


@bridges.command("list")
@click.argument("owner_id", type=int)
@settings_options
def list_accounts(owner_id: int, **flags: object) -> None:
    """List OWNER_ID's IRC and Twitch accounts: id, network, name, settings (no secrets)."""

    async def work(service: Service) -> list[str]:
        lines = []
        for account in await service.network_accounts.accounts(UserId(owner_id)):
            if account.network not in ("irc", "twitch"):
                continue
            shown = {k: v for k, v in json.loads(account.settings).items() if k not in SECRET_KEYS}
            lines.append(f"{account.id}\t{account.network}\t{account.name}\t{json.dumps(shown, sort_keys=True)}")
        return lines

    for line in call_service(dict(flags), work):
        click.echo(line)


@bridges.command("remove")
@click.argument("owner_id", type=int)
@click.argument("account_id", type=int)
@settings_options
def remove(owner_id: int, account_id: int, **flags: object) -> None:
    """Delete OWNER_ID's account ACCOUNT_ID (its bridges stop)."""

    async def work(service: Service) -> None:
        await service.network_accounts.delete_account(UserId(owner_id), account_id)

    call_service(dict(flags), work)
    click.echo(f"removed account {account_id}")
