"""Fixtures: a service over a fresh SQLite store, a running hubbub node with an HTTP client,
and PostgreSQL databases of this test run's own (``postgres_url``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from bs4 import BeautifulSoup

from hubbub.app import Runtime, open_store
from hubbub.bus.memory import MemoryBus
from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import RoomAccess, User
from hubbub.service.service import Service
from tests.fakes import FakeClock, HashThreads, test_settings

if TYPE_CHECKING:
    from tests.postgres_server import PostgresServer

PASSWORD = "correct horse battery"

pytest_plugins = ["tests.redis_support"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL server (skips, or fails under CI, when there is none); drops this run's databases."""
    from tests.postgres_server import find_server, skip_or_fail  # psycopg is an optional extra

    found = find_server()
    if isinstance(found, str):
        skip_or_fail(found)
        raise AssertionError("unreachable")
    yield found
    found.drop_all()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own; dropped afterwards."""
    url = postgres_server.database()
    yield url
    postgres_server.drop(url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _database(request: pytest.FixtureRequest, engine: str) -> str:
    """The ``database`` setting for a test on ``engine``: "" (SQLite in the data dir) or a fresh PostgreSQL URL."""
    if engine == "sqlite":
        return ""
    if engine == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    raise ValueError(f"HUBBUB_TEST_ENGINE must be sqlite or postgresql, not {engine!r}")


@pytest.fixture
def node_database(request: pytest.FixtureRequest) -> str:
    """The database of nodes under test: SQLite, or PostgreSQL for every node with HUBBUB_TEST_ENGINE=postgresql."""
    return _database(request, os.environ.get("HUBBUB_TEST_ENGINE", "sqlite"))


@pytest.fixture(params=["sqlite", "postgresql"])
async def service(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Service]:
    settings = test_settings(tmp_path, database=_database(request, request.param))
    store = open_store(settings)
    bus = MemoryBus()
    service = Service(store=store, bus=bus, clock=clock, settings=settings)
    await service.start()
    yield service
    service.close()
    await bus.close()
    await store.close()


@dataclass
class Browser:
    """An HTTP client with its own cookie jar, signed in or not, talking to a live node."""

    session: aiohttp.ClientSession
    base: str
    fkey: str = ""
    user: User | None = None

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.session.get(self.base + path, allow_redirects=False, **kwargs)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, fkey: bool = True, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        form = dict(data or {})
        if fkey and self.fkey and "fkey" not in form:
            form["fkey"] = self.fkey
        return await self.session.post(self.base + path, data=form, allow_redirects=False, **kwargs)

    async def soup(self, path: str) -> BeautifulSoup:
        response = await self.get(path)
        return BeautifulSoup(await response.text(), "html.parser")

    async def login(self, email: str, password: str = PASSWORD) -> None:
        response = await self.post("/users/login", {"email": email, "password": password}, fkey=False)
        assert response.status == 302, await response.text()
        page = await self.soup("/chats/join/favorite")
        fkey = page.find("input", {"name": "fkey"})
        assert fkey is not None
        self.fkey = str(fkey["value"])


@dataclass
class Node:
    """A running hubbub node (HTTP on a free loopback port) plus helpers to populate it."""

    runtime: Runtime
    clock: FakeClock
    sessions: list[aiohttp.ClientSession]

    @property
    def service(self) -> Service:
        assert self.runtime.service is not None
        return self.runtime.service

    @property
    def base(self) -> str:
        return self.runtime.base_url

    async def browser(self) -> Browser:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sessions.append(session)
        return Browser(session, self.base)

    async def user(self, name: str, *, reputation: int | None = None, moderator: bool = False) -> User:
        email = f"{name.lower().replace(' ', '.')}@example.org"
        return await self.service.accounts.create_user(
            name, email=email, password=PASSWORD, reputation=reputation, is_moderator=moderator
        )

    async def signed_in(self, name: str, **kwargs: Any) -> Browser:
        user = await self.user(name, **kwargs)
        browser = await self.browser()
        assert user.email is not None
        await browser.login(user.email)
        browser.user = user
        return browser

    async def room(
        self, name: str = "Sandbox", *, owner: User | None = None, access: RoomAccess = RoomAccess.PUBLIC, **kwargs: Any
    ) -> RoomId:
        room = await self.service.rooms.create_room(
            name, owner_id=None if owner is None else UserId(owner.id), access=access, **kwargs
        )
        return room.id


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(tmp_path: Path, clock: FakeClock, node_database: str) -> AsyncIterator[NodeFactory]:
    """Start nodes with setting overrides (``await make_node(message_rate_burst=1)``); all stop at teardown."""
    started: list[Node] = []

    async def start(**overrides: Any) -> Node:
        data_dir = tmp_path / f"node{len(started)}"
        overrides.setdefault("database", node_database)
        runtime = Runtime(test_settings(data_dir, **overrides), clock=clock)
        await runtime.start()
        started.append(Node(runtime, clock, []))
        return started[-1]

    yield start
    for node in started:
        for session in node.sessions:
            await session.close()
        await node.runtime.stop()


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    return await make_node()


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[HashThreads]:
    """Argon2 calls recorded by thread, and checks held at will (``hashing.hold()``/``release()``)."""
    threads = HashThreads(monkeypatch)
    yield threads
    threads.release()
