"""The engine fixtures of the Store contract suites: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hubbub.store.base import Store
from hubbub.store.sqlite import SqliteStore

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a store on this test's database (the same one each time it is called)."""
    if request.param == "sqlite":
        path = tmp_path / "contract.sqlite3"
        return lambda: SqliteStore.open(path)
    from hubbub.store.postgres import PostgresStore

    url: str = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore.open(url)


@pytest.fixture
async def store(open_store: Opener) -> AsyncIterator[Store]:
    engine = open_store()
    yield engine
    await engine.close()
