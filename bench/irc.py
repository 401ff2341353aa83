"""The IRC gateway against the sechat socket: N IRC clients and N sechat sockets in one room, one poster.

One ``hubbub serve`` (with ``HUBBUB_IRC_PORT=0``); one client process (uvloop) opens N IRC
connections (PASS login as one of a few bench users, ``JOIN #bench-irc``) and N sechat
event sockets (one ``/ws-auth`` URL each) to the same room; warm-up posts prove that
every connection of both kinds receives. Then the poster (this process) posts M messages
at a fixed interval without waiting for answers, and every post reaches both transports
in the same run: each message is one fan-out to 2N connections, half IRC, half sechat.

Per transport: deliveries/s (message lines or events received / (last receive - first
post)), post -> receive latency p50/p99 over every delivery, and deliveries missing.
The headline is IRC deliveries/s over sechat deliveries/s (target >= 0.8). Send and
receive times are ``clock_gettime(CLOCK_MONOTONIC)`` in two processes (``_common.CLOCK``).
With ``--pin`` (default on 2+ CPUs) the server runs on CPU 0 and the client process on
CPU 1.

    .venv/bin/python bench/irc.py [--clients 1000] [--posts 40] [--rate 40000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import multiprocessing
import multiprocessing.connection
import os
import re
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from _common import (
    PASSWORD,
    ChatClient,
    HubbubServer,
    bench_env,
    clock,
    cpu_seconds_of,
    fmt_ms,
    fmt_rate,
    percentile,
    pin_process,
    print_table,
    raise_nofile_limit,
    run_uvloop,
    start_child,
)

MARKER = b"bench-s"
DIGITS_AT, DIGITS_END = len(MARKER), len(MARKER) + 6
WARM_SEQ = 900_000
PAD = "the quick brown fox jumps over the lazy dog"
ROOM = "bench irc"
CHANNEL = "#bench-irc"
Conn = multiprocessing.connection.Connection


# ----------------------------------------------------------------------------------------------
# The client process: both transports, one receive callback each, times in compact arrays.


class _Received:
    def __init__(self) -> None:
        self.seqs = array("i")
        self.times = array("d")
        self.reached: set[int] = set()  # connections that received a warm-up message
        self.disconnected = 0

    def reset(self) -> None:
        self.seqs = array("i")
        self.times = array("d")

    def scan(self, data: bytes, now: float, connection: int) -> None:
        at = data.find(MARKER)
        while at >= 0:
            seq = int(data[at + DIGITS_AT : at + DIGITS_END])
            if seq >= WARM_SEQ:
                self.reached.add(connection)
            else:
                self.seqs.append(seq)
                self.times.append(now)
            at = data.find(MARKER, at + DIGITS_END)


class _IrcClient(asyncio.Protocol):
    """One IRC connection: logs in, joins, and scans whole lines for the marker."""

    def __init__(self, received: _Received, index: int, login: bytes, joined: asyncio.Future[None]) -> None:
        self.received = received
        self.index = index
        self.login = login
        self.joined = joined
        self.partial = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.transport.write(self.login)

    def data_received(self, data: bytes) -> None:
        now = clock()
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        whole = data[:cut]
        if not self.joined.done():
            if b" 366 " in whole:
                self.joined.set_result(None)
            elif b"ERROR" in whole or b" 464 " in whole or b" 403 " in whole:
                self.joined.set_exception(RuntimeError(whole.decode(errors="replace")[:200]))
        if b"PING" in whole:
            for line in whole.split(b"\r\n"):
                if line.startswith(b"PING"):
                    self.transport.write(b"PONG" + line[4:] + b"\r\n")
        self.received.scan(whole, now, self.index)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.joined.done():
            self.joined.set_exception(RuntimeError("closed before JOIN was answered"))
        elif self.joined.exception() is None:  # a joined connection lost (a refused login is retried, not counted)
            self.received.disconnected += 1


class _SocketListener(WSListener):
    def __init__(self, received: _Received, index: int) -> None:
        super().__init__()
        self.received = received
        self.index = index

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.received.scan(frame.get_payload_as_bytes(), clock(), self.index)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.received.disconnected += 1


async def _open_irc(received: _Received, port: int, nicks: list[str], count: int, concurrency: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    errors: dict[str, int] = {}
    opened: list[asyncio.BaseTransport] = []

    async def one(index: int) -> None:
        nick = nicks[index % len(nicks)]
        login = f"PASS :{PASSWORD}\r\nNICK {nick}\r\nUSER b 0 * :bench\r\nJOIN {CHANNEL}\r\n".encode()
        for attempt in range(5):  # "busy checking passwords" is an answer to retry, as a client would
            async with gate:
                joined: asyncio.Future[None] = loop.create_future()
                try:
                    transport, _ = await loop.create_connection(
                        functools.partial(_IrcClient, received, index, login, joined), "127.0.0.1", port
                    )
                    async with asyncio.timeout(60):
                        await joined
                    opened.append(transport)
                    return
                except Exception as error:  # every failure is counted and reported
                    kind = f"{type(error).__name__}: {str(error)[:60]!r}"
                    if attempt == 4:
                        errors[kind] = errors.get(kind, 0) + 1
            await asyncio.sleep(0.2 * (attempt + 1))

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return {"opened": len(opened), "errors": errors, "seconds": time.perf_counter() - began, "transports": opened}


async def _open_sockets(received: _Received, urls: list[str], concurrency: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    errors: dict[str, int] = {}
    opened: list[WSTransport] = []

    async def one(index: int, url: str) -> None:
        async with gate:
            try:
                transport, _ = await ws_connect(
                    lambda: _SocketListener(received, index), url, read_buffer_init_size=2048
                )
                opened.append(transport)
            except Exception as error:  # every failure is counted and reported
                kind = f"{type(error).__name__}: {str(error)[:80]}"
                errors[kind] = errors.get(kind, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(one(i, url) for i, url in enumerate(urls)))
    return {"opened": len(opened), "errors": errors, "seconds": time.perf_counter() - began, "transports": opened}


async def _client_main(conn: Conn) -> None:
    loop = asyncio.get_running_loop()
    irc, sechat = _Received(), _Received()
    transports: dict[str, list[Any]] = {"irc": [], "sechat": []}
    while True:
        command, options = await loop.run_in_executor(None, conn.recv)
        if command == "open":
            answer_irc = await _open_irc(
                irc, options["port"], options["nicks"], options["count"], options["concurrency"]
            )
            answer_ws = await _open_sockets(sechat, options["urls"], options["concurrency"])
            transports["irc"], transports["sechat"] = answer_irc.pop("transports"), answer_ws.pop("transports")
            conn.send({"irc": answer_irc, "sechat": answer_ws})
        elif command == "reached":
            conn.send({"irc": len(irc.reached), "sechat": len(sechat.reached)})
        elif command == "wait":
            target, deadline = options["target"], time.monotonic() + options["timeout"]
            while (len(irc.seqs) < target or len(sechat.seqs) < target) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            conn.send(None)
        elif command == "collect":
            conn.send(
                {
                    name: {"seqs": r.seqs.tobytes(), "times": r.times.tobytes(), "disconnected": r.disconnected}
                    for name, r in (("irc", irc), ("sechat", sechat))
                }
            )
            irc.reset()
            sechat.reset()
        elif command == "close":
            for transport in transports["irc"]:
                transport.close()
            for transport in transports["sechat"]:
                transport.disconnect(graceful=False)
            await asyncio.sleep(0.2)
            conn.send(None)
            return


def client_process(conn: Conn, cpus: set[int] | None) -> None:
    start_child(cpus)
    run_uvloop(_client_main(conn))


# ----------------------------------------------------------------------------------------------
# The orchestrator (this process).


class Child:
    """The client process and its pipe."""

    def __init__(self, cpus: set[int] | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=client_process, args=(child_end, cpus), daemon=True)
        self.process.start()
        child_end.close()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def call(self, command: str, within: float, /, **options: Any) -> Any:
        self.conn.send((command, options))
        ready = await asyncio.get_running_loop().run_in_executor(None, self.conn.poll, within)
        if not ready:
            raise TimeoutError(f"the client process did not answer {command!r} in time")
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _irc_port(server: HubbubServer, timeout: float = 30) -> int:
    out = server.data_dir / "serve.stdout"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"IRC gateway listening on 127\.0\.0\.1:(\d+)", out.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise RuntimeError("hubbub serve did not report its IRC port")


def _summary(name: str, data: dict[str, Any], sent_at: dict[int, float], expected: int) -> dict[str, Any]:
    seqs, times = array("i"), array("d")
    seqs.frombytes(data["seqs"])
    times.frombytes(data["times"])
    mine = [(s, t) for s, t in zip(seqs, times, strict=True) if s in sent_at]
    latencies = sorted(t - sent_at[s] for s, t in mine)
    seconds = (max(t for _, t in mine) - min(sent_at.values())) if mine else float("nan")
    return {
        "name": name,
        "delivered": len(mine),
        "missing": expected - len(mine),
        "rate": len(mine) / seconds if mine and seconds > 0 else float("nan"),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
        "disconnected": data["disconnected"],
    }


async def bench(args: argparse.Namespace, data_dir: Path, env: dict[str, str], setup: dict[str, Any]) -> int:
    server = HubbubServer(data_dir, env)
    client: Child | None = None
    chat: list[ChatClient] = []
    try:
        server.start()
        irc_port = _irc_port(server)
        if args.server_cpus:
            pin_process(server.pid, args.server_cpus)
        poster = ChatClient(server.base_url, limit=args.posts + 8)
        listeners = [ChatClient(server.base_url) for _ in setup["listeners"]]
        chat = [poster, *listeners]
        await poster.login(setup["poster"])
        await asyncio.gather(*(c.login(e) for c, e in zip(listeners, setup["listeners"], strict=True)))
        gate = asyncio.Semaphore(32)

        async def socket_url(index: int) -> str:
            async with gate:
                return await listeners[index % len(listeners)].socket_url(setup["room"])

        urls = list(await asyncio.gather(*(socket_url(i) for i in range(args.clients))))
        tag = f"{time.time_ns() % 10**9:09d}"

        async def post(seq: int) -> None:
            status, body = await poster.post_message(setup["room"], f"bench-s{seq:06d}-e irc {tag}: {PAD}")
            if status != 200:
                raise RuntimeError(f"post {seq}: HTTP {status} {body!r}")

        await post(WARM_SEQ - 1)
        client = Child(args.client_cpus)
        opened = await client.call(
            "open", 600, port=irc_port, nicks=setup["irc_nicks"], count=args.clients, urls=urls, concurrency=50
        )
        print(
            f"# opened {opened['irc']['opened']} IRC connections in {opened['irc']['seconds']:.1f} s"
            f" {opened['irc']['errors'] or ''}; {opened['sechat']['opened']} sechat sockets in"
            f" {opened['sechat']['seconds']:.1f} s {opened['sechat']['errors'] or ''}",
            flush=True,
        )
        reached = {"irc": 0, "sechat": 0}
        for attempt in range(6):
            await post(WARM_SEQ + attempt)
            await asyncio.sleep(1 + attempt / 2)
            reached = await client.call("reached", 30)
            if reached["irc"] >= opened["irc"]["opened"] and reached["sechat"] >= opened["sechat"]["opened"]:
                break
        print(f"# warm: {reached['irc']} IRC and {reached['sechat']} sechat connections received", flush=True)
        await client.call("collect", 60)
        n = min(opened["irc"]["opened"], opened["sechat"]["opened"])
        interval = 2 * n / args.rate
        sent_at: dict[int, float] = {}
        cpu0 = cpu_seconds_of(server.pid), cpu_seconds_of(client.pid)
        start = clock()
        tasks = []
        for k in range(args.posts):
            delay = start + k * interval - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[k] = clock()
            tasks.append(asyncio.create_task(post(k)))
        await client.call("wait", args.run_timeout + 30, target=n * args.posts, timeout=args.run_timeout)
        cpu1 = cpu_seconds_of(server.pid), cpu_seconds_of(client.pid)
        window = clock() - start
        await asyncio.gather(*tasks)
        data = await client.call("collect", 60)
        rows = []
        summaries = {}
        for name, count in (("irc", opened["irc"]["opened"]), ("sechat", opened["sechat"]["opened"])):
            s = _summary(name, data[name], sent_at, count * args.posts)
            summaries[name] = s
            rows.append(
                [
                    name,
                    str(count),
                    f"{s['delivered']:,}",
                    str(s["missing"]),
                    fmt_rate(s["rate"]),
                    fmt_ms(s["p50"]),
                    fmt_ms(s["p99"]),
                    fmt_ms(s["max"]),
                    str(s["disconnected"]),
                ]
            )
        print(
            f"\n{args.posts} posts, one every {interval * 1000:.1f} ms ({args.rate:,.0f} deliveries/s offered over"
            f" both transports), each to {opened['irc']['opened']} IRC + {opened['sechat']['opened']} sechat"
            " connections in one room"
        )
        print_table(
            ["transport", "conns", "delivered", "missing", "deliveries/s", "p50 ms", "p99 ms", "max ms", "dropped"],
            rows,
        )
        ratio = summaries["irc"]["rate"] / summaries["sechat"]["rate"]
        print(
            f"\nIRC/sechat deliveries/s: {ratio:.2f} (target >= 0.8); p99 IRC/sechat:"
            f" {summaries['irc']['p99'] / summaries['sechat']['p99']:.2f}"
        )
        print(
            f"server CPU {(cpu1[0] - cpu0[0]) / window:.0%}, client CPU {(cpu1[1] - cpu0[1]) / window:.0%}"
            " of one core over the run"
        )
        failed = summaries["irc"]["missing"] or summaries["sechat"]["missing"]
        if failed:
            print("FAILED: deliveries missing")
        return 1 if failed else 0
    finally:
        if client is not None:
            with contextlib.suppress(TimeoutError, OSError, EOFError):
                await client.call("close", 30)
            client.stop()
        for c in chat:
            await c.close()
        server.stop()
        tail = server.stderr_tail(15)
        if "Traceback" in tail:
            print(f"# server stderr:\n{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="N IRC clients on the gateway and N sechat sockets in one room: deliveries/s and latency of both",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=1000, help="IRC connections, and as many sechat sockets")
    parser.add_argument("--posts", type=int, default=40, help="measured posts")
    parser.add_argument("--rate", type=float, default=40_000, help="deliveries/s offered over both transports")
    parser.add_argument("--irc-users", type=int, default=20, help="users the IRC connections log in as")
    parser.add_argument("--listeners", type=int, default=8, help="users the sechat sockets sign in as")
    parser.add_argument("--run-timeout", type=float, default=90, help="seconds to wait for every delivery")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="pin the server (all threads) to CPU 0 and the client process to CPU 1",
    )
    args = parser.parse_args()
    args.server_cpus, args.client_cpus = ({0}, {1}) if args.pin else (None, None)
    started = time.perf_counter()
    limit = raise_nofile_limit()
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-irc-") as tmp:
        data_dir = Path(tmp) / "data"
        env = bench_env(
            irc_port=0,
            message_rate_burst=10**9,
            message_rate_per_second=10**9,
            ws_max_connections_per_ip=10**6,
            ws_token_ttl_seconds=24 * 3600,
            ws_tokens_per_user=10**6,
        )
        setup_server = HubbubServer(data_dir, env)
        irc_nicks = [f"ircuser{i:02d}" for i in range(args.irc_users)]
        listeners = [f"listener{i:02d}" for i in range(args.listeners)]
        print(f"# setting up users and a room via the CLI; RLIMIT_NOFILE {limit}", flush=True)
        setup_server.create_users(["poster", *irc_nicks, *listeners])
        setup = {
            "room": setup_server.create_room(ROOM),
            "poster": "poster@bench.invalid",
            "listeners": [f"{name}@bench.invalid" for name in listeners],
            "irc_nicks": irc_nicks,
        }
        code = run_uvloop(bench(args, data_dir, env, setup))
    print(f"# wall time {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
