"""The PostgreSQL server the tests use: find it, and give each test a database of its own.

Tests never assume an empty server: every run creates a database with a name of its
own (``hubbub_test_<run>``), one schema in it per test, and drops it at the end. The server is the one at
127.0.0.1:5432 with trust authentication (user ``postgres``, else ``root``), or the
admin URL in ``HUBBUB_TEST_POSTGRES_URL``. Where there is none, the tests that need
it skip and say how to start it; under CI (``CI`` set) they fail instead, since CI
has the server and those tests must run there.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import psycopg
import pytest

from hubbub.store.migrate import migrate_postgresql

__all__ = ["PostgresServer", "find_server", "skip_or_fail"]

CANDIDATE_URLS: Final = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)
START_HINT: Final = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(Debian's postgresql package), or point HUBBUB_TEST_POSTGRES_URL at an admin URL"
)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@dataclass
class PostgresServer:
    """A reachable server, and the one database this test run made on it.

    Each test gets a schema of its own in that database (``database()``), which is
    much cheaper than a database of its own; the URL selects it through
    ``search_path``.
    """

    admin_url: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _database: str | None = None

    def _admin(self, sql: str, url: str | None = None) -> None:
        with psycopg.connect(url or self.admin_url, autocommit=True) as connection:
            connection.execute(sql)

    @property
    def run_database_url(self) -> str:
        """This run's database (created on first use)."""
        if self._database is None:
            name = f"hubbub_test_{self.run}"
            self._admin(f'CREATE DATABASE "{name}"')
            self._database = name
        return _with_database(self.admin_url, self._database)

    def empty_database(self) -> str:
        """A new, empty schema in this run's database; returns the URL that selects it."""
        schema = f"t{next(self._numbers)}"
        self._admin(f'CREATE SCHEMA "{schema}"', self.run_database_url)
        return f"{self.run_database_url}?options=-csearch_path%3D{schema}"

    def database(self) -> str:
        """A new schema with hubbub's tables in it; returns the URL that selects it."""
        url = self.empty_database()
        migrate_postgresql(url)
        return url

    def drop(self, url: str) -> None:
        """Drop a schema ``database()`` or ``empty_database()`` made."""
        schema = url.rpartition("%3D")[2]
        self._admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', self.run_database_url)

    def drop_all(self) -> None:
        if self._database is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
            self._database = None


def find_server() -> PostgresServer | str:
    """The server to test against, or why there is none."""
    configured = os.environ.get("HUBBUB_TEST_POSTGRES_URL")
    errors: list[str] = []
    for url in (configured,) if configured else CANDIDATE_URLS:
        try:
            with psycopg.connect(url, connect_timeout=3) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error as error:
            errors.append(f"{url}: {str(error).strip().splitlines()[0]}")
            continue
        return PostgresServer(url)
    return f"no PostgreSQL server for the tests ({'; '.join(errors)}); {START_HINT}"


def skip_or_fail(reason: str) -> None:
    """Skip a test that needs a missing server; fail it under CI, where the server must be there."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
