"""Direct messages over the comet dialect on several nodes: wake-ups, presence and buddy-list diffs
hold whichever node a request reaches (the store assigns the seqs, the bus wakes the polls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hubbub.app import open_bus, open_store
from hubbub.core.clock import SystemClock
from hubbub.core.ids import UserId
from hubbub.service.service import Service
from hubbub.settings import Settings
from tests.cluster.conftest import MakeCluster
from tests.cluster.harness import PASSWORD, Cluster
from tests.dialects.comet.driver import FacebookChat, parse_json
from tests.fakes import TIMEOUT


async def _link(cluster: Cluster, first: int, second: int) -> None:
    """What `hubbub contacts add` does, through a service of our own on the cluster's store and bus."""
    settings = Settings(database=cluster.database_url, bus=cluster.bus_url, redis_prefix=cluster.redis_prefix)
    store, bus = open_store(settings), await open_bus(settings)
    service = Service(store=store, bus=bus, clock=SystemClock(), settings=settings)
    try:
        await service.contacts.link(UserId(first), UserId(second))
    finally:
        service.close()
        await bus.close()
        await store.close()


@pytest.fixture
async def comet_cluster(make_cluster: MakeCluster) -> AsyncIterator[tuple[Cluster, FacebookChat, FacebookChat]]:
    cluster = make_cluster(2, comet_poll_timeout_min="20", comet_poll_timeout_max="20")
    (alice_id, alice_email), (bob_id, bob_email) = cluster.create_user("Alice"), cluster.create_user("Bob")
    await _link(cluster, alice_id, bob_id)
    alice = FacebookChat(cluster.nodes[0].base, alice_email, PASSWORD)
    bob = FacebookChat(cluster.nodes[1].base, bob_email, PASSWORD)
    for chat in (alice, bob):
        await chat.login()
    yield cluster, alice, bob
    await alice.close()
    await bob.close()


async def test_a_message_sent_on_one_node_wakes_a_poll_held_on_another(
    comet_cluster: tuple[Cluster, FacebookChat, FacebookChat],
) -> None:
    cluster, alice, bob = comet_cluster
    async with asyncio.timeout(TIMEOUT * 2):
        await bob.determine_initial_seq_number()
        held = asyncio.create_task(bob.wait_for_messages())  # on node 1
        await asyncio.sleep(0.2)
        assert (await alice.send_message(bob.uid, "across nodes"))["error"] == 0  # on node 0
        assert [m.text for m in await held] == ["across nodes"]
    # Either node replays the same entry, byte for byte.
    bodies = set()
    for node in cluster.nodes:
        bob.base = node.base
        bodies.add(await bob.get_body(0))
    assert len(bodies) == 1


async def test_presence_and_the_buddy_list_diff_hold_across_nodes(
    comet_cluster: tuple[Cluster, FacebookChat, FacebookChat],
) -> None:
    cluster, alice, bob = comet_cluster
    await bob.get_body(-1)  # bob is seen on node 1
    first = await alice.buddy_list_answer()  # node 0
    assert first["listChanged"] is True and str(bob.uid) in first["nowAvailableList"]
    alice.base = cluster.nodes[1].base
    second = await alice.buddy_list_answer()  # the same session on node 1: nothing changed
    assert second["listChanged"] is False and second["nowAvailableList"] == first["nowAvailableList"]
    assert parse_json(await bob.get_body(-1))["seq"] == 0
