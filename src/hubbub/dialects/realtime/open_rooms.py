"""Which rooms anyone may read, for ``<room>-room-activity`` subscribes, without a store read each.

A subscribe to a room's activity topic needs to know whether the room is open to
everyone (public or gallery). Asking the store on every subscribe let one socket
stall the server with subscribe/unsubscribe churn, so the answer is kept here:

- a bounded, least-recently-used table of rooms whose openness is known; it stays
  true because a room's openness changes only by event 15 with no target
  (``rooms.update_room``), and the hub hands every such event to ``forget`` on
  every node;
- rooms not in the table are looked up in batches: whoever asks while a batch is
  being read joins the next one, so there is at most one store read in flight and
  one task, whatever the churn; a room nobody waits for any more is dropped from
  the next batch before it is read;
- a room the store does not have is answered "not open" and not remembered (rooms
  are created without an event, so nothing would tell the table it appeared).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Final

from hubbub.core.ids import RoomId

__all__ = ["MAX_BATCH", "OpenRooms"]

log = logging.getLogger("hubbub.realtime")

MAX_BATCH: Final = 500  # rooms read in one store query

Lookup = Callable[[Collection[RoomId]], Awaitable[Mapping[RoomId, bool]]]
Resolved = Callable[[RoomId, bool], None]


class OpenRooms:
    """Room openness from memory, or from one shared, batched store read.

    Args:
        lookup: Reads rooms from the store: for each room that exists, whether
            anyone may read it (missing rooms are left out).
        resolved: Called once per requested room when its answer is known, unless
            the request was withdrawn first.
        capacity: Rooms remembered at most (least recently used ones are forgotten).
    """

    def __init__(self, lookup: Lookup, resolved: Resolved, *, capacity: int) -> None:
        self._lookup = lookup
        self._resolved = resolved
        self._capacity = max(1, capacity)
        self._known: OrderedDict[RoomId, bool] = OrderedDict()
        self._pending: dict[RoomId, None] = {}  # insertion-ordered set: oldest request first
        self._reading: set[RoomId] = set()
        self._changed_while_reading: set[RoomId] = set()
        self._worker: asyncio.Task[None] | None = None

    @property
    def remembered(self) -> int:
        return len(self._known)

    @property
    def busy(self) -> bool:
        """Whether some room is waiting for, or being read from, the store."""
        return bool(self._pending) or self._worker is not None

    def known(self, room_id: RoomId) -> bool | None:
        """Whether anyone may read ``room_id``, if that is known without the store."""
        is_open = self._known.get(room_id)
        if is_open is not None:
            self._known.move_to_end(room_id)
        return is_open

    def request(self, room_id: RoomId) -> None:
        """Look ``room_id`` up; ``resolved`` will be called with the answer."""
        if room_id in self._reading and room_id not in self._changed_while_reading:
            return  # the read under way answers it
        self._pending[room_id] = None
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._read_pending(), name="hubbub-open-rooms")

    def withdraw(self, room_id: RoomId) -> None:
        """Nobody waits for ``room_id`` any more: skip it if it has not been read yet."""
        self._pending.pop(room_id, None)

    def forget(self, room_id: RoomId) -> None:
        """The room's access changed: its openness must be read again."""
        self._known.pop(room_id, None)
        if room_id in self._reading:
            self._changed_while_reading.add(room_id)

    def _remember(self, room_id: RoomId, is_open: bool) -> None:
        self._known[room_id] = is_open
        self._known.move_to_end(room_id)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)

    async def _read_pending(self) -> None:
        try:
            while self._pending:
                batch = list(self._pending)[:MAX_BATCH]
                for room_id in batch:
                    del self._pending[room_id]
                self._reading = set(batch)
                try:
                    answers: Mapping[RoomId, bool] = await self._lookup(batch)
                except Exception:
                    # Fail closed: a room that could not be read is not open (the client may ask again).
                    log.exception("could not read %d rooms for room-activity subscriptions", len(batch))
                    answers = {}
                changed, self._changed_while_reading, self._reading = self._changed_while_reading, set(), set()
                for room_id in batch:
                    if room_id in changed:
                        self._pending[room_id] = None  # the answer may predate the change: read again
                        continue
                    is_open = answers.get(room_id)
                    if is_open is not None:
                        self._remember(room_id, is_open)
                    self._resolved(room_id, bool(is_open))
        finally:
            self._worker = None

    async def stop(self) -> None:
        self._pending.clear()
        worker = self._worker
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
