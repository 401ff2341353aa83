"""State that must hold across nodes: services over one database agree on what one of them issued."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hubbub.bus.memory import MemoryBus
from hubbub.core.ids import RoomId
from hubbub.errors import NotAllowed
from hubbub.service.accounts import SignedIn
from hubbub.service.service import Service
from hubbub.store.sqlite import SqliteStore
from tests.fakes import FakeClock
from tests.fakes import test_settings as settings_for


async def test_nodes_starting_together_share_one_server_secret(tmp_path: Path) -> None:
    settings, clock = settings_for(tmp_path), FakeClock()
    stores = [SqliteStore.open(tmp_path / "shared.sqlite3") for _ in range(3)]
    nodes = [Service(store=store, bus=MemoryBus(), clock=clock, settings=settings) for store in stores]
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        assert len({node.accounts.anonymous_fkey() for node in nodes}) == 1
        user = await nodes[0].accounts.create_user("Ann", email="ann@example.org", password="long enough pw")
        room = await nodes[0].rooms.create_room("Shared", owner_id=None)
        await nodes[0].rooms.join(user.id, room.id)
        _, session = await nodes[0].accounts.open_session(user)
        url_token = await nodes[0].socket_tokens.issue(SignedIn(session, user), RoomId(room.id))
        # Every node reads a socket URL node 0 signed, and exactly one of them may open it.
        claims = [node.socket_tokens.read(url_token, RoomId(room.id)) for node in nodes]
        assert all(claim is not None and claim.user_id == user.id for claim in claims)
        assert claims[1] is not None and claims[2] is not None
        grant = await nodes[1].socket_tokens.claim(claims[1])
        assert grant.user.id == user.id
        with pytest.raises(NotAllowed):
            await nodes[2].socket_tokens.claim(claims[2])
    finally:
        for node in nodes:
            node.close()
        for store in stores:
            await store.close()
