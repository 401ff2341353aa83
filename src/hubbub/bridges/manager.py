"""Which bridges run: one reader per account of every live stream, writers on request.

multistreamer's chat manager started one reader and writer per stream account when a
stream went live and stopped them when it ended (streams.md §B.5); the manager does
the same from the log: it is a hub ``Fanout`` that writes nothing, and on every
``STREAM_CHANGED``/``STREAM_DELETED`` it reconciles the runners with what the store
says. It is also the stream chat's ``Writers``: a ``writer`` request for an account
other than the stream's own makes a write-only runner (no reader, so its lines are
not read twice), and a line for a network goes to the runner keyed
``(stream, target account, from account)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final

from hubbub.bridges.base import Backoff, Bridge, BridgeRunner, IncomingLine
from hubbub.bridges.hubbub import HubbubBridge, HubbubSettings
from hubbub.bridges.irc import IrcBridge, irc_bridge
from hubbub.core.events import EventType
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


def _hubbub(account: NetworkAccount, target: NetworkAccount) -> Bridge:
    own = json.loads(account.settings)
    channel = json.loads(target.settings)
    # The target's room and server, the from account's credentials.
    merged = {**own, "base_url": channel.get("base_url", ""), "room_id": channel.get("room_id", "")}
    return HubbubBridge(HubbubSettings(merged))


NETWORK_BRIDGES: Final[Mapping[str, BridgeFactory]] = {"hubbub": _hubbub, "irc": irc_bridge, "twitch": irc_bridge}

_STREAM_EVENTS: Final = frozenset({EventType.STREAM_CHANGED, EventType.STREAM_DELETED})
OUTGOING: Final = 1024  # room messages waiting to be written to bridged channels; the oldest go first
Key = tuple[int, int, int]  # (stream id, target account id, from account id)


class BridgeManager:
    def __init__(
        self,
        service: Service,
        *,
        factories: Mapping[str, BridgeFactory] = NETWORK_BRIDGES,
        backoff: Backoff | None = None,
    ) -> None:
        self._service = service
        self._factories = factories
        self._backoff = backoff
        self._runners: dict[Key, BridgeRunner] = {}
        self._accounts: dict[Key, tuple[NetworkAccount, NetworkAccount]] = {}
        self._pending: set[int] = set()
        # Bridged ordinary rooms (service/room_bridges.py): room -> its stream, the relay users
        # that post what the channels say (never written back out), and messages to write out.
        self._rooms: dict[RoomId, int] = {}
        self._relays: dict[int, UserId] = {}  # account id -> its relay user
        self._outgoing: deque[tuple[int, int, str]] = deque(maxlen=OUTGOING)  # (stream, message, author)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def runners(self) -> dict[Key, BridgeRunner]:
        return dict(self._runners)

    async def start(self) -> None:
        """Start the readers of the streams live now, then follow the log."""
        streams = await self._service.context.store.read(lambda tx: tx.list_streams())
        self._pending.update(s.id for s in streams if s.state.live)
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="hubbub-bridges")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for key in list(self._runners):
            await self._stop(key)

    def deliver(self, batch: Batch) -> int:
        """Hub ``Fanout``: note the streams whose bridges may have to change, and the messages posted in
        bridged rooms (by anyone but a relay user) to write out."""
        for event in batch:
            if event.type in _STREAM_EVENTS and event.data:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self._pending.add(int(json.loads(event.data)["id"]))
                    self._wake.set()
            elif event.type is EventType.MESSAGE_POSTED and event.room_id in self._rooms:
                relays = self._relays.values()
                if event.message_id is not None and event.user_id not in relays:
                    stream_id = self._rooms[event.room_id]
                    self._outgoing.append((stream_id, int(event.message_id), event.user_name or "?"))
                    self._wake.set()
        return 0

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
        """A message posted in a bridged room, to each of its channels as ``<author> text``."""
        source = await self._service.room_bridges.message_source(message_id)
        if source is None:
            return
        readers = [r for k, r in self._runners.items() if k[0] == stream_id and k[1] == k[2]]
        for runner in readers:
            runner.write("text", "\n".join(f"<{author}> {line}" for line in source.splitlines() if line.strip()))

    async def _reconcile(self, stream_id: int) -> None:
        def read(tx: ReadTx) -> tuple[Stream | None, dict[int, NetworkAccount]]:
            stream = tx.stream(stream_id)
            if stream is None:
                return None, {}
            return stream, tx.network_accounts_by_id(tx.stream_account_ids(stream_id))

        stream, accounts = await self._service.context.store.read(read)
        live = stream is not None and stream.state.live
        room = stream is not None and is_room_bridge(stream)
        wanted = {aid: acc for aid, acc in accounts.items() if acc.network in self._factories} if live else {}
        if room and stream is not None:
            wanted = {aid: acc for aid, acc in wanted.items() if acc.network in ROOM_NETWORKS}
            await self._note_room(stream, wanted)
        else:
            for room_id in [r for r, s in self._rooms.items() if s == stream_id]:
                del self._rooms[room_id]
        for key in [k for k in self._runners if k[0] == stream_id]:
            target = wanted.get(key[1])
            if target is None or self._accounts[key][1] != target:
                await self._stop(key)
        for account_id, account in wanted.items():
            key = (stream_id, account_id, account_id)
            if key not in self._runners:
                self._launch(key, account, account, reader=True, room=room)

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

    def _launch(
        self, key: Key, account: NetworkAccount, target: NetworkAccount, *, reader: bool, room: bool = False
    ) -> BridgeRunner | None:
        factory = self._factories.get(target.network)
        if factory is None:
            return None
        try:
            bridge = factory(account, target)
        except Exception as error:
            log.warning("no bridge for account %d on stream %d: %s", account.id, key[0], error)
            return None
        stream_id = key[0]
        if room and isinstance(bridge, IrcBridge):
            bridge.echo = False  # what a bridged room writes out is its own message already

        async def room_sink(line: IncomingLine) -> None:
            relay = self._relays.get(target.id)
            room_id = next((r for r, s in self._rooms.items() if s == stream_id), None)
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

        runner = BridgeRunner(
            bridge,
            (room_sink if room else sink) if reader else None,
            name=f"{target.network}:{stream_id}:{target.id}:{account.id}",
            backoff=self._backoff,
        )
        self._runners[key] = runner
        self._accounts[key] = (account, target)
        runner.start()
        return runner

    async def _stop(self, key: Key) -> None:
        runner = self._runners.pop(key, None)
        self._accounts.pop(key, None)
        if runner is not None:
            await runner.stop()

    # service.stream_chat.Writers

    def writer(self, stream: Stream, target: NetworkAccount, account: NetworkAccount) -> bool:
        key = (stream.id, target.id, account.id)
        if key in self._runners:
            return True
        if (stream.id, target.id, target.id) not in self._runners:
            return False  # the stream is not live (or its network has no bridge): nothing to write into
        return self._launch(key, account, target, reader=False) is not None

    def write(self, request: WriteRequest) -> bool:
        runner = self._runners.get((request.stream.id, request.target.id, request.account.id))
        if runner is None:
            return False
        return runner.write(request.kind, request.text)

    def ready(self, stream_id: int, account_id: int) -> bool:
        """Whether the account's reader is connected; True where none runs (a network hubbub does not
        bridge, or an account without settings), as multistreamer reported every attached account."""
        runner = self._runners.get((stream_id, account_id, account_id))
        return runner is None or runner.ready
