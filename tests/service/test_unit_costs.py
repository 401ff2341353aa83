"""What a unit costs the serial writer does not grow with data that others can make grow.

The writer is serial, and on SQLite it runs on the event loop: every request on the node waits
behind each unit. These parts of units used to grow without bound:

- the target's new unread count (event 18) was counted from the inbox rows, so each item the
  target had never read made every later ping of them dearer. The count is kept instead
  (migration 0009). Read as SQLite's own count of virtual-machine steps, which does not depend on
  how busy the machine is, and compared with a ping of a user whose inbox is empty;
- finding whom ``@name`` pings loaded every member seen in the room lately, with their user rows,
  and matched names in Python: about 66 ms per message in a room of 5,000. The database now picks
  the members whose ping key (migration 0010) starts with the ping's token, and only those become
  rows in Python: counted here, against the members of the room. One message pings at most
  ``MAX_PINGED`` users (``@mem`` named all 2,000 here, and each ping is rows on the writer);
- acknowledging a ping (``POST /messages/ack``) walked every inbox item the user ever had, read
  or not, to find the message's; inbox_message (migration 0009) finds it. Steps again;
- making a bookmark probed for a free slug once per earlier bookmark of its title, and each
  probe scanned the room's bookmarks: quadratic, 3.7 s for the 3,001st titled "x". An index
  (migration 0011) and 64 candidates a query make it about 20 steps per earlier bookmark. Steps;
- ``/msg <name>`` (streams, IRC) and IRC's nick look-ups compared every user's name, through a
  Python function per row; the indexed ping key (migration 0010) narrows them to the name's own;
- each direct message or typing notice trims the recipient's channel; the trim walked every
  entry below the number kept, the last day's included, on every call. It walks at most a batch;
- opening a sechat socket listed the user's rooms, then asked for each room's grant and kick
  one by one: two statements per room joined. One statement reads them all now. Statements;
- an owner's grant to one user made every present member's standing be read again, two
  statements each; only the grant's user can lose the room. Statements;
- a presence change asked whether the user has a contact by loading every contact row naming
  the user, requests from anyone included; one row found answers it now. Steps again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.app import open_store
from hubbub.bus.memory import MemoryBus
from hubbub.core.contacts import Stance
from hubbub.core.direct import ChannelKind
from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.mentions import MAX_PINGED
from hubbub.core.models import AccessLevel, Membership, Room, RoomAccess, User
from hubbub.core.presence import Activity, Presence
from hubbub.service.accounts import SignedIn
from hubbub.service.service import Service
from hubbub.store.base import WriteTx
from hubbub.store.sql import rooms
from tests.fakes import FakeClock
from tests.fakes import test_settings as settings_for

UNREAD = 5_000
STEPS_PER_CALLBACK = 10


class StepCounter:
    """Counts SQLite virtual-machine steps, and statements, on every connection the store opens,
    while ``counting``."""

    def __init__(self) -> None:
        self.counting = False
        self.steps = 0
        self.statements = 0

    def _tick(self) -> int:
        if self.counting:
            self.steps += STEPS_PER_CALLBACK
        return 0  # go on

    def _statement(self, _: str) -> None:
        if self.counting:
            self.statements += 1

    def connect(self, real: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            connection = real(*args, **kwargs)
            connection.set_progress_handler(self._tick, STEPS_PER_CALLBACK)
            connection.set_trace_callback(self._statement)
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


async def _three_in_a_room_bobby_with_a_full_inbox(service: Service) -> tuple[User, User, User, Room]:
    users = [
        await service.accounts.create_user(name, email=f"{name}@example.org", password="correct horse battery")
        for name in ("alice", "bobby", "carol")
    ]
    room = await service.rooms.create_room("Sandbox", owner_id=users[0].id)
    for user in users:
        await service.messages.post(user.id, room.id, f"{user.name} was here")  # pingable from now on
    await service.context.store.write(lambda tx: _leave_unread(tx, users[1].id, room.id, UNREAD))
    return users[0], users[1], users[2], room


async def test_pinging_a_user_with_a_full_inbox_costs_what_pinging_one_with_an_empty_inbox_does(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    alice, bobby, carol, room = await _three_in_a_room_bobby_with_a_full_inbox(service)
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


MEMBERS = 2_000


async def test_a_ping_in_a_big_room_builds_rows_only_for_the_members_it_names(
    counted: tuple[Service, StepCounter], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, _ = counted
    alice = await service.accounts.create_user("alice", email="alice@example.org", password="correct horse battery")
    room = await service.rooms.create_room("Sandbox", owner_id=alice.id)
    now = int(service.context.clock.now())

    def fill(tx: WriteTx) -> None:
        for n in range(MEMBERS):
            user = tx.insert_user(
                name=f"Member {n}", email=None, password_hash="", reputation=1, is_moderator=False, now=now
            )
            tx.set_membership(Membership(room_id=room.id, user_id=user.id, present=True, joined_at=now, last_seen=now))

    await service.context.store.write(fill)
    built: list[Membership] = []
    real = rooms.membership_from_row

    def counting(row: Any) -> Membership:
        built.append(real(row))
        return built[-1]

    monkeypatch.setattr(rooms, "membership_from_row", counting)

    async def pinged_by(text: str) -> list[UserId | None]:
        posted = (await service.messages.post(alice.id, room.id, text)).message
        assert posted is not None
        events = await service.context.store.read(lambda tx: tx.events_after(EventId(0), limit=100_000))
        return [e.target_user_id for e in events if e.type is EventType.USER_MENTIONED and e.message_id == posted.id]

    pinged = await pinged_by("@member1234 and @nobody-here, look")
    assert len(pinged) == 1 and len(built) == 1 and built[0].user_id == pinged[0]
    # A token every member's name starts with pings the most recently seen MAX_PINGED of them.
    built.clear()
    pinged = await pinged_by("@mem, everyone")
    assert len(pinged) == MAX_PINGED and len(built) <= 4 * MAX_PINGED
    assert len(await service.queries.pingable(alice, room.id)) == MEMBERS + 1  # the room is that big


async def test_acknowledging_a_ping_costs_the_same_after_thousands_of_read_items(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    alice, bobby, carol, room = await _three_in_a_room_bobby_with_a_full_inbox(service)
    await service.messages.acknowledge(bobby.id, [MessageId(n + 1) for n in range(UNREAD)])  # all read now
    assert await service.queries.unread_count(bobby.id) == 0

    async def steps_to_acknowledge(user_id: UserId, round_: int) -> int:
        ping = await service.messages.post(
            alice.id, room.id, f"@{'bobby' if user_id == bobby.id else 'carol'} {round_}"
        )
        assert ping.message is not None
        counter.steps, counter.counting = 0, True
        assert await service.messages.acknowledge(user_id, [ping.message.id]) == 1
        counter.counting = False
        return counter.steps

    for round_ in range(3):
        few = await steps_to_acknowledge(carol.id, round_)
        many = await steps_to_acknowledge(bobby.id, round_)
        assert many <= few * 1.2 + 100, (round_, few, many)


async def test_a_presence_change_costs_the_same_whatever_the_requests_a_user_was_sent(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    alice, bobby = [
        await service.accounts.create_user(name, email=f"{name}@example.org", password="correct horse battery")
        for name in ("alice", "bobby")
    ]
    now = int(service.context.clock.now())

    def requests_to(tx: WriteTx, user_id: UserId) -> None:  # from accounts anyone could make
        for n in range(UNREAD):
            asker = tx.insert_user(
                name=f"Asker {n}", email=None, password_hash="", reputation=1, is_moderator=False, now=now
            )
            tx.set_contact_stance(asker.id, user_id, Stance.WANT, now)

    await service.context.store.write(lambda tx: requests_to(tx, bobby.id))

    async def steps_to_hide(user_id: UserId, visible: bool) -> int:
        counter.steps, counter.counting = 0, True
        shown = await service.presence.set_visible(user_id, visible)
        counter.counting = False
        assert (shown is Presence.OFFLINE) is not visible  # a change, so the contacts were asked
        return counter.steps

    for user in (alice, bobby):
        await service.presence.touch(user.id, Activity.ACTIVE)  # online: hiding is a change
    for visible in (False, True, False):
        few = await steps_to_hide(alice.id, visible)
        many = await steps_to_hide(bobby.id, visible)
        assert many <= few * 1.2 + 100, (visible, few, many)


SAME_TITLE = 400


async def test_a_bookmark_costs_little_more_for_each_earlier_bookmark_of_its_title(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    alice = await service.accounts.create_user("alice", email="alice@example.org", password="correct horse battery")
    room = await service.rooms.create_room("Sandbox", owner_id=alice.id)
    posted = (await service.messages.post(alice.id, room.id, "worth keeping")).message
    assert posted is not None
    now = int(service.context.clock.now())

    def bookmarks(tx: WriteTx) -> None:
        for n in range(1, SAME_TITLE + 1):
            tx.insert_conversation(
                room_id=room.id,
                slug="x" if n == 1 else f"x-{n}",
                title="x",
                first_message_id=posted.id,
                last_message_id=posted.id,
                created_by=alice.id,
                now=now,
            )

    await service.context.store.write(bookmarks)

    async def steps_to_bookmark(title: str) -> tuple[int, str]:
        counter.steps, counter.counting = 0, True
        made = await service.conversations.create(alice.id, room.id, posted.id, posted.id, title)
        counter.counting = False
        return counter.steps, made.slug

    first, slug = await steps_to_bookmark("a title of its own")
    assert slug == "a-title-of-its-own"
    later, slug = await steps_to_bookmark("x")
    assert slug == f"x-{SAME_TITLE + 1}"
    # Quadratic before: each of SAME_TITLE probes walked the room's bookmarks (979,840 steps against 2,600).
    assert later <= first + 50 * SAME_TITLE, (first, later)


async def test_finding_a_user_by_name_or_nick_costs_the_same_among_thousands(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    now = int(service.context.clock.now())
    found = await service.accounts.create_user("Jon Skeet", email="jon@example.org", password="correct horse battery")

    async def steps_to_find() -> int:
        counter.steps, counter.counting = 0, True
        by_name = await service.context.store.read(lambda tx: tx.user_by_name("JON SKEET"))
        by_nick = await service.context.store.read(lambda tx: tx.user_by_nick("jonskeet"))
        nobody = await service.context.store.read(lambda tx: tx.user_by_name("nobody at all"))
        counter.counting = False
        assert by_name == by_nick == found and nobody is None
        return counter.steps

    few = await steps_to_find()

    def crowd(tx: WriteTx) -> None:
        for n in range(UNREAD):
            tx.insert_user(name=f"Someone {n}", email=None, password_hash="", reputation=1, is_moderator=False, now=now)

    await service.context.store.write(crowd)
    many = await steps_to_find()
    assert many <= few * 1.2 + 100, (few, many)


async def test_trimming_a_channel_walks_a_batch_whatever_its_last_day_holds(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    keep = service.context.settings.comet_channel_retention_entries
    now = int(service.context.clock.now())
    alice, bobby = (UserId(1), UserId(2))

    def entries(tx: WriteTx, user_id: UserId, count: int) -> None:
        for _ in range(count):
            event = tx.append(NewEvent(type=EventType.TYPING, time_stamp=now, user_id=alice, target_user_id=user_id))
            tx.append_channel_entry(user_id, event, ChannelKind.TYPING, now)

    await service.context.store.write(lambda tx: entries(tx, alice, keep + 10))
    await service.context.store.write(lambda tx: entries(tx, bobby, keep + UNREAD))

    async def steps_to_trim(user_id: UserId) -> int:
        counter.steps, counter.counting = 0, True
        # all of them are from the last day: nothing goes
        trimmed = await service.context.store.write(
            lambda tx: tx.trim_channel(user_id, keep_entries=keep, created_before=now - 1)
        )
        counter.counting = False
        assert trimmed == 0
        return counter.steps

    few, many = await steps_to_trim(alice), await steps_to_trim(bobby)
    assert many <= few * 1.2 + 100, (few, many)


async def test_opening_a_socket_runs_the_same_statements_whatever_the_rooms_its_user_is_in(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    alice = await service.accounts.create_user("alice", email="alice@example.org", password="correct horse battery")
    _, session = await service.accounts.open_session(alice)
    signed = SignedIn(session, alice)
    rooms = [await service.rooms.create_room(f"Room {n}") for n in range(40)]

    async def statements_to_open(joined: int) -> int:
        for room in rooms[:joined]:
            await service.rooms.join(alice.id, room.id)
        claims = service.socket_tokens.read(await service.socket_tokens.issue(signed, rooms[0].id), rooms[0].id)
        assert claims is not None
        counter.statements, counter.counting = 0, True
        grant = await service.socket_tokens.claim(claims)
        counter.counting = False
        assert grant.rooms == {room.id for room in rooms[:joined]}
        return counter.statements

    one, forty = await statements_to_open(1), await statements_to_open(40)
    assert forty == one, (one, forty)


async def test_a_grant_runs_the_same_statements_whatever_the_members_present(
    counted: tuple[Service, StepCounter],
) -> None:
    service, counter = counted
    alice = await service.accounts.create_user("alice", email="alice@example.org", password="correct horse battery")
    room = await service.rooms.create_room("Den", owner_id=alice.id, access=RoomAccess.PRIVATE)
    now = int(service.context.clock.now())

    def members(tx: WriteTx, count: int) -> list[UserId]:
        made = []
        for n in range(count):
            user = tx.insert_user(
                name=f"Member {n}", email=None, password_hash="", reputation=1, is_moderator=False, now=now
            )
            tx.set_access_level(room.id, user.id, AccessLevel.READ_WRITE, now)
            tx.set_membership(Membership(room_id=room.id, user_id=user.id, present=True, joined_at=now, last_seen=now))
            made.append(user.id)
        return made

    async def statements_to_grant(user_id: UserId, level: AccessLevel | None) -> int:
        counter.statements, counter.counting = 0, True
        await service.rooms.set_access(alice.id, room.id, user_id, level)
        counter.counting = False
        return counter.statements

    [first] = await service.context.store.write(lambda tx: members(tx, 1))
    few = await statements_to_grant(first, AccessLevel.READ_ONLY)
    crowd = await service.context.store.write(lambda tx: members(tx, 200))
    many = await statements_to_grant(crowd[0], AccessLevel.READ_ONLY)
    assert many == few, (few, many)
    # and the one user who may no longer read the room leaves it
    await statements_to_grant(crowd[1], None)
    present = await service.context.store.read(lambda tx: tx.present_members(room.id))
    assert crowd[1] not in {m.user_id for m in present} and crowd[2] in {m.user_id for m in present}
