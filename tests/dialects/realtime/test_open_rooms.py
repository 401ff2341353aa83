"""dialects/realtime/open_rooms.py: room openness from memory or from one shared, batched read."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

from hubbub.core.ids import RoomId
from hubbub.dialects.realtime.open_rooms import MAX_BATCH, OpenRooms
from tests.fakes import eventually

PUBLIC, PRIVATE, MISSING = RoomId(1), RoomId(2), RoomId(3)


class FakeStore:
    """Answers lookups from a table; each lookup waits until the test releases it."""

    def __init__(self) -> None:
        self.rooms: dict[RoomId, bool] = {PUBLIC: True, PRIVATE: False}
        self.lookups: list[list[RoomId]] = []
        self.release = asyncio.Event()
        self.fail = False

    async def lookup(self, room_ids: Collection[RoomId]) -> Mapping[RoomId, bool]:
        self.lookups.append(list(room_ids))
        answer = {room: self.rooms[room] for room in room_ids if room in self.rooms}  # read when asked
        await self.release.wait()
        if self.fail:
            raise OSError("database is gone")
        return answer


class Recorder:
    def __init__(self) -> None:
        self.answers: list[tuple[RoomId, bool]] = []

    def __call__(self, room_id: RoomId, is_open: bool) -> None:
        self.answers.append((room_id, is_open))


def make(capacity: int = 100) -> tuple[OpenRooms, FakeStore, Recorder]:
    store, recorder = FakeStore(), Recorder()
    return OpenRooms(store.lookup, recorder, capacity=capacity), store, recorder


async def test_rooms_are_read_once_and_then_answered_from_memory() -> None:
    rooms, store, answers = make()
    assert rooms.known(PUBLIC) is None
    rooms.request(PUBLIC)
    rooms.request(PRIVATE)
    store.release.set()
    await eventually(lambda: not rooms.busy)
    assert store.lookups == [[PUBLIC, PRIVATE]]
    assert answers.answers == [(PUBLIC, True), (PRIVATE, False)]
    assert (rooms.known(PUBLIC), rooms.known(PRIVATE)) == (True, False)


async def test_churn_while_a_read_is_under_way_costs_no_further_read() -> None:
    """Every request made while a room is being read is answered by that read."""
    rooms, store, answers = make()
    rooms.request(PUBLIC)
    await eventually(lambda: len(store.lookups) == 1)
    for _ in range(10_000):
        rooms.withdraw(PUBLIC)
        rooms.request(PUBLIC)
    store.release.set()
    await eventually(lambda: not rooms.busy)
    assert store.lookups == [[PUBLIC]]
    assert answers.answers == [(PUBLIC, True)]


async def test_a_withdrawn_room_is_not_read() -> None:
    rooms, store, answers = make()
    for _ in range(10_000):
        rooms.request(MISSING)
        rooms.withdraw(MISSING)
    rooms.request(PUBLIC)
    store.release.set()
    await eventually(lambda: not rooms.busy)
    assert store.lookups == [[PUBLIC]]
    assert answers.answers == [(PUBLIC, True)]


async def test_requests_made_during_a_read_share_the_next_one() -> None:
    rooms, store, _ = make()
    rooms.request(PUBLIC)
    await eventually(lambda: len(store.lookups) == 1)
    rooms.request(PRIVATE)
    rooms.request(MISSING)
    rooms.request(PRIVATE)
    store.release.set()
    await eventually(lambda: not rooms.busy)
    assert store.lookups == [[PUBLIC], [PRIVATE, MISSING]]


async def test_a_missing_room_is_not_open_and_not_remembered() -> None:
    """Rooms are created without an event, so a remembered "missing" could never be corrected."""
    rooms, store, answers = make()
    rooms.request(MISSING)
    store.release.set()
    await eventually(lambda: not rooms.busy)
    assert answers.answers == [(MISSING, False)]
    assert rooms.known(MISSING) is None
    store.rooms[MISSING] = True  # created later
    rooms.request(MISSING)
    await eventually(lambda: not rooms.busy)
    assert answers.answers[-1] == (MISSING, True)


async def test_an_access_change_makes_the_room_read_again() -> None:
    rooms, store, answers = make()
    rooms.request(PUBLIC)
    store.release.set()
    await eventually(lambda: not rooms.busy)
    store.rooms[PUBLIC] = False
    rooms.forget(PUBLIC)
    assert rooms.known(PUBLIC) is None
    rooms.request(PUBLIC)
    await eventually(lambda: not rooms.busy)
    assert answers.answers[-1] == (PUBLIC, False)
    assert rooms.known(PUBLIC) is False


async def test_an_answer_read_before_an_access_change_is_read_again() -> None:
    """A room made private while its (public) answer is on the way must not be remembered as open."""
    rooms, store, answers = make()
    rooms.request(PUBLIC)
    await eventually(lambda: len(store.lookups) == 1)  # the read saw the room public
    store.rooms[PUBLIC] = False
    rooms.forget(PUBLIC)
    rooms.request(PUBLIC)
    store.release.set()
    await eventually(lambda: not rooms.busy)
    assert store.lookups == [[PUBLIC], [PUBLIC]]
    assert answers.answers == [(PUBLIC, False)]
    assert rooms.known(PUBLIC) is False


async def test_memory_is_bounded_and_the_least_recently_used_room_goes_first() -> None:
    rooms, store, _ = make(capacity=2)
    store.rooms[MISSING] = True
    store.release.set()
    for room in (PUBLIC, PRIVATE):
        rooms.request(room)
    await eventually(lambda: not rooms.busy)
    assert rooms.known(PUBLIC) is True  # now the most recently used
    rooms.request(MISSING)
    await eventually(lambda: not rooms.busy)
    assert rooms.remembered == 2
    assert (rooms.known(PRIVATE), rooms.known(PUBLIC), rooms.known(MISSING)) == (None, True, True)


async def test_reads_are_batched() -> None:
    rooms, store, answers = make(capacity=10_000)
    store.release.set()
    for n in range(1, MAX_BATCH * 2 + 2):
        rooms.request(RoomId(n))
    await eventually(lambda: not rooms.busy)
    assert [len(batch) for batch in store.lookups] == [MAX_BATCH, MAX_BATCH, 1]
    assert len(answers.answers) == MAX_BATCH * 2 + 1


async def test_a_failed_read_answers_not_open() -> None:
    rooms, store, answers = make()
    store.fail = True
    store.release.set()
    rooms.request(PUBLIC)
    await eventually(lambda: not rooms.busy)
    assert answers.answers == [(PUBLIC, False)]
    assert rooms.known(PUBLIC) is None


async def test_stop_cancels_a_read_under_way() -> None:
    rooms, store, answers = make()
    rooms.request(PUBLIC)
    await eventually(lambda: len(store.lookups) == 1)
    await rooms.stop()
    assert not rooms.busy
    assert answers.answers == []
