"""Presence: every transport reports activity here, and the store keeps one record per user.

``touch`` takes a sighting (a poll, an open socket) or an activity (a send, a keystroke, a
page) from any transport on any node. It writes only when ``core.direct.presence_due`` says the
record must move (so a steadily polling user costs about two writes per
``presence_seen_seconds``); a node remembers what it last wrote in a bounded table to skip the
no-op writes without a read. ``sweep`` turns what time alone changes (a sighting running out,
activity growing old) into the same records and events; every node runs it, and a record is
rechecked inside the write, so two nodes sweeping at once change it once.

A change of what contacts see appends one PRESENCE_CHANGED event (for a user who has
contacts: nobody else may see it), so every node's clients learn it through the bus like any
other event. A refused request is no sighting (the HTTP middleware reports successes only).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Final

from hubbub.core.direct import (
    Activity,
    Presence,
    PresenceRecord,
    PresenceTimeouts,
    next_presence,
    presence_due,
)
from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import UserId
from hubbub.service.context import Changes, Context
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["PresenceService", "has_contacts", "shown_presence"]

log = logging.getLogger("hubbub.presence")

FLUSH_SECONDS: Final = 0.1  # a sighting due for a write waits this long for others to share its transaction
MAX_PENDING: Final = 20_000  # ... unless this many wait already
WRITE_BATCH: Final = 500  # users per presence transaction
REMEMBERED_USERS: Final = 100_000  # records a node remembers to skip no-op writes (least recent forgotten)
SWEEP_BATCH: Final = 500  # lapsed records changed per sweep transaction


def shown_presence(record: PresenceRecord, now: int, timeouts: PresenceTimeouts) -> Presence:
    """What contacts see now (the stored state, corrected for time passed since the last sweep)."""
    return next_presence(record, now, timeouts).state


def has_contacts(tx: ReadTx, user_id: UserId) -> bool:
    """Whether anybody may see the user's presence: a change is an event only then (a user
    without contacts, like most bots, adds nothing to the log however often they are seen)."""
    return tx.has_contact(user_id)


def _event(record: PresenceRecord, name: str | None, now: int) -> NewEvent:
    return NewEvent(
        type=EventType.PRESENCE_CHANGED,
        time_stamp=now,
        user_id=record.user_id,
        user_name=name,
        data=str(record.state),
    )


class PresenceService:
    def __init__(self, context: Context, timeouts: PresenceTimeouts) -> None:
        self._ctx = context
        self.timeouts = timeouts
        self._written: OrderedDict[UserId, PresenceRecord] = OrderedDict()
        # Sightings due for a write, merged per user and written together (one transaction per
        # WRITE_BATCH users) FLUSH_SECONDS after the first: 10,000 clients polling in at once cost
        # a few dozen transactions, not 10,000.
        self._pending: dict[UserId, Activity] = {}
        self._flushed: asyncio.Future[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None

    def _remember(self, record: PresenceRecord) -> None:
        self._written[record.user_id] = record
        self._written.move_to_end(record.user_id)
        while len(self._written) > REMEMBERED_USERS:
            self._written.popitem(last=False)

    async def touch(self, user_id: UserId, activity: Activity, *, wait: bool = True) -> None:
        """Record that ``user_id`` was seen or active now, on whatever transport.

        Args:
            wait: Return once it is written (False: at once; a request path need not wait, and a
                failed write is logged and retried by the next sighting).
        """
        now = self._ctx.now()
        known = self._written.get(user_id)
        if known is not None and not presence_due(known, now, self.timeouts, activity):
            return
        merged = self._pending.get(user_id)
        self._pending[user_id] = Activity.ACTIVE if Activity.ACTIVE in (merged, activity) else Activity.SEEN
        flushed = self._flushed
        if flushed is None:
            flushed = self._flushed = asyncio.get_running_loop().create_future()
            self._flush_task = asyncio.create_task(self._flush_soon(flushed), name="hubbub-presence-flush")
        if wait:
            await asyncio.shield(flushed)

    async def _flush_soon(self, flushed: asyncio.Future[None]) -> None:
        if len(self._pending) < MAX_PENDING:
            await asyncio.sleep(FLUSH_SECONDS)
        pending, self._pending, self._flushed = self._pending, {}, None
        users = list(pending)
        try:
            for start in range(0, len(users), WRITE_BATCH):
                chunk = {user: pending[user] for user in users[start : start + WRITE_BATCH]}
                for record in await self._ctx.apply(self._write_activities(chunk)):
                    self._remember(record)
        except Exception:  # best effort: nothing remembered, so the next sighting writes again
            log.exception("could not record presence for %d users", len(users))
        finally:
            flushed.set_result(None)

    def _write_activities(
        self, activities: Mapping[UserId, Activity]
    ) -> Callable[[WriteTx, Changes, int], list[PresenceRecord]]:
        def work(tx: WriteTx, changes: Changes, now: int) -> list[PresenceRecord]:
            stored = tx.presence_records(list(activities))
            changed: list[PresenceRecord] = []
            records: list[PresenceRecord] = []
            for user_id, activity in activities.items():
                before = stored[user_id]
                updated = next_presence(before, now, self.timeouts, activity)
                if updated != before:
                    tx.put_presence(updated)
                    if updated.state is not before.state:
                        changed.append(updated)
                records.append(updated)
            visible = [r for r in changed if has_contacts(tx, r.user_id)]
            names = tx.users([r.user_id for r in visible]) if visible else {}
            for record in visible:
                user = names.get(record.user_id)
                changes.append(_event(record, None if user is None else user.name, now))
            return records

        return work

    def close(self) -> None:
        """Drop sightings not written yet (the process is stopping)."""
        if self._flush_task is not None:
            self._flush_task.cancel()

    def apply_activity(
        self, tx: WriteTx, changes: Changes, user_id: UserId, activity: Activity, now: int
    ) -> PresenceRecord:
        """Inside another operation's transaction (a send is an activity too)."""
        stored = tx.presence_record(user_id)
        updated = next_presence(stored, now, self.timeouts, activity)
        if updated != stored:
            tx.put_presence(updated)
            if updated.state is not stored.state and has_contacts(tx, user_id):
                user = tx.user(user_id)
                changes.append(_event(updated, None if user is None else user.name, now))
        return updated

    def note_written(self, record: PresenceRecord) -> None:
        """An operation wrote ``record`` in its own transaction (and it committed)."""
        self._remember(record)

    async def set_visible(self, user_id: UserId, visible: bool) -> Presence:
        """Appear offline to everyone (False) or show real presence again (True)."""

        def work(tx: WriteTx, changes: Changes, now: int) -> Presence:
            stored = tx.presence_record(user_id)
            updated = next_presence(replace(stored, visible=visible), now, self.timeouts)
            if updated != stored:
                tx.put_presence(updated)
                if updated.state is not stored.state and has_contacts(tx, user_id):
                    user = tx.user(user_id)
                    changes.append(_event(updated, None if user is None else user.name, now))
            self._written.pop(user_id, None)
            return updated.state

        return await self._ctx.apply(work)

    async def records(self, user_ids: set[UserId]) -> dict[UserId, PresenceRecord]:
        return await self._ctx.store.read(lambda tx: tx.presence_records(user_ids))

    async def states(self, user_ids: set[UserId]) -> dict[UserId, Presence]:
        """What contacts see of these users now (use ``Contacts`` to decide who may ask)."""
        now = self._ctx.now()
        records = await self.records(user_ids)
        return {user_id: shown_presence(record, now, self.timeouts) for user_id, record in records.items()}

    async def swap_buddy_snapshot(
        self, session_key: str, available: Mapping[UserId, bool]
    ) -> dict[UserId, bool] | None:
        """Store what a client session's buddy list shows as available now (user -> idle) and return
        what its previous one showed (None: the first). Written only when it changed; the store
        keeps it, so the diff holds whichever node answers the next one."""
        encoded = json.dumps({str(int(u)): idle for u, idle in sorted(available.items())}, separators=(",", ":"))
        stored = await self._ctx.store.read(lambda tx: tx.buddy_snapshot(session_key))
        if stored == encoded:  # the usual answer: nothing changed, nothing to write
            return {UserId(int(u)): bool(idle) for u, idle in json.loads(stored).items()}

        def work(tx: WriteTx, changes: Changes, now: int) -> dict[UserId, bool] | None:
            stored = tx.buddy_snapshot(session_key)
            if stored != encoded:
                tx.put_buddy_snapshot(session_key, encoded, now)
            if stored is None:
                return None
            return {UserId(int(u)): bool(idle) for u, idle in json.loads(stored).items()}

        return await self._ctx.apply(work)

    async def purge_buddy_snapshots(self, older_than_seconds: int) -> int:
        return await self._ctx.apply(lambda tx, changes, now: tx.purge_buddy_snapshots(now - older_than_seconds))

    async def sweep(self) -> int:
        """Turn lapsed sightings and old activity into idle/offline records and events; return how many."""
        now = self._ctx.now()
        changed = 0
        while True:
            lapsing = await self._ctx.store.read(self._lapsing(now))
            if not lapsing:
                return changed

            done = await self._ctx.apply(self._settle([r.user_id for r in lapsing]))
            for record in lapsing:
                self._written.pop(record.user_id, None)
            changed += done
            if len(lapsing) < SWEEP_BATCH or done == 0:
                return changed

    def _settle(self, users: list[UserId]) -> Callable[[WriteTx, Changes, int], int]:
        """A unit of work moving these users' records to what time has made them (rechecked here)."""

        def work(tx: WriteTx, changes: Changes, now: int) -> int:
            count = 0
            names = tx.users(users)
            for stored in tx.presence_records(users).values():
                updated = next_presence(stored, now, self.timeouts)
                if updated.state is not stored.state:
                    tx.put_presence(updated)
                    count += 1
                    if has_contacts(tx, stored.user_id):
                        user = names.get(stored.user_id)
                        changes.append(_event(updated, None if user is None else user.name, now))
            return count

        return work

    def _lapsing(self, now: int) -> _Lapsing:
        return _Lapsing(now, now - self.timeouts.idle_seconds)


class _Lapsing:
    def __init__(self, now: int, active_before: int) -> None:
        self._now, self._active_before = now, active_before

    def __call__(self, tx: ReadTx) -> list[PresenceRecord]:
        return tx.presence_lapsing(self._now, self._active_before, limit=SWEEP_BATCH)
