"""``hubbub contacts``: an operator links two users as contacts, or lists a user's contacts.

Works on the database directly, as ``hubbub users`` does (no server needed; a running server
reads the new relation from the database on the users' next request). A user is named by id
or e-mail address.
"""

from __future__ import annotations

import click

from hubbub.cli.options import settings_options
from hubbub.cli.runner import _load, _remote, _run, _with_service
from hubbub.service.service import Service

__all__ = ["contacts"]


@click.group()
def contacts() -> None:
    """Link users as contacts (for direct messages); list a user's contacts."""


@contacts.command("add")
@click.argument("first", metavar="USER")
@click.argument("second", metavar="USER")
@settings_options
def contacts_add(first: str, second: str, **flags: object) -> None:
    """Make two users contacts at once, without a request (each USER an id or e-mail address)."""
    settings = _load(**flags)

    async def work(service: Service) -> tuple[str, str, str]:
        one = await service.queries.find_user(first, by_email=True)
        other = await service.queries.find_user(second, by_email=True)
        relation = await service.contacts.link(one.id, other.id)
        return one.name, other.name, relation.value

    one, other, relation = _remote(lambda: _run(_with_service(settings, work)))
    click.echo(f"{one} and {other}: {relation}")


@contacts.command("list")
@click.argument("user", metavar="USER")
@settings_options
def contacts_list(user: str, **flags: object) -> None:
    """List USER's contacts, requests and blocks: id, name, relation, presence."""
    settings = _load(**flags)

    async def work(service: Service) -> list[str]:
        found = await service.queries.find_user(user, by_email=True)
        return [
            f"{c.user.id}\t{c.user.name}\t{c.relation.value}\t{c.presence.value}"
            for c in await service.contacts.list(found.id)
        ]

    for line in _remote(lambda: _run(_with_service(settings, work))):
        click.echo(line)
