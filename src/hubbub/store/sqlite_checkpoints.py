"""WAL checkpoints for the SQLite store, on a thread of their own instead of inside a commit.

SQLite checkpoints by itself in the commit that takes the WAL past ``wal_autocheckpoint``
pages (1,000): that commit copies the WAL into the database file and syncs both before it
returns, so it and every post committed in its group, and their fan-out, wait 4-7 ms
instead of ~0.5 ms (``bench/fanout.py``, paced phase: about one post in seventy). The
server's writer therefore turns the automatic checkpoint off and tells this thread after
each commit. The thread runs a ``PASSIVE`` checkpoint on its own connection at most once
per ``interval`` while there are commits it has not copied: ``PASSIVE`` takes no write
lock and waits for nobody, so writers and readers go on meanwhile; frames a reader still
needs are left for the next time. Once the WAL has been copied entirely, SQLite writes the
next commits from the start of the file again, so it does not grow without bound.

With ``synchronous = normal`` a checkpoint is also when commits reach the disk, so a power
loss can undo at most about ``interval`` of acknowledged commits (docs/configuration.md).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from hubbub import metrics

__all__ = ["CHECKPOINT_INTERVAL", "Checkpointer"]

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL: Final = 1.0  # seconds between checkpoints at most, while commits come in


class Checkpointer:
    """Copies the WAL into the database file in the background, after commits, at most once per ``interval``."""

    def __init__(
        self, path: Path, connect: Callable[[Path], sqlite3.Connection], *, interval: float = CHECKPOINT_INTERVAL
    ) -> None:
        self._connection = connect(path)
        self._interval = interval
        self._committed = threading.Event()
        self._stopping = threading.Event()
        self.checkpoints = 0  # completed, for tests and the curious
        self._thread = threading.Thread(target=self._run, name="hubbub-sqlite-checkpoints", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A commit went into the WAL (the writer thread calls this; it never waits)."""
        if not self._committed.is_set():
            self._committed.set()

    def close(self) -> None:
        """Stop the thread; what is left in the WAL is SQLite's to copy when the last connection closes."""
        self._stopping.set()
        self._committed.set()
        self._thread.join()
        self._connection.close()

    def checkpoint(self) -> tuple[int, int]:
        """One ``PASSIVE`` checkpoint now: (frames in the WAL, frames copied into the database)."""
        with metrics.SQLITE_CHECKPOINT_SECONDS.time():
            row = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        frames, copied = int(row[1]), int(row[2])  # row[0] is 1 only for the modes that wait for locks
        self.checkpoints += 1
        metrics.SQLITE_WAL_PAGES_LEFT.set(max(0, frames - copied))
        return frames, copied

    def _run(self) -> None:
        while True:
            self._committed.wait()
            if self._stopping.is_set():
                return
            self._committed.clear()
            try:
                self.checkpoint()
            except Exception:  # the thread must go on: the next commit asks again; meanwhile the WAL only grows
                log.exception("WAL checkpoint failed")
            if self._stopping.wait(self._interval):
                return
