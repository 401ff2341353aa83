"""Logins under load: does the server stay responsive while passwords are being checked?

Starts ``hubbub serve`` on loopback with a temporary data directory and the real
password-hashing cost (Argon2id with the default ``password_time_cost`` and
``password_memory_kib``, unless overridden), creates N users with the CLI, then runs
two phases of equal length against that one server:

1. baseline: one probe sends ``GET /healthz`` back to back, and one publisher sends
   ``POST /api/v1/publish`` items to a topic that one realtime socket subscribes to;
2. logins: the same probes while N clients (default 8) each log in to their own
   account over and over (``POST /users/login`` with the right password, a fresh
   cookie jar each time, the next attempt as soon as the answer arrives).

It prints, per phase, ``/healthz`` latency p50/p99/max, publish->delivery latency
(publish sent -> frame received on the socket) p50/p99/max, and the logins answered
per second (302 = signed in; anything else is counted as refused). The login rate
limits are raised out of the way by default (``--raise-limits``) so that the phase measures
hashing, not the limiter; ``--no-raise-limits`` keeps the server's defaults.

    .venv/bin/python bench/logins.py [--clients 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from _common import (
    PASSWORD,
    HubbubServer,
    bench_env,
    fmt_ms,
    percentile,
    pin_process,
    print_table,
    run_uvloop,
)

TOPIC = "bench-login-latency"


@dataclass
class Phase:
    name: str
    healthz: list[float] = field(default_factory=list)
    delivery: list[float] = field(default_factory=list)
    logins_ok: int = 0
    logins_refused: int = 0
    seconds: float = 0.0


async def probe_healthz(base: str, phase: Phase, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(base + "/healthz") as response:
                await response.read()
            phase.healthz.append(time.perf_counter() - started)


async def probe_delivery(base: str, ws_url: str, token: str, phase: Phase, stop: asyncio.Event) -> None:
    """Publish one item at a time and wait for it on a subscribed socket."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_str(TOPIC)
        # The subscribe is processed before an item published after an answered one: warm up until one arrives.
        for seq in itertools.count():
            body = {"topic": TOPIC, "data": {"seq": seq}}
            async with session.post(base + "/api/v1/publish", json=body, headers=headers) as response:
                reached = (await response.json())["subscribers"]
            if reached:
                await ws.receive()
                break
        for seq in itertools.count(1_000_000):
            if stop.is_set():
                return
            sent = time.perf_counter()
            body = {"topic": TOPIC, "data": {"seq": seq}}
            async with session.post(base + "/api/v1/publish", json=body, headers=headers) as response:
                await response.read()
            while True:
                message = await ws.receive(timeout=60)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"realtime socket: {message!r}")
                frame = json.loads(message.data)
                if frame.get("action") == TOPIC and json.loads(frame["data"]).get("seq") == seq:
                    break
            phase.delivery.append(time.perf_counter() - sent)
            await asyncio.sleep(0.01)


async def log_in_repeatedly(base: str, email: str, phase: Phase, stop: asyncio.Event) -> None:
    form = {"email": email, "password": PASSWORD}
    while not stop.is_set():
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
            session.post(base + "/users/login", data=form, allow_redirects=False) as response,
        ):
            await response.read()
            if response.status == 302:
                phase.logins_ok += 1
            else:
                phase.logins_refused += 1


async def run_phase(
    phase: Phase, args: argparse.Namespace, server: HubbubServer, token: str, emails: list[str]
) -> None:
    stop = asyncio.Event()
    ws_url = f"ws://127.0.0.1:{server.ws_port}/"
    probes = [
        asyncio.create_task(probe_healthz(server.base_url, phase, stop)),
        asyncio.create_task(probe_delivery(server.base_url, ws_url, token, phase, stop)),
    ]
    loaders = [asyncio.create_task(log_in_repeatedly(server.base_url, email, phase, stop)) for email in emails]
    started = time.perf_counter()
    await asyncio.sleep(args.seconds)
    stop.set()
    phase.seconds = time.perf_counter() - started
    async with asyncio.timeout(120):
        await asyncio.gather(*probes, *loaders)


def row(phase: Phase) -> list[str]:
    healthz, delivery = sorted(phase.healthz), sorted(phase.delivery)
    logins = phase.logins_ok + phase.logins_refused
    return [
        phase.name,
        str(len(healthz)),
        fmt_ms(percentile(healthz, 0.5)),
        fmt_ms(percentile(healthz, 0.99)),
        fmt_ms(healthz[-1] if healthz else float("nan")),
        str(len(delivery)),
        fmt_ms(percentile(delivery, 0.5)),
        fmt_ms(percentile(delivery, 0.99)),
        fmt_ms(delivery[-1] if delivery else float("nan")),
        f"{phase.logins_ok / phase.seconds:.1f}" if logins else "-",
        str(phase.logins_refused) if logins else "-",
    ]


async def bench(args: argparse.Namespace, server: HubbubServer, token: str, emails: list[str]) -> int:
    baseline = Phase("baseline")
    loaded = Phase(f"{len(emails)} logging in")
    await run_phase(baseline, args, server, token, [])
    await run_phase(loaded, args, server, token, emails)
    header = [
        "phase",
        "healthz n",
        "p50 ms",
        "p99 ms",
        "max ms",
        "deliveries",
        "p50 ms",
        "p99 ms",
        "max ms",
        "logins/s",
        "refused",
    ]
    print_table(header, [row(baseline), row(loaded)])
    ratio = percentile(sorted(loaded.healthz), 0.5) / percentile(sorted(baseline.healthz), 0.5)
    delivery = percentile(sorted(loaded.delivery), 0.5) / percentile(sorted(baseline.delivery), 0.5)
    print(f"# /healthz p50 under logins: {ratio:.1f}x the baseline; publish->delivery p50: {delivery:.1f}x")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="/healthz and publish->delivery latency while clients log in (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, each logging in to its own account")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--time-cost", type=int, default=3, help="password_time_cost of the server (Argon2id passes)")
    parser.add_argument("--memory-kib", type=int, default=65_536, help="password_memory_kib of the server")
    parser.add_argument(
        "--raise-limits",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="raise the login rate limits out of the way, so that the phase measures hashing",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="pin the server (all threads) to CPU 0 and this process (the clients) to CPU 1",
    )
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0:
        parser.error("--clients must be at least 1 and --seconds positive")

    started = time.perf_counter()
    names = [f"login{i:03d}" for i in range(args.clients)]
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-logins-") as tmp:
        env = bench_env(password_time_cost=args.time_cost, password_memory_kib=args.memory_kib)
        if not args.raise_limits:  # bench_env raises them, because set-up logins are not what other benches measure
            for name in [key for key in env if key.startswith("HUBBUB_LOGIN_ATTEMPTS_")]:
                del env[name]
        server = HubbubServer(Path(tmp) / "data", env)
        print(f"# setting up: {args.clients} users via the CLI (Argon2id t={args.time_cost}, m={args.memory_kib} KiB)")
        server.create_users(names)
        token = server.cli("tokens", "create", "--name", "bench", "--scope", "publish")
        emails = [f"{name}@bench.invalid" for name in names]
        with server:
            server.start()
            pinning = "no CPU pinning"
            if args.pin:
                pin_process(server.pid, {0})
                os.sched_setaffinity(0, {1})
                pinning = "server pinned to CPU 0, clients (this process) to CPU 1"
            print(f"# hubbub serve pid {server.pid}, http {server.base_url}; {pinning}", flush=True)
            code = 1
            with contextlib.suppress(KeyboardInterrupt):
                code = run_uvloop(bench(args, server, token, emails))
            if not server.alive():
                print(f"hubbub serve died during the run:\n{server.stderr_tail()}")
                code = 1
            server.stop()
    print(f"# wall time {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
