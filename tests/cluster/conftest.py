"""Clusters for the tests in this folder: nodes, nginx, a database and Redis, all stopped at the end.

The nodes share one PostgreSQL database (a fresh schema per cluster, dropped at the end), as
nodes on several machines do; ``HUBBUB_TEST_CLUSTER_ENGINE=sqlite`` makes them share one SQLite
file instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.clients import ChatUser
from tests.cluster.harness import Cluster
from tests.redis_support import delete_prefix

MakeCluster = Callable[..., Cluster]


def _databases(request: pytest.FixtureRequest) -> tuple[Callable[[], str], Callable[[str], None]]:
    """How to make a cluster's shared database, and drop it: a PostgreSQL schema, or "" (a SQLite file)."""
    if os.environ.get("HUBBUB_TEST_CLUSTER_ENGINE", "postgresql") == "sqlite":
        return (lambda: ""), (lambda url: None)
    server = request.getfixturevalue("postgres_server")
    return server.database, server.drop


@pytest.fixture
def make_cluster(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[MakeCluster]:
    """Start clusters (``make_cluster(3, bus_url=..., message_rate_burst="3")``); all stop at teardown."""
    started: list[tuple[Cluster, str]] = []
    create_database, drop_database = _databases(request)

    def make(size: int, *, bus_url: str = redis_url, **settings: str) -> Cluster:
        prefix = f"hubbub-test-{uuid.uuid4().hex[:12]}:"
        directory = tmp_path / f"cluster{len(started)}"
        directory.mkdir()
        cluster = Cluster(directory, size, bus_url, prefix, database_url=create_database(), settings=settings)
        started.append((cluster, bus_url))
        cluster.start()
        return cluster

    yield make
    for cluster, url in started:
        cluster.stop()
        if url == redis_url:
            delete_prefix(url, cluster.redis_prefix)
        drop_database(cluster.database_url)


@pytest.fixture(scope="module")
def shared_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Cluster]:
    """Three nodes for the tests of one module that need no settings of their own (each uses its own room)."""
    prefix = f"hubbub-test-{uuid.uuid4().hex[:12]}:"
    create_database, drop_database = _databases(request)
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), 3, redis_url, prefix, database_url=create_database())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        delete_prefix(redis_url, prefix)
        drop_database(cluster.database_url)


@pytest.fixture
async def users() -> AsyncIterator[list[ChatUser]]:
    """Clients a test makes; their sessions are closed at teardown."""
    made: list[ChatUser] = []
    yield made
    for user in made:
        await user.close()


async def sign_in(cluster: Cluster, users: list[ChatUser], name: str, *, moderator: bool = False) -> ChatUser:
    """A user signed in through nginx: made by the sign-up form, or by the CLI for a moderator."""
    if moderator:
        _, email = cluster.create_user(name, moderator=True)
        user = ChatUser(cluster.base, email)
        await user.login()
    else:
        user = ChatUser(cluster.base, f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.org")
        await user.signup(name)
    users.append(user)
    return user
