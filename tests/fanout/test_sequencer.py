"""The sequencer releases batches in log order, each once, whatever order they arrive in."""

from __future__ import annotations

import itertools

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.fanout.sequencer import Sequencer, coalesce, group_into_batches


def _events(*ids: int, at: int = 100) -> tuple[Event, ...]:
    return tuple(Event(id=EventId(i), type=EventType.MESSAGE_POSTED, time_stamp=at) for i in ids)


def _ids(batches: list[tuple[Event, ...]]) -> list[list[int]]:
    return [[e.id for e in batch] for batch in batches]


def test_in_order_batches_pass_straight_through() -> None:
    sequencer = Sequencer(EventId(0))
    assert _ids(sequencer.offer(_events(1, 2))) == [[1, 2]]
    assert _ids(sequencer.offer(_events(3))) == [[3]]
    assert sequencer.last_released == 3 and sequencer.gap() is None


def test_every_arrival_order_releases_in_log_order() -> None:
    batches = [_events(1), _events(2, 3), _events(4), _events(5, 6, 7)]
    for order in itertools.permutations(batches):
        sequencer = Sequencer(EventId(0))
        released = [batch for arriving in order for batch in sequencer.offer(arriving)]
        assert _ids(released) == [[1], [2, 3], [4], [5, 6, 7]]


def test_duplicates_and_old_batches_are_dropped() -> None:
    sequencer = Sequencer(EventId(5))
    assert sequencer.offer(_events(4, 5)) == []
    assert _ids(sequencer.offer(_events(5, 6))) == [[6]]
    assert sequencer.offer(_events(6)) == []


def test_a_gap_is_reported_and_filled_from_the_store() -> None:
    sequencer = Sequencer(EventId(0))
    assert sequencer.offer(_events(4, 5)) == []
    assert sequencer.gap() == (1, 3)
    released = sequencer.fill(list(_events(1, 2, 3)), EventId(3))
    assert _ids(released) == [[1, 2, 3], [4, 5]]
    assert sequencer.gap() is None


def test_ids_the_store_never_had_are_skipped() -> None:
    sequencer = Sequencer(EventId(0))
    sequencer.offer(_events(4))
    released = sequencer.fill(list(_events(1, 2)), EventId(3))
    assert _ids(released) == [[1, 2], [4]]
    assert sequencer.last_released == 4


def test_store_events_regroup_by_transaction() -> None:
    events = [*_events(1, 2, at=10), *_events(3, at=11), *_events(5, 6, at=11)]
    assert _ids(group_into_batches(events)) == [[1, 2], [3], [5, 6]]


def _event(event_id: int, kind: EventType, *, user: int = 1, room: int | None = 1) -> Event:
    return Event(
        id=EventId(event_id),
        type=kind,
        time_stamp=100,
        room_id=None if room is None else RoomId(room),
        user_id=UserId(user),
        target_user_id=UserId(user) if kind in (EventType.SESSION_ENDED, EventType.ACCESS_LEVEL_CHANGED) else None,
        content="priv 1 created" if kind is EventType.ACCESS_LEVEL_CHANGED else None,
    )


def test_nothing_posted_after_a_same_second_leaving_or_kick_joins_its_batch() -> None:
    """A fan-out applies a leaving where its batch ends: joined, the leaver would get the next post."""
    posted, left, entered = EventType.MESSAGE_POSTED, EventType.USER_LEFT, EventType.USER_ENTERED
    events = [
        _event(1, posted),
        _event(2, left, user=7),
        _event(3, EventType.ACCESS_LEVEL_CHANGED, user=7),  # the kick's 15 stays with its 4
        _event(4, posted),
        _event(5, entered, user=8),  # entering narrows nobody's reach: what follows joins
        _event(6, posted),
        _event(7, left, user=8),
        _event(8, entered, user=9),  # a change after a leaving joins it, the next post does not
        _event(9, posted),
        _event(10, EventType.SESSION_ENDED, user=9, room=None),
        _event(11, posted),
    ]
    assert _ids(group_into_batches(events)) == [[1, 2, 3], [4, 5, 6, 7, 8], [9, 10], [11]]


def _always(batch: tuple[Event, ...]) -> int:
    return 1


def test_coalescing_joins_batches_in_order_up_to_the_limit_without_splitting_one() -> None:
    batches = [_events(1, 2), _events(3), _events(4, 5, 6), _events(7), _events(8, 9, 10, 11, 12)]
    assert _ids(coalesce(batches, 4, _always)) == [[1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11, 12]]
    assert _ids(coalesce(batches, 100, _always)) == [list(range(1, 13))]
    assert _ids(coalesce(batches, 1, _always)) == _ids(batches)
    assert coalesce([], 4, _always) == []


def test_only_batches_with_the_same_key_join_and_one_without_goes_alone() -> None:
    alone = _events(3, 4, at=7)
    batches = [_events(1), _events(2), alone, _events(5), _events(6), _events(7, at=8), _events(8, at=8)]
    joined = coalesce(batches, 100, lambda batch: None if batch is alone else batch[0].time_stamp)
    assert _ids(joined) == [[1, 2], [3, 4], [5, 6], [7, 8]]
