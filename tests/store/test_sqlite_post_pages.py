"""What a post's commit writes into SQLite's WAL: a page for each b-tree it changes, and no more.

Every page a commit changed goes into the WAL (a 4 KiB write, checksummed) and later back into the
database file, on the serial writer: with one post in a group, that was 21 pages, four of them
for indexes the post did not change. A statement that sets a column rewrites every index on it
even when the value stays: posting rewrote its author's whole row (the address's unique index
and the ping key's index with it) and its membership's (the index on ``(user_id, present)``),
and its room's whole row (the slug's index, since migration 0017). Posting writes only the
columns it changes now. And every event, though most target nobody, had an entry in the index
of targeted events; it holds only those that target someone now (migration 0018). Read here
from the WAL's own frame headers, whose page numbers ``dbstat`` names.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from hubbub.core.ids import RoomId, UserId
from hubbub.service.service import Service
from tests.fakes import FakeClock

_WAL_HEADER = 32
_FRAME_HEADER = 24


def _last_commit_pages(wal: bytes) -> list[int]:
    """The page numbers the last commit in ``wal`` wrote (frames whose salts match the header's)."""
    page_size, salts = struct.unpack(">I", wal[8:12])[0], wal[16:24]
    commits: list[list[int]] = [[]]
    offset = _WAL_HEADER
    while offset + _FRAME_HEADER + page_size <= len(wal):
        page, size_after = struct.unpack(">II", wal[offset : offset + 8])
        if wal[offset + 8 : offset + 16] != salts:  # left over from before the WAL started again
            break
        commits[-1].append(page)
        if size_after:  # the frame that ends a commit
            commits.append([])
        offset += _FRAME_HEADER + page_size
    return next(pages for pages in reversed(commits) if pages)


def _written_by_last_commit(data: Path) -> tuple[set[str], dict[str, str]]:
    """The b-trees the last commit of the node's database wrote a page of, and each index's table."""
    database = next(data.rglob("*.sqlite3"))
    pages = _last_commit_pages(Path(f"{database}-wal").read_bytes())
    with sqlite3.connect(database) as reading:
        owners = dict(reading.execute("SELECT pageno, name FROM dbstat"))
        indexes = dict(reading.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"))
    return {owners.get(page, f"page {page}") for page in pages}, indexes


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)  # the WAL is SQLite's
async def test_a_post_rewrites_no_index_on_columns_it_does_not_change(
    service: Service, clock: FakeClock, tmp_path: Path
) -> None:
    author = await service.accounts.create_user("Ann Author", email="ann@example.org", password="secret-pass-1")
    room = await service.rooms.create_room("Pages")
    for n in range(3):  # the author is a present member; the room's pages exist
        await service.messages.post(UserId(author.id), RoomId(room.id), f"warm-up {n}")
    clock.advance(5)  # a page whose bytes stay the same is not written: the times must move

    await service.messages.post(UserId(author.id), RoomId(room.id), "the post that is read back")

    written, indexes = _written_by_last_commit(tmp_path)
    # what a post does change: its message, its event, its author's counts, the room's activity
    changed = {"messages", "events", "users", "rooms", "memberships", "rooms_activity"}
    assert changed <= written, " ".join(sorted(written))
    # an address, a ping key, a room's slug and being present stay as they were: no page of their indexes
    unchanged = {name for name, table in indexes.items() if table in ("users", "rooms")} - {"rooms_activity"}
    unchanged |= {"memberships_user", "events_target"}  # a post that pings nobody targets nobody (0018)
    assert {"users_ping_key", "rooms_slug"} <= unchanged and len(unchanged) >= 5  # the address's unique index too
    assert written.isdisjoint(unchanged), sorted(written & unchanged)
