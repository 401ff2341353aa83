"""Which bridges run: one reader per account of every live stream, in the whole cluster; writers on request.

multistreamer's chat manager started one reader and writer per stream account when a
stream went live and stopped them when it ended (streams.md §B.5); the manager does
the same from the log: it is a hub ``Fanout`` that writes nothing, and on every
``STREAM_CHANGED``/``STREAM_DELETED`` it reconciles the runners with what the store
says.

One reader per account, cluster-wide: a node runs a reader only while it holds the
account's lease in the store (``bridge:<stream>:<account>``, ``LEASE_SECONDS``), renews it
every ``RENEW_SECONDS``, and gives it up when the stream ends; a node that stops
renewing (stopped, cut off) loses it, and another node that wants it takes over. Two
readers would show every line twice.

It is also the stream chat's ``Writers``. A writer runs on the node whose socket asked for
it and only writes (no reader, so nothing is read twice): a ``writer`` request makes one
for (stream, target account, from account) while the stream is live, and the line goes
out through it. The network shows the line back to the one reader, wherever it runs.

Bridged ordinary rooms (service/room_bridges.py) are streams too, with two differences:
what a reader reads is posted as a message of the account's relay user, and every
message posted in the room by anyone else is written out through the room's readers
on this node (``<name> text``); relay users' posts never are, so nothing loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final

from hubbub.bridges.base import VIEWCOUNT_SECONDS, Backoff, Bridge, BridgeRunner, IncomingLine, renew_forever
from hubbub.bridges.hubbub import HubbubBridge, HubbubSettings
from hubbub.bridges.irc import IrcBridge, irc_bridge
from hubbub.core.events import Event, EventType
from hubbub.core.ids import RoomId, UserId
from hubbub.core.streams import NetworkAccount, Stream
from hubbub.fanout.sequencer import Batch
from hubbub.service.room_bridges import ROOM_NETWORKS, is_room_bridge, relay_text
from hubbub.service.service import Service
from hubbub.service.stream_chat import WriteRequest
from hubbub.store.base import ReadTx

__all__ = ["NETWORK_BRIDGES", "BridgeFactory", "BridgeManager"]

log = logging.getLogger("hubbub.bridges")

# (from account, target account) -> a bridge that speaks in the target's channel as the from account.
BridgeFactory = Callable[[NetworkAccount, NetworkAccount], Bridge]


def _lease(key: tuple[int, int, int]) -> str:
    return f"bridge:{key[0]}:{key[1]}"


def _hubbub(account: NetworkAccount, target: NetworkAccount) -> Bridge:
    own = json.loads(account.settings)
    channel = json.loads(target.settings)
    # The target's room and server, the from account's credentials.
    merged = {**own, "base_url": channel.get("base_url", ""), "room_id": channel.get("room_id", "")}
    return HubbubBridge(HubbubSettings(merged))


NETWORK_BRIDGES: Final[Mapping[str, BridgeFactory]] = {"hubbub": _hubbub, "irc": irc_bridge, "twitch": irc_bridge}

_STREAM_EVENTS: Final = frozenset({EventType.STREAM_CHANGED, EventType.STREAM_DELETED})
LEASE_SECONDS: Final = 30  # a reader's lease lasts this long without renewal ...
RENEW_SECONDS: Final = 10.0  # ... and is renewed this often
OUTGOING: Final = 1024  # room messages waiting to be written to bridged channels; past it the oldest go
Key = tuple[int, int, int]  # (stream id, target account id, from account id)


class BridgeManager:
    def __init__(
        self,
        service: Service,
        *,
        factories: Mapping[str, BridgeFactory] = NETWORK_BRIDGES,
        backoff: Backoff | None = None,
        viewcount_every: float = VIEWCOUNT_SECONDS,
    ) -> None:
        self._service = service
        self._viewcount_every = max(1.0, viewcount_every)
        self._factories = factories
        self._backoff = backoff
        self._readers: dict[Key, BridgeRunner] = {}  # (stream, account, account), while this node holds the lease
        self._writers: dict[Key, BridgeRunner] = {}  # write-only, on the node whose socket asked
        self._accounts: dict[Key, NetworkAccount] = {}  # each runner's target account
        self._wanted: dict[Key, NetworkAccount] = {}  # readers this node runs when it holds their lease
        self._pending: set[int] = set()
        # Bridged ordinary rooms: room -> its stream, each account's relay user (whose posts are
        # never written back out), and the messages waiting to be written out.
        self._rooms: dict[RoomId, int] = {}
        self._relays: dict[int, UserId] = {}
        self._outgoing: deque[tuple[int, int, str]] = deque(maxlen=OUTGOING)  # (stream, message, author)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.node = secrets.token_hex(8)  # this process, as lease holder

    @property
    def runners(self) -> dict[Key, BridgeRunner]:
        """The readers running on this node."""
        return dict(self._readers)

    @property
    def writers(self) -> dict[Key, BridgeRunner]:
        return dict(self._writers)

    @property
    def wanted(self) -> frozenset[Key]:
        """The readers this node has seen it should run (each runs where its lease is held)."""
        return frozenset(self._wanted)

    async def start(self) -> None:
        """Start the readers of the streams live now, then follow the log."""
        streams = await self._service.context.store.read(lambda tx: tx.list_streams())
        self._pending.update(s.id for s in streams if s.state.live)
        self._wake.set()
        self._tasks = [
            asyncio.create_task(self._run(), name="hubbub-bridges"),
            asyncio.create_task(renew_forever(self.renew, RENEW_SECONDS, "bridge leases"), name="hubbub-bridge-leases"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for key in list(self._readers):
            await self._stop_reader(key)
        for key in list(self._writers):
            await self._stop_writer(key)

    def deliver(self, batch: Batch) -> int:
        """Hub ``Fanout``: note the streams whose bridges may have to change, and the messages posted in
        bridged rooms (by anyone but a relay user) to write out."""
        for event in batch:
            if event.type in _STREAM_EVENTS and event.data:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self._pending.add(int(json.loads(event.data)["id"]))
                    self._wake.set()
            elif self._writes_out(event):
                assert event.room_id is not None and event.message_id is not None
                self._outgoing.append((self._rooms[event.room_id], int(event.message_id), event.user_name or "?"))
                self._wake.set()
        return 0

    def _writes_out(self, event: Event) -> bool:
        """A message posted in a bridged room by someone other than a relay user."""
        return (
            event.type is EventType.MESSAGE_POSTED
            and event.room_id in self._rooms
            and event.message_id is not None
            and event.user_id not in self._relays.values()
        )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, set()
            for stream_id in sorted(pending):
                try:
                    await self._reconcile(stream_id)
                except Exception:
                    log.exception("bridges of stream %d could not be updated", stream_id)
            while self._outgoing:
                stream_id, message_id, author = self._outgoing.popleft()
                try:
                    await self._write_out(stream_id, message_id, author)
                except Exception:
                    log.exception("a message of stream %d could not be written out", stream_id)

    async def _write_out(self, stream_id: int, message_id: int, author: str) -> None:
        """A message posted in a bridged room, to each of its channels (read here) as ``<author> text``."""
        source = await self._service.room_bridges.message_source(message_id)
        if source is None:
            return
        text = "\n".join(f"<{author}> {line}" for line in source.splitlines() if line.strip())
        for key, runner in self._readers.items():
            if key[0] == stream_id:
                runner.write("text", text)

    async def _reconcile(self, stream_id: int) -> None:
        def read(tx: ReadTx) -> tuple[Stream | None, dict[int, NetworkAccount]]:
            stream = tx.stream(stream_id)
            if stream is None:
                return None, {}
            return stream, tx.network_accounts_by_id(tx.stream_account_ids(stream_id))

        stream, accounts = await self._service.context.store.read(read)
        live = stream is not None and stream.state.live
        wanted = {aid: acc for aid, acc in accounts.items() if acc.network in self._factories} if live else {}
        if stream is not None and is_room_bridge(stream):
            wanted = {aid: acc for aid, acc in wanted.items() if acc.network in ROOM_NETWORKS}
            await self._note_room(stream, wanted)
        else:
            for room_id in [r for r, s in self._rooms.items() if s == stream_id]:
                del self._rooms[room_id]
        for key in [k for k in self._readers if k[0] == stream_id]:
            if wanted.get(key[1]) != self._accounts[key]:
                await self._stop_reader(key)
        for key in [k for k in self._writers if k[0] == stream_id]:
            if wanted.get(key[1]) != self._accounts[key]:
                await self._stop_writer(key)
        for key in [k for k in self._wanted if k[0] == stream_id]:
            if key[1] not in wanted:
                del self._wanted[key]
        for account_id, account in wanted.items():
            key = (stream_id, account_id, account_id)
            self._wanted[key] = account
            if key not in self._readers and await self._service.streams.claim_bridge(
                _lease(key), self.node, LEASE_SECONDS
            ):
                await self._start_reader(key, account)

    async def _note_room(self, stream: Stream, wanted: Mapping[int, NetworkAccount]) -> None:
        if not wanted:
            self._rooms.pop(stream.room_id, None)
            return
        for account_id in wanted:
            if account_id not in self._relays:
                relay = await self._service.room_bridges.relay_user(account_id)
                if relay is not None:
                    self._relays[account_id] = relay.id
        self._rooms[stream.room_id] = stream.id

    def _room_of(self, stream_id: int) -> RoomId | None:
        return next((room for room, stream in self._rooms.items() if stream == stream_id), None)

    async def _start_reader(self, key: Key, account: NetworkAccount) -> None:
        if key in self._readers:
            return  # a renewal and a reconcile both won the lease while the other awaited the store
        try:
            self._readers[key] = self._launch(key, account, account, reader=True)
        except Exception as error:  # the account's settings do not make a bridge: say so, free the lease
            log.warning("no bridge for account %d on stream %d: %s", account.id, key[0], error)
            self._wanted.pop(key, None)
            await self._service.streams.release_bridge(_lease(key), self.node)

    async def renew(self) -> None:
        """Renew the leases of the readers running here (stopping those lost); claim the wanted ones."""
        for key, account in list(self._wanted.items()):
            held = await self._service.streams.claim_bridge(_lease(key), self.node, LEASE_SECONDS)
            if key not in self._wanted:
                continue  # the stream ended meanwhile
            if held and key not in self._readers:
                await self._start_reader(key, account)
            elif not held and key in self._readers:
                log.warning("bridge %s: another node holds its lease now; stopping it here", key)
                await self._stop_reader(key, release=False)

    def _launch(self, key: Key, account: NetworkAccount, target: NetworkAccount, *, reader: bool) -> BridgeRunner:
        bridge = self._factories[target.network](account, target)
        stream_id = key[0]
        room = self._room_of(stream_id) is not None
        if room and isinstance(bridge, IrcBridge):
            bridge.echo = False  # what a bridged room writes out is its own message already

        async def room_sink(line: IncomingLine) -> None:
            relay, room_id = self._relays.get(target.id), self._room_of(stream_id)
            if relay is not None and room_id is not None:
                await self._service.messages.post(relay, room_id, relay_text(line.kind, line.from_name, line.text))

        async def sink(line: IncomingLine) -> None:
            await self._service.stream_chat.from_network(
                stream_id,
                target.id,
                kind=line.kind,
                text=line.text,
                from_name=line.from_name,
                from_id=line.from_id,
                picture=line.picture,
            )

        async def viewcount(count: int) -> None:
            await self._service.stream_chat.report_viewcount(stream_id, target.id, count)

        runner = BridgeRunner(
            bridge,
            (room_sink if room else sink) if reader else None,
            name=f"{target.network}:{stream_id}:{target.id}:{account.id}",
            backoff=self._backoff,
            on_viewcount=None if room else viewcount,  # a bridged room has no viewers to count
            viewcount_every=self._viewcount_every,
        )
        self._accounts[key] = target
        runner.start()
        return runner

    async def _stop_reader(self, key: Key, *, release: bool = True) -> None:
        runner = self._readers.pop(key, None)
        if key not in self._writers:
            self._accounts.pop(key, None)
        if runner is not None:
            await runner.stop()
            if release:
                await self._service.streams.release_bridge(_lease(key), self.node)

    async def _stop_writer(self, key: Key) -> None:
        runner = self._writers.pop(key, None)
        if key not in self._readers:
            self._accounts.pop(key, None)
        if runner is not None:
            await runner.stop()

    # service.stream_chat.Writers

    def writer(self, stream: Stream, target: NetworkAccount, account: NetworkAccount) -> bool:
        key = (stream.id, target.id, account.id)
        if key in self._readers or key in self._writers:
            return True
        if not stream.state.live or target.network not in self._factories:
            return False  # nothing to write into
        try:
            self._writers[key] = self._launch(key, account, target, reader=False)
        except Exception as error:
            log.warning("no writer for account %d on stream %d: %s", account.id, stream.id, error)
            return False
        return True

    def write(self, request: WriteRequest) -> bool:
        key = (request.stream.id, request.target.id, request.account.id)
        runner = self._readers.get(key) or self._writers.get(key)
        return runner is not None and runner.write(request.kind, request.text)

    def ready(self, stream_id: int, account_id: int) -> bool:
        """Whether the account's reader here is connected; True where none runs here (a network hubbub
        does not bridge, an account without settings, or a reader another node holds the lease of),
        as multistreamer reported every attached account."""
        runner = self._readers.get((stream_id, account_id, account_id))
        return runner is None or runner.ready
