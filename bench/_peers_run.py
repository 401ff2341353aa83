"""bench/peers.py's workloads, one function per system and workload, all measured by the same code.

Posting: post_messages.py's ``run_phase`` (workers each waiting for an answer) for hubbub and
Synapse from this process; socket.io's posters run the same loop in a Node process, which
times it itself. Fan-out: fanout.py's ``_connect_and_warm`` and ``_measure_all`` for every
system, with fanout.py's picows client process (hubbub, bare picows), the /sync client process
(Synapse) or a Node client process (socket.io) holding the receivers.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

import fanout
import post_messages
from _common import ChatClient, HubbubServer, bench_env, cpu_seconds_of, pin_process, rss_kib_of
from _peers_env import PeerUnavailable, Processes
from _socketio import NodeClients, SocketIoServer
from _synapse import Synapse, sync_client_process
from fanout import Result

__all__ = ["Posting", "fanout_all", "fanout_hubbub_setup", "posting_hubbub", "posting_peer"]

_HUBBUB_LIMITS = {"message_rate_burst": 10**9, "message_rate_per_second": 10**9}


def _hubbub_version() -> str:
    """The commit measured (with + when the work tree has changes), for the tables' version column."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty=+"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "this tree"
    return commit.stdout.strip() or "this tree"


HUBBUB_VERSION = _hubbub_version()


@dataclass
class Posting:
    """One system's posting phase, or why it has none."""

    system: str
    version: str
    phase: post_messages.Phase | None
    total: int
    failure: str = ""


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(count)]


def _text(kind: str, j: int, index: int, tag: str) -> str:
    """The posting workload's texts: post_messages.py's, for every system."""
    return f"{kind} message {j} from client {index}, run {tag}: the quick brown fox jumps over the lazy dog"


async def posting_hubbub(args: argparse.Namespace, run_dir: Path) -> Posting:
    per = args.messages // args.users
    server = HubbubServer(run_dir / "hubbub-posting", bench_env(**_HUBBUB_LIMITS))
    names = _names("poster", args.users)
    clients: list[ChatClient] = []
    print("# posting: hubbub", flush=True)
    try:
        await asyncio.to_thread(server.create_users, names)
        room = await asyncio.to_thread(server.create_room, "bench-posts")
        await asyncio.to_thread(server.start)
        if args.server_cpus:
            pin_process(server.pid, args.server_cpus)
        clients = [ChatClient(server.base_url, limit=2) for _ in names]
        await asyncio.gather(*(c.login(f"{name}@bench.invalid") for c, name in zip(clients, names, strict=True)))
        tag = f"{time.time_ns() % 10**9:09d}"

        async def post(index: int, j: int, kind: str = "bench") -> str | None:
            status, body = await clients[index].post_message(room, _text(kind, j, index, tag))
            ok = status == 200 and isinstance(body, dict) and body.get("id") is not None
            return None if ok else f"HTTP {status}"

        for j in range(args.warmup):
            await asyncio.gather(*(post(i, j, "warm-up") for i in range(len(clients))))
        phase = await post_messages.run_phase("hubbub", server, len(clients), per, post, args.timeout)
        return Posting("hubbub", HUBBUB_VERSION, phase, per * args.users)
    except (RuntimeError, OSError, TimeoutError) as error:
        return Posting("hubbub", HUBBUB_VERSION, None, per * args.users, f"{type(error).__name__}: {error}")
    finally:
        for client in clients:
            await client.close()
        server.stop()


async def posting_peer(args: argparse.Namespace, peer: Any, run_dir: Path, processes: Processes) -> Posting:
    per = args.messages // args.users
    if isinstance(peer, str):
        return Posting(peer.split(" ", 1)[0], "-", None, per * args.users, peer)
    print(f"# posting: {peer.name}", flush=True)
    try:
        await asyncio.to_thread(peer.start, args.server_cpus)
        if isinstance(peer, Synapse):
            phase = await _posting_synapse(args, peer, per)
        else:
            phase = await _posting_socketio(args, peer, per, run_dir, processes)
        return Posting(peer.name, peer.version, phase, per * args.users)
    except (PeerUnavailable, RuntimeError, OSError, TimeoutError) as error:
        tail = peer.log_tail(8)
        return Posting(peer.name, peer.version, None, per * args.users, f"{error}\n{tail}".strip())
    finally:
        peer.stop()


async def _posting_synapse(args: argparse.Namespace, synapse: Synapse, per: int) -> post_messages.Phase:
    names = _names("poster", args.users)
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) for _ in names]
    try:
        if not synapse.room_id:
            await synapse.set_up(sessions[0], names, _names("listener", args.listeners))
        tag = f"{time.time_ns() % 10**9:09d}"

        async def post(index: int, j: int, kind: str = "bench") -> str | None:
            await synapse.send(sessions[index], names[index], _text(kind, j, index, tag), f"{kind[0]}{tag}-{index}-{j}")
            return None

        for j in range(args.warmup):
            await asyncio.gather(*(post(i, j, "warm-up") for i in range(len(names))))
        return await post_messages.run_phase("Synapse", synapse, len(names), per, post, args.timeout)
    finally:
        for session in sessions:
            await session.close()


async def _posting_socketio(
    args: argparse.Namespace, server: SocketIoServer, per: int, run_dir: Path, processes: Processes
) -> post_messages.Phase:
    posters = await NodeClients.start(
        "socket.io posters", server.install_dir, processes, run_dir / "io-posters.log", args.client_cpus
    )
    try:
        answer = await posters.call("posters", 90, url=server.url, count=args.users, timeout=60)
        if answer["connected"] < args.users:
            raise RuntimeError(f"only {answer['connected']}/{args.users} posters connected: {answer['errors']}")
        tag = f"{time.time_ns() % 10**9:09d}"
        await posters.call("post_loop", args.timeout, per_client=args.warmup, kind="warm-up", tag=tag, timeout=30)
        cpu0 = cpu_seconds_of(server.pid), cpu_seconds_of(posters.pid)
        answer = await posters.call("post_loop", args.timeout, per_client=per, kind="bench", tag=tag, timeout=30)
        cpu1 = cpu_seconds_of(server.pid), cpu_seconds_of(posters.pid)
    finally:
        await fanout._close_client(posters)
    phase = post_messages.Phase("socket.io", latencies=sorted(answer["latencies"]), errors=answer["errors"])
    phase.seconds = answer["seconds"]
    phase.server_cpu, phase.client_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    return phase


# ----------------------------------------------------------------------------------------------
# Fan-out


def fanout_hubbub_setup(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """fanout.py's set-up: a data directory with a poster, the listener users and a room."""
    data_dir = run_dir / "hubbub-fanout"
    env = bench_env(
        **_HUBBUB_LIMITS,
        ws_max_connections_per_ip=10**6,
        ws_token_ttl_seconds=24 * 3600,
        ws_tokens_per_user=10**6,
    )
    names = ["poster", *(f"listener{i:02d}" for i in range(args.listeners))]
    server = HubbubServer(data_dir, env)
    server.create_users(names)
    return {
        "data_dir": data_dir,
        "env": env,
        "room": server.create_room("bench-fanout"),
        "poster": "poster@bench.invalid",
        "listeners": [f"{name}@bench.invalid" for name in names[1:]],
    }


async def fanout_all(
    args: argparse.Namespace, n: int, setup: dict[str, Any], peers: dict[str, Any], run_dir: Path, processes: Processes
) -> list[tuple[str, Result]]:
    """Every system at size ``n``, one after the other: (version, result) per system, hubbub first."""
    results = []
    print("# fan-out: hubbub", flush=True)
    hub = await fanout._bounded(
        fanout.run_hubbub(args, setup["data_dir"], setup["env"], setup), args, Result("hubbub", n)
    )
    results.append((HUBBUB_VERSION, hub))
    print("# fan-out: bare picows", flush=True)
    if hub.template is None:
        ref = Result("bare picows", n, notes=["no hubbub frame captured, so the reference has none to send"])
    else:
        ref = await fanout._bounded(fanout.run_reference(args, hub.template), args, Result("reference", n))
        ref.server = "bare picows"
    results.append(("picows", ref))
    for name in args.peers:
        peer = peers[name]
        if isinstance(peer, str):
            results.append(("-", Result(peer.split(" ", 1)[0], n, notes=[peer])))
            continue
        print(f"# fan-out: {peer.name}", flush=True)
        if isinstance(peer, Synapse):
            # Synapse answers receivers' /syncs one by one (a few thousand a second): N/20 s more
            # to start them and to deliver each phase, else N = 5000 could not finish.
            extra = {"connect_timeout": args.connect_timeout + n / 20, "run_timeout": args.run_timeout + n / 20}
            own = argparse.Namespace(**{**vars(args), **extra})
            run = _fanout_synapse(own, peer, processes)
        else:
            own, run = args, _fanout_socketio(args, peer, run_dir, processes)
        results.append((peer.version, await fanout._bounded(run, own, Result(peer.name, n))))
    return results


async def _fanout_synapse(args: argparse.Namespace, synapse: Synapse, processes: Processes) -> Result:
    result = Result(synapse.name, args.n)
    client: fanout.Child | None = None
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
    try:
        await asyncio.to_thread(synapse.start, args.server_cpus)
        if not synapse.room_id:
            await synapse.set_up(session, _names("poster", args.users), _names("listener", args.listeners))
        urls = await synapse.receiver_urls(session, _names("listener", args.listeners), args.n, args.posts + 20)
        tag = f"{time.time_ns() % 10**9:09d}"

        async def post(seq: int) -> None:
            await synapse.send(session, "poster000", fanout._message(seq, tag), f"f{tag}-{seq}")

        await post(fanout.WARM_SEQ - 1)
        await asyncio.sleep(0.5)
        rss0 = rss_kib_of(synapse.pid)
        client = fanout.Child(sync_client_process, args.client_cpus)
        if await fanout._connect_and_warm(result, client, urls, args, post, synapse.pid, rss0):
            await fanout._measure_all(result, client, synapse.pid, args, post)
    except (PeerUnavailable, TimeoutError, RuntimeError, OSError) as error:
        result.notes.append(f"aborted: {type(error).__name__}: {error}\n{synapse.log_tail(8)}".strip())
    finally:
        await fanout._close_client(client)
        await session.close()
        synapse.stop()
    return result


async def _fanout_socketio(
    args: argparse.Namespace, server: SocketIoServer, run_dir: Path, processes: Processes
) -> Result:
    result = Result(server.name, args.n)
    receivers: NodeClients | None = None
    poster: NodeClients | None = None
    try:
        await asyncio.to_thread(server.start, args.server_cpus)
        logs = run_dir / "io-receivers.log", run_dir / "io-poster.log"
        poster = await NodeClients.start("socket.io poster", server.install_dir, processes, logs[1], args.client_cpus)
        answer = await poster.call("posters", 60, url=server.url, count=1, timeout=30)
        if answer["connected"] != 1:
            raise RuntimeError(f"the poster did not connect: {answer['errors']}")
        tag = f"{time.time_ns() % 10**9:09d}"

        async def post(seq: int) -> None:
            assert poster is not None
            poster.send("post", text=fanout._message(seq, tag))

        await asyncio.sleep(0.5)
        rss0 = rss_kib_of(server.pid)
        receivers = await NodeClients.start(
            "socket.io receivers", server.install_dir, processes, logs[0], args.client_cpus
        )
        if await fanout._connect_and_warm(result, receivers, [server.url], args, post, server.pid, rss0):
            await fanout._measure_all(result, receivers, server.pid, args, post)
        acks = await poster.call("acks", 30)
        if acks["failed"]:
            result.notes.append(f"{acks['failed']} posts not acknowledged, first: {acks['firstError']}")
    except (PeerUnavailable, TimeoutError, RuntimeError, OSError) as error:
        result.notes.append(f"aborted: {type(error).__name__}: {error}\n{server.log_tail(8)}".strip())
    finally:
        await fanout._close_client(receivers)
        await fanout._close_client(poster)
        server.stop()
    return result
