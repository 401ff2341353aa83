"""A ping costs the serial writer the same whether its target has read their inbox or never has.

Each ping or reply reports the target's new unread count (event 18). Counted from the inbox rows,
that cost grew with every item the target had left unread, and every post on the node waited
behind it (the writer is serial, and on SQLite it runs on the event loop). The count is kept
instead (migration 0009). The cost is read as SQLite's own count of virtual-machine steps, which
does not depend on how busy the machine is, and compared with a ping of a user whose inbox is empty.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.app import open_store
from hubbub.bus.memory import MemoryBus
from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.service.service import Service
from hubbub.store.base import WriteTx
from tests.fakes import FakeClock
from tests.fakes import test_settings as settings_for

UNREAD = 5_000
STEPS_PER_CALLBACK = 10


class StepCounter:
    """Counts SQLite virtual-machine steps on every connection the store opens, while ``counting``."""

    def __init__(self) -> None:
        self.counting = False
        self.steps = 0

    def _tick(self) -> int:
        if self.counting:
            self.steps += STEPS_PER_CALLBACK
        return 0  # go on

    def connect(self, real: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            connection = real(*args, **kwargs)
            connection.set_progress_handler(self._tick, STEPS_PER_CALLBACK)
            return connection

        return connect


@pytest.fixture
async def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Service, StepCounter]]:
    counter = StepCounter()
    monkeypatch.setattr(sqlite3, "connect", counter.connect(sqlite3.connect))
    settings = settings_for(tmp_path)
    store = open_store(settings)
    bus = MemoryBus()
    service = Service(store=store, bus=bus, clock=FakeClock(), settings=settings)
    await service.start()
    yield service, counter
    service.close()
    await bus.close()
    await store.close()


def _leave_unread(tx: WriteTx, user_id: UserId, room_id: RoomId, count: int) -> None:
    for n in range(count):
        event = tx.append(
            NewEvent(type=EventType.USER_MENTIONED, time_stamp=1, room_id=room_id, message_id=MessageId(n + 1))
        )
        tx.add_inbox(user_id, event)


async def test_pinging_a_user_with_a_full_inbox_costs_what_pinging_one_with_an_empty_inbox_does(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    users = [
        await service.accounts.create_user(name, email=f"{name}@example.org", password="correct horse battery")
        for name in ("alice", "bobby", "carol")
    ]
    alice, bobby, carol = users
    room = await service.rooms.create_room("Sandbox", owner_id=alice.id)
    for user in users:
        await service.messages.post(user.id, room.id, f"{user.name} was here")  # pingable from now on
    await service.context.store.write(lambda tx: _leave_unread(tx, bobby.id, room.id, UNREAD))
    assert await service.queries.unread_count(bobby.id) == UNREAD

    async def steps_to_ping(name: str, round_: int) -> int:
        counter.steps, counter.counting = 0, True
        posted = await service.messages.post(alice.id, room.id, f"@{name} round {round_}")
        counter.counting = False
        assert posted.message is not None
        return counter.steps

    for round_ in range(3):
        empty = await steps_to_ping("carol", round_)
        full = await steps_to_ping("bobby", round_)
        # Before the count was kept, the full inbox's ping took about 5 steps more per unread item (25,860 against 820).
        assert full <= empty * 1.2 + 100, (round_, empty, full)
    assert await service.queries.unread_count(bobby.id) == UNREAD + 3
    assert await service.queries.unread_count(carol.id) == 3
