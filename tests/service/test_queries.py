"""service/queries.py: the viewer's view of the log, one for POST /events and for a socket's replay."""

from __future__ import annotations

import pytest

from hubbub.core.events import EventType
from hubbub.core.ids import EventId, RoomId
from hubbub.core.models import RoomAccess, User
from hubbub.service.rooms import ROOM_BATCH
from hubbub.service.service import Service
from hubbub.store.base import WriteTx

PASSWORD = "correct horse battery"


async def _user(service: Service, name: str) -> User:
    return await service.accounts.create_user(name, email=f"{name.lower()}@example.org", password=PASSWORD)


@pytest.fixture
async def cast(service: Service) -> tuple[Service, User, User, RoomId, RoomId]:
    """Alice is in two rooms; Bob talks in the first."""
    alice, bob = await _user(service, "Alice"), await _user(service, "Bob")
    first = (await service.rooms.create_room("First")).id
    second = (await service.rooms.create_room("Second")).id
    for user, room in ((alice, first), (alice, second), (bob, first)):
        await service.rooms.join(user.id, room)
    return service, alice, bob, first, second


def _kinds(events: list[object]) -> list[tuple[EventType, int]]:
    return [(e.type, e.message_id) for e in events]  # type: ignore[attr-defined]


async def test_a_rooms_poll_brings_the_viewers_pings_from_every_room(
    cast: tuple[Service, User, User, RoomId, RoomId],
) -> None:
    service, alice, bob, first, second = cast
    before = EventId(await service.queries.last_event_id())
    posted = await service.messages.post(bob.id, first, "@Alice look")
    assert posted.message is not None
    message = posted.message.id
    answer, last = await service.queries.events_since(alice, {first: before, second: before}, limit=100)
    assert _kinds(answer[first].events) == [(EventType.USER_MENTIONED, message), (EventType.MESSAGE_POSTED, message)]
    assert _kinds(answer[second].events) == [(EventType.USER_MENTIONED, message)]  # filed as the socket files it
    assert answer[first].cursor == answer[second].cursor == last
    others, _ = await service.queries.events_since(bob, {second: before}, limit=100)
    assert others[second].events == []  # a ping is its target's only


async def test_a_poll_pages_through_room_events_and_pings_together(
    cast: tuple[Service, User, User, RoomId, RoomId],
) -> None:
    service, alice, bob, first, second = cast
    start = cursor = EventId(await service.queries.last_event_id())
    for n in range(4):
        await service.messages.post(bob.id, first, f"@Alice n{n}")
        await service.messages.post(alice.id, second, f"in second {n}")
    seen: list[int] = []
    for _ in range(20):
        answer, last = await service.queries.events_since(alice, {second: cursor}, limit=3)
        assert len(answer[second].events) <= 3
        seen += [e.id for e in answer[second].events]
        cursor = answer[second].cursor
        if cursor == last:
            break
    logged = await service.context.store.read(lambda tx: tx.events_after(start, limit=1000))
    expected = [
        e.id
        for e in logged
        if e.room_id == second or (e.type is EventType.USER_MENTIONED and e.target_user_id == alice.id)
    ]
    assert EventType.INBOX_CHANGED in {e.type for e in logged}  # in no room's view: skipped, not counted
    assert seen == expected and len(expected) == 8


async def test_a_replay_page_ends_at_the_cursor_it_is_given_not_at_the_stores_end(
    cast: tuple[Service, User, User, RoomId, RoomId],
) -> None:
    service, alice, bob, first, second = cast
    since = EventId(await service.queries.last_event_id())
    for n in range(3):
        await service.messages.post(bob.id, first, f"m{n}")
    through = EventId(since + 2)  # say the hub has delivered two of the three so far
    page = await service.queries.view_after(alice, {first, second}, since, through=through, limit=100)
    assert [e.id for e in page.events] == [since + 1, since + 2] and page.cursor == through
    page = await service.queries.view_after(alice, {first, second}, since, through=through, limit=1)
    assert [e.id for e in page.events] == [since + 1] and page.cursor == since + 1


async def test_a_replay_leaves_out_rooms_the_viewer_may_not_read(service: Service) -> None:
    alice, bob = await _user(service, "Alice"), await _user(service, "Bob")
    private = (await service.rooms.create_room("Private", owner_id=bob.id, access=RoomAccess.PRIVATE)).id
    since = EventId(await service.queries.last_event_id())
    await service.messages.post(bob.id, private, "secret")
    page = await service.queries.view_after(alice, {private}, since, through=EventId(since + 10), limit=100)
    assert page.events == [] and page.cursor == since + 10


async def test_a_first_poll_starts_at_the_rooms_newest_events(
    cast: tuple[Service, User, User, RoomId, RoomId],
) -> None:
    service, alice, bob, first, _ = cast
    for n in range(5):
        await service.messages.post(bob.id, first, f"m{n}")
    answer, last = await service.queries.events_since(alice, {first: EventId(0)}, limit=2)
    assert [e.id for e in answer[first].events] == [last - 1, last] and answer[first].cursor == last


async def test_the_operators_room_list_holds_every_room_in_id_order_past_a_batch(service: Service) -> None:
    now = int(service.context.clock.now())

    def make(tx: WriteTx) -> list[RoomId]:
        return [
            tx.insert_room(name=f"R{n}", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=now).id
            for n in range(ROOM_BATCH + 5)
        ]

    made = await service.context.store.write(make)
    assert [room.id for room in await service.rooms.list_rooms()] == made  # `hubbub rooms list`
