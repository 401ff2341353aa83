"""The Store contract: one suite, run against every engine (SQLite, and PostgreSQL on the test server).

Above all it checks shared/DESIGN.md's ordering rule: event ids are dense and
strictly increasing, commit atomically with the state they describe, and never
become visible out of order (a reader resuming from any id misses nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import (
    CHANNEL_SLUG_CHARS,
    AccessLevel,
    ApiToken,
    Kick,
    LoginSession,
    Membership,
    Message,
    Revision,
    Room,
    RoomAccess,
    SocketToken,
    User,
)
from hubbub.errors import Conflict, LocalError
from hubbub.store.base import ReadTx, Store, WriteTx
from tests.store.conftest import Opener


def _event(room: int | None = 1, kind: EventType = EventType.MESSAGE_POSTED, at: int = 100) -> NewEvent:
    return NewEvent(type=kind, time_stamp=at, room_id=None if room is None else RoomId(room), room_name="r")


async def _append(store: Store, count: int, room: int = 1) -> list[EventId]:
    def work(tx: WriteTx) -> list[EventId]:
        return [tx.append(_event(room)).id for _ in range(count)]

    return await store.write(work)


async def test_event_ids_are_dense_and_increasing(store: Store) -> None:
    first = await _append(store, 3)
    second = await _append(store, 2)
    assert first + second == [1, 2, 3, 4, 5]
    assert await store.read(lambda tx: tx.last_event_id()) == 5


async def test_a_failed_unit_of_work_leaves_no_trace(store: Store) -> None:
    await _append(store, 1)

    def work(tx: WriteTx) -> None:
        tx.append(_event())
        tx.insert_user(
            name="Ghost", email="ghost@example.org", password_hash="x", reputation=1, is_moderator=False, now=1
        )
        raise RuntimeError("refused halfway")

    with pytest.raises(RuntimeError):
        await store.write(work)
    assert await store.read(lambda tx: tx.last_event_id()) == 1
    assert await store.read(lambda tx: tx.user_by_email("ghost@example.org")) is None
    # The next event takes the id the failed one would have had: no hole in the log.
    assert await _append(store, 1) == [2]


async def test_concurrent_writers_never_expose_an_id_before_a_smaller_one(store: Store) -> None:
    writers = 40

    async def reader(stop: asyncio.Event) -> list[int]:
        seen: list[int] = []
        cursor = EventId(0)
        while not stop.is_set() or cursor < writers * 2:
            batch = await store.read(lambda tx, c=cursor: tx.events_after(c, limit=1000))
            ids = [e.id for e in batch]
            # Whatever a reader sees after its cursor must continue it without a gap.
            assert ids == list(range(cursor + 1, cursor + 1 + len(ids)))
            seen.extend(ids)
            if ids:
                cursor = EventId(ids[-1])
            await asyncio.sleep(0)
        return seen

    stop = asyncio.Event()
    reading = asyncio.create_task(reader(stop))
    await asyncio.gather(*(_append(store, 2, room=i % 3 + 1) for i in range(writers)))
    stop.set()
    seen = await asyncio.wait_for(reading, 10)
    assert seen == list(range(1, writers * 2 + 1))


async def test_events_after_filters_rooms_and_limits(store: Store) -> None:
    await store.write(lambda tx: [tx.append(_event(room)) for room in (1, 2, 1, 3, 1)])
    in_room_1 = await store.read(lambda tx: tx.events_after(EventId(0), room_ids=[RoomId(1)], limit=10))
    assert [e.id for e in in_room_1] == [1, 3, 5]
    limited = await store.read(lambda tx: tx.events_after(EventId(1), room_ids=[RoomId(1)], limit=1))
    assert [e.id for e in limited] == [3]
    latest = await store.read(lambda tx: tx.latest_events([RoomId(1), RoomId(2)], limit=2))
    assert [e.id for e in latest] == [3, 5]
    assert await store.read(lambda tx: tx.events_after(EventId(0), room_ids=[], limit=10)) == []


async def test_an_event_reads_back_field_for_field(store: Store) -> None:
    original = NewEvent(
        type=EventType.MESSAGE_REPLY,
        time_stamp=1_500_148_961,
        room_id=RoomId(1),
        room_name="Sandbox",
        user_id=UserId(13379),
        user_name="Michael",
        target_user_id=UserId(4258326),
        message_id=MessageId(38145271),
        content="@OakBot Test2",
        parent_id=MessageId(38145269),
        show_parent=True,
        message_edits=1,
        message_stars=2,
        message_owner_stars=1,
    )
    stored = await store.write(lambda tx: tx.append(original))
    [read] = await store.read(lambda tx: tx.events_after(EventId(0), limit=1))
    assert read == stored == original.with_id(EventId(1))
    targeted = await store.read(lambda tx: tx.events_targeting(UserId(4258326), EventId(0), limit=5))
    assert targeted == [stored]


async def test_users_rooms_and_grants(store: Store) -> None:
    def work(tx: WriteTx) -> tuple[int, int]:
        user = tx.insert_user(
            name="Jon Skeet", email=" Jon@Example.org ", password_hash="h", reputation=20, is_moderator=False, now=5
        )
        room = tx.insert_room(
            name="Sandbox", description="d", tags=["a", "b"], access=RoomAccess.GALLERY, created_by=user.id, now=5
        )
        tx.set_access_level(room.id, user.id, AccessLevel.OWNER, 5)
        tx.set_access_level(room.id, user.id, AccessLevel.READ_WRITE, 6)
        return user.id, room.id

    user_id, room_id = await store.write(work)

    def check(tx: ReadTx) -> None:
        user = tx.user_by_email("jon@example.org")
        assert user is not None and user.id == user_id and user.name == "Jon Skeet"
        assert tx.password_hash(UserId(user_id)) == "h"
        room = tx.room(RoomId(room_id))
        assert room is not None and room.tags == ("a", "b") and room.access is RoomAccess.GALLERY
        assert tx.access_level(RoomId(room_id), UserId(user_id)) is AccessLevel.READ_WRITE
        assert tx.access_grants(RoomId(room_id)) == [(user_id, AccessLevel.READ_WRITE)]
        assert [u.id for u in tx.list_users()] == [user_id]  # the Feeds user (-2) is not listed

    await store.read(check)
    with pytest.raises(Conflict):
        await store.write(
            lambda tx: tx.insert_user(
                name="Again", email="jon@example.org", password_hash="", reputation=1, is_moderator=False, now=1
            )
        )


async def test_a_user_in_a_room_is_what_the_separate_queries_read(store: Store) -> None:
    def work(tx: WriteTx) -> tuple[UserId, UserId, RoomId, RoomId]:
        jon = tx.insert_user(name="Jon", email=None, password_hash="", reputation=20, is_moderator=False, now=5)
        ann = tx.insert_user(name="Ann", email=None, password_hash="", reputation=1, is_moderator=True, now=5)
        here = tx.insert_room(
            name="Here", description="", tags=["t"], access=RoomAccess.PRIVATE, created_by=jon.id, now=5
        )
        there = tx.insert_room(name="There", description="", tags=[], access=RoomAccess.PUBLIC, created_by=None, now=5)
        tx.set_access_level(here.id, jon.id, AccessLevel.OWNER, 6)
        tx.set_kick(here.id, jon.id, count=2, until=900)
        tx.set_membership(
            Membership(room_id=here.id, user_id=jon.id, present=True, joined_at=7, last_seen=8, last_post=8)
        )
        for n, (room, user) in enumerate([(here, jon), (here, jon), (there, jon), (here, ann), (here, jon)]):
            tx.insert_message(
                room_id=room.id,
                user_id=user.id,
                source=f"m{n}",
                content=f"m{n}",
                posted_at=10 + n,
                parent_id=None,
                show_parent=False,
            )
        tx.insert_message(  # a later message of jon's in a third room
            room_id=RoomId(999),
            user_id=jon.id,
            source="x",
            content="x",
            posted_at=20,
            parent_id=None,
            show_parent=False,
        )
        return jon.id, ann.id, here.id, there.id

    jon, ann, here, there = await store.write(work)

    def check(tx: ReadTx) -> None:
        pairs = [(jon, here), (jon, there), (ann, here), (ann, there), (UserId(404), here), (jon, RoomId(404))]
        for user_id, room_id in pairs:
            found = tx.user_in_room(user_id, room_id)
            assert found.user == tx.user(user_id)
            assert found.room == tx.room(room_id)
            assert found.level == tx.access_level(room_id, user_id)
            assert found.kick == tx.kick(room_id, user_id)
            assert found.membership == tx.membership(room_id, user_id)
            assert found.last_message == tx.last_message_by(user_id, room_id)
        full = tx.user_in_room(jon, here)
        assert full.level is AccessLevel.OWNER and full.kick is not None and full.kick.until == 900
        assert full.membership is not None and full.last_message is not None and full.last_message.source == "m4"
        bare = tx.user_in_room(ann, there)
        assert bare.user is not None and bare.user.is_moderator and bare.room is not None
        assert (bare.level, bare.kick, bare.membership, bare.last_message) == (None, None, None, None)

    await store.read(check)


async def test_messages_revisions_stars_and_inbox(store: Store) -> None:
    def work(tx: WriteTx) -> MessageId:
        message = tx.insert_message(
            room_id=RoomId(1),
            user_id=UserId(1),
            source="hi",
            content="hi",
            posted_at=10,
            parent_id=None,
            show_parent=False,
        )
        tx.insert_revision(
            Revision(
                message_id=message.id, revision=0, kind="posted", source="hi", content="hi", user_id=UserId(1), at=10
            )
        )
        tx.add_star(message.id, UserId(2), 11)
        tx.add_pin(message.id, UserId(3), 12)
        event = tx.append(
            NewEvent(type=EventType.USER_MENTIONED, time_stamp=10, room_id=RoomId(1), message_id=message.id)
        )
        tx.add_inbox(UserId(2), event)
        return message.id

    message_id = await store.write(work)

    def check(tx: ReadTx) -> None:
        assert tx.last_message_id() == message_id == 1
        assert [r.kind for r in tx.revisions(message_id)] == ["posted"]
        assert tx.has_starred(message_id, UserId(2)) and not tx.has_starred(message_id, UserId(3))
        assert tx.starred_among([message_id, MessageId(99)], UserId(2)) == {message_id}
        assert tx.starred_among([message_id], UserId(3)) == set() and tx.starred_among([], UserId(2)) == set()
        assert tx.stars_given_since(UserId(2), 11) == 1 and tx.stars_given_since(UserId(2), 12) == 0
        assert tx.pinners(message_id) == [3]
        assert tx.unread_count(UserId(2)) == 1
        assert tx.recent_messages(RoomId(1), limit=10)[0].source == "hi"
        assert tx.messages_between(RoomId(1), 10, 11, limit=5)[0].id == message_id
        assert tx.messages_between(RoomId(1), 11, 20, limit=5) == []

    await store.read(check)
    assert await store.write(lambda tx: tx.mark_read(UserId(2), [message_id])) == 1
    assert await store.write(lambda tx: tx.mark_read(UserId(2), None)) == 0
    assert await store.read(lambda tx: tx.unread_count(UserId(2))) == 0


def _pings(tx: WriteTx, user_id: UserId, message_ids: range) -> None:
    for m in message_ids:
        event = tx.append(
            NewEvent(type=EventType.USER_MENTIONED, time_stamp=5, room_id=RoomId(1), message_id=MessageId(m))
        )
        tx.add_inbox(user_id, event)


async def test_unread_counts_follow_the_inbox(store: Store) -> None:
    async def counts() -> tuple[int, int]:
        return await store.read(lambda tx: (tx.unread_count(UserId(2)), tx.unread_count(UserId(3))))

    assert await counts() == (0, 0)
    await store.write(lambda tx: _pings(tx, UserId(2), range(1, 5)))
    await store.write(lambda tx: _pings(tx, UserId(3), range(5, 6)))
    assert await counts() == (4, 1)
    # Reading the same item twice counts once; another user's items are not this user's.
    assert await store.write(lambda tx: tx.mark_read(UserId(2), [MessageId(1), MessageId(1), MessageId(5)])) == 1
    assert await store.write(lambda tx: tx.mark_read(UserId(2), [MessageId(1)])) == 0
    assert await counts() == (3, 1)

    def refused(tx: WriteTx) -> None:
        _pings(tx, UserId(2), range(6, 8))
        tx.mark_read(UserId(3), None)
        raise Conflict("refused after its writes")

    with pytest.raises(Conflict):
        await store.write(refused)
    assert await counts() == (3, 1)  # a refused unit changes no count
    # Inside a unit, the count is the unit's own.
    assert await store.write(lambda tx: (_pings(tx, UserId(2), range(8, 9)), tx.unread_count(UserId(2)))[1]) == 4
    assert await store.write(lambda tx: tx.mark_read(UserId(2), None)) == 4
    assert await counts() == (0, 1)
    await store.write(lambda tx: _pings(tx, UserId(2), range(9, 10)))
    assert await counts() == (1, 1)


async def test_memberships(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        tx.set_membership(Membership(room_id=RoomId(1), user_id=UserId(1), present=True, joined_at=1, last_seen=50))
        tx.set_membership(Membership(room_id=RoomId(1), user_id=UserId(2), present=False, joined_at=1, last_seen=10))
        tx.set_membership(Membership(room_id=RoomId(2), user_id=UserId(1), present=True, joined_at=1, last_seen=5))

    await store.write(work)
    assert [m.user_id for m in await store.read(lambda tx: tx.present_members(RoomId(1)))] == [1]
    assert [m.user_id for m in await store.read(lambda tx: tx.members_seen_since(RoomId(1), 5))] == [1, 2]
    assert [m.user_id for m in await store.read(lambda tx: tx.members_seen_since(RoomId(1), 20))] == [1]
    assert await store.read(lambda tx: tx.rooms_of(UserId(1))) == [1, 2]


async def test_the_rooms_a_user_is_in_come_with_the_users_grant_and_kick(store: Store) -> None:
    def work(tx: WriteTx) -> list[Room]:
        rooms = [
            tx.insert_room(name=f"r{n}", description="", tags=(), access=RoomAccess.PRIVATE, created_by=None, now=1)
            for n in range(3)
        ]
        for room in rooms:
            tx.set_membership(
                Membership(room_id=room.id, user_id=UserId(1), present=room != rooms[2], joined_at=1, last_seen=1)
            )
        tx.set_access_level(rooms[0].id, UserId(1), AccessLevel.READ_WRITE, 1)
        tx.set_access_level(rooms[0].id, UserId(2), AccessLevel.OWNER, 1)  # someone else's
        tx.set_kick(rooms[1].id, UserId(1), count=2, until=99)
        return rooms

    rooms = await store.write(work)
    found = await store.read(lambda tx: tx.rooms_of_with_standing(UserId(1)))
    assert found == [
        (rooms[0], AccessLevel.READ_WRITE, None),
        (rooms[1], None, Kick(room_id=rooms[1].id, user_id=UserId(1), count=2, until=99)),
    ]  # not the room the user left
    assert await store.read(lambda tx: tx.rooms_of_with_standing(UserId(3))) == []


async def test_members_named_by_a_ping_are_found_by_their_ping_key(store: Store) -> None:
    names = ["Jon Skeet", "Jonas", "Straße Bob", "Other", "Jon Old", "jon_x"]

    def work(tx: WriteTx) -> list[User]:
        users = [
            tx.insert_user(name=name, email=None, password_hash="", reputation=1, is_moderator=False, now=1)
            for name in names
        ]
        for n, user in enumerate(users):
            gone = user.name == "Jon Old"  # left, and last seen before ``since``
            seen = 5 if gone else 100 - n
            tx.set_membership(
                Membership(room_id=RoomId(1), user_id=user.id, present=not gone, joined_at=1, last_seen=seen)
            )
        tx.set_membership(Membership(room_id=RoomId(2), user_id=users[3].id, present=False, joined_at=1, last_seen=9))
        tx.set_access_level(RoomId(1), users[1].id, AccessLevel.READ_ONLY, 1)
        return users

    users = await store.write(work)
    by_name = {user.name: user for user in users}

    async def named(*prefixes: str, room: int = 1, limit: int = 10) -> list[tuple[str, AccessLevel | None]]:
        found = await store.read(lambda tx: tx.members_seen_since_named(RoomId(room), 10, prefixes, limit=limit))
        assert all(member.user_id == user.id and member.room_id == room for member, user, _ in found)
        return [(user.name, level) for _, user, level in found]

    # newest first, as members_seen_since; grants come along
    assert await named("jon") == [("Jon Skeet", None), ("Jonas", AccessLevel.READ_ONLY), ("jon_x", None)]
    assert await named("jonsk", "oth") == [("Jon Skeet", None), ("Other", None)]
    assert await named("jon", limit=2) == [("Jon Skeet", None), ("Jonas", AccessLevel.READ_ONLY)]
    assert await named("strasse") == [("Straße Bob", None)]  # case folding: ß is ss
    assert await named("j_n") == [] and await named("jon_") == [("jon_x", None)]  # no LIKE wildcards
    assert await named() == [] and await named("oth", room=2) == []  # not seen there since 10
    # a rename moves the key with the name
    await store.write(lambda tx: tx.update_user(replace(by_name["Jon Skeet"], name="Zed Shaw")))
    assert await named("jon") == [("Jonas", AccessLevel.READ_ONLY), ("jon_x", None)]
    assert await named("zedsh") == [("Zed Shaw", None)]


async def test_sessions_and_meta(store: Store) -> None:
    session = LoginSession(token_hash="abc", user_id=UserId(1), fkey="f", created_at=1, expires_at=2)
    await store.write(lambda tx: tx.insert_session(session))
    assert await store.read(lambda tx: tx.session("abc")) == session
    await store.write(lambda tx: tx.delete_session("abc"))
    assert await store.read(lambda tx: tx.session("abc")) is None
    await store.write(lambda tx: tx.set_meta("k", "v1"))
    await store.write(lambda tx: tx.set_meta("k", "v2"))
    assert await store.read(lambda tx: tx.meta("k")) == "v2"


async def test_a_session_reads_back_with_its_user_in_one_query(store: Store) -> None:
    def work(tx: WriteTx) -> User:
        user = tx.insert_user(name="Jon", email="j@x.org", password_hash="", reputation=7, is_moderator=True, now=3)
        tx.insert_session(LoginSession(token_hash="live", user_id=user.id, fkey="f1", created_at=4, expires_at=9))
        tx.insert_session(LoginSession(token_hash="orphan", user_id=UserId(404), fkey="f2", created_at=4, expires_at=9))
        return user

    user = await store.write(work)

    def check(tx: ReadTx) -> None:
        assert tx.session_and_user("live") == (tx.session("live"), tx.user(user.id))
        assert tx.session_and_user("live") == (
            LoginSession(token_hash="live", user_id=user.id, fkey="f1", created_at=4, expires_at=9),
            user,
        )
        assert tx.session_and_user("orphan") is None and tx.session("orphan") is not None  # its user is gone
        assert tx.session_and_user("missing") is None

    await store.read(check)


async def test_a_lookup_reads_what_a_read_does_and_runs_one_statement_only(store: Store) -> None:
    def work(tx: WriteTx) -> User:
        user = tx.insert_user(name="Jon", email="j@x.org", password_hash="", reputation=7, is_moderator=False, now=3)
        tx.insert_session(LoginSession(token_hash="live", user_id=user.id, fkey="f1", created_at=4, expires_at=9))
        return user

    user = await store.write(work)
    for _ in range(3):  # more than one reader thread's worth
        assert await store.lookup(lambda tx: tx.session_and_user("live")) == await store.read(
            lambda tx: tx.session_and_user("live")
        )
        assert await store.lookup(lambda tx: tx.session_and_user("missing")) is None
        assert await store.lookup(lambda tx: 0) == 0  # no statement at all
    ran: list[str] = []

    def two_statements(tx: ReadTx) -> None:
        tx.user(user.id)
        ran.append("first")
        tx.user(user.id)  # a second snapshot: refused before it runs
        ran.append("second")

    for _ in range(3):
        with pytest.raises(LocalError, match="one statement"):
            await store.lookup(two_statements)
        assert await store.lookup(lambda tx: tx.user(user.id)) == user  # the reader goes on
        assert await store.read(two_statements) is None  # a read may run any number
    assert ran.count("second") == 3


async def test_trimming_sessions_keeps_the_newest_live_ones_of_that_user(store: Store) -> None:
    def session(name: str, user: int, created: int, expires: int = 100) -> LoginSession:
        return LoginSession(token_hash=name, user_id=UserId(user), fkey="f", created_at=created, expires_at=expires)

    sessions = [
        session("expired", 1, 1, expires=10),
        session("old", 1, 2),
        session("middle", 1, 3),
        session("new", 1, 4),
        session("other user", 2, 1),
    ]

    def insert(tx: WriteTx) -> None:
        for each in sessions:
            tx.insert_session(each)

    await store.write(insert)
    ended = await store.write(lambda tx: tx.trim_sessions(UserId(1), keep=2, now=10))
    assert [each.token_hash for each in ended] == ["expired", "old"]
    assert ended[1] == sessions[1]

    def live(tx: ReadTx) -> list[str]:
        return [each.token_hash for each in sessions if tx.session(each.token_hash) is not None]

    assert await store.read(live) == ["middle", "new", "other user"]
    ended = await store.write(lambda tx: tx.trim_sessions(UserId(1), keep=0, now=10))
    assert [each.token_hash for each in ended] == ["middle", "new"]
    assert await store.read(live) == ["other user"]


async def test_ending_every_session_of_a_user_but_one(store: Store) -> None:
    def session(token_hash: str, user: int) -> LoginSession:
        return LoginSession(token_hash=token_hash, user_id=UserId(user), fkey="f", created_at=1, expires_at=9)

    def work(tx: WriteTx) -> None:
        for token_hash, user in (("a1", 1), ("a2", 1), ("a3", 1), ("b1", 2)):
            tx.insert_session(session(token_hash, user))

    await store.write(work)
    assert await store.write(lambda tx: tx.delete_sessions_of(UserId(1), keep_token_hash="a2")) == 2
    left = await store.read(lambda tx: [h for h in ("a1", "a2", "a3", "b1") if tx.session(h) is not None])
    assert left == ["a2", "b1"]
    assert await store.write(lambda tx: tx.delete_sessions_of(UserId(1))) == 1
    assert await store.write(lambda tx: tx.delete_sessions_of(UserId(1))) == 0
    assert await store.read(lambda tx: tx.session("b1")) is not None


def _insert_socket_token(
    tx: WriteTx, token_hash: str, user: int, room: int | None, *, at: int = 10, session: str = "s1"
) -> SocketToken:
    return tx.insert_socket_token(
        token_hash=token_hash,
        user_id=UserId(user),
        room_id=None if room is None else RoomId(room),
        session_key=session,
        issued_at=at,
        expires_at=at + 120,
    )


async def test_a_socket_token_is_taken_once(store: Store) -> None:
    token = await store.write(lambda tx: _insert_socket_token(tx, "t1", 1, 5))
    assert (token.token_hash, token.user_id, token.room_id, token.session_key) == ("t1", 1, 5, "s1")
    assert await store.read(lambda tx: tx.socket_tokens_of(UserId(1))) == [token]
    assert await store.write(lambda tx: tx.take_socket_token("t1")) == token
    assert await store.write(lambda tx: tx.take_socket_token("t1")) is None
    assert await store.read(lambda tx: tx.socket_tokens_of(UserId(1))) == []


async def test_concurrent_takers_of_one_socket_token_get_it_once(store: Store) -> None:
    await store.write(lambda tx: _insert_socket_token(tx, "t1", 1, 5))
    taken = await asyncio.gather(*(store.write(lambda tx: tx.take_socket_token("t1")) for _ in range(8)))
    assert sum(result is not None for result in taken) == 1


async def test_socket_tokens_by_user_and_room_revoked_and_purged(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        # Handed out in this order, within one second but for the last: the order is kept.
        _insert_socket_token(tx, "zz-first", 1, 5, at=30)
        _insert_socket_token(tx, "aa-second", 1, 5, at=30)
        _insert_socket_token(tx, "realtime", 1, None, at=20)
        _insert_socket_token(tx, "other", 2, 5, at=40, session="s9")

    await store.write(work)

    def check(tx: ReadTx) -> None:
        assert [t.token_hash for t in tx.socket_tokens_of(UserId(1))] == ["zz-first", "aa-second", "realtime"]
        assert [t.token_hash for t in tx.socket_tokens_for_room(RoomId(5))] == ["zz-first", "aa-second", "other"]
        assert tx.socket_tokens_for_room(RoomId(6)) == [] and tx.socket_tokens_of(UserId(3)) == []
        seqs = [t.seq for t in tx.socket_tokens_of(UserId(1))]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3

    await store.read(check)
    assert await store.write(lambda tx: tx.delete_socket_tokens(["zz-first", "nope"])) == 1
    assert await store.write(lambda tx: tx.delete_socket_tokens([])) == 0
    # "realtime" expires at 140, "aa-second" at 150, "other" at 160.
    assert await store.write(lambda tx: tx.purge_socket_tokens(150)) == 2
    remaining = await store.read(lambda tx: [t.token_hash for t in tx.socket_tokens_for_room(RoomId(5))])
    assert remaining == ["other"]
    assert await store.write(lambda tx: tx.take_socket_token("aa-second")) is None


async def test_meta_or_set_keeps_the_first_value_stored(store: Store) -> None:
    assert await store.write(lambda tx: tx.meta_or_set("secret", "first")) == "first"
    assert await store.write(lambda tx: tx.meta_or_set("secret", "second")) == "first"
    # Many writers at once (nodes starting together) all come back with the one stored value.
    answers = await asyncio.gather(*(store.write(lambda tx, v=v: tx.meta_or_set("race", v)) for v in "abcdefgh"))
    assert len(set(answers)) == 1
    assert await store.read(lambda tx: tx.meta("race")) == answers[0]


async def test_reopening_the_database_keeps_everything(open_store: Opener) -> None:
    first = open_store()
    await _append(first, 2)
    await first.close()
    second = open_store()  # migrations are idempotent
    assert await _append(second, 1) == [3]
    await second.close()


async def test_search_messages_matches_literally_and_newest_first(store: Store) -> None:
    texts = [
        (1, "Hello world"),
        (1, "100% sure"),
        (2, "hello elsewhere"),
        (1, "a_b and HELLO"),
        (1, "axb"),
        (1, "wow!"),
    ]

    def work(tx: WriteTx) -> None:
        for room, text in texts:
            tx.insert_message(
                room_id=RoomId(room),
                user_id=UserId(1),
                source=text,
                content=text,
                posted_at=10,
                parent_id=None,
                show_parent=False,
            )

    await store.write(work)

    async def search(rooms: list[int], text: str, *, limit: int, offset: int = 0) -> list[Message]:
        ids = [RoomId(r) for r in rooms]
        return await store.read(lambda tx: tx.search_messages(ids, text, limit=limit, offset=offset))

    assert [m.id for m in await search([1], "hello", limit=10)] == [4, 1]
    assert [m.id for m in await search([1, 2], "HELLO", limit=10)] == [4, 3, 1]
    assert [m.id for m in await search([1, 2], "hello", limit=1, offset=1)] == [3]
    assert [m.id for m in await search([1], "%", limit=10)] == [2]
    assert [m.id for m in await search([1], "a_b", limit=10)] == [4]
    assert [m.id for m in await search([1], "!", limit=10)] == [6]
    assert [m.id for m in await search([1], "w!", limit=10)] == [6]
    assert await search([], "hello", limit=10) == []
    assert await search([1], "", limit=10) == []


async def test_conversations_are_per_room_and_newest_first(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        for room_name in ("Den", "Other"):
            tx.insert_room(name=room_name, description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
        for slug, room in (("first", 1), ("second", 1), ("first", 2)):
            tx.insert_conversation(
                room_id=RoomId(room),
                slug=slug,
                title=slug.title(),
                first_message_id=MessageId(3),
                last_message_id=MessageId(9),
                created_by=UserId(7),
                now=50,
            )

    await store.write(work)

    def check(tx: ReadTx) -> None:
        assert [c.slug for c in tx.conversations(RoomId(1), limit=100)] == ["second", "first"]
        found = tx.conversation(RoomId(2), "first")
        assert found is not None and (found.id, found.title, found.first_message_id) == (3, "First", 3)
        assert tx.conversation(RoomId(2), "second") is None
        assert tx.conversation_by_compact_slug(RoomId(1), "first") == tx.conversation(RoomId(1), "first")
        assert tx.conversation_by_compact_slug(RoomId(1), "fir-st") is None

    await store.read(check)
    first = await store.read(lambda tx: tx.conversation(RoomId(1), "first"))
    assert first is not None
    await store.write(lambda tx: tx.delete_conversation(first.id))
    assert [c.slug for c in await store.read(lambda tx: tx.conversations(RoomId(1), limit=100))] == ["second"]


async def test_a_conversation_is_found_by_its_slug_without_hyphens(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        tx.insert_room(name="Den", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
        for slug in ("ship-date", "ship-date-2", "shi-pdate", "shipdate-x"):
            tx.insert_conversation(
                room_id=RoomId(1),
                slug=slug,
                title=slug,
                first_message_id=MessageId(1),
                last_message_id=MessageId(1),
                created_by=UserId(1),
                now=1,
            )

    await store.write(work)

    def check(tx: ReadTx) -> None:
        found = {key: tx.conversation_by_compact_slug(RoomId(1), key) for key in ("shipdate", "shipdate2", "shipdatex")}
        assert {key: c.slug if c else None for key, c in found.items()} == {
            "shipdate": "ship-date",  # the oldest of the two that compact alike
            "shipdate2": "ship-date-2",
            "shipdatex": "shipdate-x",
        }
        assert tx.conversation_by_compact_slug(RoomId(1), "ship-date") is None  # the key is compact already
        assert tx.conversation_by_compact_slug(RoomId(2), "shipdate") is None
        assert tx.conversation_by_compact_slug(RoomId(1), "") is None
        taken = tx.compact_slugs_taken(RoomId(1), ["shipdate", "shipdate2", "shipdate3", "shipdatex", "ship-date"])
        assert taken == {"shipdate", "shipdate2", "shipdatex"}
        assert (
            tx.compact_slugs_taken(RoomId(2), ["shipdate"]) == set() and tx.compact_slugs_taken(RoomId(1), []) == set()
        )

    await store.read(check)


async def test_a_failing_unit_among_concurrent_ones_fails_alone(store: Store) -> None:
    """Writers that queue up together (SQLite commits them as a group) still succeed or fail one by one."""

    def failing(tx: WriteTx) -> None:
        tx.append(_event(room=9))
        tx.insert_user(
            name="Ghost", email="ghost@example.org", password_hash="x", reputation=1, is_moderator=False, now=1
        )
        raise ValueError("refused halfway")

    units = [_append(store, 1, room=1), store.write(failing), _append(store, 1, room=2), store.write(failing)]
    outcomes = await asyncio.gather(*units, return_exceptions=True)
    assert [type(o) for o in outcomes] == [list, ValueError, list, ValueError]
    appended = [event_id for outcome in outcomes if isinstance(outcome, list) for event_id in outcome]
    assert sorted(appended) == [1, 2]
    events = await store.read(lambda tx: tx.events_after(EventId(0), limit=10))
    assert [(e.id, e.room_id) for e in events] in ([(1, 1), (2, 2)], [(1, 2), (2, 1)])
    assert await store.read(lambda tx: tx.user_by_email("ghost@example.org")) is None


async def test_a_cancelled_writer_does_not_disturb_the_others(store: Store) -> None:
    first = asyncio.ensure_future(_append(store, 1))
    second = asyncio.ensure_future(_append(store, 1))
    first.cancel()
    assert len(await second) == 1
    with contextlib.suppress(asyncio.CancelledError):
        await first
    # Whether the cancelled unit ran or not, the log has no hole and the next id follows on.
    last = await store.read(lambda tx: tx.last_event_id())
    assert await _append(store, 1) == [last + 1]


class _Abort(BaseException):
    """Not an ``Exception``: what a cancelled or interrupted unit of work might raise."""


async def test_a_unit_that_raises_a_base_exception_does_not_stop_the_writer(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        tx.append(_event())
        raise _Abort()

    with pytest.raises(_Abort):
        await store.write(work)
    assert await _append(store, 1) == [1]


async def test_updates_round_trip_every_column(store: Store) -> None:
    def create(tx: WriteTx) -> tuple[User, Room, Message]:
        user = tx.insert_user(name="Ann", email=None, password_hash="h", reputation=1, is_moderator=False, now=3)
        room = tx.insert_room(name="R", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=3)
        message = tx.insert_message(
            room_id=room.id, user_id=user.id, source="a", content="a", posted_at=3, parent_id=None, show_parent=False
        )
        return user, room, message

    user, room, message = await store.write(create)
    changed_user = replace(
        user,
        name="Anne",
        email="anne@example.org",
        reputation=99,
        is_moderator=True,
        suspended_until=500,
        about="hi",
        last_seen=7,
        last_post=6,
    )
    changed_room = replace(
        room,
        name="Den",
        description="d",
        tags=("x", "y"),
        access=RoomAccess.PRIVATE,
        last_activity=9,
        message_count=4,
    )
    changed_message = replace(
        message,
        source="b",
        content="<b>b</b>",
        edits=2,
        edited_at=8,
        deleted=True,
        deleted_at=9,
        deleted_by=user.id,
        stars=3,
        owner_stars=1,
    )

    def update(tx: WriteTx) -> None:
        tx.update_user(changed_user)
        tx.update_room(changed_room)
        tx.update_message(changed_message)
        tx.set_password_hash(user.id, "h2")

    await store.write(update)

    def check(tx: ReadTx) -> None:
        assert tx.user(user.id) == changed_user and tx.users([user.id, UserId(404)]) == {user.id: changed_user}
        assert tx.password_hash(user.id) == "h2"
        assert tx.room(room.id) == changed_room and tx.rooms([room.id]) == {room.id: changed_room}
        assert tx.list_rooms() == [changed_room] and tx.list_rooms(after=changed_room.id) == []
        assert tx.message(message.id) == changed_message
        assert tx.messages([message.id, MessageId(404)]) == {message.id: changed_message}
        assert tx.users([]) == {} and tx.rooms([]) == {} and tx.messages([]) == {}

    await store.read(check)


async def test_rooms_listed_in_batches_after_an_id_and_found_by_slug(store: Store) -> None:
    long = "a" * CHANNEL_SLUG_CHARS
    names = ("One", "Two", "one!", "Two Three", "Five", "Twothree", long + "zz", long + "b", long[:-1])

    def make(tx: WriteTx) -> list[RoomId]:
        return [
            tx.insert_room(name=name, description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1).id
            for name in names
        ]

    ids = await store.write(make)

    def rename(tx: WriteTx) -> None:
        room = tx.room(ids[4])
        assert room is not None
        tx.update_room(replace(room, name="Twofold"))

    await store.write(rename)

    def check(tx: ReadTx) -> None:
        assert [room.id for room in tx.list_rooms(limit=2, after=ids[0])] == ids[1:3]
        assert [room.id for room in tx.list_rooms(limit=10, after=ids[6])] == ids[7:]
        assert tx.list_rooms(after=ids[-1]) == []
        assert tx.oldest_room_with_slug("one") == ids[0]  # "One" and "one!" share it
        assert tx.oldest_room_with_slug("two") == ids[1]
        assert tx.oldest_room_with_slug("two-three") == ids[3]  # not "twothree": hyphens count
        assert tx.oldest_room_with_slug("twothree") == ids[5]
        assert tx.oldest_room_with_slug("twofold") == ids[4] and tx.oldest_room_with_slug("five") is None
        assert tx.oldest_room_with_slug("tw") is None and tx.oldest_room_with_slug("two-") is None
        assert tx.oldest_room_with_slug(long) == ids[6]  # a slug as long as the cut: any that begin so
        assert tx.oldest_room_with_slug(long[:-1]) == ids[8]  # shorter: that slug alone

    await store.read(check)


async def test_message_history_windows(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        for i, (room, author) in enumerate([(1, 1), (1, 2), (2, 1), (1, 1), (1, 2)]):
            message = tx.insert_message(
                room_id=RoomId(room),
                user_id=UserId(author),
                source=f"m{i}",
                content=f"m{i}",
                posted_at=10 + i,
                parent_id=None,
                show_parent=False,
            )
            tx.append(
                NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=10 + i, room_id=RoomId(room), message_id=message.id)
            )
            tx.append(
                NewEvent(type=EventType.MESSAGE_EDITED, time_stamp=10 + i, room_id=RoomId(room), message_id=message.id)
            )
        deleted = tx.message(MessageId(4))
        assert deleted is not None
        tx.update_message(replace(deleted, deleted=True))

    await store.write(work)

    def check(tx: ReadTx) -> None:
        assert [m.id for m in tx.recent_messages(RoomId(1), limit=10)] == [1, 2, 5]
        assert [m.id for m in tx.recent_messages(RoomId(1), limit=10, include_deleted=True)] == [1, 2, 4, 5]
        assert [m.id for m in tx.recent_messages(RoomId(1), limit=2, include_deleted=True)] == [4, 5]
        assert [m.id for m in tx.recent_messages(RoomId(1), limit=10, before=MessageId(5))] == [1, 2]
        assert [m.id for m in tx.recent_messages(RoomId(1), limit=10, after=MessageId(1))] == [2, 5]
        last = tx.last_message_by(UserId(1), RoomId(1))
        assert last is not None and last.id == 4
        assert tx.last_message_by(UserId(2), RoomId(2)) is None
        assert tx.posting_event_ids([MessageId(1), MessageId(3), MessageId(404)]) == {1: 1, 3: 5}
        assert tx.posting_event_ids([]) == {}
        assert [e.id for e in tx.latest_events([RoomId(2)], limit=5)] == [5, 6]
        assert tx.latest_events([], limit=5) == []

    await store.read(check)


async def test_search_folds_case_beyond_ascii(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        for text in ("ÉCOLE du soir", "une école", "Straße", "ecole"):
            tx.insert_message(
                room_id=RoomId(1),
                user_id=UserId(1),
                source=text,
                content=text,
                posted_at=1,
                parent_id=None,
                show_parent=False,
            )

    await store.write(work)
    found = await store.read(lambda tx: tx.search_messages([RoomId(1)], "École", limit=10))
    assert [m.id for m in found] == [2, 1]
    found = await store.read(lambda tx: tx.search_messages([RoomId(1)], "STRASSE", limit=10))
    assert found == []  # lower-casing, not case folding: ß is not ss
    found = await store.read(lambda tx: tx.search_messages([RoomId(1)], "STRAßE", limit=10))
    assert [m.id for m in found] == [3]


async def test_kicks_memberships_and_meta_are_replaced_in_place(store: Store) -> None:
    def first(tx: WriteTx) -> None:
        tx.set_kick(RoomId(1), UserId(2), count=1, until=60)
        tx.set_membership(Membership(room_id=RoomId(1), user_id=UserId(2), present=True, joined_at=1, last_seen=1))
        tx.set_meta("k", "a")

    def second(tx: WriteTx) -> None:
        tx.set_kick(RoomId(1), UserId(2), count=2, until=600)
        tx.set_membership(
            Membership(room_id=RoomId(1), user_id=UserId(2), present=False, joined_at=1, last_seen=5, last_post=4)
        )
        tx.set_meta("k", "b")

    await store.write(first)
    await store.write(second)

    def check(tx: ReadTx) -> None:
        assert tx.kick(RoomId(1), UserId(2)) == Kick(room_id=RoomId(1), user_id=UserId(2), count=2, until=600)
        assert tx.kick(RoomId(1), UserId(3)) is None
        assert tx.membership(RoomId(1), UserId(2)) == Membership(
            room_id=RoomId(1), user_id=UserId(2), present=False, joined_at=1, last_seen=5, last_post=4
        )
        assert tx.present_members(RoomId(1)) == [] and tx.meta("k") == "b" and tx.meta("missing") is None

    await store.read(check)


async def test_ties_in_time_order_by_user(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        for user in (5, 3, 4):
            tx.set_membership(
                Membership(room_id=RoomId(1), user_id=UserId(user), present=True, joined_at=1, last_seen=9)
            )
            tx.set_access_level(RoomId(1), UserId(user), AccessLevel.READ_WRITE, 9)
            tx.add_pin(MessageId(1), UserId(user), 9)

    await store.write(work)

    def check(tx: ReadTx) -> None:
        assert [m.user_id for m in tx.present_members(RoomId(1))] == [3, 4, 5]
        assert [m.user_id for m in tx.members_seen_since(RoomId(1), 0)] == [3, 4, 5]
        assert [user for user, _ in tx.access_grants(RoomId(1))] == [3, 4, 5]
        assert tx.pinners(MessageId(1)) == [3, 4, 5]

    await store.read(check)


async def test_api_tokens_and_inbox_marking(store: Store) -> None:
    def work(tx: WriteTx) -> tuple[ApiToken, list[Event]]:
        token = tx.insert_api_token(name="bot", scope="publish", token_hash="th", now=5)
        events = [
            tx.append(
                NewEvent(
                    type=EventType.USER_MENTIONED,
                    time_stamp=5,
                    room_id=RoomId(1),
                    message_id=MessageId(m),
                    target_user_id=UserId(2),
                )
            )
            for m in (1, 2, 3)
        ]
        for event in events:
            tx.add_inbox(UserId(2), event)
        return token, events

    token, events = await store.write(work)
    assert await store.read(lambda tx: tx.api_token("th")) == token
    assert await store.read(lambda tx: tx.api_token("nope")) is None
    assert await store.write(lambda tx: tx.revoke_api_token(token.id, 9)) is True
    assert await store.write(lambda tx: tx.revoke_api_token(token.id, 10)) is False
    assert await store.read(lambda tx: tx.api_tokens()) == [replace(token, revoked_at=9)]
    assert await store.write(lambda tx: tx.mark_read(UserId(2), [MessageId(1), MessageId(3)])) == 2
    assert await store.write(lambda tx: tx.mark_read(UserId(2), [])) == 0
    assert await store.read(lambda tx: tx.unread_count(UserId(2))) == 1
    assert await store.read(lambda tx: tx.events_targeting(UserId(2), events[0].id, limit=5)) == events[1:]


async def test_units_on_two_nodes_never_lose_an_update(open_store: Opener) -> None:
    """Units read, then write what they read plus one: on two stores (nodes) over one database,
    no increment may be lost, as if every unit ran alone (SQLite's single writer; PostgreSQL's write lock)."""
    nodes = [open_store(), open_store()]
    try:
        room = await nodes[0].write(
            lambda tx: tx.insert_room(
                name="R", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1
            )
        )

        def bump(tx: WriteTx) -> None:
            current = tx.room(room.id)
            assert current is not None
            tx.update_room(replace(current, message_count=current.message_count + 1))
            tx.append(_event(room.id))

        units = 150
        await asyncio.gather(*(nodes[i % 2].write(bump) for i in range(units)))
        final = await nodes[1].read(lambda tx: tx.room(room.id))
        assert final is not None and final.message_count == units
    finally:
        for node in nodes:
            await node.close()


async def test_a_unit_whose_write_the_database_refuses_fails_alone(store: Store) -> None:
    """The refused statement is the unit's last (PostgreSQL sends it without waiting): still only that unit fails."""
    await store.write(lambda tx: tx.add_star(MessageId(1), UserId(2), 5))

    def star_again(tx: WriteTx) -> None:
        tx.append(_event(room=7))
        tx.add_star(MessageId(1), UserId(2), 6)  # the primary key refuses it

    units = [_append(store, 1, room=1), store.write(star_again), _append(store, 1, room=2), store.write(star_again)]
    outcomes = await asyncio.gather(*units, return_exceptions=True)
    assert [isinstance(o, list) for o in outcomes] == [True, False, True, False]
    assert all(isinstance(o, Exception) and not isinstance(o, AssertionError) for o in outcomes[1::2])
    events = await store.read(lambda tx: tx.events_after(EventId(0), limit=10))
    assert sorted(e.room_id or 0 for e in events) == [1, 2] and [e.id for e in events] == [1, 2]
    assert await store.write(lambda tx: tx.append(_event(room=3)).id) == 3
    with pytest.raises(Exception, match=r"(?i)unique|primary"):
        await store.write(star_again)  # alone (no savepoint): the same
    assert await store.read(lambda tx: tx.last_event_id()) == 3


async def test_units_whose_first_query_is_sent_ahead_read_what_the_units_before_them_wrote(store: Store) -> None:
    """On PostgreSQL a unit's prefetch goes out with the previous unit's end: it must see that unit's
    writes, and a refused unit must still fail alone, the next one's prefetch sent again."""

    def setup(tx: WriteTx) -> tuple[UserId, RoomId]:
        user = tx.insert_user(name="Jon", email=None, password_hash="", reputation=1, is_moderator=False, now=1)
        room = tx.insert_room(name="R", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
        tx.add_star(MessageId(1), user.id, 1)
        return user.id, room.id

    user_id, room_id = await store.write(setup)
    started = threading.Event()

    def hold(tx: WriteTx) -> None:  # keeps the writer busy until every other unit has queued behind it
        started.set()
        time.sleep(0.3)

    def count(refuse: bool) -> Callable[[WriteTx], int]:
        def work(tx: WriteTx) -> int:
            here = tx.user_in_room(user_id, room_id)  # the query sent ahead
            assert here.room is not None and here.user is not None
            tx.update_room(replace(here.room, message_count=here.room.message_count + 1))
            tx.append(_event(room=room_id))
            if refuse:
                tx.add_star(MessageId(1), user_id, 2)  # the primary key refuses it, after the unit returned
            return here.room.message_count + 1

        return work

    def prefetch(tx: WriteTx) -> None:
        tx.prefetch_user_in_room(user_id, room_id)

    def another_query_first(tx: WriteTx) -> bool:  # drops the answer sent ahead, then asks afresh
        room = tx.room(room_id)
        here = tx.user_in_room(user_id, room_id)
        return room is not None and here.room == room and here.user is not None

    def other_ids(tx: WriteTx) -> bool:  # asks for another room than was sent ahead
        return tx.user_in_room(user_id, RoomId(999)).room is None

    units: list[Callable[[WriteTx], object]] = [count(False), count(True), another_query_first, count(False)]
    units += [count(True), count(True), other_ids, count(False)]
    holding = asyncio.ensure_future(store.write(hold))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    outcomes = await asyncio.gather(*(store.write(u, prefetch=prefetch) for u in units), return_exceptions=True)
    await holding
    assert outcomes[2] is True and outcomes[6] is True
    counted = [outcomes[i] for i in (0, 1, 3, 4, 5, 7)]
    assert [o if isinstance(o, int) else "refused" for o in counted] == [1, "refused", 2, "refused", "refused", 3]
    assert all(
        isinstance(o, Exception) and not isinstance(o, AssertionError) for o in counted if not isinstance(o, int)
    )
    room = await store.read(lambda tx: tx.room(room_id))
    assert room is not None and room.message_count == 3
    events = await store.read(lambda tx: tx.events_after(EventId(0), limit=20))
    assert [e.id for e in events] == [1, 2, 3]  # the refused units' ids were taken back


async def test_statements_skipped_after_a_refused_one_do_not_break_later_units(store: Store) -> None:
    """PostgreSQL skips whatever was sent after a failed statement up to the next sync, a PREPARE too;
    psycopg prepares a statement at its sixth run and counts it prepared once sent. The sixth
    ``set_meta`` here is sent in such a skipped stretch: the units after it (in the same group and
    in the next transactions) must still run every statement."""
    await store.write(lambda tx: tx.add_star(MessageId(1), UserId(2), 5))

    def refused(tx: WriteTx) -> None:
        tx.add_star(MessageId(1), UserId(2), 6)  # refused by the primary key; what follows is skipped
        for n in range(8):
            tx.set_meta(f"skipped-{n}", "x")

    def metas(tx: WriteTx) -> int:
        for n in range(8):
            tx.set_meta(f"kept-{n}", "y")
        return tx.last_event_id()

    async def as_one_group(*units: Callable[[WriteTx], object]) -> list[object]:
        started = threading.Event()

        def hold(tx: WriteTx) -> None:  # the writer is busy until the units have queued behind it
            started.set()
            time.sleep(0.2)

        holding = asyncio.ensure_future(store.write(hold))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        outcomes = await asyncio.gather(*(store.write(unit) for unit in units), return_exceptions=True)
        await holding
        return outcomes

    first = await as_one_group(lambda tx: tx.add_star(MessageId(1), UserId(2), 6), lambda tx: tx.set_meta("a", "b"))
    assert isinstance(first[0], Exception) and first[1] is None
    outcomes = await as_one_group(refused, metas, metas)
    assert isinstance(outcomes[0], Exception) and outcomes[1:] == [0, 0]
    assert await store.write(metas) == 0
    assert await store.read(lambda tx: (tx.meta("kept-7"), tx.meta("skipped-0"))) == ("y", None)


async def test_a_bookmark_is_found_by_its_slug_without_hyphens(store: Store) -> None:
    def work(tx: WriteTx) -> None:
        tx.insert_room(name="Den", description="", tags=(), access=RoomAccess.PUBLIC, created_by=None, now=1)
        for slug in ("a-b-c", "abc", "x-y"):
            tx.insert_conversation(
                room_id=RoomId(1),
                slug=slug,
                title=slug,
                first_message_id=MessageId(1),
                last_message_id=MessageId(2),
                created_by=UserId(1),
                now=5,
            )

    await store.write(work)
    found = await store.read(lambda tx: tx.conversation_by_compact_slug(RoomId(1), "abc"))
    assert found is not None and found.slug == "a-b-c"  # the oldest of the two that compact to "abc"
    assert await store.read(lambda tx: tx.conversation_by_compact_slug(RoomId(1), "xy-")) is None
