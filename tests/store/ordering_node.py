"""One simulated node for the ordering stress test: a process appending through its own store.

Run by tests/store/test_ordering.py in a fresh (spawned) process. It opens the
store on the shared database, runs ``tasks`` concurrent writers (so units queue
up and commit in groups), and writes one line per acknowledged unit to its
``acks`` file, flushed before the next unit starts: the file is exactly what
this node's callers were told. Some units raise after appending (they must leave
no trace); a node told to ``die_after`` acknowledgements kills itself with
SIGKILL, with other units in flight, as a crashed node would.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from dataclasses import dataclass
from pathlib import Path

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import RoomId
from hubbub.store.base import Store, WriteTx

__all__ = ["NodePlan", "marker", "run_node"]


@dataclass(frozen=True)
class NodePlan:
    node: int
    database: str  # a postgresql:// URL or a SQLite file path
    acks: Path
    tasks: int
    units_per_task: int
    failure_rate: float
    seed: int
    die_after: int | None = None


class _Refused(Exception):
    """A unit of work that gives up after appending."""


def marker(node: int, task: int, unit: int, index: int) -> str:
    return f"n{node}-t{task}-u{unit}-e{index}"


def _open(database: str) -> Store:
    if database.startswith("postgresql://"):
        from hubbub.store.postgres import PostgresStore

        return PostgresStore.open(database, read_connections=1)
    from hubbub.store.sqlite import SqliteStore

    return SqliteStore.open(Path(database), readers=1)


async def _main(plan: NodePlan) -> None:
    store = _open(plan.database)
    acked = 0
    fd = os.open(plan.acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    async def writer(task: int) -> None:
        nonlocal acked
        rng = random.Random(plan.seed * 1000 + task)
        for unit in range(plan.units_per_task):
            count = rng.randint(1, 3)
            fail = rng.random() < plan.failure_rate
            texts = [marker(plan.node, task, unit, i) for i in range(count)]

            def work(tx: WriteTx, texts: list[str] = texts, fail: bool = fail) -> list[int]:
                ids = [
                    tx.append(NewEvent(type=EventType.MESSAGE_POSTED, time_stamp=1, room_id=RoomId(1), content=text)).id
                    for text in texts
                ]
                if fail:
                    raise _Refused()
                return ids

            try:
                ids = await store.write(work)
            except _Refused:
                continue
            os.write(fd, (json.dumps({"ids": ids, "markers": texts}) + "\n").encode())
            acked += 1
            if plan.die_after is not None and acked >= plan.die_after:
                os.kill(os.getpid(), signal.SIGKILL)

    try:
        await asyncio.gather(*(writer(task) for task in range(plan.tasks)))
    finally:
        os.close(fd)
        await store.close()


def run_node(plan: NodePlan) -> None:
    """The process's entry point."""
    asyncio.run(_main(plan))
