"""Clusters for the tests in this folder: nodes, nginx, a database and Redis, all stopped at the end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.clients import ChatUser
from tests.cluster.harness import Cluster
from tests.redis_support import delete_prefix

MakeCluster = Callable[..., Cluster]


@pytest.fixture
def make_cluster(tmp_path: Path, redis_url: str) -> Iterator[MakeCluster]:
    """Start clusters (``make_cluster(3, bus_url=..., message_rate_burst="3")``); all stop at teardown."""
    started: list[tuple[Cluster, str]] = []

    def make(size: int, *, bus_url: str = redis_url, **settings: str) -> Cluster:
        prefix = f"hubbub-test-{uuid.uuid4().hex[:12]}:"
        directory = tmp_path / f"cluster{len(started)}"
        directory.mkdir()
        cluster = Cluster(directory, size, bus_url, prefix, settings=settings)
        started.append((cluster, bus_url))
        cluster.start()
        return cluster

    yield make
    for cluster, url in started:
        cluster.stop()
        if url == redis_url:
            delete_prefix(url, cluster.redis_prefix)


@pytest.fixture
async def users() -> AsyncIterator[list[ChatUser]]:
    """Clients a test makes; their sessions are closed at teardown."""
    made: list[ChatUser] = []
    yield made
    for user in made:
        await user.close()


async def sign_in(cluster: Cluster, users: list[ChatUser], name: str, *, moderator: bool = False) -> ChatUser:
    """A user created with the CLI and signed in through nginx."""
    _, email = cluster.create_user(name, moderator=moderator)
    user = ChatUser(cluster.base, email)
    users.append(user)
    await user.login()
    return user
