"""State that must hold across nodes: two services over one database agree on what one of them issued."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hubbub.bus.memory import MemoryBus
from hubbub.core.ids import RoomId
from hubbub.service.service import Service
from hubbub.store.sqlite import SqliteStore
from tests.fakes import FakeClock
from tests.fakes import test_settings as settings_for


async def test_nodes_starting_together_share_one_server_secret(tmp_path: Path) -> None:
    settings, clock = settings_for(tmp_path), FakeClock()
    stores = [SqliteStore.open(tmp_path / "shared.sqlite3") for _ in range(3)]
    nodes = [Service(store=store, bus=MemoryBus(), clock=clock, settings=settings) for store in stores]
    await asyncio.gather(*(node.start() for node in nodes))
    assert len({node.accounts.anonymous_fkey() for node in nodes}) == 1
    user = await nodes[0].accounts.create_user("Ann", email="ann@example.org", password="long enough pw")
    token = nodes[0].accounts.issue_socket_token(user.id, RoomId(1))
    assert [node.accounts.check_socket_token(token, RoomId(1)) for node in nodes] == [user.id] * 3
    for store in stores:
        await store.close()
