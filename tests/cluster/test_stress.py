"""Four nodes, posters on every node, readers cutting and resuming everywhere: the log arrives whole.

Issue 12's stress test at the HTTP and socket level. Every node has a poster
posting to it directly; readers repeatedly pick a random node and resume, by a
``POST /events`` poll or a fresh ``/ws-auth`` socket with ``?l=``, either from the
last cursor they had or from a random earlier event they saw (throwing away what
came after it), read a little and cut. At the end each reader's sequence of
posted events must be exactly the room's log, in order, with every acknowledged
message in it: zero gaps, zero duplicates.

Posters keep posting until the readers have made ``HUBBUB_CLUSTER_STRESS_CUTS``
cuts in all (and each poster at least ``HUBBUB_CLUSTER_STRESS_POSTS`` messages),
so a socket always has something arriving when it is cut. ``make test`` runs a
bounded size; set the variables (e.g. 10000 cuts, with ``--timeout 0``) for a
large run. It prints what it did.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field

import aiohttp

from tests.cluster.clients import ChatUser, posted_events
from tests.cluster.conftest import MakeCluster, sign_in
from tests.cluster.harness import Cluster
from tests.cluster.test_nodes import on_node
from tests.fakes import TIMEOUT

NODES = 4
READERS = 4
CUTS = int(os.environ.get("HUBBUB_CLUSTER_STRESS_CUTS", "300"))
POSTS_PER_POSTER = int(os.environ.get("HUBBUB_CLUSTER_STRESS_POSTS", "50"))
SEED = int(os.environ.get("HUBBUB_CLUSTER_STRESS_SEED", "12"))
EARLIER_RESUME = 0.2  # share of resumes from a random earlier event instead of the last cursor
REWIND_WINDOW = 300  # how far back (events) an earlier resume may go


@dataclass
class Tally:
    cuts: int = 0
    socket_resumes: int = 0
    poll_resumes: int = 0
    earlier_resumes: int = 0


@dataclass
class StressReader:
    user: ChatUser
    room: int
    cluster: Cluster
    rng: random.Random
    tally: Tally
    seen: list[tuple[int, int]] = field(default_factory=list)
    cursor: int = 0

    def take(self, frame: str) -> None:
        events, cursor = posted_events(frame, self.room)
        self.seen += events
        if cursor is not None:
            self.cursor = max(self.cursor, int(cursor))

    def rewind(self) -> None:
        """Resume from an event seen a while ago, as a client that lost its state would."""
        if not self.seen:
            return
        index = self.rng.randrange(max(0, len(self.seen) - REWIND_WINDOW), len(self.seen))
        self.cursor = self.seen[index][0]
        del self.seen[index + 1 :]
        self.tally.earlier_resumes += 1

    async def poll_once(self, node: int) -> None:
        user = self.user.on(self.cluster.nodes[node].base)
        response = await user.form("/events", **{f"r{self.room}": self.cursor})
        assert response.status == 200, await response.text()
        self.take(await response.text())
        self.tally.poll_resumes += 1

    async def socket_once(self, node: int) -> None:
        user = self.user.on(self.cluster.nodes[node].base)
        url = on_node(await user.socket_url(self.room), self.cluster, node)
        async with self.user.session.ws_connect(f"{url}?l={self.cursor}") as ws:
            for _ in range(self.rng.randint(1, 4)):
                try:
                    message = await ws.receive(timeout=0.5)  # nothing more for now: cut here
                except TimeoutError:
                    break
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                self.take(message.data)
        self.tally.socket_resumes += 1

    async def cut_and_resume(self) -> None:
        if self.rng.random() < EARLIER_RESUME:
            self.rewind()
        node = self.rng.randrange(len(self.cluster.nodes))
        if self.rng.random() < 0.5:
            await self.socket_once(node)
        else:
            await self.poll_once(node)
        self.tally.cuts += 1

    async def catch_up(self) -> None:
        """Poll (through nginx) until the room has nothing newer."""
        while True:
            before = self.cursor
            response = await self.user.form("/events", **{f"r{self.room}": self.cursor})
            self.take(await response.text())
            if self.cursor == before:
                return


async def room_log(user: ChatUser, room: int) -> list[tuple[int, int]]:
    log: list[tuple[int, int]] = []
    cursor = 0
    while True:
        response = await user.form("/events", **{f"r{room}": cursor})
        events, next_cursor = posted_events(await response.text(), room)
        log += events
        if next_cursor is None or int(next_cursor) == cursor:
            return log
        cursor = int(next_cursor)


async def test_four_nodes_posters_everywhere_readers_cutting_everywhere_lose_and_repeat_nothing(
    make_cluster: MakeCluster, users: list[ChatUser]
) -> None:
    cluster = make_cluster(NODES, poll_max_events="1000000")
    room = cluster.create_room("Stress")
    rng = random.Random(SEED)
    posters = [(await sign_in(cluster, users, f"Poster{i}")).on(cluster.nodes[i].base) for i in range(NODES)]
    tally = Tally()
    readers = []
    for i in range(READERS):
        reader = StressReader(
            await sign_in(cluster, users, f"Reader{i}"), room, cluster, random.Random(rng.random()), tally
        )
        await reader.user.socket_url(room)  # joins the room: the log has an event, so a cursor is not 0
        _, reader.cursor = await reader.user.poll(room, 0)
        assert reader.cursor > 0
        readers.append(reader)
    acknowledged: set[int] = set()
    posting = True
    started = time.monotonic()

    async def post_all(poster: ChatUser) -> None:
        n = 0
        while tally.cuts < CUTS or n < POSTS_PER_POSTER:
            posted = await poster.post(room, f"{poster.email} says {n}")
            assert posted is not None
            acknowledged.add(posted)
            n += 1

    async def read(reader: StressReader) -> None:
        # Cut and resume until the cuts are done and the posters have stopped.
        while tally.cuts < CUTS or posting:
            await reader.cut_and_resume()

    reading = [asyncio.create_task(read(reader)) for reader in readers]
    async with asyncio.timeout(max(10 * TIMEOUT, CUTS / 5)):
        await asyncio.gather(*(post_all(poster) for poster in posters))
        posting = False
        await asyncio.gather(*reading)
    for reader in readers:
        await reader.catch_up()
    log = await room_log(readers[0].user, room)
    elapsed = time.monotonic() - started

    assert [message for _, message in log] == sorted(message for _, message in log)
    assert {message for _, message in log} == acknowledged
    assert len(log) >= NODES * POSTS_PER_POSTER
    for reader in readers:
        assert reader.seen == log  # zero gaps, zero duplicates, the log's order
    print(
        f"\nstress: {NODES} nodes, {len(acknowledged)} acknowledged posts, {tally.cuts} cuts "
        f"({tally.socket_resumes} socket resumes, {tally.poll_resumes} poll resumes, "
        f"{tally.earlier_resumes} from an earlier event), {READERS} readers: "
        f"0 gaps, 0 duplicates in {elapsed:.1f} s"
    )
