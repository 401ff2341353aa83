"""Options the commands share: where a command finds its settings and its database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["settings_options"]

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(function: F) -> F:
    """The options every command shares for finding its data."""
    options = [
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Directory for the SQLite database and hubbub.toml [env HUBBUB_DATA_DIR; default ./hubbub-data].",
        ),
        click.option(
            "--database",
            default=None,
            help="Database URL: sqlite:///path or postgresql://user@host/db [env HUBBUB_DATABASE].",
        ),
        click.option(
            "--config",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="TOML settings file [env HUBBUB_CONFIG; default <data dir>/hubbub.toml].",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function
