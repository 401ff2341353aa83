"""fanout/access.py: the journal of access changes, and the listeners told at once."""

from __future__ import annotations

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.visibility import AccessChange, AccessChangeKind
from hubbub.fanout.access import AccessWatch

USER, OTHER = UserId(5), UserId(6)


def _left(event_id: int, user: UserId = USER, room: int = 1) -> Event:
    return Event(
        id=EventId(event_id),
        type=EventType.USER_LEFT,
        time_stamp=100,
        room_id=RoomId(room),
        user_id=user,
        user_name="u",
    )


def _logout(event_id: int, user: UserId = USER, session: str = "a" * 16) -> Event:
    return Event(id=EventId(event_id), type=EventType.SESSION_ENDED, time_stamp=100, target_user_id=user, data=session)


def _room_private(event_id: int, room: int = 1) -> Event:
    return Event(id=EventId(event_id), type=EventType.ACCESS_LEVEL_CHANGED, time_stamp=100, room_id=RoomId(room))


def _message(event_id: int) -> Event:
    return Event(id=EventId(event_id), type=EventType.MESSAGE_POSTED, time_stamp=100, room_id=RoomId(1))


class Recorder:
    def __init__(self) -> None:
        self.changes: list[AccessChange] = []

    def access_changed(self, change: AccessChange) -> None:
        self.changes.append(change)


class Broken:
    def access_changed(self, change: AccessChange) -> None:
        raise RuntimeError("a listener's bug")


def _watch(size: int = 100, begin: int = 0) -> AccessWatch:
    watch = AccessWatch(journal_size=size)
    watch.begin(EventId(begin))
    return watch


def test_listeners_hear_each_change_at_once_and_a_broken_one_stops_nobody() -> None:
    watch = _watch()
    first, second = Recorder(), Recorder()
    for listener in (first, Broken(), second):
        watch.add_listener(listener)
    assert watch.deliver((_message(1), _left(2), _logout(3))) == 0  # it writes nothing itself
    for recorder in (first, second):
        assert [(c.event_id, c.kind) for c in recorder.changes] == [
            (2, AccessChangeKind.LEFT),
            (3, AccessChangeKind.SESSION_ENDED),
        ]


def test_changes_after_a_position_by_user_and_by_room() -> None:
    watch = _watch()
    watch.deliver((_left(1), _left(2, OTHER), _room_private(3), _logout(4)))
    mine = watch.changes(after=EventId(1), user_id=USER)
    assert mine is not None and [c.event_id for c in mine] == [4]
    everything = watch.changes(after=EventId(0), user_id=USER)
    assert everything is not None and [c.event_id for c in everything] == [1, 4]
    room = watch.changes(after=EventId(0), room_id=RoomId(1))
    assert room is not None and [c.event_id for c in room] == [1, 2, 3]
    assert watch.changes(after=EventId(4), user_id=USER) == []
    assert watch.changes(after=EventId(0), user_id=UserId(99)) == []


def test_the_journal_is_bounded_and_says_when_it_cannot_answer() -> None:
    watch = _watch(size=3)
    watch.deliver(tuple(_left(n, room=n) for n in range(1, 7)))
    assert watch.changes(after=EventId(2), user_id=USER) is None  # 3 was forgotten
    kept = watch.changes(after=EventId(3), user_id=USER)
    assert kept is not None and [c.event_id for c in kept] == [4, 5, 6]
    assert watch.changes(after=EventId(0), room_id=RoomId(2)) is None
    assert watch.changes(after=EventId(5), room_id=RoomId(6)) is not None


def test_before_it_begins_and_before_its_start_the_journal_knows_nothing() -> None:
    unstarted = AccessWatch(journal_size=10)
    assert unstarted.changes(after=EventId(10**6), user_id=USER) is None
    watch = _watch(begin=50)
    assert watch.changes(after=EventId(49), user_id=USER) is None
    assert watch.changes(after=EventId(50), user_id=USER) == []


def test_revoked_urls() -> None:
    watch = _watch()
    watch.deliver((_left(10, room=1), _logout(11, session="b" * 16), _room_private(12, room=3)))
    # The URL's user, room (None: realtime) and session, and the log position it was issued at.
    assert watch.revoked(USER, RoomId(1), "a" * 16, after=EventId(9))
    assert not watch.revoked(USER, RoomId(1), "a" * 16, after=EventId(10))  # issued after the leave
    assert not watch.revoked(USER, RoomId(2), "a" * 16, after=EventId(9))
    assert watch.revoked(USER, None, "b" * 16, after=EventId(9))  # its session logged out
    assert not watch.revoked(USER, None, "a" * 16, after=EventId(9))
    assert watch.revoked(OTHER, RoomId(3), "c" * 16, after=EventId(11))  # the room turned private
    assert not watch.revoked(OTHER, RoomId(3), "c" * 16, after=EventId(12))
    # Unknown (not journaled back that far): this early check lets the store decide.
    assert not _watch(begin=20).revoked(USER, RoomId(1), "a" * 16, after=EventId(9))
