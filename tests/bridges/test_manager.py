"""BridgeManager: one reader per stream account in a whole cluster (leases), writers where asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hubbub.bridges.base import Backoff, Bridge, IncomingLine
from hubbub.bridges.manager import LEASE_SECONDS, BridgeManager
from hubbub.core.streams import NetworkAccount
from hubbub.service.stream_chat import WriteRequest
from tests.conftest import Node
from tests.fakes import TIMEOUT, eventually


class QuietBridge:
    """Connects, reads nothing, records what it writes."""

    def __init__(self, opened: list[QuietBridge]) -> None:
        self.written: list[str] = []
        self.closed = False
        opened.append(self)

    async def connect(self) -> None:
        self.closed = False

    async def lines(self) -> AsyncIterator[IncomingLine]:
        await asyncio.Event().wait()
        yield IncomingLine(kind="text", text="", from_name="", from_id=0)  # never reached

    async def write(self, kind: str, text: str) -> None:
        self.written.append(text)

    async def viewer_count(self) -> int | None:
        return None

    async def close(self) -> None:
        self.closed = True


async def test_one_reader_per_account_across_nodes_and_failover(node: Node) -> None:
    opened: list[QuietBridge] = []

    def factory(account: NetworkAccount, target: NetworkAccount) -> Bridge:
        return QuietBridge(opened)

    service = node.service
    owner = await node.user("John")
    account = await service.network_accounts.create_account(owner.id, network="hubbub", name="room")
    stream = await service.streams.create_stream(owner.id, "Show", account_ids=[account.id])
    # Two more "nodes" over the same store (the node's own manager is not told about this stream's network).
    first = BridgeManager(service, factories={"hubbub": factory}, backoff=Backoff(first=0.01))
    second = BridgeManager(service, factories={"hubbub": factory}, backoff=Backoff(first=0.01))
    runtime_bridges = node.runtime.bridges
    assert runtime_bridges is not None
    await runtime_bridges.stop()  # the node's own manager would take the lease first; this test plays the nodes
    await service.streams.set_live(owner.id, stream.id, data_pushing=True)
    hub = node.runtime.hub
    assert hub is not None
    for manager in (first, second):
        hub.add_fanout(manager)
        await manager.start()
    await eventually(lambda: len(first.runners) + len(second.runners) == 1)
    # Both nodes have seen the stream go live (the one without the lease waits for it).
    await eventually(lambda: len(first.wanted) == len(second.wanted) == 1)
    holder, other = (first, second) if first.runners else (second, first)
    await other.renew()
    assert not other.runners  # the lease is held

    # The holder goes away without a word (no release); the lease lapses; the other takes over.
    for task in holder._tasks:
        task.cancel()
    for runner in holder.runners.values():
        await runner.stop()
    node.clock.advance(LEASE_SECONDS + 1)
    await other.renew()
    assert len(other.runners) == 1

    # Writing from a node that runs no reader: a writer there, and the line goes through it.
    third = BridgeManager(service, factories={"hubbub": factory}, backoff=Backoff(first=0.01))
    live = await service.context.store.read(lambda tx: tx.stream(stream.id))
    assert live is not None
    assert third.writer(live, account, account) is True
    [writer] = third.writers.values()
    assert await writer.wait_ready(TIMEOUT)
    me = await service.context.store.read(lambda tx: tx.user(owner.id))
    assert me is not None
    assert third.write(WriteRequest(stream=live, target=account, account=account, kind="text", text="hi", sender=me))
    await eventually(lambda: any(bridge.written == ["hi"] for bridge in opened))
    await third.stop()

    # The stream ends: readers and writers stop, the lease is given back.
    await service.streams.set_live(owner.id, stream.id, data_pushing=False)
    await eventually(lambda: not other.runners)
    await other.stop()
    await holder.stop()
    assert await service.streams.claim_bridge(f"bridge:{stream.id}:{account.id}", "someone", 30)
