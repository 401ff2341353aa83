"""Put batches from the bus back into log order before anyone sees them.

Batches from different nodes (or from concurrent transactions on one node) can
arrive out of order. Event ids are dense, so a missing id is always noticed: the
sequencer holds later batches until the gap is filled by the bus or, after a
short wait, from the store. Pure logic, no I/O: the hub does the waiting and
the reading.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from hubbub.core.events import Event
from hubbub.core.ids import EventId
from hubbub.core.visibility import AccessChangeKind, access_change

__all__ = ["Batch", "Sequencer", "coalesce", "group_into_batches"]

Batch = tuple[Event, ...]


def group_into_batches(events: Iterable[Event]) -> list[Batch]:
    """Events read back from the store, regrouped: consecutive ids with one time stamp form a batch.

    The store does not record transaction boundaries; events of one transaction
    share their time stamp and are consecutive, which is what clients need
    (a reply's 18 travelling with its 1). Two transactions of the same second can
    therefore join, which is harmless except after a change that narrows someone's
    reach: a fan-out applies a leaving, a kick or a logout where its batch ends, so
    whoever left would get what the next transaction posted. A batch therefore ends
    before the first event after such a change that is no access change itself (the
    changes of one kick, its 4 and its 15, stay together).
    """
    batches: list[list[Event]] = []
    narrowed = False  # the open batch holds a change that narrows someone's reach
    for event in events:
        change = access_change(event)
        if (
            batches
            and batches[-1][-1].id + 1 == event.id
            and batches[-1][-1].time_stamp == event.time_stamp
            and not (narrowed and change is None)
        ):
            batches[-1].append(event)
        else:
            batches.append([event])
            narrowed = False
        narrowed = narrowed or (change is not None and change.kind is not AccessChangeKind.ENTERED)
    return [tuple(batch) for batch in batches]


def coalesce(batches: Sequence[Batch], max_events: int, key: Callable[[Batch], Hashable | None]) -> list[Batch]:
    """Released batches (consecutive, in order) joined into as few as possible of at most ``max_events``.

    Consecutive batches join when ``key`` gives them the same value other than None; a batch
    whose key is None goes alone, as does one larger than ``max_events`` (a batch is never
    split). Joining keeps every event's order and every transaction's events together; it only
    means fewer frames, each carrying more, when deliveries fall behind the commits.
    """
    joined: list[Batch] = []
    last_key: Hashable | None = None
    for batch in batches:
        this_key = key(batch)
        if joined and this_key is not None and this_key == last_key and len(joined[-1]) + len(batch) <= max_events:
            joined[-1] = joined[-1] + batch
        else:
            joined.append(batch)
            last_key = this_key
    return joined


class Sequencer:
    """Releases batches strictly in id order, each exactly once."""

    def __init__(self, last_released: EventId) -> None:
        self.last_released = last_released
        self._held: dict[int, Batch] = {}

    @property
    def held(self) -> int:
        return len(self._held)

    def gap(self) -> tuple[EventId, EventId] | None:
        """The missing id range ``(first, last)`` before the earliest held batch, if any."""
        if not self._held:
            return None
        return EventId(self.last_released + 1), EventId(min(self._held) - 1)

    def offer(self, batch: Sequence[Event]) -> list[Batch]:
        """Take a batch; return every batch that can now be released, in order."""
        fresh = tuple(event for event in batch if event.id > self.last_released)
        if fresh:
            self._held.setdefault(fresh[0].id, fresh)
        released: list[Batch] = []
        while (next_batch := self._held.pop(self.last_released + 1, None)) is not None:
            released.append(next_batch)
            self.last_released = EventId(next_batch[-1].id)
        return released

    def fill(self, events: Sequence[Event], through: EventId) -> list[Batch]:
        """Take the events of a gap, read from the store up to ``through``; return what can be released.

        Ids up to ``through`` that the store did not return never committed, so they are skipped.
        """
        released: list[Batch] = []
        for batch in group_into_batches(events):
            released.extend(self.offer(batch))
        released.extend(self.skip_to(through))
        return released

    def skip_to(self, event_id: EventId) -> list[Batch]:
        """Give up on ids up to ``event_id`` (not in the store either); release what follows."""
        self.last_released = max(self.last_released, event_id)
        stale = [first for first in self._held if self._held[first][-1].id <= event_id]
        for first in stale:
            del self._held[first]
        return self.offer(())
