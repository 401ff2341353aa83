"""A group's reads sent ahead together (store/sql/group_reads.py) read what each unit would have read alone.

On PostgreSQL the writer reads every queued unit's ``user_in_room`` row in one query at the
start of the group; these tests queue a group behind a unit that holds the writer, change
those rows in every way a unit can in the middle of it, and compare each unit's
``user_in_room`` with the same rows read one by one at the same point.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Membership, RoomAccess
from hubbub.store.base import Store, UserInRoom, WriteTx
from hubbub.store.sql.group_reads import GroupReads
from tests.store.grouping import Unit, as_one_group, user_and_room


def _one_by_one(tx: WriteTx, user_id: UserId, room_id: RoomId) -> UserInRoom:
    return UserInRoom(
        user=tx.user(user_id),
        room=tx.room(room_id),
        level=tx.access_level(room_id, user_id),
        kick=tx.kick(room_id, user_id),
        membership=tx.membership(room_id, user_id),
        last_message=tx.last_message_by(user_id, room_id),
    )


def _check(user_id: UserId, room_id: RoomId) -> Unit:
    def work(tx: WriteTx) -> tuple[UserInRoom, UserInRoom]:
        return tx.user_in_room(user_id, room_id), _one_by_one(tx, user_id, room_id)

    return work


def _post(user_id: UserId, room_id: RoomId, text: str) -> Unit:
    """What a post writes to the rows ``user_in_room`` reads."""

    def work(tx: WriteTx) -> None:
        here = tx.user_in_room(user_id, room_id)
        assert here.room is not None and here.user is not None
        tx.set_membership(Membership(room_id=room_id, user_id=user_id, present=True, joined_at=5, last_seen=6))
        tx.insert_message(
            room_id=room_id, user_id=user_id, source=text, content=text, posted_at=6, parent_id=None, show_parent=False
        )
        tx.update_room(replace(here.room, last_activity=6, message_count=here.room.message_count + 1))
        tx.update_user(replace(here.user, last_seen=6, last_post=6))

    return work


async def test_each_unit_of_a_group_reads_what_the_units_before_it_wrote(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = 0
    row = GroupReads.row

    def counting(self: GroupReads, user_id: UserId, room_id: RoomId) -> object:
        nonlocal served
        found = row(self, user_id, room_id)
        served += found is not None
        return found

    monkeypatch.setattr(GroupReads, "row", counting)

    def setup(tx: WriteTx) -> tuple[UserId, UserId, UserId, RoomId, RoomId]:
        ann, bob, cat = (
            tx.insert_user(name=name, email=None, password_hash="", reputation=20, is_moderator=False, now=1).id
            for name in ("Ann", "Bob", "Cat")
        )
        one, two = (
            tx.insert_room(name=name, description="", tags=("a", "b"), access=RoomAccess.PUBLIC, created_by=ann, now=1)
            for name in ("One", "Two")
        )
        return ann, bob, cat, one.id, two.id

    ann, bob, cat, one, two = await store.write(setup)

    def refuse(tx: WriteTx) -> None:  # as refusals do: checks first, nothing written
        tx.user_in_room(cat, two)
        raise ValueError("refused before writing")

    def kick_bob(tx: WriteTx) -> None:
        tx.user_in_room(ann, one)
        tx.set_kick(one, bob, count=1, until=10_000)

    def edit_ann_last(tx: WriteTx) -> None:
        last = tx.user_in_room(ann, one).last_message
        assert last is not None
        tx.update_message(replace(last, source="edited", content="edited", edits=1, edited_at=7))

    units: list[tuple[Unit, tuple[UserId, RoomId]]] = [
        (_post(ann, one, "first"), (ann, one)),
        (_check(bob, one), (bob, one)),  # the room row Ann's post changed
        (_check(ann, one), (ann, one)),  # Ann's own rows, changed
        (refuse, (cat, two)),
        (_check(cat, two), (cat, two)),
        (_post(bob, one, "second"), (bob, one)),
        (_check(ann, one), (ann, one)),
        (kick_bob, (ann, one)),
        (_check(bob, one), (bob, one)),  # a write the cache does not follow: read afresh
        (edit_ann_last, (ann, one)),
        (_check(ann, one), (ann, one)),
    ]
    outcomes = await as_one_group(store, units)
    assert isinstance(outcomes[3], ValueError)
    checks = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    assert len(checks) == 6
    for grouped, alone in checks:
        assert grouped == alone
    kicked = checks[4][0]
    assert kicked.kick is not None and kicked.room is not None and kicked.room.message_count == 2
    edited = checks[5][0].last_message
    assert edited is not None and edited.source == "edited"
    from hubbub.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        # From the group's one query until the kick: all but Ann's own rows after her post
        served_before_the_kick = 5
        assert served == served_before_the_kick


async def test_a_statement_that_fails_in_a_group_read_ahead_fails_its_unit_alone(store: Store) -> None:
    """The group runs without waits; a refused statement surfaces at its end, and the group runs again."""

    dee, room = await user_and_room(store, "Dee", "R")
    await store.write(lambda tx: tx.add_star(MessageId(1), dee, 1))

    def star_again(tx: WriteTx) -> None:
        here = tx.user_in_room(dee, room)
        assert here.room is not None
        tx.update_room(replace(here.room, message_count=100))
        tx.add_star(MessageId(1), dee, 2)  # refused by the primary key, after the unit returned

    def counted(tx: WriteTx) -> int:
        here = tx.user_in_room(dee, room)
        assert here.room is not None
        tx.update_room(replace(here.room, message_count=here.room.message_count + 1))
        return here.room.message_count + 1

    units: list[tuple[Unit, tuple[UserId, RoomId]]] = [(counted, (dee, room))] * 2
    units += [(star_again, (dee, room))] + [(counted, (dee, room))] * 2
    outcomes = await as_one_group(store, units)
    assert outcomes[:2] == [1, 2] and outcomes[3:] == [3, 4]
    assert isinstance(outcomes[2], Exception)
    final = await store.read(lambda tx: tx.room(room))
    assert final is not None and final.message_count == 4


async def test_a_unit_that_fails_after_writing_is_undone_alone(store: Store) -> None:
    """Without savepoints in the group, the group runs again unit by unit; the others still succeed."""

    eve, room = await user_and_room(store, "Eve", "Two")

    def rename_then_fail(tx: WriteTx) -> None:
        here = tx.user_in_room(eve, room)
        assert here.room is not None
        tx.update_room(replace(here.room, name="Renamed"))
        raise ValueError("refused after writing")

    units: list[tuple[Unit, tuple[UserId, RoomId]]] = [
        (_post(eve, room, "one"), (eve, room)),
        (rename_then_fail, (eve, room)),
        (_check(eve, room), (eve, room)),
        (_post(eve, room, "two"), (eve, room)),
    ]
    outcomes = await as_one_group(store, units)
    assert outcomes[0] is None and isinstance(outcomes[1], ValueError) and outcomes[3] is None
    check = outcomes[2]
    assert isinstance(check, tuple) and check[0] == check[1]
    assert check[0].room is not None and check[0].room.name == "Two" and check[0].room.message_count == 1
    final = await store.read(lambda tx: tx.room(room))
    assert final is not None and final.name == "Two" and final.message_count == 2


class _Interrupted(BaseException):
    """Not an ``Exception``: what an interrupted unit of work might raise."""


async def test_a_unit_that_raises_a_base_exception_in_a_group_fails_alone(store: Store) -> None:
    fay, room = await user_and_room(store, "Fay", "R")

    def interrupted(tx: WriteTx) -> None:
        tx.user_in_room(fay, room)
        raise _Interrupted()

    units: list[tuple[Unit, tuple[UserId, RoomId]]] = [
        (_post(fay, room, "one"), (fay, room)),
        (interrupted, (fay, room)),
        (_post(fay, room, "two"), (fay, room)),
    ]
    outcomes = await as_one_group(store, units)
    assert outcomes[0] is None and isinstance(outcomes[1], _Interrupted) and outcomes[2] is None
    final = await store.read(lambda tx: tx.room(room))
    assert final is not None and final.message_count == 2
    assert await store.write(lambda tx: tx.user_in_room(fay, room).membership is not None)
