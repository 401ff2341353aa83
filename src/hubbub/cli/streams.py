"""``hubbub streams``: make, share, start and stop streams, and read their keys and tokens, from the shell.

The same service calls as the streams JSON API (``/api/v1/stream``, ``/api/v1/auth``) and the
``/streams`` pages, with the same permissions: every command acts as a user (an id or e-mail
address), so an operator's script cannot do what that user could not. They work on the
database the server uses; a running ``hubbub serve`` sees each change in the log, so its
sockets get the ``status`` change and its bridges start or stop.
"""

from __future__ import annotations

import click

from hubbub.cli.options import settings_options
from hubbub.cli.runner import call_service
from hubbub.core.ids import UserId
from hubbub.core.streams import ChatLevel, LiveState
from hubbub.service.service import Service
from hubbub.service.streams import ShareRequest

__all__ = ["streams"]

_LEVELS = click.IntRange(0, 2)


async def _user_id(service: Service, reference: str) -> UserId:
    return (await service.queries.find_user(reference, by_email=True)).id


def _flags(state: LiveState) -> str:
    names = ("data_incoming", "data_pushing", "data_pulling")
    on = [name for name in names if getattr(state, name)]
    return ",".join(on) or "-"


@click.group()
def streams() -> None:
    """Streams (rooms with network accounts, seed 003): make, share, go live, keys and API tokens."""


@streams.command("list")
@click.argument("user", metavar="USER")
@settings_options
def list_streams(user: str, **flags: object) -> None:
    """List the streams USER owns or has a share of: id, live, flags, chat level, name, accounts."""

    async def work(service: Service) -> list[str]:
        lines = []
        for view in await service.streams.views(await _user_id(service, user)):
            stream = view.stream
            accounts = ",".join(f"{a.id}:{a.network}" for a in view.accounts) or "-"
            live = "live" if stream.state.live else "offline"
            lines.append(
                f"{stream.id}\t{live}\t{_flags(stream.state)}\t{int(view.chat_level)}\t{stream.name}\t{accounts}"
            )
        return lines

    for line in call_service(dict(flags), work):
        click.echo(line)


@streams.command("create")
@click.argument("owner", metavar="OWNER")
@click.argument("name")
@click.option("--account", "account_ids", type=int, multiple=True, help="Attach this network account (repeatable).")
@settings_options
def create(owner: str, name: str, account_ids: tuple[int, ...], **flags: object) -> None:
    """Make a stream NAME for OWNER; prints its id on the last line."""

    async def work(service: Service) -> tuple[int, str]:
        made = await service.streams.create_stream(
            await _user_id(service, owner), name, account_ids=list(account_ids) or None
        )
        return made.id, made.slug

    stream_id, slug = call_service(dict(flags), work)
    click.echo(f"created stream {slug!r}")
    click.echo(stream_id)


@streams.command("share")
@click.argument("owner", metavar="OWNER")
@click.argument("stream_id", type=int)
@click.argument("user", metavar="USER")
@click.option("--chat-level", type=_LEVELS, default=2, show_default=True, help="0 none, 1 read, 2 write.")
@click.option("--metadata-level", type=_LEVELS, default=0, show_default=True, help="2 may edit and start it.")
@settings_options
def share(owner: str, stream_id: int, user: str, chat_level: int, metadata_level: int, **flags: object) -> None:
    """Give USER a share of STREAM_ID as OWNER (an editor of it); chat level 0 takes the share away."""

    async def work(service: Service) -> str:
        actor = await _user_id(service, owner)
        target = await service.queries.find_user(user, by_email=True)
        request = ShareRequest(user_id=target.id, chat_level=ChatLevel(chat_level), metadata_level=metadata_level)
        await service.streams.update_stream(actor, stream_id, shares=[request])
        return target.name

    name = call_service(dict(flags), work)
    click.echo(f"{name}: chat level {chat_level}, metadata level {metadata_level} on stream {stream_id}")


def _set_live(user: str, stream_id: int, live: bool, flags: dict[str, object]) -> None:
    async def work(service: Service) -> LiveState:
        return await service.streams.set_live(await _user_id(service, user), stream_id, data_pushing=live)

    state = call_service(flags, work)
    click.echo(f"stream {stream_id}: {'live' if state.live else 'offline'} ({_flags(state)})")


@streams.command("start")
@click.argument("user", metavar="USER")
@click.argument("stream_id", type=int)
@settings_options
def start(user: str, stream_id: int, **flags: object) -> None:
    """Take STREAM_ID live as USER (an editor): bridges start, sockets get the status change."""
    _set_live(user, stream_id, True, dict(flags))


@streams.command("stop")
@click.argument("user", metavar="USER")
@click.argument("stream_id", type=int)
@settings_options
def stop(user: str, stream_id: int, **flags: object) -> None:
    """Take STREAM_ID offline as USER (an editor)."""
    _set_live(user, stream_id, False, dict(flags))


@streams.command("key")
@click.argument("user", metavar="USER")
@click.argument("stream_id", type=int)
@settings_options
def key(user: str, stream_id: int, **flags: object) -> None:
    """Print STREAM_ID's RTMP stream key (what OBS or ffmpeg publishes as), for an editor of it."""

    async def work(service: Service) -> str | None:
        view = await service.streams.view(await _user_id(service, user), stream_id)
        return view.stream.stream_key if view.metadata_level == 2 else None

    stream_key = call_service(dict(flags), work)
    if stream_key is None:
        raise click.ClickException("unauthorized to edit stream")
    click.echo(stream_key)


@streams.command("delete")
@click.argument("owner", metavar="OWNER")
@click.argument("stream_id", type=int)
@settings_options
def delete(owner: str, stream_id: int, **flags: object) -> None:
    """Delete STREAM_ID (its owner only); its room stays, readable by the owner alone."""

    async def work(service: Service) -> None:
        await service.streams.delete_stream(await _user_id(service, owner), stream_id)

    call_service(dict(flags), work)
    click.echo(f"deleted stream {stream_id}")


@streams.command("token")
@click.argument("user", metavar="USER")
@click.option("--reset", is_flag=True, help="Make a new token; the old one stops working at once.")
@settings_options
def token(user: str, reset: bool, **flags: object) -> None:
    """Print USER's streams API token (``?token=`` on sockets, ``Bearer`` on the JSON API)."""

    async def work(service: Service) -> str:
        user_id = await _user_id(service, user)
        tokens = service.stream_tokens
        return await (tokens.reset_token(user_id) if reset else tokens.token(user_id))

    click.echo(call_service(dict(flags), work))
