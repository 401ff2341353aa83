"""Replay then live: hand a new subscriber from the log over to the hub, each event exactly once.

A transport that resumes a client (the sechat socket's ``?l=``, and later comet long-polls
and streams sockets) does three things, and this module holds the part they share:

1. **Join at a known id.** ``Hub.join`` registers the subscriber with its fan-out and
   returns the hub's cursor at that moment, ``live_from``, in one step with no await in
   between. Every id up to ``live_from`` has been delivered (it is in the store) and every
   batch delivered afterwards holds only larger ids, so live delivery covers exactly the
   events after ``live_from``. A client cursor beyond it (the client saw newer events by
   polling the store) is first waited for (``Hub.reached``), so the replay never starts
   past the point where live delivery begins.
2. **Hold live frames** while the replay runs (``Handover``): bounded in bytes; a subscriber
   whose held frames outgrow the bound is closed rather than buffered without end.
3. **Replay exactly ``(since, live_from]``** from the store (``replay``), in frames of at
   most ``max_bytes`` each and ``max_bytes`` in all, then send the held frames. The replay
   never reads past ``live_from``: an event the store has but the hub has not pushed yet
   is live, not replayed (reading to the store's end sent it twice). When the budget runs
   out first, ``replay`` says how far it got, and the caller tells the client where to
   resume instead of going live over a hole.

Pure logic, no I/O: ``replay`` awaits only the page reader it is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from hubbub.core.events import Event
from hubbub.core.ids import EventId

__all__ = ["REACH_TIMEOUT_SECONDS", "REPLAY_MAX_READS", "Handover", "ReplayPage", "replay"]

# How long a resuming subscriber waits for the hub to deliver the events its client already
# has (seen by polling the store); the hub fills a gap from the store within about a second.
REACH_TIMEOUT_SECONDS: Final = 10.0
# Page reads one replay may make. Each read is bounded (the reader skips a bounded number of
# pages holding nothing for the viewer), so this bounds the store work one resume can cost.
REPLAY_MAX_READS: Final = 64


class Handover:
    """Live frames held for one subscriber while its replay runs, at most ``max_bytes`` of them."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.live_from: EventId | None = None  # set by the caller once the subscriber has joined
        self._frames: list[tuple[EventId, bytes]] = []
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def hold(self, last_id: EventId, data: bytes) -> bool:
        """Keep a live frame (``last_id``: the last event id it carries); False once over the bound."""
        if self._bytes + len(data) > self.max_bytes:
            return False
        self._frames.append((last_id, data))
        self._bytes += len(data)
        return True

    def release(self) -> list[bytes]:
        """The held frames, in order, to send now that the replay is over.

        Every one of them was delivered after ``Hub.join``, so it carries only ids above
        ``live_from``; the check keeps that true should a frame ever come from elsewhere.
        """
        frames, self._frames, self._bytes = self._frames, [], 0
        live_from = self.live_from if self.live_from is not None else EventId(0)
        return [data for last_id, data in frames if last_id > live_from]


@dataclass(frozen=True, slots=True)
class ReplayPage:
    """What a reader found after a cursor: the view's events in id order, complete through ``cursor``."""

    events: Sequence[Event]
    cursor: EventId


ReadPage = Callable[[EventId, EventId], Awaitable[ReplayPage]]  # (after, through) -> a page
Encode = Callable[[Sequence[Event], EventId], bytes]  # events complete through a cursor -> one frame


async def replay(
    *,
    since: EventId,
    through: EventId,
    read: ReadPage,
    encode: Encode,
    send: Callable[[bytes], None],
    max_bytes: int,
    closed: Callable[[], bool] = lambda: False,
) -> EventId:
    """Send the view's events after ``since`` up to ``through``, page by page; return how far it got.

    Each frame carries one page and says (through ``encode``'s cursor) that the client has
    everything up to it. A page whose frame would take the bytes sent past ``max_bytes`` is
    cut in halves until it fits; the first frame always goes out (with one event at least),
    so a client that resumes from what it got always gets further. The answer is
    ``through`` when the replay is complete, and less when the budget, the read bound
    (``REPLAY_MAX_READS``) or a closed connection ended it first.
    """
    cursor, spent = since, 0
    for _ in range(REPLAY_MAX_READS):
        if cursor >= through or closed():
            return cursor
        page = await read(cursor, through)
        if page.cursor <= cursor:
            return cursor  # the reader made no progress; never loop on it
        events, reached = list(page.events), page.cursor
        if not events:
            cursor = reached  # nothing for this viewer in that stretch of the log
            continue
        data = encode(events, reached)
        while spent + len(data) > max_bytes and len(events) > 1:
            events = events[: len(events) // 2]
            reached = EventId(events[-1].id)
            data = encode(events, reached)
        if spent and spent + len(data) > max_bytes:
            return cursor
        send(data)
        spent += len(data)
        cursor = reached
    return cursor
