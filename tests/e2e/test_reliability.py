"""Reliability: readers cut at random points and resumed every supported way see each event exactly once.

A node runs with small pages and a small replay budget, so that paging, the replay limit
and the replay/live hand-over are exercised on almost every resume. Posters post as fast
as they can into two rooms (some messages ping the readers, so each reader's view of one
room also holds pings from the other). Meanwhile each reader follows both rooms and is cut
at random points, and resumes:

- ``?l=``: a new socket from the ``t`` of the last frame it read (raw: no client-side
  de-duplication at all, so the server alone must be exactly-once);
- ``POST /events``: polls from its cursors, some requests abandoned half-way;
- a fresh socket without ``l``, then ``POST /events`` from its last ids up to the log's
  position, then the socket (as the SDK does, de-duplicating by id);
- the SDK's ``Room.events()``, with ``reconnect()`` and server-side drops.

Once the readers have made ``HUBBUB_RELIABILITY_CUTS`` cuts between them (default 150;
``HUBBUB_RELIABILITY_SEED`` picks the random run), posting stops, a last message goes to
each room, and every reader must hold, per room, exactly the events of its view from its
start to that message (``core.visibility``, applied to the log itself): no gap, no
duplicate, in order, every acknowledged message among them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hubbub.client import Client
from hubbub.client import events as sdk_events
from hubbub.core.events import CHAT_EVENT_TYPES, Event
from hubbub.core.ids import EventId, RoomId
from hubbub.core.models import User
from hubbub.core.visibility import EVERY_ROOM, file_view, in_view
from tests.conftest import PASSWORD, Browser, Node, NodeFactory
from tests.fakes import TIMEOUT

CUTS = int(os.environ.get("HUBBUB_RELIABILITY_CUTS", "150"))
SEED = int(os.environ.get("HUBBUB_RELIABILITY_SEED", "8"))
# Frames (or SDK events) a reader takes before its next cut; 0 cuts a socket as it opens.
CUT_AFTER = (0, 0, 1, 1, 2, 3, 5, 8, 13, 40)
POSTERS = 3
PING_EVERY = 7  # one message in this many pings a reader
END = "that is all"  # the last message of each room
AWAY_MESSAGES = 150  # a ?l= reader sometimes stays away this long: more than its node's replay budget


@dataclass
class Run:
    """What the readers and posters share: the random source, the cut count, the end of the run."""

    node: Node
    rooms: tuple[RoomId, RoomId]
    rng: random.Random
    target: int
    cuts: int = 0
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    ends: dict[RoomId, int] = field(default_factory=dict)  # the last message of each room
    acked: dict[RoomId, list[int]] = field(default_factory=dict)
    posted: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # set on every acknowledged post

    async def away(self, messages: int) -> None:
        """Stay away while ``messages`` more are posted (or posting ends)."""
        until = self.posted + messages
        while self.posted < until and not self.enough.is_set():
            self.progress.clear()
            await self.progress.wait()

    def cut(self) -> None:
        self.cuts += 1
        if self.cuts >= self.target:
            self.stop_posting()

    def stop_posting(self) -> None:
        self.enough.set()
        self.progress.set()  # no reader stays away any longer

    def cut_after(self) -> int | None:
        """How many frames to take before the next cut; None once enough cuts were made."""
        return None if self.enough.is_set() else self.rng.choice(CUT_AFTER)

    def drop_server_side(self, user: User) -> int:
        """Close this user's sockets from the server's side, as a restart or a network cut would."""
        fanout = self.node.runtime.rooms
        assert fanout is not None
        dropped = [s.connection for s in fanout.all_subscribers() if s.user.id == user.id and not s.connection.closed]
        for connection in dropped:
            connection.close(1001, "cut by the test")
        return len(dropped)


@dataclass
class Reader:
    """One client: what it received per room, in arrival order, and how often it was cut."""

    kind: str
    browser: Browser
    start: int
    rooms: tuple[RoomId, ...]
    received: dict[RoomId, list[dict[str, Any]]] = field(default_factory=dict)
    cuts: int = 0
    repeats: int = 0  # records a raw transport sent again (must stay 0)
    replay_limits: int = 0  # sockets closed with "replay limit reached"
    ended: set[RoomId] = field(default_factory=set)  # rooms whose last message has arrived

    @property
    def user(self) -> User:
        assert self.browser.user is not None
        return self.browser.user

    def done(self) -> bool:
        """Whether the last message of every followed room has arrived (nothing follows it)."""
        return self.ended.issuperset(self.rooms)

    def keep(self, room: RoomId, record: dict[str, Any]) -> None:
        self.received.setdefault(room, []).append(record)
        if record["event_type"] == 1 and record.get("content") == END:
            self.ended.add(room)

    def take(self, room: RoomId, records: list[dict[str, Any]], last: dict[RoomId, int]) -> None:
        """Keep records of a transport that must be exactly-once: anything not above ``last`` is a repeat."""
        for record in records:
            if record["id"] <= last[room]:
                self.repeats += 1
            last[room] = max(last[room], record["id"])
            self.keep(room, record)


async def _socket_url(browser: Browser, room: int) -> str:
    response = await browser.post("/ws-auth", {"roomid": room})
    assert response.status == 200, await response.text()
    return str((await response.json())["url"])


def _parts(data: str, rooms: tuple[RoomId, ...]) -> Iterator[tuple[RoomId, list[dict[str, Any]], int]]:
    frame = json.loads(data)
    for room in rooms:
        part = frame.get(f"r{room}")
        if part is not None:
            yield room, list(part.get("e", [])), int(part["t"])


async def _receive(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    async with asyncio.timeout(TIMEOUT):
        return await ws.receive()


async def read_by_l(run: Run, reader: Reader) -> None:
    """Resume with ``?l=<t of the last frame read>``, taking the socket's frames as they are."""
    cursor, last = reader.start, dict.fromkeys(reader.rooms, reader.start)
    while not reader.done():
        url = await _socket_url(reader.browser, reader.rooms[0])
        async with reader.browser.session.ws_connect(f"{url}?l={cursor}") as ws:
            budget, taken = run.cut_after(), 0
            while not reader.done():
                if budget is not None and taken >= budget:
                    # The server cuts (frames it sent before still count), or the client hangs up.
                    if run.rng.random() < 0.3 and run.drop_server_side(reader.user):
                        budget = None
                        continue
                    break
                message = await _receive(ws)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    if message.type is aiohttp.WSMsgType.CLOSE and str(message.extra).startswith("replay limit"):
                        reader.replay_limits += 1
                    break
                for room, records, t in _parts(message.data, reader.rooms):
                    reader.take(room, records, last)
                    cursor = t
                taken += 1
            reader.cuts += 1
            run.cut()
        if run.rng.random() < 0.1:
            await run.away(AWAY_MESSAGES)  # back after more than one replay's worth


async def read_by_polling(run: Run, reader: Reader) -> None:
    """``POST /events`` for both rooms from their cursors; some requests are abandoned half-way."""
    cursors, last = dict.fromkeys(reader.rooms, reader.start), dict.fromkeys(reader.rooms, reader.start)
    while not reader.done():
        form = {f"r{room}": cursor for room, cursor in cursors.items()}
        request = asyncio.ensure_future(reader.browser.post("/events", form))
        if not run.enough.is_set() and run.rng.random() < 0.3:
            for _ in range(run.rng.randrange(4)):
                await asyncio.sleep(0)  # let the request get somewhere first
            if not request.done():
                request.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await request
                reader.cuts += 1
                run.cut()
                continue
        response = await request
        body = json.loads(await response.read())
        got = 0
        for room in reader.rooms:
            part = body[f"r{room}"]
            reader.take(room, list(part.get("e", [])), last)
            got += len(part.get("e", []))
            cursors[room] = max(cursors[room], int(part["t"]))
        if not got:
            await asyncio.sleep(0.005)  # the poll interval of a client that is caught up


async def read_fresh_then_catch_up(run: Run, reader: Reader) -> None:
    """A fresh socket (no ``l``), ``POST /events`` up to the log's position, then the socket; de-duplicated by id."""
    delivered = dict.fromkeys(reader.rooms, reader.start)  # the last id handed out, per room
    while not reader.done():
        url = await _socket_url(reader.browser, reader.rooms[0])
        async with reader.browser.session.ws_connect(url) as ws:
            history = await reader.browser.post(f"/chats/{reader.rooms[0]}/events", {"msgCount": 1})
            ceiling = int((await history.json())["time"])
            cursors = dict(delivered)
            while min(cursors.values()) < ceiling:
                form = {f"r{room}": cursor for room, cursor in cursors.items()}
                body = json.loads(await (await reader.browser.post("/events", form)).read())
                for room in reader.rooms:
                    part = body[f"r{room}"]
                    _hand_out(reader, room, list(part.get("e", [])), delivered)
                    cursors[room] = max(cursors[room], int(part["t"]))
            raw = dict(delivered)  # the socket's own stream must not repeat itself either
            budget, taken = run.cut_after(), 0
            while not reader.done():
                if budget is not None and taken >= budget:
                    break
                message = await _receive(ws)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                for room, records, _ in _parts(message.data, reader.rooms):
                    for record in records:
                        if record["id"] <= raw[room] and record["id"] > cursors[room]:
                            reader.repeats += 1  # sent twice on this socket
                        raw[room] = max(raw[room], record["id"])
                    _hand_out(reader, room, records, delivered)
                taken += 1
            reader.cuts += 1
            run.cut()


def _hand_out(reader: Reader, room: RoomId, records: list[dict[str, Any]], delivered: dict[RoomId, int]) -> None:
    for record in sorted(records, key=lambda r: int(r["id"])):
        if record["id"] > delivered[room]:
            delivered[room] = record["id"]
            reader.keep(room, record)


async def read_with_the_sdk(run: Run, reader: Reader, client: Client) -> None:
    """The SDK's stream of one room, with ``reconnect()`` and server-side drops at random events."""
    room = reader.rooms[0]
    stream = (await client.join(room)).events(since=reader.start)
    budget, taken = run.cut_after(), 0
    try:
        async for event in stream:
            record: dict[str, Any] = {"id": event.id, "event_type": event.event_type}
            if isinstance(event, sdk_events.BaseMessageEvent):
                record["message_id"] = event.message_id
            if isinstance(event, sdk_events.MessageEvent):
                record["content"] = event.content
            reader.keep(room, record)
            if reader.done():
                return
            taken += 1
            if budget is not None and taken >= budget:
                if run.rng.random() < 0.5 or not run.drop_server_side(reader.user):
                    await stream.reconnect()
                reader.cuts += 1
                run.cut()
                budget, taken = run.cut_after(), 0
    finally:
        await stream.aclose()


async def post_until_enough_cuts(run: Run, poster: Browser, number: int, readers: list[Reader]) -> int:
    n = 0
    while not run.enough.is_set():
        room = run.rooms[run.rng.randrange(2)]
        text = f"p{number} m{n}"
        if n % PING_EVERY == number:
            text = f"@{run.rng.choice(readers).user.name} {text}"
        response = await poster.post(f"/chats/{room}/messages/new", {"text": text})
        assert response.status == 200, await response.text()
        run.acked.setdefault(room, []).append(int((await response.json())["id"]))
        run.posted += 1
        run.progress.set()
        n += 1
    return n


def _expected(log: list[Event], reader: Reader, final: int) -> dict[RoomId, list[int]]:
    """The reader's view of its rooms between its start and the end of the run, straight from the log.

    An SDK stream keeps only its own room's events (the pings filed under it from other rooms
    are another room's stream's).
    """
    view: dict[RoomId, list[int]] = {room: [] for room in reader.rooms}
    followed = set(reader.rooms)
    own_room_only = reader.kind.startswith("sdk")
    for event in log:
        if not reader.start < event.id <= final or event.type not in CHAT_EVENT_TYPES:
            continue
        if not in_view(event, reader.user, followed, readable=EVERY_ROOM):  # every room of the run is public
            continue
        for room in file_view([event], reader.user, followed):
            if room in view and (not own_room_only or event.room_id == room):
                view[room].append(event.id)
    return view


async def test_random_cuts_and_every_way_of_resuming_lose_nothing_and_repeat_nothing(make_node: NodeFactory) -> None:
    # The test clock stands still, so the posting rate limit would never refill: lift it.
    node = await make_node(poll_max_events=20, sechat_replay_max_bytes=16 * 1024, message_rate_burst=10**9)
    rng = random.Random(SEED)
    first, second = await node.room("Busy"), await node.room("Also busy")
    run = Run(node, (first, second), rng, CUTS)
    posters = [await node.signed_in(f"Poster{n}") for n in range(POSTERS)]
    closer = await node.signed_in("Closer")
    kinds = ("lima", "polly", "fresh", "sdkfirst", "sdksecond")
    browsers = [await node.signed_in(kind.capitalize()) for kind in kinds]
    for browser in [*posters, closer, *browsers]:
        for room in run.rooms:
            await browser.post(f"/chats/{room}/events", {})  # everyone is in both rooms, and pingable
    start = await node.service.queries.last_event_id()
    readers = [
        Reader(kind, browser, start, run.rooms if not kind.startswith("sdk") else (run.rooms[kind == "sdksecond"],))
        for kind, browser in zip(kinds, browsers, strict=True)
    ]
    sdk_clients: list[Client] = []
    tasks: list[asyncio.Task[None]] = []
    for reader in readers[3:]:
        client = Client(node.base)
        await client.__aenter__()
        sdk_clients.append(client)
        assert reader.user.email is not None
        await client.login(reader.user.email, PASSWORD)
    try:
        tasks += [
            asyncio.create_task(read_by_l(run, readers[0])),
            asyncio.create_task(read_by_polling(run, readers[1])),
            asyncio.create_task(read_fresh_then_catch_up(run, readers[2])),
            asyncio.create_task(read_with_the_sdk(run, readers[3], sdk_clients[0])),
            asyncio.create_task(read_with_the_sdk(run, readers[4], sdk_clients[1])),
        ]
        for task in tasks:  # a reader that ends before the last message failed: stop, and say why
            task.add_done_callback(lambda _: run.stop_posting())
        posted = sum(await asyncio.gather(*(post_until_enough_cuts(run, p, n, readers) for n, p in enumerate(posters))))
        for room in run.rooms:
            response = await closer.post(f"/chats/{room}/messages/new", {"text": END})
            run.ends[room] = int((await response.json())["id"])
        final = await node.service.queries.last_event_id()
        async with asyncio.timeout(TIMEOUT * 6):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in sdk_clients:
            await client.close()

    log = await node.service.context.store.read(lambda tx: tx.events_after(EventId(start), limit=10**7))
    summary, failures = [], []
    for reader in readers:
        expected = _expected(log, reader, final)
        for room in reader.rooms:
            got = [int(r["id"]) for r in reader.received.get(room, [])]
            missing = sorted(set(expected[room]) - set(got))
            twice = len(got) - len(set(got))
            summary.append(
                f"{reader.kind} r{room}: {len(got)} events, {reader.cuts} cuts, {twice} duplicates, "
                f"{len(missing)} gaps, {reader.repeats} raw repeats, {reader.replay_limits} replay-limit closes"
            )
            messages = [int(r["message_id"]) for r in reader.received.get(room, []) if r["event_type"] == 1]
            acked = sorted(run.acked.get(room, []))
            if got != expected[room] or [m for m in messages if m in set(acked)] != acked or reader.repeats:
                failures.append((reader.kind, room, missing[:5], twice, reader.repeats))
            assert messages[-1] == run.ends[room]
    print(
        f"\nreliability (seed {SEED}): {run.cuts} cuts, {posted} messages acknowledged, log {start}..{final}\n  "
        + "\n  ".join(summary)
    )
    assert failures == []  # (reader, room, first missing ids, duplicates, raw repeats)
    assert run.cuts >= CUTS
