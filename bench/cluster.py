"""Several nodes: posting per store engine, fan-out split over two nodes, cross-node latency.

Printed side by side in one run, each against a reference measured in the same run:

1. **posts/s by store**: one node per engine (SQLite file; PostgreSQL when
   ``--postgres`` names a server and this build has the engine), 16 signed-in
   posters (``--posters``) posting ``--posts`` messages in all through the real HTTP
   stack, each waiting for its answer; ``--rounds`` rounds, the two nodes taking turns,
   so that a slow minute of a shared machine falls on both. Ratio: PostgreSQL / SQLite,
   round by round and their median (target >= 0.8).
2. **fan-out to N sockets** (``--sockets``, default 2000): one poster on node A; the
   sockets all on A of a single node (in-process bus), versus split over nodes A and B
   of a two-node cluster (shared SQLite file, Redis bus). Deliveries/s at saturation
   (``--fanout-posts`` posts offered faster than either can deliver) and the ratio.
3. **post -> receive latency**: one poster on node A, ``--listeners`` sockets on node B
   of the cluster, versus the same sockets on the single node; posts paced at
   ``--latency-rate`` per second; p50/p99 over every delivery. Target: cross-node p99
   <= 2 x single-node p99.

Sockets live in a separate picows client process (``bench/fanout.py``'s), times come
from CLOCK_MONOTONIC in both processes (``_common.CLOCK``). Redis is the server at
``--redis`` under a prefix of this run's own, deleted at the end.

    .venv/bin/python bench/cluster.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from _common import (
    ChatClient,
    HubbubServer,
    bench_env,
    cpu_seconds_of,
    fmt_ms,
    fmt_rate,
    percentile,
    print_table,
    raise_nofile_limit,
)
from fanout import WARM_SEQ, Child, Phase, Result, _close_client, _connect_and_warm, _measure, _message, client_process

LISTENERS = 8  # users whose /ws-auth URLs the sockets use


# ----------------------------------------------------------------------------------------------
# Nodes


def start_nodes(directory: Path, count: int, **settings: object) -> list[HubbubServer]:
    """``count`` nodes sharing the settings (database, bus); each with its own data directory."""
    env = bench_env(
        message_rate_burst=10_000_000,
        message_rate_per_second=10_000_000,
        ws_max_connections_per_ip=1_000_000,
        ws_token_ttl_seconds=3600,
        ws_tokens_per_user=1_000_000,  # every socket opens a URL of its own, asked for up front
        duplicate_window_seconds=0,
        **settings,
    )
    nodes = [HubbubServer(directory / f"node{i}", env) for i in range(count)]
    for node in nodes:
        node.start()
    return nodes


@contextlib.contextmanager
def running(nodes: list[HubbubServer]) -> Iterator[list[HubbubServer]]:
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def signed_in(base: str, names: Sequence[str], *, limit: int = 8) -> list[ChatClient]:
    clients = [ChatClient(base, limit=limit) for _ in names]
    await asyncio.gather(*(c.login(f"{name}@bench.invalid") for c, name in zip(clients, names, strict=True)))
    return clients


def on_port(url: str, port: int) -> str:
    scheme, rest = url.split("://", 1)
    path = rest.split("/", 1)[1]
    return f"{scheme}://127.0.0.1:{port}/{path}"


# ----------------------------------------------------------------------------------------------
# 1. posts/s per store engine


async def posting_clients(node: HubbubServer, args: argparse.Namespace) -> tuple[list[ChatClient], int]:
    """``--posters`` users signed in on ``node``, and the room they post to, every session warmed once."""
    names = [f"poster{i}" for i in range(args.posters)]
    node.create_users(names, parallel=4)
    room = node.create_room("Posting")
    clients = await signed_in(node.base_url, names)
    for client in clients:  # warm every session (and the node's caches) once
        await client.post_message(room, f"warm-up {id(client)}")
    return clients, room


async def posts_per_second(
    node: HubbubServer, clients: list[ChatClient], room: int, args: argparse.Namespace, round_number: int
) -> dict[str, float]:
    """One round: every client posts its share of ``--posts``, each waiting for its answer."""
    latencies: list[float] = []
    failures = 0
    each = args.posts // args.posters

    async def post_all(client: ChatClient, index: int) -> None:
        nonlocal failures
        for n in range(each):
            began = time.perf_counter()
            status, body = await client.post_message(room, f"poster {index} round {round_number} message {n}")
            latencies.append(time.perf_counter() - began)
            if status != 200 or not isinstance(body, dict) or not body.get("id"):
                failures += 1

    cpu_before = (cpu_seconds_of(node.pid), database_cpu_seconds(), client_cpu_seconds())
    began = time.perf_counter()
    await asyncio.gather(*(post_all(c, i) for i, c in enumerate(clients)))
    seconds = time.perf_counter() - began
    cpu_after = (cpu_seconds_of(node.pid), database_cpu_seconds(), client_cpu_seconds())
    latencies.sort()
    posts = each * len(clients)
    server_cpu, database_cpu, client_cpu = (
        (after - before) / posts * 1e6 for before, after in zip(cpu_before, cpu_after, strict=True)
    )
    return {
        "posts": posts,
        "rate": posts / seconds,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "failures": failures,
        "server_cpu": server_cpu,
        "database_cpu": database_cpu,
        "client_cpu": client_cpu,
    }


def database_cpu_seconds() -> float:
    """CPU seconds used so far by every PostgreSQL server process on this machine (0 where none runs).

    The server is shared, so this counts whatever else it serves meanwhile: run the bench on a
    quiet server.
    """
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text(encoding="ascii").strip() == "postgres":
                total += cpu_seconds_of(int(entry.name))
    return total


def client_cpu_seconds() -> float:
    """CPU seconds this bench process (the posters) has used so far."""
    times = os.times()
    return times.user + times.system


def postgres_database(admin_url: str) -> tuple[str, Any] | None:
    """A fresh database on the server at ``admin_url`` and a function that drops it; None without psycopg."""
    try:
        import psycopg
    except ImportError:
        return None
    name = f"hubbub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


Posting = list[tuple[str, list[dict[str, float]] | str]]  # per engine: its rounds, or why it has none


async def phase_posting(directory: Path, args: argparse.Namespace) -> Posting:
    """``--rounds`` rounds on each engine's node, the engines taking turns (and the first turn):
    a machine that slows down for a while slows both, and the ratio is taken round by round."""
    engines: list[tuple[str, HubbubServer]] = []
    skipped: Posting = []
    with contextlib.ExitStack() as stack:
        (sqlite_node,) = stack.enter_context(running(start_nodes(directory / "sqlite", 1)))
        engines.append(("sqlite", sqlite_node))
        made = postgres_database(args.postgres) if args.postgres else None
        if not args.postgres:
            skipped.append(("postgresql", "skipped (no --postgres)"))
        elif made is None:
            skipped.append(("postgresql", "skipped (psycopg not installed: pip install 'hubbub[postgres]')"))
        else:
            url, drop = made
            stack.callback(drop)
            try:
                (pg_node,) = stack.enter_context(running(start_nodes(directory / "postgresql", 1, database=url)))
                engines.append(("postgresql", pg_node))
            except RuntimeError as error:
                skipped.append(("postgresql", f"not available in this build: {str(error).splitlines()[-1]}"))
        ready = [(name, node, *(await posting_clients(node, args))) for name, node in engines]
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _ in engines}
        try:
            for number in range(args.rounds):
                turn = ready if number % 2 == 0 else ready[::-1]
                for name, node, clients, room in turn:
                    rounds[name].append(await posts_per_second(node, clients, room, args, number))
        finally:
            for _, _, clients, _ in ready:
                for client in clients:
                    await client.close()
    return [(name, rounds[name]) for name, _ in engines] + skipped


# ----------------------------------------------------------------------------------------------
# 2 and 3. fan-out and latency, single node vs two nodes


def _fanout_args(args: argparse.Namespace, posts: int) -> argparse.Namespace:
    return argparse.Namespace(posts=posts, run_timeout=args.run_timeout, connect_timeout=30.0, concurrency=200)


async def deliveries(
    label: str,
    poster_node: HubbubServer,
    socket_nodes: list[HubbubServer],
    count: int,
    phase: Phase,
    posts: int,
    args: argparse.Namespace,
) -> Result:
    """``count`` sockets spread evenly over ``socket_nodes``, ``posts`` posts on ``poster_node``."""
    result = Result(label, count)
    room = poster_node.create_room(f"{label} {count}")
    poster = ChatClient(poster_node.base_url, limit=posts + 8)
    listeners = await signed_in(poster_node.base_url, [f"listener{i}" for i in range(LISTENERS)])
    client: Child | None = None
    try:
        await poster.login("poster0@bench.invalid")

        # A socket URL opens one socket: one /ws-auth per socket, the listeners asking in turn.
        async def urls_of(listener_index: int) -> list[str]:
            listener = listeners[listener_index]
            return [await listener.socket_url(room) for _ in range(listener_index, count, len(listeners))]

        asked = await asyncio.gather(*(urls_of(i) for i in range(len(listeners))))
        urls = [
            on_port(asked[i % len(listeners)][i // len(listeners)], socket_nodes[i % len(socket_nodes)].ws_port)
            for i in range(count)
        ]
        tag = f"{time.time_ns() % 10**9:09d}"

        async def post(seq: int) -> None:
            status, body = await poster.post_message(room, _message(seq, tag))
            if status != 200 or not isinstance(body, dict) or body.get("id") is None:
                raise RuntimeError(f"HTTP {status} {body!r}")

        await post(WARM_SEQ - 1)
        client = Child(client_process, None)
        options = _fanout_args(args, posts)
        if await _connect_and_warm(result, client, urls, options, post, poster_node.pid, 0):
            await _measure(result, phase, client, poster_node.pid, options, post, 0)
    finally:
        await _close_client(client)
        if client is not None:
            client.stop()
        await poster.close()
        for listener in listeners:
            await listener.close()
    return result


async def node_metrics(node: HubbubServer) -> dict[str, float]:
    """A few of a node's own counters (``GET /metrics``): bus lag, fan-out lag, gap fills, catch-ups."""
    client = ChatClient(node.base_url)
    try:
        async with client.session.get(node.base_url + "/metrics") as response:
            text = await response.text()
    finally:
        await client.close()
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in WATCHED:
            values[name] = float(value)
    return values


WATCHED = (
    "hubbub_bus_lag_seconds_sum",
    "hubbub_bus_lag_seconds_count",
    "hubbub_fanout_lag_seconds_sum",
    "hubbub_fanout_lag_seconds_count",
    "hubbub_hub_gap_fills_total",
    "hubbub_bus_catch_ups_total",
)


def _users(node: HubbubServer) -> None:
    node.create_users(["poster0", *(f"listener{i}" for i in range(LISTENERS))], parallel=4)


async def phase_nodes(directory: Path, args: argparse.Namespace) -> dict[str, Result]:
    results: dict[str, Result] = {}
    saturating = args.sockets * 250.0  # deliveries/s offered: more than two cores deliver
    paced = args.listeners * args.latency_rate
    with running(start_nodes(directory / "single", 1)) as (single,):
        _users(single)
        results["fanout single"] = await deliveries(
            "one node", single, [single], args.sockets, Phase("saturating", saturating), args.fanout_posts, args
        )
        results["latency single"] = await deliveries(
            "one node", single, [single], args.listeners, Phase("paced", paced), args.latency_posts, args
        )
    prefix = f"hubbub-bench-{uuid.uuid4().hex[:10]}:"
    shared = directory / "cluster" / "shared.sqlite3"
    shared.parent.mkdir(parents=True)
    settings = {"database": f"sqlite:///{shared}", "bus": args.redis, "redis_prefix": prefix}
    try:
        first = start_nodes(directory / "cluster", 1, **settings)
        _users(first[0])
        with running(first + start_nodes(directory / "cluster-b", 1, **settings)) as (node_a, node_b):
            results["fanout split"] = await deliveries(
                "A + B",
                node_a,
                [node_a, node_b],
                args.sockets,
                Phase("saturating", saturating),
                args.fanout_posts,
                args,
            )
            results["latency cross"] = await deliveries(
                "A -> B", node_a, [node_b], args.listeners, Phase("paced", paced), args.latency_posts, args
            )
            seen = await node_metrics(node_b)
            bus = seen.get("hubbub_bus_lag_seconds_sum", 0) / max(1, seen.get("hubbub_bus_lag_seconds_count", 0))
            fan = seen.get("hubbub_fanout_lag_seconds_sum", 0) / max(1, seen.get("hubbub_fanout_lag_seconds_count", 0))
            results["latency cross"].notes.append(
                f"node B over the cluster runs: mean bus lag {bus * 1000:.2f} ms over "
                f"{seen.get('hubbub_bus_lag_seconds_count', 0):.0f} batches, mean fan-out lag {fan * 1000:.2f} ms, "
                f"{seen.get('hubbub_hub_gap_fills_total', 0):.0f} gap fills, "
                f"{seen.get('hubbub_bus_catch_ups_total', 0):.0f} catch-ups"
            )
    finally:
        with contextlib.suppress(Exception):
            import redis

            with redis.Redis.from_url(args.redis) as client:
                keys = list(client.scan_iter(match=f"{prefix}*"))
                if keys:
                    client.delete(*keys)
    return results


# ----------------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return "-" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}"


def report(posting: Posting, nodes: dict[str, Result]) -> int:
    if posting:
        report_posting(posting)
    return report_nodes(nodes) if nodes else 0


def report_posting(posting: Posting) -> None:
    print("\n1. posts/s through HTTP, one node per store engine, the engines taking turns round by round")
    rows = []
    measured = {engine: outcome for engine, outcome in posting if not isinstance(outcome, str)}
    for engine, outcome in posting:
        if isinstance(outcome, str):
            rows.append([engine, "", outcome, "", "", "", "", "", "", "", ""])
            continue
        for number, result in enumerate(outcome, 1):
            every = result["server_cpu"] + result["database_cpu"] + result["client_cpu"]
            rows.append(
                [
                    engine,
                    str(number),
                    f"{result['posts']:.0f}",
                    fmt_rate(result["rate"]),
                    fmt_ms(result["p50"]),
                    fmt_ms(result["p99"]),
                    f"{result['failures']:.0f}",
                    f"{result['server_cpu']:,.0f}",
                    f"{result['database_cpu']:,.0f}",
                    f"{result['client_cpu']:,.0f}",
                    f"{every:,.0f}",
                ]
            )
    cpu_columns = ["CPU us/post: hubbub", "database", "posters", "all"]
    print_table(["store", "round", "posts", "posts/s", "p50 ms", "p99 ms", "failed", *cpu_columns], rows)
    if "postgresql" in measured and "sqlite" in measured:
        pairs = list(zip(measured["postgresql"], measured["sqlite"], strict=True))
        ratios = [pg["rate"] / lite["rate"] for pg, lite in pairs]
        print(
            "postgresql / sqlite posts/s by round: "
            + ", ".join(f"{ratio:.2f}" for ratio in ratios)
            + f"; median {statistics.median(ratios):.2f} (target >= 0.80)"
        )

        def all_cpu(result: dict[str, float]) -> float:
            return result["server_cpu"] + result["database_cpu"] + result["client_cpu"]

        every = statistics.median(all_cpu(lite) / all_cpu(pg) for pg, lite in pairs)
        own = statistics.median(lite["server_cpu"] / pg["server_cpu"] for pg, lite in pairs)
        print(
            f"sqlite / postgresql CPU per post, median by round: all processes {every:.2f}; hubbub's own {own:.2f}"
            f" (where posters, hubbub and the database share {os.cpu_count()} cores and keep them busy,"
            " posts/s follows the first)"
        )


def report_nodes(nodes: dict[str, Result]) -> int:
    print("\n2. fan-out: one poster on node A, sockets on one node vs split over A and B")
    rows = []
    for key in ("fanout single", "fanout split"):
        result = nodes[key]
        phase = result.phase("saturating")
        rows.append(
            [
                result.server,
                f"{result.connected}/{result.n}",
                f"{phase.delivered}/{phase.expected}",
                fmt_rate(phase.rate),
                fmt_ms(percentile(phase.latencies, 0.5)),
                fmt_ms(percentile(phase.latencies, 0.99)),
            ]
        )
    print_table(["sockets on", "connected", "delivered", "deliveries/s", "p50 ms", "p99 ms"], rows)
    single, split = nodes["fanout single"].phase("saturating"), nodes["fanout split"].phase("saturating")
    print(f"split / one node deliveries/s: {_ratio(split.rate, single.rate)}")

    print("\n3. post -> receive latency, paced")
    rows = []
    for key in ("latency single", "latency cross"):
        result = nodes[key]
        phase = result.phase("paced")
        lat = phase.latencies
        rows.append(
            [
                result.server,
                f"{phase.delivered}/{phase.expected}",
                fmt_ms(percentile(lat, 0.5)),
                fmt_ms(percentile(lat, 0.99)),
                fmt_ms(max(lat) if lat else float("nan")),
                fmt_ms(statistics.fmean(lat) if lat else float("nan")),
            ]
        )
    print_table(["poster -> sockets", "delivered", "p50 ms", "p99 ms", "max ms", "mean ms"], rows)
    one = percentile(nodes["latency single"].phase("paced").latencies, 0.99)
    cross = percentile(nodes["latency cross"].phase("paced").latencies, 0.99)
    print(f"cross-node p99 / single-node p99: {_ratio(cross, one)} (target <= 2.00)")

    notes = [f"{key}: {note}" for key, result in nodes.items() for note in result.notes]
    for note in notes:
        print("note:", note)
    incomplete = [key for key, result in nodes.items() if not any(p.complete for p in result.phases.values())]
    if incomplete:
        print("INCOMPLETE:", ", ".join(incomplete))
        return 1
    return 0


async def bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-cluster-") as tmp:
        directory = Path(tmp)
        posting = await phase_posting(directory, args) if "posting" in args.phases else []
        nodes = await phase_nodes(directory, args) if "nodes" in args.phases else {}
    return report(posting, nodes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="", help="admin URL of a PostgreSQL server (a database is made, dropped)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis server for the two-node cluster")
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--posts", type=int, default=3200, help="messages posted in all, per engine and round")
    parser.add_argument("--rounds", type=int, default=3, help="posting rounds per engine, the engines taking turns")
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--fanout-posts", type=int, default=40)
    parser.add_argument("--listeners", type=int, default=20, help="sockets in the latency runs")
    parser.add_argument("--latency-posts", type=int, default=200)
    parser.add_argument("--latency-rate", type=float, default=20.0, help="posts per second in the latency runs")
    parser.add_argument("--run-timeout", type=float, default=120.0)
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=("posting", "nodes"),
        default=["posting", "nodes"],
        help="posting: comparison 1 only; nodes: comparisons 2 and 3 (fan-out, latency)",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.posters < 1 or args.posts < args.posters:
        parser.error("--rounds and --posters must be at least 1, and --posts at least --posters")
    raise_nofile_limit()
    return int(asyncio.run(bench(args)))


if __name__ == "__main__":
    sys.exit(main())
