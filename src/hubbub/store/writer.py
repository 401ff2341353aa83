"""Group commit, shared by the SQL engines: many units of work per transaction.

``Store.write`` callers queue their unit of work; the writer (store/write_queue.py) takes
what is queued (up to ``max_group`` units) and runs it in ONE transaction, each
unit in its own savepoint: a unit that raises is rolled back alone and only its
caller sees the error; the others commit together, and every caller is answered
only once that commit is done. Committing (a WAL flush, and on PostgreSQL a round
trip) is a write transaction's biggest fixed cost, so under load this multiplies
throughput without changing what anyone sees; with one unit waiting there is no
savepoint at all.

An engine supplies the transaction itself as a ``WriteSession``: how to begin
(SQLite takes its write lock with ``BEGIN IMMEDIATE``, PostgreSQL takes the
cluster-wide append lock; see docs/design/ordering.md), savepoints, commit, abort.

A unit may come with a *prefetch*: its first query, which the writer sends ahead.
On PostgreSQL (pipelined) the end of one unit and the start of the next then share
one round trip: the writer sends the unit's ``RELEASE``, the next unit's
``SAVEPOINT`` and prefetch, and only then waits. If the first unit's statements
failed, nothing after them ran: that unit is rolled back alone, and the next unit's
savepoint and prefetch are sent again. The prefetch runs exactly where the unit's
own query would have run (after the units before it, inside its savepoint), so it
reads what the unit would have read.

A group of several units first runs another way (``_run_without_savepoints``): the
units run back to back with no savepoint, which would cost two statements per unit.
Where a wait is a round trip (``WriteSession.reads_ahead``: PostgreSQL), the prefetches
of all its units also go out as one query right after the lock (store/sql/group_reads.py
keeps their rows true), so the units run without waits, and the rows every post writes go out
once per group at its end (store/sql/row_writes.py). Only when that attempt fails in
a way a savepoint would have contained (a unit failing after it wrote, a refused
statement) does the group run again as above.

Who runs the groups, a writer thread or the caller's event loop, is store/write_queue.py's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from hubbub.store.sql import SqlTx
from hubbub.store.sql.row_writes import DeferredRowsFailed

__all__ = ["Outcome", "Prefetch", "UnitRefused", "WriteSession", "commit_group"]

Outcome = tuple[bool, Any]  # (succeeded, result or exception)
Prefetch = Callable[[SqlTx], None]  # sends a unit's first query ahead (SqlTx.prefetch_*)


class UnitRefused(Exception):
    """``WriteSession.confirm``: the released unit's statements failed (``error``); nothing after them ran."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class WriteSession(Protocol):
    """One engine's write transactions, used only from the writer thread."""

    # Whether a group's first queries go ahead together, so that its units run without waiting
    # for the server (``_run_without_savepoints``): PostgreSQL's, where a wait is a round trip.
    reads_ahead: bool

    def begin(self) -> SqlTx:
        """Open the connection if needed, start a write transaction, take the write lock."""
        ...

    def savepoint(self) -> None: ...

    def release(self) -> None:
        """End the unit's savepoint, keeping its work; raises if any of the unit's statements failed."""
        ...

    def release_unconfirmed(self) -> None:
        """``release`` without waiting to learn whether the unit's statements succeeded; ``confirm`` tells."""
        ...

    def confirm(self, send_next: Callable[[], None]) -> None:
        """Send the next unit's start (``send_next``), then wait for everything sent; raise
        ``UnitRefused`` if the unit last released unconfirmed failed.

        The refusal may come in while ``send_next`` is still sending (a pipelined driver reads
        the answers that are in whenever it sends); it is that unit's all the same. After
        ``UnitRefused`` nothing sent after that unit's statements ran, and ``rollback_to``
        undoes the unit. Any other error means the transaction failed.
        """
        ...

    def retryable(self, error: BaseException) -> bool:
        """Whether the transaction that ``error`` ended surely committed nothing and can run again.

        A statement that failed (the server then skips the rest, COMMIT included) is; a
        connection lost on the way, after which the commit may or may not have happened, is not.
        """
        ...

    def rollback_to(self) -> None:
        """Undo the unit's work back to its savepoint (after any error, the unit's own or the database's)."""
        ...

    def commit(self) -> None:
        """Commit; raises (and keeps nothing) if any statement of the transaction failed."""
        ...

    def abort(self) -> None:
        """Roll back whatever is open; never raises (drops a connection that cannot roll back)."""
        ...

    def close(self) -> None: ...


def commit_group(
    session: WriteSession,
    units: list[Callable[[SqlTx], Any]],
    prefetches: list[Prefetch | None] | None = None,
) -> list[Outcome]:
    """Run ``units`` in one transaction, each failing alone; one outcome per unit, in order.

    ``prefetches`` (one per unit, or none at all) are the units' first queries, sent ahead.
    A group's first attempt has no savepoints; only a failure a savepoint would have contained
    makes it run again with one per unit (module docstring).
    """
    outcomes: list[Outcome]
    try:
        if len(units) > 1:
            try:
                return _run_without_savepoints(session, units, prefetches or [None] * len(units))
            except Exception as error:
                retry = isinstance(error, (_RunAgain, DeferredRowsFailed)) or session.retryable(error)
                session.abort()
                if not retry:
                    raise
                # nothing of the group committed: run it again a unit at a time, in savepoints,
                # which fails the unit that failed alone
        tx = session.begin()
        if len(units) == 1:  # nobody else waiting: no savepoint needed (and nothing to send ahead)
            try:
                outcomes = [(True, units[0](tx))]
            except BaseException as error:  # the unit failed (whatever it raised): undo it
                session.abort()
                return [(False, error)]
        else:
            outcomes = _each_in_its_savepoint(session, tx, units, prefetches or [None] * len(units))
        tx.flush_ids()
        session.commit()
    except Exception as error:  # the database or the commit failed: every unit of the group fails
        # (after a connection lost during COMMIT the group may have committed all the same;
        # docs/design/ordering.md says why readers cope).
        session.abort()
        return [(False, error)] * len(units)
    return outcomes


def _each_in_its_savepoint(
    session: WriteSession, tx: SqlTx, units: list[Callable[[SqlTx], Any]], prefetches: list[Prefetch | None]
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    unconfirmed: tuple[Any, Any] | None = None  # (ids mark, result) of the unit released but not confirmed

    def start(prefetch: Prefetch | None) -> None:
        tx.forget_prefetched()
        session.savepoint()
        if prefetch is not None:
            prefetch(tx)

    for index, (work, prefetch) in enumerate(zip(units, prefetches, strict=True)):
        if unconfirmed is None:
            start(prefetch)
        else:  # the previous unit's end goes out with this unit's start
            ids, result = unconfirmed
            unconfirmed = None
            try:
                session.confirm(functools.partial(start, prefetch))
            except UnitRefused as refused:  # undo it alone; this unit's start was skipped with it
                session.rollback_to()
                tx.id_restore(ids)
                outcomes.append((False, refused.error))
                start(prefetch)
            else:
                outcomes.append((True, result))
        ids = tx.id_mark()
        send_ahead = index + 1 < len(units) and prefetches[index + 1] is not None
        try:
            result = work(tx)
            if send_ahead:
                session.release_unconfirmed()
            else:
                session.release()  # raises if a statement the unit sent without waiting failed
        except BaseException as error:  # the unit failed: undo it alone, ids included
            session.rollback_to()
            tx.id_restore(ids)
            outcomes.append((False, error))
        else:
            if send_ahead:
                unconfirmed = (ids, result)
            else:
                outcomes.append((True, result))
    return outcomes


class _RunAgain(Exception):
    """A unit of a group run without savepoints failed after it wrote: only a rollback of the group undoes it."""


def _run_without_savepoints(
    session: WriteSession, units: list[Callable[[SqlTx], Any]], prefetches: list[Prefetch | None]
) -> list[Outcome]:
    """Run a group's units back to back in one transaction; where reads go ahead, with one wait to start, one to commit.

    No savepoints: a unit that fails before it writes anything (how refusals fail:
    the checks come first) has nothing to undo, and its ids are taken back. A unit that fails
    after writing, or a statement that fails (the server then skips everything after it;
    that shows at the latest at the commit), ends the attempt: ``commit_group`` rolls the
    group back and runs it again unit by unit, each in its savepoint, so that unit fails alone.
    Where reads go ahead, the rows every post writes also wait for the group's end, where each
    kind goes out once (store/sql/row_writes.py); a failure in them makes the group run again so.
    """
    tx = session.begin()
    if session.reads_ahead:
        tx.read_group_ahead(prefetches)
        tx.defer_row_writes()  # the units then run without any statement of their own to wait for
    outcomes: list[Outcome] = []
    for work in units:
        ids, writes = tx.id_mark(), tx.writes
        try:
            result = work(tx)
        except BaseException as error:
            if tx.writes != writes or not isinstance(error, Exception) or isinstance(error, DeferredRowsFailed):
                raise _RunAgain(str(error)) from error  # in savepoints, it fails alone (whatever it raised)
            if session.retryable(error):
                raise  # a statement failed, the unit's own read or one sent before it
            tx.id_restore(ids)
            outcomes.append((False, error))
        else:
            outcomes.append((True, result))
    tx.flush_ids()
    session.commit()
    return outcomes
