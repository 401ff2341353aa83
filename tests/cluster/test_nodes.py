"""Several ``hubbub serve`` nodes behind nginx behave as one server.

Each test starts its own cluster (nodes sharing one database and one Redis under a
prefix of their own, nginx in front) and talks to it through nginx, or to one node
directly where the test is about which node serves what.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import aiohttp

from tests.cluster.clients import ChatUser, receive_until
from tests.cluster.conftest import MakeCluster, sign_in
from tests.cluster.harness import Cluster


def on_node(url: str, cluster: Cluster, index: int) -> str:
    """A socket URL nginx handed out, pointed at one node's gateway instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{cluster.nodes[index].ws_port}"))


async def test_a_message_posted_on_one_node_reaches_sockets_and_polls_on_every_node_in_order(
    shared_cluster: Cluster, users: list[ChatUser]
) -> None:
    cluster = shared_cluster
    room = cluster.create_room("Everywhere")
    alice = await sign_in(cluster, users, "Alice")
    bob = await sign_in(cluster, users, "Bob")
    sockets = [await bob.session.ws_connect(on_node(await bob.socket_url(room), cluster, i)) for i in range(3)]
    sockets.append(await bob.session.ws_connect(await bob.socket_url(room)))  # and one through nginx
    sent = []
    for n in range(30):
        posted = await alice.on(cluster.nodes[n % 3].base).post(room, f"message {n}")
        assert posted is not None
        sent.append(posted)
    for ws in sockets:
        assert await receive_until(ws, room, set(sent)) == sent
        await ws.close()
    for node in cluster.nodes:
        ids, _ = await bob.on(node.base).poll(room, 0)
        assert ids == sent
    ids, _ = await bob.poll(room, 0)  # through nginx
    assert ids == sent


async def test_a_client_reconnecting_to_another_node_resumes_with_no_gap_and_no_duplicate(
    shared_cluster: Cluster, users: list[ChatUser]
) -> None:
    cluster = shared_cluster
    room = cluster.create_room("Resume")
    alice = await sign_in(cluster, users, "Alice")
    bob = await sign_in(cluster, users, "Bob")
    first = [await alice.on(cluster.nodes[1].base).post(room, f"before {n}") for n in range(5)]
    ws = await bob.session.ws_connect(on_node(await bob.socket_url(room), cluster, 0) + "?l=1")
    seen = await receive_until(ws, room, {i for i in first if i})
    await ws.close()
    _, cursor = await bob.on(cluster.nodes[0].base).poll(room, 0)
    later = [await alice.on(cluster.nodes[1].base).post(room, f"while away {n}") for n in range(5)]
    ws = await bob.session.ws_connect(on_node(await bob.socket_url(room), cluster, 2) + f"?l={cursor}")
    seen += await receive_until(ws, room, {i for i in later if i})
    await ws.close()
    assert seen == first + later


async def test_socket_urls_sessions_fkeys_and_presence_hold_across_nodes(
    shared_cluster: Cluster, users: list[ChatUser]
) -> None:
    cluster = shared_cluster
    room = cluster.create_room("Shared state")
    bob = await sign_in(cluster, users, "Bob")
    on_a, on_b = bob.on(cluster.nodes[0].base), bob.on(cluster.nodes[1].base)
    url = await on_a.socket_url(room)  # issued by node A ...
    async with bob.session.ws_connect(on_node(url, cluster, 1)) as ws:  # ... opened on node B
        posted = await on_b.post(room, "the session and fkey node A issued, used on node B")
        assert posted is not None
        assert await receive_until(ws, room, {posted}) == [posted]
    # Presence: Bob entered the room through node A; node B lists him among the pingable.
    pingable = await (await bob.session.get(f"{cluster.nodes[1].base}/rooms/pingable/{room}")).json()
    assert [entry[1] for entry in pingable] == ["Bob"]


async def test_rate_limits_login_throttling_and_kicks_hold_across_nodes(
    make_cluster: MakeCluster, users: list[ChatUser]
) -> None:
    cluster = make_cluster(2, message_rate_burst="3", message_rate_per_second="0.01", login_attempts_per_minute="3")
    room = cluster.create_room("Limits")
    owner = await sign_in(cluster, users, "Owner", moderator=True)
    bob = await sign_in(cluster, users, "Bob")
    a, b = (bob.on(node.base) for node in cluster.nodes)
    assert [await a.post(room, "1"), await b.post(room, "2"), await a.post(room, "3")] != [None] * 3
    refused = await b.form(f"/chats/{room}/messages/new", text="4")
    assert refused.status == 409  # node B counted the posts node A took
    assert "You can perform this action again in" in await refused.text()

    async with aiohttp.ClientSession() as guesser:
        answers = []
        for attempt in range(4):
            node = cluster.nodes[attempt % 2]
            response = await guesser.post(
                node.base + "/users/login",
                data={"email": bob.email, "password": "not the password"},
                allow_redirects=False,
            )
            answers.append("You can perform this action again in" in await response.text())
        assert answers == [False, False, False, True]

    bob_id = _user_id(cluster, "Bob")
    kicked = await owner.on(cluster.nodes[0].base).form(f"/rooms/kickmute/{room}", userId=bob_id)
    assert kicked.status == 200, await kicked.text()
    refused = await b.form("/ws-auth", roomid=room)  # node B knows of node A's kick
    assert refused.status == 403


def _user_id(cluster: Cluster, name: str) -> int:
    for line in cluster.cli("users", "list").splitlines():
        user_id, user_name, *_ = line.split("\t")
        if user_name == name:
            return int(user_id)
    raise AssertionError(f"no user {name}")
