"""Bad and hostile IRC clients: floods, a peer that stops reading, silence, junk bytes.

Each ends in a numeric error or a clean disconnect, and the other clients are served
throughout (their PING round trips are compared with the unloaded ones of the same test).
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import time

from hubbub.core.models import User
from tests.conftest import PASSWORD, Node, NodeFactory
from tests.dialects.irc.support import RawClient


async def _client(node: Node, user: User) -> RawClient:
    client = await RawClient.connect(node.runtime.irc_port)
    got = await client.login(user.name, PASSWORD)
    assert got[-1].command == "422"
    return client


async def _round_trip(client: RawClient, token: str) -> float:
    start = time.monotonic()
    client.send(f"PING :{token}")
    await client.until(lambda line: line.command == "PONG" and line.params[-1] == token)
    return time.monotonic() - start


async def test_ten_thousand_joins_end_in_excess_flood_and_others_are_served(make_node: NodeFactory) -> None:
    node = await make_node(irc_port=0)
    ann, bob = await node.user("Ann"), await node.user("Bob")
    await node.room("Sandbox")
    watcher = await _client(node, bob)
    baseline = [await _round_trip(watcher, f"b{i}") for i in range(20)]
    flooder = await _client(node, ann)
    flooder.send_bytes(b"".join(b"JOIN #room%d\r\n" % i for i in range(10_000)))
    during = [await _round_trip(watcher, f"d{i}") for i in range(20)]
    got = await flooder.closed()
    assert got[-1].command == "ERROR" and got[-1].params[-1] == "Closing link: Excess Flood"
    assert len(got) < 200  # answered what it could, then closed: no 10,000 replies queued
    allowance = 50 * statistics.median(baseline) + 0.5
    assert statistics.median(during) < allowance, (baseline, during)
    fresh = await _client(node, ann)  # the server still takes logins and JOINs
    fresh.send("JOIN #sandbox")
    assert (await fresh.until_command("366"))[-1].params[1] == "#sandbox"
    await watcher.close()
    await fresh.close()


async def test_a_peer_that_stops_reading_is_dropped_and_the_room_keeps_flowing(make_node: NodeFactory) -> None:
    node = await make_node(irc_port=0, irc_send_buffer_bytes=16 * 1024, irc_socket_send_buffer_bytes=4096)
    ann, bob, carol = await node.user("Ann"), await node.user("Bob"), await node.user("Carol")
    room = await node.room("Sandbox")
    reader = await _client(node, bob)
    reader.send("JOIN #sandbox")
    await reader.until_command("366")

    async def burst(count: int, tag: str) -> float:
        start = time.monotonic()
        for i in range(count):
            await node.service.messages.post(carol.id, room, f"{tag} {i} " + "x" * 400)
        await reader.until(lambda line: line.command == "PRIVMSG" and line.params[-1].startswith(f"{tag} {count - 1} "))
        return time.monotonic() - start

    unloaded = await burst(100, "base")
    # A client with a tiny receive window that never reads.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", node.runtime.irc_port))
    sock.sendall(f"PASS :{PASSWORD}\r\nNICK Ann\r\nUSER u 0 * :x\r\nJOIN #sandbox\r\n".encode())
    assert node.runtime.irc is not None
    server = node.runtime.irc
    for _ in range(500):
        if any(c.user is not None and c.user.id == ann.id and c.rooms for c in server._connections):
            break
        await asyncio.sleep(0.01)
    stalled = [c for c in server._connections if c.user is not None and c.user.id == ann.id]
    assert stalled and stalled[0].rooms
    loaded = await burst(300, "load")
    assert stalled[0].closed  # dropped once its unsent bytes passed the limit
    assert loaded < 50 * unloaded + 1.0, (unloaded, loaded)
    texts = [line.params[-1].split(" ")[:2] for line in reader.seen if line.command == "PRIVMSG"]
    assert texts == [["base", str(i)] for i in range(100)] + [["load", str(i)] for i in range(300)]  # all, in order
    sock.close()
    await reader.close()


async def test_silent_clients_are_pinged_then_closed(make_node: NodeFactory) -> None:
    node = await make_node(irc_port=0, irc_ping_interval=0.2, irc_registration_timeout=0.3)
    ann = await node.user("Ann")
    silent = await _client(node, ann)
    got = await silent.closed()
    assert [line.command for line in got] == ["PING", "ERROR"] and got[-1].params[-1].startswith("Closing link: Ping")
    answering = await _client(node, ann)
    for _ in range(3):
        ping = (await answering.until_command("PING"))[-1]
        answering.send(f"PONG :{ping.params[-1]}")
    assert not answering.reader.at_eof()
    unregistered = await RawClient.connect(node.runtime.irc_port)
    got = await unregistered.closed()
    assert got[-1].params[-1] == "Closing link: registration timed out"
    await answering.close()


async def test_junk_bytes_never_break_the_server(make_node: NodeFactory) -> None:
    node = await make_node(irc_port=0)
    ann = await node.user("Ann")
    client = await _client(node, ann)
    junk = [os.urandom(300) for _ in range(20)] + [b"\xff\xfe\r\n", b"@" * 9000 + b"\r\n", b":x\r\n", b"\x00\x01\r\n"]
    for blob in junk:
        client.send_bytes(blob.replace(b"QUIT", b"quit"))
    client.send_bytes(b"\r\nPING :alive\r\n")
    await client.until(lambda line: line.command == "PONG" and line.params[-1] == "alive")
    await client.close()
