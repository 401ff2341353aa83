"""hubbub beside the peers a user might pick instead: Matrix Synapse, socket.io 4.8, and the bare picows broadcast.

One run, loopback only. The peers are installed from their registries into environments of
their own under a work directory (``_peers_env``: a temporary one, deleted at the end, unless
``--work-dir`` keeps the installs for the next run; ``--skip-install`` then reuses them), and
each workload runs the same shape against every system, one system at a time, each server on
CPU 0 and every client on CPU 1 (``--no-pin`` to turn that off):

1. **posting**: ``--users`` (16) clients each post ``--messages / users`` texts, each waiting
   for its answer before the next: hubbub ``POST /chats/<room>/messages/new`` (as
   post_messages.py), Synapse ``PUT /_matrix/client/v3/rooms/<room>/send/m.room.message/<txn>``
   (``_synapse``), socket.io an acknowledged emit (``_socketio``). posts/s, p50/p99 latency,
   server CPU per post, client CPU.
2. **fan-out**, for each N in ``--sizes``: N receivers of one room and one poster posting
   ``--posts`` messages at fanout.py's saturating and paced schedules: hubbub's sechat sockets
   and the bare picows broadcast exactly as fanout.py measures them, Synapse receivers as /sync
   long-polls with a filter, socket.io receivers as socket.io clients in a Node process.
   deliveries/s and post -> receive p50/p99 over every delivery, server and client CPU.

Each table has a row per system and its ratio to hubbub; a phase whose clients used >= 90% of a
core is client-bound and its rate is marked as a lower bound (">="). A peer that cannot be
installed or started is reported as failed and the others still run. Every process started is
stopped, even on Ctrl-C, and the temporary directory deleted (``--keep`` keeps it).

    .venv/bin/python bench/peers.py [--peers synapse socketio] [--sizes 1000] [--posts 50]
    .venv/bin/python bench/peers.py --work-dir ~/.cache/hubbub-peers            # installs kept
    .venv/bin/python bench/peers.py --work-dir ~/.cache/hubbub-peers --skip-install
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _peers_run as run
from _common import raise_nofile_limit, run_uvloop
from _peers_env import PeerUnavailable, Processes, directory_size, install_npm, install_pip, installed
from _peers_report import print_fanout, print_posting, print_summary
from _socketio import PACKAGES, SocketIoServer, copy_scripts, require_node
from _synapse import REQUIREMENT, Synapse
from fanout import add_poster_option

PEERS = ("synapse", "socketio")


def _install(args: argparse.Namespace, work_dir: Path, run_dir: Path, processes: Processes) -> dict[str, Any]:
    """Each chosen peer, ready to start, or the reason it cannot be (a string)."""
    peers: dict[str, Any] = {}
    for peer in args.peers:
        directory = work_dir / ("synapse-venv" if peer == "synapse" else "socketio")
        label = "Synapse" if peer == "synapse" else "socket.io"
        try:
            record = installed(directory)
            if args.skip_install:
                if record is None:
                    raise PeerUnavailable(f"not installed in {directory} (run once without --skip-install)")
                how = f"reused from {directory}"
            else:
                print(f"# installing {label} into {directory} ...", flush=True)
                if peer == "synapse":
                    record = install_pip(directory, REQUIREMENT, "synapse", timeout=args.install_timeout)
                else:
                    require_node()
                    record = install_npm(directory, PACKAGES, "socket.io", timeout=args.install_timeout)
                how = f"installed in {record['seconds']:.0f} s"
            size = directory_size(directory) / 2**20
            print(f"# {label} {record['version']}: {how}, {size:.0f} MiB on disk", flush=True)
            if peer == "synapse":
                peers[peer] = Synapse(directory, run_dir / "synapse", processes, str(record["version"]))
            else:
                copy_scripts(directory)
                node = require_node()
                log = run_dir / "socketio-server.log"
                peers[peer] = SocketIoServer(directory, log, processes, f"{record['version']} (node {node})")
        except PeerUnavailable as error:
            print(f"# {label}: FAILED: {error}", flush=True)
            peers[peer] = f"{label} unavailable: {error}"
    return peers


async def _bench(args: argparse.Namespace, peers: dict[str, Any], run_dir: Path, processes: Processes) -> int:
    failed = False
    if "posting" in args.workloads:
        results = [await run.posting_hubbub(args, run_dir)]
        for peer in args.peers:
            results.append(await run.posting_peer(args, peers[peer], run_dir, processes))
        failed |= print_posting(args, results)
    summary: list[list[Any]] = []
    if "fanout" in args.workloads:
        hubbub_setup = await asyncio.to_thread(run.fanout_hubbub_setup, args, run_dir)
        for n in args.sizes:
            args.n = n
            print(f"\n=== fan-out, N = {n} receivers, {args.posts} posts per phase ===", flush=True)
            began = time.perf_counter()
            results = await run.fanout_all(args, n, hubbub_setup, peers, run_dir, processes)
            failed |= print_fanout(args, n, results)
            summary.append([n, results])
            print(f"[N={n} took {time.perf_counter() - began:.0f} s]", flush=True)
        print_summary(summary)
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="hubbub beside Matrix Synapse, socket.io and a bare picows broadcast (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=list(PEERS), help="peers to measure")
    parser.add_argument(
        "--workloads", nargs="+", choices=("posting", "fanout"), default=["posting", "fanout"], help="what to run"
    )
    parser.add_argument("--users", type=int, default=16, help="posting: concurrent posters, each its own user")
    parser.add_argument("--messages", type=int, default=4000, help="posting: measured posts, split between posters")
    parser.add_argument("--warmup", type=int, default=3, help="posting: unmeasured posts per poster first")
    parser.add_argument("--timeout", type=float, default=300, help="posting: seconds allowed per system")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000], help="fan-out: receiver counts N (e.g. 5000)")
    add_poster_option(parser)
    parser.add_argument("--posts", type=int, default=50, help="fan-out: posts M per phase")
    parser.add_argument("--offered-rate", type=float, default=250_000, help="saturating: a post every N/rate s")
    parser.add_argument("--paced-rate", type=float, default=40_000, help="paced: a post every N/rate s (0: skip)")
    parser.add_argument("--listeners", type=int, default=8, help="fan-out: users the receivers sign in as")
    parser.add_argument("--concurrency", type=int, default=100, help="fan-out: receivers connecting at once")
    parser.add_argument("--connect-timeout", type=float, default=60, help="fan-out: seconds (+ N/100) to connect")
    parser.add_argument("--run-timeout", type=float, default=120, help="fan-out: seconds to wait for deliveries")
    parser.add_argument("--work-dir", type=Path, help="keep the peers' installs here, to reuse them")
    parser.add_argument("--skip-install", action="store_true", help="reuse the installs in --work-dir as they are")
    parser.add_argument("--install-timeout", type=float, default=900, help="seconds allowed per peer install")
    parser.add_argument("--keep", action="store_true", help="keep the run's temporary directory (logs, databases)")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="servers (all threads) on CPU 0, every client process and this one on CPU 1",
    )
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    if args.skip_install and args.work_dir is None:
        parser.error("--skip-install needs --work-dir (where an earlier run installed the peers)")
    if any(n < 1 for n in args.sizes) or args.posts < 1 or args.users < 1 or args.messages < args.users:
        parser.error("sizes, --posts and --users must be positive, and --messages at least --users")
    args.server_cpus, args.client_cpus = ({0}, {1}) if args.pin else (None, None)
    if args.pin:
        os.sched_setaffinity(0, {1})  # this process posts and holds the HTTP clients
    raise_nofile_limit()
    started = time.perf_counter()
    processes = Processes()
    atexit.register(processes.stop_all)  # a last resort; the finally below is the rule
    signal.signal(signal.SIGTERM, _interrupt)
    run_dir = Path(tempfile.mkdtemp(prefix="hubbub-bench-peers-"))
    work_dir = args.work_dir.expanduser().resolve() if args.work_dir else run_dir / "installs"
    pinning = "servers on CPU 0, clients on CPU 1" if args.pin else "no CPU pinning"
    print(f"# {os.cpu_count()} CPUs; {pinning}; run directory {run_dir}; installs in {work_dir}", flush=True)
    code = 1
    try:
        peers = _install(args, work_dir, run_dir, processes)
        code = run_uvloop(_bench(args, peers, run_dir, processes))
    except KeyboardInterrupt:
        print("\n# interrupted: stopping every process this bench started", flush=True)
        code = 130
    finally:
        processes.stop_all()
        if args.keep:
            print(f"# kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    print(f"# wall time {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
