"""fanout/handover.py: held live frames, and a replay that ends exactly where live delivery begins."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId
from hubbub.fanout.handover import REPLAY_MAX_READS, Handover, ReplayPage, replay


def _event(event_id: int, text: str = "hi") -> Event:
    return Event(id=EventId(event_id), type=EventType.MESSAGE_POSTED, time_stamp=1, room_id=RoomId(1), content=text)


class Log:
    """A view of a log: ``ids`` are the events the viewer sees; pages of ``page`` events at most."""

    def __init__(self, ids: Sequence[int], page: int = 3) -> None:
        self.ids = list(ids)
        self.page = page
        self.reads: list[tuple[int, int]] = []

    async def read(self, after: EventId, through: EventId) -> ReplayPage:
        self.reads.append((after, through))
        found = [i for i in self.ids if after < i <= through]
        if len(found) > self.page:
            return ReplayPage([_event(i) for i in found[: self.page]], EventId(found[self.page - 1]))
        return ReplayPage([_event(i) for i in found], through)


def encode(events: Sequence[Event], cursor: EventId) -> bytes:
    return json.dumps({"e": [e.id for e in events], "t": cursor, "pad": [e.content for e in events]}).encode()


def _sent(frames: list[bytes]) -> list[tuple[list[int], int]]:
    return [(f["e"], f["t"]) for f in map(json.loads, frames)]


async def test_a_replay_pages_through_to_exactly_the_live_cursor() -> None:
    log, frames = Log(range(1, 11)), list[bytes]()
    reached = await replay(
        since=EventId(2), through=EventId(8), read=log.read, encode=encode, send=frames.append, max_bytes=10**6
    )
    assert reached == 8
    # Events 9 and 10 are in the store but after the live cursor: live delivery brings them.
    assert _sent(frames) == [([3, 4, 5], 5), ([6, 7, 8], 8)]


async def test_nothing_to_replay_sends_nothing() -> None:
    log, frames = Log([1, 2]), list[bytes]()
    reached = await replay(
        since=EventId(2), through=EventId(2), read=log.read, encode=encode, send=frames.append, max_bytes=1
    )
    assert reached == 2 and frames == [] and log.reads == []


async def test_stretches_with_nothing_for_the_viewer_send_nothing_and_move_on() -> None:
    class Sparse(Log):
        async def read(self, after: EventId, through: EventId) -> ReplayPage:
            self.reads.append((after, through))
            if after < 50:
                return ReplayPage([], EventId(50))  # a page of other people's pings
            return await super().read(after, through)

    log, frames = Sparse([60]), list[bytes]()
    assert (
        await replay(
            since=EventId(1), through=EventId(70), read=log.read, encode=encode, send=frames.append, max_bytes=10**6
        )
        == 70
    )
    assert _sent(frames) == [([60], 70)]


async def test_a_budget_cuts_pages_in_halves_and_reports_how_far_it_got() -> None:
    log, frames = Log(range(1, 101), page=8), list[bytes]()
    one = len(encode([_event(1)], EventId(1)))
    reached = await replay(
        since=EventId(0), through=EventId(100), read=log.read, encode=encode, send=frames.append, max_bytes=5 * one
    )
    sent = _sent(frames)
    assert sum(len(frame) for frame in frames) <= 5 * one
    assert [i for ids, _ in sent for i in ids] == list(range(1, reached + 1))  # a prefix, no hole
    assert sent[-1][1] == reached < 100  # the last frame's cursor is where the client resumes


async def test_the_first_frame_always_goes_out_so_resuming_makes_progress() -> None:
    log, frames = Log([1, 2], page=2), list[bytes]()
    big = len(encode([_event(1)], EventId(1)))
    reached = await replay(
        since=EventId(0), through=EventId(2), read=log.read, encode=encode, send=frames.append, max_bytes=big // 2
    )
    assert reached == 1 and _sent(frames) == [([1], 1)]


async def test_a_reader_that_makes_no_progress_ends_the_replay() -> None:
    async def stuck(after: EventId, through: EventId) -> ReplayPage:
        return ReplayPage([], after)

    frames: list[bytes] = []
    assert (
        await replay(
            since=EventId(3), through=EventId(9), read=stuck, encode=encode, send=frames.append, max_bytes=10**6
        )
        == 3
    )


async def test_reads_are_bounded_per_replay() -> None:
    log, frames = Log(range(1, 10_000), page=1), list[bytes]()
    reached = await replay(
        since=EventId(0), through=EventId(9_999), read=log.read, encode=encode, send=frames.append, max_bytes=10**9
    )
    assert len(log.reads) == REPLAY_MAX_READS and reached == REPLAY_MAX_READS


async def test_a_closed_connection_stops_the_replay() -> None:
    log, frames = Log(range(1, 10)), list[bytes]()
    reached = await replay(
        since=EventId(0),
        through=EventId(9),
        read=log.read,
        encode=encode,
        send=frames.append,
        max_bytes=10**6,
        closed=lambda: bool(frames),
    )
    assert reached == 3 and len(frames) == 1


def test_held_frames_are_bounded_in_bytes_and_released_in_order() -> None:
    handover = Handover(max_bytes=10)
    assert handover.hold(EventId(5), b"aaaa") and handover.hold(EventId(6), b"bbbb")
    assert not handover.hold(EventId(7), b"ccc")
    assert handover.held_bytes == 8
    handover.live_from = EventId(4)
    assert handover.release() == [b"aaaa", b"bbbb"] and handover.held_bytes == 0


def test_a_held_frame_the_replay_covered_is_not_sent_again() -> None:
    handover = Handover(max_bytes=100)
    handover.hold(EventId(5), b"covered")
    handover.hold(EventId(6), b"live")
    handover.live_from = EventId(5)
    assert handover.release() == [b"live"]
