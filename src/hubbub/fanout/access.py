"""Access changes as this node's hub delivers them: the hook every transport's connections hang on.

Whatever narrows someone's reach is an event in the log (``visibility.access_change``:
leaving or losing a room, kicks, access levels, suspensions, logging out, password
changes), made on any node. The hub hands every batch to ``AccessWatch`` like to any
other fan-out; the watch tells its listeners at once (the sechat event socket closes
the sockets of a session that ended, the realtime socket signs them out; the
long-poll waiters of a later dialect plug in the same way), and keeps a bounded
journal of recent changes for the two moments a listener cannot be told:

- a socket being set up checked its user's access at some log position and starts
  receiving live events later; ``changes`` gives what was delivered in between, to
  apply before the socket goes live (or None when the journal no longer reaches back,
  and the socket should be refused);
- an upgrade is answered before the store can be asked (the gateway port), so
  ``revoked`` tells whether a delivered change already revoked a socket URL, for a
  quick 403 (the store's check after the upgrade is what holds).

Room entries and leavings (3, 4) are journaled too: ``fanout.rooms`` applies them live
itself, and a socket being set up needs them from the journal.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Final, Protocol, TypeVar

from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.visibility import AccessChange, access_change
from hubbub.fanout.sequencer import Batch

__all__ = ["AccessListener", "AccessWatch"]

log = logging.getLogger("hubbub.access")

_NOTHING_YET: Final = EventId(2**63 - 1)  # before begin(): the journal reaches back to nowhere
K = TypeVar("K", UserId, RoomId)


def _drop_oldest(index: dict[K, deque[AccessChange]], key: K) -> None:
    entries = index[key]
    entries.popleft()
    if not entries:
        del index[key]


class AccessListener(Protocol):
    """Something holding connections on behalf of users (sockets, long-poll waiters)."""

    def access_changed(self, change: AccessChange) -> None:
        """React to ``change`` at once, for every connection it concerns; never block."""
        ...


class AccessWatch:
    """A hub ``Fanout`` that writes nothing itself: it journals access changes and tells listeners."""

    def __init__(self, *, journal_size: int) -> None:
        self._size = max(1, journal_size)
        self._journal: deque[AccessChange] = deque()
        self._by_user: dict[UserId, deque[AccessChange]] = {}
        self._by_room: dict[RoomId, deque[AccessChange]] = {}
        self._listeners: list[AccessListener] = []
        # Every change with an id up to here may be missing from the journal.
        self._forgotten_through = _NOTHING_YET

    def begin(self, delivered_through: EventId) -> None:
        """Start journaling after ``delivered_through``, the last id the hub delivered before this watch."""
        self._forgotten_through = delivered_through

    def add_listener(self, listener: AccessListener) -> None:
        self._listeners.append(listener)

    def deliver(self, batch: Batch) -> int:
        for event in batch:
            change = access_change(event)
            if change is None:
                continue
            self._remember(change)
            for listener in self._listeners:
                try:
                    listener.access_changed(change)
                except Exception:  # one listener's bug must not keep the others from closing theirs
                    log.exception("access listener failed on event %d", change.event_id)
        return 0

    def _remember(self, change: AccessChange) -> None:
        self._journal.append(change)
        if change.user_id is not None:
            self._by_user.setdefault(change.user_id, deque()).append(change)
        if change.room_id is not None:
            self._by_room.setdefault(change.room_id, deque()).append(change)
        while len(self._journal) > self._size:
            oldest = self._journal.popleft()
            self._forgotten_through = oldest.event_id
            # The journal's oldest entry is also the oldest of its user's and its room's.
            if oldest.user_id is not None:
                _drop_oldest(self._by_user, oldest.user_id)
            if oldest.room_id is not None:
                _drop_oldest(self._by_room, oldest.room_id)

    def changes(
        self, *, after: EventId, user_id: UserId | None = None, room_id: RoomId | None = None
    ) -> list[AccessChange] | None:
        """The changes about ``user_id`` (or else ``room_id``) delivered here after ``after``, oldest first.

        None when the journal no longer reaches back to ``after`` (or the watch has not
        begun): the caller cannot know what it missed.
        """
        if after < self._forgotten_through:
            return None
        if user_id is not None:
            entries = self._by_user.get(user_id, deque())
        elif room_id is not None:
            entries = self._by_room.get(room_id, deque())
        else:
            raise ValueError("changes() needs a user or a room")
        found: list[AccessChange] = []
        for change in reversed(entries):
            if change.event_id <= after:
                break
            found.append(change)
        found.reverse()
        return found

    def revoked(self, user_id: UserId, room_id: RoomId | None, session: str, *, after: EventId) -> bool:
        """Whether a change delivered here after ``after`` revokes that socket URL.

        Answers False when the journal does not reach back that far: this is the early
        answer only, and the store decides when the URL is opened.
        """
        changes = self.changes(after=after, user_id=user_id)
        room_changes = self.changes(after=after, room_id=room_id) if room_id is not None else []
        return any(change.revokes(user_id, room_id, session) for change in [*(changes or ()), *(room_changes or ())])
