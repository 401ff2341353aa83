"""The ``sqlite_synchronous`` setting: every connection of the store, the writer's and the readers', uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubbub.app import open_store
from hubbub.errors import ConfigError
from hubbub.settings import Settings, load_settings
from hubbub.store.sqlite import SqliteStore

# PRAGMA synchronous answers a number: NORMAL is 1, FULL is 2.
_NUMBER = {"normal": 1, "full": 2}


def _pragma(tx: Any) -> int:
    return int(tx._cursor.execute("PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize("mode", ["normal", "full"])
async def test_the_writer_and_the_readers_commit_as_the_setting_says(mode: str, tmp_path: Path) -> None:
    store = open_store(Settings(data_dir=tmp_path, sqlite_synchronous=mode))
    try:
        assert isinstance(store, SqliteStore)
        assert await store.write(_pragma) == _NUMBER[mode]
        readers = {await store.read(_pragma) for _ in range(8)}
        assert readers == {_NUMBER[mode]}
    finally:
        await store.close()


def test_normal_is_the_default() -> None:
    assert Settings().sqlite_synchronous == "normal"


def test_the_environment_sets_it_and_a_wrong_mode_is_refused() -> None:
    assert load_settings(environ={"HUBBUB_SQLITE_SYNCHRONOUS": "full"}).sqlite_synchronous == "full"
    with pytest.raises(ConfigError, match="sqlite_synchronous: expected normal or full, got 'off'"):
        load_settings(environ={"HUBBUB_SQLITE_SYNCHRONOUS": "off"})
