"""``hubbub migrate`` and ``hubbub backup``: move a database to PostgreSQL, copy a SQLite one aside.

Both work on the databases directly, with no server needed (and ``backup`` with a
server running). docs/deployment.md says when to use which, and how to restore.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hubbub.app import sqlite_path
from hubbub.errors import ConfigError
from hubbub.settings import Settings, load_settings

__all__ = ["backup", "migrate"]


def _sqlite_file(url: str) -> Path:
    path = sqlite_path(Settings(database=url)) if url.startswith("sqlite:///") else None
    if path is None:
        raise click.UsageError(f"--from {url!r}: expected sqlite:///path/to/hubbub.sqlite3")
    return path


@click.command()
@click.option("--from", "source", required=True, metavar="sqlite:///PATH", help="The SQLite database to copy.")
@click.option(
    "--to", "target", required=True, metavar="postgresql://...", help="The PostgreSQL database to copy it into."
)
def migrate(source: str, target: str) -> None:
    """Copy a SQLite database into PostgreSQL, then verify the copy.

    The target must be empty (or hold an interrupted copy of the same source, which is
    resumed). Stop the server on the SQLite database first; start nodes on PostgreSQL
    once this has printed "verified".
    """
    from hubbub.store.copy import copy_sqlite_to_postgresql

    path = _sqlite_file(source)
    if not target.startswith(("postgresql://", "postgres://")):
        raise click.UsageError(f"--to {target!r}: expected postgresql://user@host/dbname")
    try:
        report = copy_sqlite_to_postgresql(path, target, report=click.echo)
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    except ImportError as error:
        raise click.ClickException(f"PostgreSQL needs: pip install 'hubbub[postgres]' ({error})") from error
    except KeyboardInterrupt:
        click.echo("interrupted; run the same command again to continue where it stopped", err=True)
        sys.exit(130)
    rows = sum(report.rows.values())
    click.echo(
        f"verified: {len(report.rows)} tables, {rows} rows, {report.events} events, "
        f"last event id {report.last_event_id}"
    )


@click.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the SQLite database [env HUBBUB_DATA_DIR; default ./hubbub-data].",
)
@click.option("--database", default=None, help="Database URL: sqlite:///path [env HUBBUB_DATABASE].")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TOML settings file.")
def backup(target: Path, **flags: object) -> None:
    """Copy the SQLite database to TARGET, consistently, even while the server runs."""
    from hubbub.store.sqlite import backup as backup_sqlite

    try:
        settings = load_settings(flags)
    except ConfigError as error:
        raise click.UsageError(str(error)) from error
    source = sqlite_path(settings)
    if source is None:
        raise click.ClickException(
            "hubbub backup copies SQLite databases; back PostgreSQL up with pg_dump (docs/deployment.md)"
        )
    try:
        report = backup_sqlite(source, target)
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"backed up {source} ({report.bytes} bytes, last event id {report.last_event_id}) to")
    click.echo(str(report.path))
