"""Global order across writers, under stress: four nodes append at once, readers resume anywhere.

docs/design/ordering.md argues that a reader can never see event id N+1 and later
miss N, on either engine. This test tries hard to catch it doing so: four writer
processes (``ordering_node.py``, one store each, several concurrent writers each,
so units commit in groups; some units roll back; one node SIGKILLs itself
mid-run) append to one database while readers keep "cutting" their stream and
resuming from random ids. Every read must continue its cursor without a gap, an
id must always carry the same event, and at the end the log must be exactly
1..N with every acknowledged append in it once, at the id its writer was told.

The size scales with ``HUBBUB_ORDERING_SCALE`` (default 1: about 1,600 events
and at least 500 cuts, a few seconds); the closing note of issue 12 quotes a run
at scale 20 (at least 10,000 cuts).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hubbub.core.events import Event
from hubbub.core.ids import EventId
from hubbub.store.base import Store
from tests.store.ordering_node import NodePlan, run_node

SCALE = float(os.environ.get("HUBBUB_ORDERING_SCALE", "1"))
NODES = 4
TASKS_PER_NODE = 4
UNITS_PER_TASK = max(10, int(50 * SCALE))
MIN_CUTS = max(100, int(500 * SCALE))
READERS = 3
PAGE = 200  # events per read, small so that a resume takes several reads
FAILURE_RATE = 0.1


@dataclass
class ReaderLog:
    """What one reader saw: every id it read, and the event each id carried."""

    seen: dict[int, str] = field(default_factory=dict)
    high: int = 0  # the highest id it has read
    cuts: int = 0
    reads: int = 0


def _check_page(log: ReaderLog, cursor: int, page: list[tuple[int, str]], who: str) -> None:
    ids = [event_id for event_id, _ in page]
    assert ids == list(range(cursor + 1, cursor + 1 + len(ids))), f"{who}: gap after {cursor}: {ids[:10]}..."
    for event_id, body in page:
        known = log.seen.setdefault(event_id, body)
        assert known == body, f"{who}: id {event_id} carried {known!r}, now {body!r}"
    log.high = max(log.high, cursor + len(ids))
    log.reads += 1


async def _reader(
    read_page: Callable[[int], Any], log: ReaderLog, writers_done: asyncio.Event, rng: random.Random, who: str
) -> None:
    """Read to the end, cut, resume from a random id; until the writers are done and enough cuts were made."""
    while True:
        finished = writers_done.is_set()
        if log.high and rng.random() < 0.1:
            cursor = rng.randint(0, log.high)  # a client that resumes from far back
        else:
            cursor = rng.randint(max(0, log.high - 300), log.high)  # ... or from a recent id
        while True:
            page: list[tuple[int, str]] = await read_page(cursor)
            _check_page(log, cursor, page, who)
            if len(page) < PAGE:
                break
            cursor = page[-1][0]
        log.cuts += 1
        if finished and log.cuts >= MIN_CUTS:
            return


def _events_page(cursor: int) -> Callable[[Any], list[tuple[int, str]]]:
    def read(tx: Any) -> list[tuple[int, str]]:
        events: list[Event] = tx.events_after(EventId(cursor), limit=PAGE)
        return [(event.id, event.content or "") for event in events]

    return read


def _read_acks(path: Path) -> list[dict[str, list[Any]]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def _run(database: str, open_reader: Callable[[], Store], tmp_path: Path, extra_reader: Any = None) -> None:
    seed = random.randrange(1 << 30)
    context = multiprocessing.get_context("spawn")
    plans = [
        NodePlan(
            node=node,
            database=database,
            acks=tmp_path / f"acks-{node}.jsonl",
            tasks=TASKS_PER_NODE,
            units_per_task=UNITS_PER_TASK,
            failure_rate=FAILURE_RATE,
            seed=seed + node,
            die_after=UNITS_PER_TASK if node == NODES - 1 else None,  # one node crashes a quarter of the way
        )
        for node in range(NODES)
    ]
    processes = [context.Process(target=run_node, args=(plan,), daemon=True) for plan in plans]
    reader_store = open_reader()
    writers_done = asyncio.Event()
    logs = [ReaderLog() for _ in range(READERS + (extra_reader is not None))]
    try:
        for process in processes:
            process.start()

        async def store_page(cursor: int) -> list[tuple[int, str]]:
            return await reader_store.read(_events_page(cursor))

        readers = [
            asyncio.create_task(_reader(store_page, logs[i], writers_done, random.Random(seed - i), f"reader {i}"))
            for i in range(READERS)
        ]
        if extra_reader is not None:
            readers.append(
                asyncio.create_task(_reader(extra_reader, logs[-1], writers_done, random.Random(seed), "raw reader"))
            )
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, process.join) for process in processes))
        writers_done.set()
        await asyncio.gather(*readers)
        everything: list[tuple[int, str]] = []
        final = ReaderLog()
        cursor = 0
        while page := await store_page(cursor):
            _check_page(final, cursor, page, "final read")
            everything.extend(page)
            cursor = page[-1][0]
    finally:
        writers_done.set()
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
        await reader_store.close()

    exit_codes = [process.exitcode for process in processes]
    assert exit_codes[:-1] == [0] * (NODES - 1), f"seed {seed}: node exit codes {exit_codes}"
    assert exit_codes[-1] == -9, f"seed {seed}: the crashing node exited with {exit_codes[-1]}"

    ids = [event_id for event_id, _ in everything]
    assert ids == list(range(1, len(ids) + 1)), f"seed {seed}: the log is not dense"
    markers = [body for _, body in everything]
    assert len(set(markers)) == len(markers), f"seed {seed}: an append is in the log twice"
    where = dict(zip(markers, ids, strict=True))
    acked = [ack for plan in plans for ack in _read_acks(plan.acks)]
    assert len(acked) >= (NODES - 1) * TASKS_PER_NODE * UNITS_PER_TASK * (1 - FAILURE_RATE) / 2
    for ack in acked:
        assert [where.get(m) for m in ack["markers"]] == ack["ids"], f"seed {seed}: acknowledged {ack} is not there"
    for log in logs:
        assert log.cuts >= MIN_CUTS
        for event_id, body in log.seen.items():
            assert where.get(body) == event_id, f"seed {seed}: a reader saw {body!r} at {event_id}, never committed"
    # For the record (pytest -s shows it): the size of what was checked.
    engine = "postgresql" if database.startswith("postgresql") else "sqlite"
    print(
        f"\nordering ({engine}, seed {seed}): {len(ids)} events, "
        f"{len(acked)} acknowledged units, {NODES} nodes ({exit_codes[-1]} for the crashed one), "
        f"cuts per reader {[log.cuts for log in logs]}, reads {sum(log.reads for log in logs)}: "
        "no gap, no duplicate, every acknowledged append present"
    )


@pytest.mark.timeout(120 * max(1.0, SCALE))
async def test_four_sqlite_writers_never_expose_a_gap(tmp_path: Path) -> None:
    from hubbub.store.sqlite import SqliteStore

    path = tmp_path / "ordering.sqlite3"
    await _run(str(path), lambda: SqliteStore.open(path), tmp_path)


@pytest.mark.timeout(120 * max(1.0, SCALE))
async def test_four_postgresql_nodes_never_expose_a_gap(postgres_url: str, tmp_path: Path) -> None:
    import psycopg

    from hubbub.store.postgres import PostgresStore

    # A reader outside the store: autocommit, READ COMMITTED, one snapshot per statement.
    raw = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)

    async def raw_page(cursor: int) -> list[tuple[int, str]]:
        rows = await (
            await raw.execute("SELECT id, body FROM events WHERE id > %s ORDER BY id LIMIT %s", (cursor, PAGE))
        ).fetchall()
        return [(int(row[0]), str(json.loads(row[1]).get("content", ""))) for row in rows]

    try:
        await _run(postgres_url, lambda: PostgresStore.open(postgres_url), tmp_path, extra_reader=raw_page)
    finally:
        await raw.close()
