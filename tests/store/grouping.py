"""Test helpers that make the writer run several units as one group (store/writer.py).

A unit that holds the writer thread comes first; the units queued behind it while it sleeps
are taken together, as under load, each with its ``user_in_room`` sent ahead as a post's is.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import RoomAccess
from hubbub.store.base import Store, WriteTx

__all__ = ["Unit", "as_one_group", "user_and_room"]

Unit = Callable[[WriteTx], object]


async def user_and_room(store: Store, user: str, room: str) -> tuple[UserId, RoomId]:
    def setup(tx: WriteTx) -> tuple[UserId, RoomId]:
        made = tx.insert_user(name=user, email=None, password_hash="", reputation=20, is_moderator=False, now=1)
        where = tx.insert_room(name=room, description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
        return made.id, where.id

    return await store.write(setup)


async def as_one_group(store: Store, units: list[tuple[Unit, tuple[UserId, RoomId]]]) -> list[object]:
    """Each unit's outcome (its result or what it raised), the units run as one group."""
    started = threading.Event()

    def hold(tx: WriteTx) -> None:  # the writer is busy until the units have queued behind it
        started.set()
        time.sleep(0.3)

    def ahead(pair: tuple[UserId, RoomId]) -> Callable[[WriteTx], None]:
        return lambda tx: tx.prefetch_user_in_room(*pair)

    holding = asyncio.ensure_future(store.write(hold))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    writes = (store.write(unit, prefetch=ahead(pair)) for unit, pair in units)
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    await holding
    return outcomes
