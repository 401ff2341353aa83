"""Fixtures for the SDK tests: SDK clients logged in to a live in-process node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hubbub.client import Client, EventStream, events
from tests.conftest import PASSWORD, Node
from tests.fakes import TIMEOUT

SignIn = Callable[..., Awaitable[Client]]


@pytest.fixture
async def sign_in(node: Node) -> AsyncIterator[SignIn]:
    """``await sign_in(node, "Name", **user_kwargs)``: a new user, logged in through the SDK."""
    clients: list[Client] = []

    async def start(target: Node, name: str, **kwargs: Any) -> Client:
        user = await target.user(name, **kwargs)
        assert user.email is not None
        client = Client(target.base)
        await client.__aenter__()
        clients.append(client)
        await client.login(user.email, PASSWORD)
        return client

    yield start
    for client in clients:
        await client.close()


async def next_of(stream: EventStream, kind: type[events.Event]) -> Any:
    """The next event of ``kind`` from ``stream`` (others skipped), within the test timeout."""
    import asyncio

    async with asyncio.timeout(TIMEOUT):
        async for event in stream:
            if isinstance(event, kind):
                return event
    raise AssertionError("the stream ended")
