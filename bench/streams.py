"""Dialect fan-out: N sockets of another dialect beside the sechat fan-out of ``fanout.py``, on
the same number of sockets, in the same run. ``--dialect`` picks the other one:

1. **sechat**: exactly ``fanout.py``'s hubbub run (its own ``hubbub serve``): N event
   sockets on one room, one poster posting M messages through the form API.
2. **streams** (the default): a fresh ``hubbub serve`` over the same data; the poster's streams
   token (``GET /api/v1/auth``) and one stream (``POST /api/v1/stream``); N sockets on
   ``ws://.../ws/<stream>?token=<token>`` (gateway port), M lines injected with
   ``POST /api/v1/stream/<id>/msg``. Each line is one ``STREAM_CHAT`` event, encoded once
   by ``fanout/streams.py`` and written to every socket.
   **realtime**: a fresh ``hubbub serve``; N anonymous sockets on the realtime feed (``/`` on the
   gateway port), each subscribed to one topic by sending its name; M payloads published
   into it with ``POST /api/v1/publish`` (a ``publish`` token from ``hubbub tokens create``).
   Each is one topic event, framed once and written to every subscriber.

Both use ``fanout.py``'s client process (picows + uvloop, pinned to CPU 1 with the server on
CPU 0), its two phases (saturating: deliveries/s at capacity; paced: latency below it) and its
counting: deliveries/s = lines received by all sockets / (last receive - first post); latency
percentiles over every delivery. The ratio other/sechat of saturating deliveries/s says
whether that dialect rides the same encode-once path as sechat (target >= 0.9). Each run also
prints the server's RSS per idle socket (VmRSS growth while the N sockets opened and warmed up,
divided by N).

    .venv/bin/python bench/streams.py [--sizes 2000] [--posts 50] [--dialect realtime]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from picows import WSMsgType, WSTransport

import fanout
from _common import (
    PASSWORD,
    HubbubServer,
    bench_env,
    fmt_rate,
    max_connections_for,
    pin_process,
    print_table,
    raise_nofile_limit,
    rss_kib_of,
    run_uvloop,
    start_child,
)
from fanout import (
    HEADER,
    WARM_SEQ,
    Child,
    Result,
    SocketListener,
    _bounded,
    _close_client,
    _connect_and_warm,
    _measure_all,
    _message,
    _p50_p99,
    _rows,
    client_main,
    client_process,
    connect_sockets,
    cpu_per_delivery,
    stop_server,
)

# What a dialect's run needs once its server is up: how to post message number ``seq``, the socket
# URLs (shared out over N sockets) and the client process that opens them.
Prepared = tuple[Callable[[int], Awaitable[None]], list[str], Callable[..., None]]


async def _post_json(http: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    async with http.post(url, json=body, headers=headers) as answer:
        if answer.status != 200:
            raise RuntimeError(f"HTTP {answer.status} {await answer.text()}")
        await answer.read()


async def _run_dialect(
    name: str,
    args: argparse.Namespace,
    data_dir: Path,
    env: dict[str, str],
    prepare: Callable[[aiohttp.ClientSession, HubbubServer, str], Awaitable[Prepared]],
) -> Result:
    """A fresh ``hubbub serve``; ``prepare`` sets the dialect up; then N sockets, warm-up and both phases."""
    result = Result(name, args.n)
    server = HubbubServer(data_dir, env)
    client: Child | None = None
    http: aiohttp.ClientSession | None = None
    try:
        server.start()
        if args.server_cpus:
            pin_process(server.pid, args.server_cpus)
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.posts + 8))
        post, urls, client_target = await prepare(http, server, f"{time.time_ns() % 10**9:09d}")
        await post(WARM_SEQ - 1)
        await asyncio.sleep(0.5)
        rss0 = rss_kib_of(server.pid)
        client = Child(client_target, args.client_cpus)
        if await _connect_and_warm(result, client, urls, args, post, server.pid, rss0):
            await _measure_all(result, client, server.pid, args, post)
    except (TimeoutError, RuntimeError, OSError, aiohttp.ClientError) as error:
        result.notes.append(f"aborted: {type(error).__name__}: {error}")
    finally:
        await _close_client(client)
        if http is not None:
            await http.close()
        stop_server(server, result)
    return result


async def run_streams(args: argparse.Namespace, data_dir: Path, env: dict[str, str], setup: dict[str, Any]) -> Result:
    """N streams sockets on one stream; lines injected through ``POST /api/v1/stream/<id>/msg``."""

    async def prepare(http: aiohttp.ClientSession, server: HubbubServer, run_tag: str) -> Prepared:
        basic = base64.b64encode(f"{setup['poster']}:{PASSWORD}".encode()).decode()
        async with http.get(f"{server.base_url}/api/v1/auth", headers={"Authorization": f"Basic {basic}"}) as answer:
            token = (await answer.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(
            f"{server.base_url}/api/v1/stream", json={"name": f"streams fan-out {args.n}"}, headers=auth
        ) as answer:
            stream_id = (await answer.json())["stream"]["id"]
        inject = f"{server.base_url}/api/v1/stream/{stream_id}/msg"

        async def post(seq: int) -> None:
            line = {"type": "text", "text": _message(seq, run_tag), "network": "loadtest"}
            await _post_json(http, inject, line, auth)

        return post, [f"ws://127.0.0.1:{server.ws_port}/ws/{stream_id}?token={token}"], client_process

    return await _run_dialect("streams", args, data_dir, env, prepare)


REALTIME_TOPIC = "bench-fanout"


class _TopicListener(SocketListener):
    """A realtime-feed socket: subscribes to the bench's topic as soon as it is open."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, REALTIME_TOPIC.encode())


def _realtime_client_process(conn: Any, cpus: set[int] | None) -> None:
    start_child(cpus)
    run_uvloop(client_main(conn, functools.partial(connect_sockets, listener=_TopicListener)))


async def run_realtime(args: argparse.Namespace, data_dir: Path, env: dict[str, str], setup: dict[str, Any]) -> Result:
    """N anonymous realtime-feed sockets on one topic; payloads published through ``POST /api/v1/publish``."""

    async def prepare(http: aiohttp.ClientSession, server: HubbubServer, run_tag: str) -> Prepared:
        auth = {"Authorization": f"Bearer {setup['publish_token']}"}
        publish = f"{server.base_url}/api/v1/publish"

        async def post(seq: int) -> None:
            await _post_json(http, publish, {"topic": REALTIME_TOPIC, "data": {"text": _message(seq, run_tag)}}, auth)

        return post, [f"ws://127.0.0.1:{server.ws_port}/"], _realtime_client_process

    return await _run_dialect("realtime", args, data_dir, env, prepare)


DIALECTS = {"streams": run_streams, "realtime": run_realtime}


def _frames_per_delivery(sechat: Result, other: Result) -> None:
    for name in ("saturating", "paced"):
        a, b = sechat.phase(name), other.phase(name)
        if a.delivered and b.delivered:
            print(
                f"{name}: frames received per delivery: sechat {a.event_frames / a.delivered:.2f}, "
                f"{other.server} {b.event_frames / b.delivered:.2f}"
            )


def _frames_per_second(phase: fanout.Phase) -> float:
    """Event frames received per second in ``phase`` (deliveries/s over the events each frame carried)."""
    return phase.rate * phase.event_frames / phase.delivered if phase.complete and phase.delivered else 0.0


def _idle_memory(*results: Result) -> None:
    print(
        "idle memory: " + "; ".join(f"{r.server} {r.rss_per_conn / 1024:.1f} KiB/conn" for r in results if r.connected)
    )


def _notes(*results: Result) -> None:
    for result in results:
        for phase in result.phases.values():
            if phase.client_cpu >= 0.9:
                result.notes.append(f"{phase.name}: client CPU {phase.client_cpu:.0%}: client-bound")
        if result.disconnected:
            result.notes.append(f"{result.disconnected} sockets were closed by the server during the run")
        for note in result.notes:
            print(f"  note ({result.server}): {note}")


async def bench(args: argparse.Namespace, data_dir: Path, env: dict[str, str], setup: dict[str, Any]) -> int:
    pinning = f"server on CPU {args.server_cpus}, client on CPU {args.client_cpus}" if args.pin else "no CPU pinning"
    print(
        f"# {os.cpu_count()} CPUs; {pinning}; {args.posts} posts per phase; {args.rounds} rounds,"
        f" sechat and {args.dialect} alternating"
    )
    summary = []
    failed = False
    for n in args.sizes:
        args.n = n
        print(
            f"\n=== N = {n} sockets; saturating: a post every {n / args.offered_rate * 1000:.1f} ms"
            + (f", paced: every {n / args.paced_rate * 1000:.1f} ms" if args.paced_rate > 0 else "")
            + " ===",
            flush=True,
        )
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        frame_ratios: list[float] = []  # sechat joins a room's backlog into one frame; a streams frame is one line
        for round_number in range(1, args.rounds + 1):
            # sechat then the other, round after round: a machine that gets busier or quieter meanwhile
            # weighs on both alike, and the median ratio says more than any single run.
            sechat = await _bounded(fanout.run_hubbub(args, data_dir, env, setup), args, Result("hubbub", n))
            sechat.server = "sechat"
            other = await _bounded(DIALECTS[args.dialect](args, data_dir, env, setup), args, Result(args.dialect, n))
            print(f"--- round {round_number}")
            print_table(HEADER, _rows(sechat) + _rows(other))
            _frames_per_delivery(sechat, other)
            _idle_memory(sechat, other)
            _notes(sechat, other)
            sat_a, sat_b = sechat.phase("saturating"), other.phase("saturating")
            ratio = sat_b.rate / sat_a.rate if sat_a.complete and sat_b.complete else float("nan")
            shown = "n/a" if math.isnan(ratio) else f"{ratio:.1%}"
            print(f"{args.dialect} / sechat deliveries/s (saturating): {shown}")
            frames_a, frames_b = _frames_per_second(sat_a), _frames_per_second(sat_b)
            if frames_a and frames_b:
                frame_ratios.append(frames_b / frames_a)
                print(f"{args.dialect} / sechat frames/s (saturating): {frames_b / frames_a:.1%}")
            cpu_a, cpu_b = cpu_per_delivery(sat_a), cpu_per_delivery(sat_b)
            cpu_ratio = cpu_a / cpu_b if cpu_b > 0 else float("nan")
            if not math.isnan(cpu_ratio):
                cpu_ratios.append(cpu_ratio)
                print(
                    f"server CPU per delivery (saturating): sechat {cpu_a * 1e6:.1f} us, {args.dialect}"
                    f" {cpu_b * 1e6:.1f} us; sechat / {args.dialect} {cpu_ratio:.1%}"
                )
            if math.isnan(ratio):
                failed = True
            else:
                ratios.append(ratio)
            summary.append(
                [
                    str(n),
                    str(round_number),
                    fmt_rate(sat_a.rate) if sat_a.complete else "incomplete",
                    fmt_rate(sat_b.rate) if sat_b.complete else "incomplete",
                    "-" if math.isnan(ratio) else f"{ratio:.1%}",
                    _p50_p99(sat_a),
                    _p50_p99(sat_b),
                    _p50_p99(sechat.phase("paced")),
                    _p50_p99(other.phase("paced")),
                    f"{sechat.phase('saturating').server_cpu:.0%}/{other.phase('saturating').server_cpu:.0%}",
                    f"{cpu_per_delivery(sat_a) * 1e6:.1f}/{cpu_per_delivery(sat_b) * 1e6:.1f}",
                    f"{sechat.rss_per_conn / 1024:.1f}/{other.rss_per_conn / 1024:.1f}",
                ]
            )
        if ratios:
            median = statistics.median(ratios)
            verdict = "met" if median >= 0.9 else "NOT met"
            if cpu_ratios:
                print(
                    f"N={n}: median efficiency (sechat CPU per delivery / {args.dialect} CPU per delivery): "
                    f"{statistics.median(cpu_ratios):.1%}"
                )
            print(
                f"N={n}: median {args.dialect} / sechat over {len(ratios)} rounds: {median:.1%}"
                f" (target >= 90%: {verdict})"
            )
            if frame_ratios:
                print(f"N={n}: median {args.dialect} / sechat frames/s: {statistics.median(frame_ratios):.1%}")
    print("\n=== summary (deliveries/s and ratio from the saturating phase) ===")
    print_table(
        [
            "N",
            "round",
            "sechat deliv/s",
            f"{args.dialect} deliv/s",
            "ratio",
            "sechat sat p50/p99 ms",
            f"{args.dialect} sat p50/p99 ms",
            "sechat paced p50/p99 ms",
            f"{args.dialect} paced p50/p99 ms",
            f"server CPU sat (sechat/{args.dialect})",
            f"CPU us/delivery (sechat/{args.dialect})",
            f"idle KiB/conn (sechat/{args.dialect})",
        ],
        summary,
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Fan-out to N sockets of another dialect (streams or realtime) beside sechat's, same run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="streams", help="the dialect beside sechat")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000], help="socket counts N")
    parser.add_argument("--posts", type=int, default=50, help="measured posts M per phase")
    parser.add_argument("--rounds", type=int, default=3, help="sechat-then-other runs per size (median ratio)")
    parser.add_argument("--offered-rate", type=float, default=250_000, help="saturating: deliveries/s offered")
    parser.add_argument("--paced-rate", type=float, default=40_000, help="paced: deliveries/s offered (0: skip)")
    parser.add_argument("--listeners", type=int, default=8, help="users the sechat sockets sign in as")
    parser.add_argument("--concurrency", type=int, default=100, help="socket handshakes in flight at once")
    parser.add_argument("--connect-timeout", type=float, default=60, help="seconds (+ N/100) to open N sockets")
    parser.add_argument("--run-timeout", type=float, default=90, help="seconds to wait for all deliveries")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="pin the server to CPU 0 and the client process to CPU 1",
    )
    args = parser.parse_args()
    # Its streams half injects lines through aiohttp's client, so the sechat half posts the same way.
    args.poster = "aiohttp"
    args.server_cpus, args.client_cpus = ({0}, {1}) if args.pin else (None, None)
    started = time.perf_counter()
    limit = raise_nofile_limit()
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-streams-") as tmp:
        data_dir = Path(tmp) / "data"
        env = bench_env(
            message_rate_burst=10**9,
            message_rate_per_second=10**9,
            ws_max_connections_per_ip=10**6,
            ws_token_ttl_seconds=24 * 3600,
            ws_tokens_per_user=10**6,
            max_connections=max_connections_for(max(args.sizes)),
            # The bench's sockets never answer a heartbeat: keep them open for the whole run.
            realtime_hb_interval=3600,
        )
        setup_server = HubbubServer(data_dir, env)
        names = ["poster", *(f"listener{i:02d}" for i in range(args.listeners))]
        print(f"# setting up: {len(names)} users and a room via the CLI; RLIMIT_NOFILE {limit}", flush=True)
        setup_server.create_users(names)
        setup = {
            "room": setup_server.create_room("streams fan-out"),
            "poster": "poster@bench.invalid",
            "listeners": [f"{name}@bench.invalid" for name in names[1:]],
            "publish_token": setup_server.cli("tokens", "create", "--name", "bench", "--scope", "publish"),
        }
        code = run_uvloop(bench(args, data_dir, env, setup))
    print(f"# wall time {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
