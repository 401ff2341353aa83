"""Posting throughput: N signed-in clients post as fast as hubbub answers; GET /healthz is the reference.

Starts ``hubbub serve`` on loopback with a temporary data directory, creates N users
and one room with the CLI, signs each user in, then, against that one server:

1. reference: N concurrent aiohttp clients send ``GET /healthz`` without cookies (the
   same HTTP stack, no session lookup, no database), as many requests as phase 2;
2. posts: the same N clients each post M distinct messages to the room
   (``POST /chats/<room>/messages/new``), each waiting for its answer before the next;
3. (``--cookie-healthz``, default on) ``GET /healthz`` again, with the session cookie,
   which makes hubbub look the session up in the database: the floor of any signed-in
   request.

The clients send ready-made requests on kept-alive connections (``--client raw``, the
default: ``_common.RawPoster``); ``--client aiohttp`` sends them through aiohttp's client,
which costs the bench about 300 us of Python a post: with 16 posters on one client core it
could not send more than about 3,000 posts/s, and that phase measured the client.

It prints requests/s and per-request latency p50/p99 of each, hubbub's posts/s as a
ratio of the reference, the CPU each side used (``--pin``: server on CPU 0, clients on
CPU 1; client CPU near 100% means that phase was client-bound), and finally checks
that the server stored every message it acknowledged (the room's history,
``POST /chats/<room>/events`` with a raised ``history_max_count``).

    .venv/bin/python bench/post_messages.py [--users 16] [--messages 4000]

``--database`` picks the store, and may be given more than once to measure each in
turn and print them side by side with the ratio to the first: ``sqlite`` (the
default) or the admin URL of a PostgreSQL server (``postgresql://postgres@127.0.0.1/
postgres``), where the bench creates a database of its own and drops it at the end.

    .venv/bin/python bench/post_messages.py --database sqlite --database postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from _common import (
    ChatClient,
    HubbubServer,
    RawPoster,
    bench_env,
    cpu_seconds_of,
    fmt_ms,
    fmt_rate,
    percentile,
    pin_process,
    print_table,
    run_uvloop,
)


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    completed: bool = True

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else float("nan")

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def store_seconds(session: aiohttp.ClientSession, base_url: str) -> dict[str, tuple[float, float]]:
    """hubbub's ``hubbub_store_seconds`` so far: (sum, count) per op (read, write), queueing included."""
    async with session.get(base_url + "/metrics") as response:
        text = await response.text()
    found: dict[str, list[float]] = {}
    for line in text.splitlines():
        for op in ("read", "write"):
            for suffix, index in (("_sum", 0), ("_count", 1)):
                if line.startswith(f'hubbub_store_seconds{suffix}{{op="{op}"}} '):
                    found.setdefault(op, [0.0, 0.0])[index] = float(line.rsplit(" ", 1)[1])
    return {op: (values[0], values[1]) for op, values in found.items()}


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_phase(
    name: str,
    server: HubbubServer,
    workers: int,
    per_worker: int,
    request: Callable[[int, int], Awaitable[str | None]],
    timeout: float,
) -> Phase:
    """``workers`` loops making ``per_worker`` requests back to back; ``request`` returns an error kind or None."""
    phase = Phase(name)
    start_gate = asyncio.Event()

    async def worker(index: int) -> None:
        await start_gate.wait()
        for j in range(per_worker):
            began = time.perf_counter()
            try:
                failure = await request(index, j)
            except (TimeoutError, OSError, RuntimeError) as error:  # aiohttp errors are OSError/RuntimeError
                failure = type(error).__name__
            if failure is None:
                phase.latencies.append(time.perf_counter() - began)
            else:
                phase.error(failure)

    tasks = [asyncio.create_task(worker(i)) for i in range(workers)]
    await asyncio.sleep(0)
    server_cpu0, client_cpu0 = cpu_seconds_of(server.pid), _own_cpu()
    began = time.perf_counter()
    start_gate.set()
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*tasks)
    except TimeoutError:
        phase.completed = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    phase.seconds = time.perf_counter() - began
    phase.server_cpu = cpu_seconds_of(server.pid) - server_cpu0
    phase.client_cpu = _own_cpu() - client_cpu0
    phase.latencies.sort()
    return phase


async def bench(args: argparse.Namespace, server: HubbubServer, room_id: int, names: list[str]) -> tuple[int, float]:
    """Run the phases; returns (exit code, posts/s)."""
    clients = [ChatClient(server.base_url, limit=2) for _ in names]
    # The reference requests go without the session cookie: with it, hubbub's session middleware
    # looks the session up in the database even for /healthz (measured separately, --cookie-healthz).
    bare = [
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), connector=aiohttp.TCPConnector(limit=2))
        for _ in names
    ]
    raws: list[RawPoster] = []
    try:
        await asyncio.gather(*(c.login(f"{name}@bench.invalid") for c, name in zip(clients, names, strict=True)))
        if args.client == "raw":
            raws = [RawPoster(c) for c in clients]
        per_worker = max(1, args.messages // len(clients))
        total = per_worker * len(clients)
        acknowledged: list[int] = []
        run_tag = f"{time.time_ns() % 10**9:09d}"

        async def healthz(index: int, j: int, *, signed_in: bool = False) -> str | None:
            if raws:
                status, _ = await raws[index].get("/healthz", signed_in=signed_in)
                return None if status == 200 else f"HTTP {status}"
            session = clients[index].session if signed_in else bare[index]
            async with session.get(server.base_url + "/healthz") as response:
                await response.read()
                return None if response.status == 200 else f"HTTP {response.status}"

        async def healthz_with_cookie(index: int, j: int) -> str | None:
            return await healthz(index, j, signed_in=True)

        async def post(index: int, j: int, *, warm: bool = False) -> str | None:
            kind = "warm-up" if warm else "bench"
            text = f"{kind} message {j} from client {index}, run {run_tag}: the quick brown fox jumps over the lazy dog"
            status, body = await (raws[index] if raws else clients[index]).post_message(room_id, text)
            if status != 200 or not isinstance(body, dict):
                return f"HTTP {status}"
            if body.get("id") is None:
                return "refused (id null)"
            acknowledged.append(int(body["id"]))
            return None

        # Warm-up, not measured: connection pools, first-use caches, the room's first entries.
        await asyncio.gather(*(healthz(i, 0) for i in range(len(clients))))
        await asyncio.gather(*(healthz_with_cookie(i, 0) for i in range(len(clients))))
        for j in range(args.warmup):
            await asyncio.gather(*(post(i, j, warm=True) for i in range(len(clients))))

        print(f"# {len(clients)} clients x {per_worker} requests = {total} per phase", flush=True)
        reference = await run_phase("GET /healthz (reference)", server, len(clients), per_worker, healthz, args.timeout)
        store_before = await store_seconds(bare[0], server.base_url)
        posts = await run_phase("POST messages/new (hubbub)", server, len(clients), per_worker, post, args.timeout)
        store_after = await store_seconds(bare[0], server.base_url)
        phases = [reference, posts]
        if args.cookie_healthz:
            phases.append(
                await run_phase(
                    "GET /healthz + session cookie", server, len(clients), per_worker, healthz_with_cookie, args.timeout
                )
            )

        print()
        rows = []
        for phase in phases:
            rows.append(
                [
                    phase.name,
                    f"{phase.ok}/{total}" + ("" if phase.completed else " (timed out)"),
                    f"{phase.seconds:.2f}",
                    fmt_rate(phase.rate),
                    fmt_ms(percentile(phase.latencies, 0.50)),
                    fmt_ms(percentile(phase.latencies, 0.99)),
                    fmt_ms(phase.latencies[-1] if phase.latencies else float("nan")),
                    f"{100 * phase.server_cpu / phase.seconds:.0f}%" if phase.seconds else "-",
                    f"{100 * phase.client_cpu / phase.seconds:.0f}%" if phase.seconds else "-",
                    ", ".join(f"{k}: {v}" for k, v in phase.errors.items()) or "0",
                ]
            )
        header = ["phase", "ok", "seconds", "req/s", "p50 ms", "p99 ms", "max ms", "server CPU", "client CPU", "errors"]
        print_table(header, rows)
        for phase in phases:
            if phase.seconds and phase.client_cpu / phase.seconds >= 0.9:
                print(f"note: {phase.name}: client CPU >= 90%: client-bound, the rate is a lower bound for the server")
        ratio = posts.rate / reference.rate if reference.rate > 0 else float("nan")
        print(f"\nhubbub posts/s as a share of the /healthz reference: {ratio:.1%}  ({ratio:.3f}x)")
        print(
            "server CPU per request: "
            + ", ".join(
                f"{label} {1e6 * phase.server_cpu / max(1, phase.ok):.0f} us"
                for label, phase in zip(("healthz", "post", "healthz + cookie"), phases, strict=False)
            )
        )

        spent = []
        for op in ("read", "write"):
            (sum0, count0), (sum1, count1) = store_before.get(op, (0, 0)), store_after.get(op, (0, 0))
            if count1 > count0:
                spent.append(f"{op} {1000 * (sum1 - sum0) / (count1 - count0):.2f} ms x {count1 - count0:.0f}")
        if spent:  # where a post's latency went: the session lookup (read) and the post (write)
            print(f"store time per unit during the posts, queueing included (hubbub_store_seconds): {', '.join(spent)}")

        # Check: every acknowledged message is in the room's history, once, and nothing else is.
        status, body = await clients[0].post_form(
            f"/chats/{room_id}/events", {"msgCount": str(len(acknowledged) + 100)}
        )
        stored = [int(e["message_id"]) for e in body.get("events", [])] if isinstance(body, dict) else []
        stored_set, acked_set = set(stored), set(acknowledged)
        missing = acked_set - stored_set
        unexpected = stored_set - acked_set
        good = status == 200 and not missing and not unexpected and len(stored) == len(stored_set) == len(acked_set)
        print(
            f"\nstorage check: acknowledged {len(acknowledged)} messages ({len(acked_set)} distinct ids, "
            f"{args.warmup * len(clients)} warm-up + {posts.ok} measured); history returned {len(stored)} "
            f"({len(stored_set)} distinct); missing {len(missing)}, unexpected {len(unexpected)} -> "
            + ("OK" if good else "FAILED")
        )
        if missing:
            print(f"  first missing ids: {sorted(missing)[:10]}")
        failed = not good or not all(phase.completed for phase in phases) or bool(posts.errors)
        return (1 if failed else 0), posts.rate
    finally:
        await asyncio.gather(*(r.close() for r in raws), *(c.close() for c in clients), *(b.close() for b in bare))


@contextmanager
def _database(spec: str) -> Iterator[tuple[str, str]]:
    """(label, HUBBUB_DATABASE value) for a ``--database`` value; a PostgreSQL database made for this run."""
    if spec == "sqlite":
        yield "sqlite", ""
        return
    import psycopg

    name = f"hubbub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(spec, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield "postgresql", f"{spec.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(spec, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_one(args: argparse.Namespace, spec: str, names: list[str]) -> tuple[str, int, float]:
    """Set up, serve and measure one store; returns (label, exit code, posts/s)."""
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-post-") as tmp, _database(spec) as (label, database):
        env = bench_env(
            message_rate_burst=10**9,
            message_rate_per_second=10**9,
            history_max_count=args.messages + args.users * args.warmup + 1000,
            database=database,
        )
        server = HubbubServer(Path(tmp) / "data", env)
        print(f"\n# {label}: setting up {args.users} users and a room via the CLI", flush=True)
        server.create_users(names)
        room_id = server.create_room("bench-posts")
        with server:
            server.start()
            pinning = "no CPU pinning"
            if args.pin:
                pin_process(server.pid, {0})
                os.sched_setaffinity(0, {1})
                pinning = "server pinned to CPU 0, clients (this process) to CPU 1"
                if label == "postgresql":
                    pinning += "; PostgreSQL's own processes are not pinned"
            print(f"# hubbub serve pid {server.pid}, http {server.base_url}; {pinning}", flush=True)
            code, rate = run_uvloop(bench(args, server, room_id, names))
            if not server.alive():
                print(f"hubbub serve died during the run:\n{server.stderr_tail()}")
                code = 1
            exit_status = server.stop()
        errors = server.stderr_tail(10)
        if exit_status not in (0, None) or "Traceback" in errors:
            print(f"# hubbub serve exit status {exit_status}; last stderr lines:\n{errors}")
    return label, code, rate


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Post throughput of a real hubbub server vs GET /healthz on the same server (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=16, help="concurrent clients, each its own signed-in user")
    parser.add_argument("--messages", type=int, default=4000, help="total messages (split evenly between clients)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured posts per client before measuring")
    parser.add_argument("--timeout", type=float, default=180, help="seconds allowed per phase before giving up")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="pin the server (all threads) to CPU 0 and this process (the clients) to CPU 1",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "aiohttp"),
        default="raw",
        help="how requests are sent: ready-made on kept-alive connections, or through aiohttp's client",
    )
    parser.add_argument(
        "--cookie-healthz",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time GET /healthz sent with the session cookie (what a signed-in browser's request costs)",
    )
    parser.add_argument(
        "--database",
        action="append",
        metavar="sqlite|ADMIN_URL",
        help="store to measure: sqlite, or a PostgreSQL admin URL (a database is made there); repeat to compare",
    )
    args = parser.parse_args()
    if args.users < 1 or args.messages < 1:
        parser.error("--users and --messages must be at least 1")
    specs = args.database or ["sqlite"]
    for spec in specs:
        if spec != "sqlite" and not spec.startswith(("postgresql://", "postgres://")):
            parser.error(f"--database {spec!r}: expected sqlite or a postgresql:// URL")

    started = time.perf_counter()
    names = [f"poster{i:03d}" for i in range(args.users)]
    results = [run_one(args, spec, names) for spec in specs]
    if len(results) > 1:
        print(f"\nposts/s through the HTTP stack, {args.users} concurrent posters")
        first = results[0][2]
        print_table(
            ["store", "posts/s", f"ratio to {results[0][0]}", "storage check"],
            [
                [label, fmt_rate(rate), f"{rate / first:.2f}x", "OK" if code == 0 else "FAILED"]
                for label, code, rate in results
            ],
        )
    code = max(code for _, code, _ in results)
    print(f"# wall time {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
