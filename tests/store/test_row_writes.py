"""Rows a group of units defers to its end (store/sql/row_writes.py) are written as asked, and seen.

On PostgreSQL every post's five row writes (message, event, membership, author, room) wait
for the end of a group run without savepoints and go out once per kind. These tests run
groups on both engines (SQLite writes as it goes, and must come to the same rows)
and check that the rows arrive exactly as each unit wrote them (on PostgreSQL through one JSON
parameter, so every column type, NULLs and awkward text included), that a unit reading what an
earlier unit of its group deferred sees it, and that a deferred row the database refuses fails
only the unit that wrote it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import Membership, Message, RoomAccess, User
from hubbub.store.base import Store, WriteTx
from hubbub.store.sql.base import SqlBase
from hubbub.store.sql.row_writes import RowWrite
from tests.store.grouping import Unit, as_one_group, user_and_room

AWKWARD = ["plain", "quote \" and ' and \\ backslash", "line\nbreak\ttab", "é ü 漢字 😀", '{"json": [1]}', ""]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """Each flush of deferred rows, as {table: rows sent}."""
    flushes: list[dict[str, int]] = []
    original = SqlBase._send_deferred

    def recording(self: SqlBase) -> None:
        flushes.append({statement.table: len(rows) for statement, rows in self._deferred.items()})
        original(self)

    monkeypatch.setattr(SqlBase, "_send_deferred", recording)
    return flushes


async def _people(store: Store, count: int) -> tuple[list[UserId], RoomId]:
    def setup(tx: WriteTx) -> tuple[list[UserId], RoomId]:
        users = [
            tx.insert_user(
                name=f"u{n}", email=f"u{n}@example.org", password_hash="", reputation=1, is_moderator=False, now=1
            ).id
            for n in range(count)
        ]
        room = tx.insert_room(name="Room", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
        return users, room.id

    return await store.write(setup)


def _post_as(user_id: UserId, room_id: RoomId, n: int) -> Unit:
    """A post's writes, with values that vary in every way a column can."""

    def work(tx: WriteTx) -> tuple[User, Membership, Message, EventId]:
        here = tx.user_in_room(user_id, room_id)
        assert here.user is not None and here.room is not None
        membership = Membership(
            room_id=room_id, user_id=user_id, present=n % 2 == 0, joined_at=2**40 + n, last_seen=n, last_post=n
        )
        tx.set_membership(membership)
        message = tx.insert_message(
            room_id=room_id,
            user_id=user_id,
            source=AWKWARD[n % len(AWKWARD)] + "!",
            content=AWKWARD[(n + 1) % len(AWKWARD)],
            posted_at=n,
            parent_id=MessageId(n) if n % 2 else None,
            show_parent=n % 3 == 0,
        )
        event = tx.append(
            NewEvent(
                type=EventType.MESSAGE_POSTED,
                time_stamp=n,
                room_id=room_id,
                room_name=AWKWARD[n % len(AWKWARD)],
                user_id=user_id,
                target_user_id=UserId(n) if n % 2 else None,
                message_id=message.id,
                content=message.content,
            )
        )
        tx.update_room(replace(here.room, last_activity=n, message_count=here.room.message_count + 1))
        user = replace(
            here.user,
            name=AWKWARD[n % len(AWKWARD)] or "x",
            email=None if n % 2 else f"new{n}@example.org",
            reputation=2**62 + n,
            is_moderator=n % 2 == 1,
            suspended_until=None if n % 3 else 2**50,
            about=AWKWARD[(n + 2) % len(AWKWARD)],
            last_seen=n,
            last_post=n,
        )
        tx.update_user(user)
        return user, membership, message, event.id

    return work


async def test_a_groups_rows_are_written_as_each_unit_asked(store: Store, sent: list[dict[str, int]]) -> None:
    users, room = await _people(store, 6)
    outcomes = await as_one_group(store, [(_post_as(user, room, n), (user, room)) for n, user in enumerate(users)])
    posted = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    assert len(posted) == len(users)
    from hubbub.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):  # where a group's reads go ahead: one flush, each kind at once
        assert {"users": 6, "memberships": 6, "messages": 6, "events": 6, "rooms": 1} in sent
    else:  # SQLite reads as it goes (each read is a C call), so there is nothing to defer for
        assert sent == []

    def read_back(tx: WriteTx) -> list[tuple[User | None, Membership | None, Message | None, MessageId | None]]:
        events = {event.id: event.message_id for event in tx.events_after(EventId(0), limit=100)}
        return [
            (tx.user(user.id), tx.membership(room, user.id), tx.message(message.id), events.get(event_id))
            for user, _membership, message, event_id in posted
        ]

    stored = await store.write(read_back)
    for (user, membership, message, _event_id), back in zip(posted, stored, strict=True):
        assert back == (user, membership, message, message.id)
    final = await store.read(lambda tx: tx.room(room))
    assert final is not None and final.message_count == 6 and final.last_activity == 5


async def test_a_unit_sees_what_the_units_before_it_in_its_group_deferred(store: Store) -> None:
    ann, room = await user_and_room(store, "Ann", "R")

    def post(tx: WriteTx) -> None:
        here = tx.user_in_room(ann, room)
        assert here.user is not None
        tx.append(NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=5, room_id=room, room_name="R", user_id=ann))
        tx.update_user(replace(here.user, about="changed"))

    def look(tx: WriteTx) -> tuple[str | None, list[int]]:
        user = tx.user(ann)
        return (None if user is None else user.about), [
            event.time_stamp for event in tx.events_after(EventId(0), limit=10)
        ]

    outcomes = await as_one_group(store, [(post, (ann, room)), (look, (ann, room))])
    assert outcomes == [None, ("changed", [5])]


async def test_a_deferred_row_the_database_refuses_fails_only_its_unit(store: Store) -> None:
    (ann, bob, cat), room = await _people(store, 3)

    def take_anns_email(tx: WriteTx) -> None:
        bob_now = tx.user(bob)
        assert bob_now is not None
        tx.update_user(replace(bob_now, email="new2@example.org"))  # Ann's (UNIQUE): refused at the group's end

    units: list[tuple[Unit, tuple[UserId, RoomId]]] = [
        (_post_as(ann, room, 2), (ann, room)),
        (take_anns_email, (bob, room)),
        (_post_as(cat, room, 4), (cat, room)),
    ]
    outcomes = await as_one_group(store, units)
    assert isinstance(outcomes[1], Exception)
    assert not isinstance(outcomes[0], BaseException) and not isinstance(outcomes[2], BaseException)
    bob_after = await store.read(lambda tx: tx.user(bob))
    assert bob_after is not None and bob_after.email == "u1@example.org"
    final = await store.read(lambda tx: tx.room(room))
    assert final is not None and final.message_count == 2


async def test_a_row_written_in_two_shapes_ends_as_its_last_write(store: Store) -> None:
    """A user's whole row, then the counts posting writes, then the whole row again: deferred,
    each shape would keep its first place, and the counts would go out last."""
    (ann, bob), room = await _people(store, 2)

    def rewrite_ann(tx: WriteTx) -> None:
        before = tx.user(ann)
        assert before is not None
        tx.update_user(replace(before, about="first", message_count=5))
        tx.update_user_activity(replace(before, last_post=6, message_count=6))
        tx.update_user(replace(before, about="last", last_post=7, message_count=7))

    def post_as_bob(tx: WriteTx) -> None:
        tx.set_member_seen(room, bob, last_seen=8, last_post=8)  # no membership: changes nothing

    outcomes = await as_one_group(store, [(post_as_bob, (bob, room)), (rewrite_ann, (ann, room))])
    assert outcomes == [None, None]
    after = await store.read(lambda tx: tx.user(ann))
    assert after is not None and (after.about, after.last_post, after.message_count) == ("last", 7, 7)
    assert await store.read(lambda tx: tx.membership(room, bob)) is None


async def test_a_present_members_times_change_alone(store: Store) -> None:
    ann, room = await user_and_room(store, "Ann", "R")
    joined = Membership(room_id=room, user_id=ann, present=True, joined_at=3, last_seen=4, last_post=0)
    await store.write(lambda tx: tx.set_membership(joined))
    await store.write(lambda tx: tx.set_member_seen(room, ann, last_seen=9, last_post=8))
    assert await store.read(lambda tx: tx.membership(room, ann)) == replace(joined, last_seen=9, last_post=8)


def test_statements_are_made_from_the_columns() -> None:
    update = RowWrite("t", (("a", "text"), ("id", "bigint")), key=("id",), mode="update")
    assert update.one == "UPDATE t SET a = ? WHERE id = ?"
    assert update.many == (
        "UPDATE t SET a = v.a FROM json_to_recordset(?::json) AS v(a text, id bigint) WHERE t.id = v.id"
    )
    upsert = RowWrite("t", (("k", "bigint"), ("a", "text")), key=("k",), mode="upsert")
    assert upsert.one == "INSERT INTO t (k, a) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET a = excluded.a"
    assert upsert.key_of((7, "x")) == (7,)
    assert upsert.rows_json([(7, 'say "hi"'), (8, None)]) == '[{"k": 7, "a": "say \\"hi\\""}, {"k": 8, "a": null}]'
    with pytest.raises(ValueError, match="come last"):
        RowWrite("t", (("id", "bigint"), ("a", "text")), key=("id",), mode="update")
    with pytest.raises(ValueError, match="among the columns"):
        RowWrite("t", (("a", "text"),), key=("id",), mode="insert")
