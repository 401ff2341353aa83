"""Room fan-out: one poster, N subscribed sechat sockets, against a bare picows broadcast server.

For each size N (``--sizes``), in this order:

1. **hubbub**: ``hubbub serve`` on loopback; a separate client process (picows +
   uvloop) opens N event sockets (one ``/ws-auth`` URL each, of a few listener users) to one
   room; warm-up posts confirm that every socket is subscribed; the server's VmRSS
   before and after gives RSS per idle connection. Then one poster (this process,
   aiohttp) posts M messages at a fixed interval, open loop (it does not wait for an
   answer before the next post). Every message text carries ``bench-s<seq>-e``.
2. **reference**: a bare picows server (its own process) accepts N sockets from a
   fresh client process; a control socket from this process triggers it M times at
   the same interval, and each trigger sends a captured hubbub frame (same bytes,
   only the sequence number changed) to all N sockets in one loop pass.

Each server is measured in two phases on the same sockets, M posts each:

- **saturating**: a post every ``N / --offered-rate`` seconds (default 250,000
  deliveries/s offered), more than either server delivers on this 2-core machine (our
  picows spike: 135-156 k/s), so both run at capacity and deliveries/s measures
  capacity; the posts are still spread over time, not one burst. Latency here includes
  queueing behind earlier posts, so compare the two servers' percentiles with each
  other, not with a budget. hubbub sends the posts that committed while it was still
  delivering an earlier one together, one frame per socket (fanout/hub.py, "coalesce");
  the reference sends one frame per trigger. "events/frame" shows how much merged, and
  the frames/s line compares the two servers per frame written.
- **paced**: a post every ``N / --paced-rate`` seconds (default 40,000 deliveries/s,
  below both capacities): latency of a fan-out that does not wait for earlier ones.

deliveries/s = message events received by all sockets / (last receive - first post
or trigger); latency percentiles are over every single delivery. Send and receive
times are taken in different processes with ``clock_gettime(CLOCK_MONOTONIC)``, which
on Linux is one system-wide clock (see ``_common.CLOCK``), so no clock is sent over a
pipe. Frames without a message marker (keep-alives, entered-room events) are counted
apart ("other frames") and are not deliveries. With ``--pin`` (default on 2+ CPUs)
the server runs on CPU 0 and the client process on CPU 1; "client CPU" near 100%
means that phase was client-bound and its rate is a lower bound for that server.

    .venv/bin/python bench/fanout.py [--sizes 1000 5000 10000] [--posts 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from _common import (
    ChatClient,
    HubbubServer,
    RawPoster,
    ReferenceControlClient,
    bench_env,
    clock,
    cpu_seconds_of,
    fmt_ms,
    fmt_rate,
    max_connections_for,
    percentile,
    pin_process,
    print_table,
    raise_nofile_limit,
    reference_process,
    rss_kib_of,
    run_uvloop,
    start_child,
)

MARKER = b"bench-s"
MARKER_DIGITS_AT, MARKER_DIGITS_END = len(MARKER), len(MARKER) + 6
WARM_SEQ = 900_000  # warm-up messages count from here; measured ones from 0
PAD = "the quick brown fox jumps over the lazy dog"

Conn = multiprocessing.connection.Connection


# ----------------------------------------------------------------------------------------------
# The client process: N sockets, one callback per frame, receive times in compact arrays.


class Received:
    def __init__(self) -> None:
        self.seqs = array("i")
        self.times = array("d")
        self.event_frames = 0
        self.other_frames = 0
        self.subscribed = 0  # sockets that received at least one message event
        self.disconnected = 0
        self.template: bytes | None = None

    def reset(self) -> None:
        self.seqs = array("i")
        self.times = array("d")
        self.event_frames = self.other_frames = 0


def record_deliveries(received: Received, payload: bytes, now: float) -> bool:
    """Count one received frame (or response) at ``now``; False when it carries no message marker."""
    at = payload.find(MARKER)
    if at < 0:
        received.other_frames += 1
        return False
    received.event_frames += 1
    while at >= 0:  # one marker per message event; a frame may carry several
        seq = int(payload[at + MARKER_DIGITS_AT : at + MARKER_DIGITS_END])
        received.seqs.append(seq)
        received.times.append(now)
        if seq >= WARM_SEQ and received.template is None:
            received.template = payload
        at = payload.find(MARKER, at + MARKER_DIGITS_END)
    return True


class SocketListener(WSListener):
    def __init__(self, received: Received) -> None:
        super().__init__()
        self.received = received
        self.got_event = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # Kept lean: this runs once per delivered frame, and the client must not be the bottleneck.
        if frame.msg_type is not WSMsgType.TEXT:
            return
        if record_deliveries(self.received, frame.get_payload_as_bytes(), clock()) and not self.got_event:
            self.got_event = True
            self.received.subscribed += 1

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.received.disconnected += 1


async def connect_sockets(
    received: Received,
    transports: list[WSTransport],
    urls: list[str],
    count: int,
    concurrency: int,
    timeout: float,
    listener: Callable[[Received], WSListener] = SocketListener,
) -> dict[str, Any]:
    semaphore = asyncio.Semaphore(concurrency)
    errors: dict[str, int] = {}

    async def one(index: int) -> None:
        async with semaphore:
            try:
                transport, _ = await ws_connect(
                    lambda: listener(received),
                    urls[index % len(urls)],
                    read_buffer_init_size=2048,
                    websocket_handshake_timeout=30,
                )
            except Exception as error:  # any failure to connect is counted and reported
                count_error(errors, error)
                return
            transports.append(transport)

    return await open_all(count, one, transports, errors, timeout)


def count_error(errors: dict[str, int], error: Exception) -> None:
    """Count a failed connection under its kind (type and the start of its message)."""
    kind = f"{type(error).__name__}: {str(error)[:100]}"
    errors[kind] = errors.get(kind, 0) + 1


async def open_all(
    count: int, one: Callable[[int], Awaitable[None]], opened: list[Any], errors: dict[str, int], timeout: float
) -> dict[str, Any]:
    """Run ``one(i)`` for every ``i < count`` (each appends to ``opened`` or counts an error) within
    ``timeout``; the client's answer to ``connect``: how many opened, the errors, how long it took."""
    began = clock()
    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*tasks)
    except TimeoutError:
        errors["timed out"] = count - len(opened)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"connected": len(opened), "errors": errors, "seconds": clock() - began}


def _count(received: Received, attribute: str) -> int:
    return len(received.seqs) if attribute == "deliveries" else int(getattr(received, attribute))


# Opens receivers: (received, transports, urls=, count=, concurrency=, timeout=) -> the "connect" answer.
# Each transport it appends has ``disconnect(graceful=False)``, which "close" calls.
Connect = Callable[..., Awaitable[dict[str, Any]]]


async def client_main(conn: Conn, connect: Connect = connect_sockets) -> None:
    """The client process's command loop; ``connect`` decides what a receiver is (picows sockets by default)."""
    loop = asyncio.get_running_loop()
    received = Received()
    transports: list[Any] = []
    while True:
        command, options = await loop.run_in_executor(None, conn.recv)
        if command == "connect":
            conn.send(await connect(received, transports, **options))
        elif command == "wait":  # until an attribute reaches a target, or timeout
            attribute, target = options["attribute"], options["target"]
            deadline = time.monotonic() + options["timeout"]
            # Polled: counting in the frame callback is cheaper than waking an Event per frame.
            while _count(received, attribute) < target and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            conn.send({"value": _count(received, attribute), "disconnected": received.disconnected})
        elif command == "reset":
            received.reset()
            conn.send(None)
        elif command == "collect":
            conn.send(
                {
                    "seqs": received.seqs.tobytes(),
                    "times": received.times.tobytes(),
                    "event_frames": received.event_frames,
                    "other_frames": received.other_frames,
                    "disconnected": received.disconnected,
                    "template": received.template,
                }
            )
        elif command == "close":
            for transport in transports:
                transport.disconnect(graceful=False)
            await asyncio.sleep(0.2)
            conn.send(None)
            return


def client_process(conn: Conn, cpus: set[int] | None) -> None:
    start_child(cpus)
    run_uvloop(client_main(conn))


# ----------------------------------------------------------------------------------------------
# The orchestrator (this process).


class Child:
    """A child process and its pipe; ``call`` sends a command and awaits the answer without blocking the loop."""

    def __init__(self, target: Any, cpus: set[int] | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=target, args=(child_end, cpus), daemon=True)
        self.process.start()
        child_end.close()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def recv(self, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.conn.poll, timeout)
        if not ready:
            raise TimeoutError("child process did not answer in time")
        return self.conn.recv()

    async def call(self, command: str, answer_within: float, /, **options: Any) -> Any:
        self.conn.send((command, options))
        return await self.recv(answer_within)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@dataclass
class Phase:
    """One measured run of M posts (or triggers) at a fixed interval."""

    name: str
    offered: float  # deliveries/s the pacing offers
    expected: int = 0
    delivered: int = 0
    event_frames: int = 0
    other_frames: int = 0
    seconds: float = float("nan")
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = float("nan")
    client_cpu: float = float("nan")
    timed_out: bool = False

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else float("nan")

    @property
    def complete(self) -> bool:
        return self.expected > 0 and self.delivered >= self.expected and not self.timed_out


@dataclass
class Result:
    """One server at one size: connections, idle memory, and its phases."""

    server: str
    n: int
    connected: int = 0
    connect_seconds: float = 0.0
    rss_per_conn: float = float("nan")
    disconnected: int = 0
    phases: dict[str, Phase] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    template: bytes | None = None

    def phase(self, name: str) -> Phase:
        return self.phases.get(name) or Phase(name, float("nan"))


SendFunction = Callable[[int], Awaitable[None]]  # sends post (or trigger) number seq


async def _measure(
    result: Result,
    phase: Phase,
    client: Child,
    server_pid: int,
    args: argparse.Namespace,
    send: SendFunction,
    base: int,
) -> None:
    """Fire ``args.posts`` sends (seq ``base``...) at a fixed interval, wait for every delivery, fill in ``phase``."""
    result.phases[phase.name] = phase
    interval = result.n / phase.offered
    await client.call("reset", 10)
    sent_at: dict[int, float] = {}
    failures: list[str] = []

    async def fire(seq: int) -> None:
        sent_at[seq] = clock()
        try:
            await send(seq)
        except Exception as error:  # a failed post is reported in the notes
            failures.append(f"post {seq}: {type(error).__name__}: {error}")

    phase.expected = result.connected * args.posts
    cpu0 = cpu_seconds_of(server_pid), cpu_seconds_of(client.pid)
    start = clock()
    tasks = []
    for k in range(args.posts):
        delay = start + k * interval - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(base + k)))
    timeout = args.run_timeout
    waited = await client.call("wait", timeout + 30, attribute="deliveries", target=phase.expected, timeout=timeout)
    cpu1 = cpu_seconds_of(server_pid), cpu_seconds_of(client.pid)
    await asyncio.gather(*tasks)
    if failures:
        result.notes.append(f"{phase.name}: {len(failures)} posts failed, first: {failures[0]}")
    data = await client.call("collect", 60)
    seqs = array("i")
    seqs.frombytes(data["seqs"])
    times = array("d")
    times.frombytes(data["times"])
    phase.event_frames, phase.other_frames = data["event_frames"], data["other_frames"]
    result.disconnected = data["disconnected"]
    mine = [(s, t) for s, t in zip(seqs, times, strict=True) if s in sent_at]
    phase.delivered = len(mine)
    if waited["value"] < phase.expected:
        phase.timed_out = True
        result.notes.append(
            f"{phase.name}: timed out after {timeout:.0f} s with {waited['value']}/{phase.expected} deliveries"
        )
    if mine:
        phase.seconds = max(t for _, t in mine) - min(sent_at.values())
        window = max(phase.seconds, 1e-9)
        phase.server_cpu = (cpu1[0] - cpu0[0]) / window
        phase.client_cpu = (cpu1[1] - cpu0[1]) / window
        phase.latencies = sorted(t - sent_at[s] for s, t in mine)


async def _measure_all(
    result: Result, client: Child, server_pid: int, args: argparse.Namespace, send: SendFunction
) -> None:
    await _measure(result, Phase("saturating", args.offered_rate), client, server_pid, args, send, 0)
    if args.paced_rate > 0:
        await asyncio.sleep(0.5)
        await _measure(result, Phase("paced", args.paced_rate), client, server_pid, args, send, 100_000)


async def _connect_and_warm(
    result: Result,
    client: Child,
    urls: list[str],
    args: argparse.Namespace,
    warm: SendFunction,
    server_pid: int,
    rss0: int,
) -> bool:
    """Open N sockets, send warm-up messages until all of them got one; measures RSS per connection."""
    n = result.n
    connect_timeout = args.connect_timeout + n / 100
    answer = await client.call(
        "connect", connect_timeout + 30, urls=urls, count=n, concurrency=args.concurrency, timeout=connect_timeout
    )
    result.connected, result.connect_seconds = answer["connected"], answer["seconds"]
    if answer["errors"]:
        result.notes.append(f"connect errors: {answer['errors']}")
    if result.connected == 0:
        return False
    subscribed = 0
    for attempt in range(10):  # hubbub subscribes a socket a moment after its handshake (a database read)
        await warm(WARM_SEQ + attempt)
        waited = await client.call("wait", 60, attribute="subscribed", target=result.connected, timeout=3 + attempt)
        subscribed = waited["value"]
        if subscribed >= result.connected:
            break
    if subscribed < result.connected:
        result.notes.append(f"only {subscribed}/{result.connected} sockets received a warm-up message")
    await asyncio.sleep(1.0)  # let the last writes drain before reading RSS
    result.rss_per_conn = (rss_kib_of(server_pid) - rss0) * 1024 / n
    result.template = (await client.call("collect", 60))["template"]
    return subscribed > 0


def _message(seq: int, run_tag: str) -> str:
    return f"bench-s{seq:06d}-e fan-out {run_tag}: {PAD}"


async def _close_client(client: Child | None) -> None:
    if client is not None:
        with contextlib.suppress(TimeoutError, OSError, EOFError):
            await client.call("close", 30)
        client.stop()


async def run_hubbub(args: argparse.Namespace, data_dir: Path, env: dict[str, str], setup: dict[str, Any]) -> Result:
    n = args.n
    result = Result("hubbub", n)
    server = HubbubServer(data_dir, env)
    client: Child | None = None
    clients: list[ChatClient] = []
    raw: RawPoster | None = None
    try:
        server.start()
        if args.server_cpus:
            pin_process(server.pid, args.server_cpus)
        poster = ChatClient(server.base_url, limit=args.posts + 8)
        clients.append(poster)
        await poster.login(setup["poster"])
        if args.poster == "raw":
            raw = RawPoster(poster)
        sender: ChatClient | RawPoster = poster if raw is None else raw
        listeners = [ChatClient(server.base_url) for _ in setup["listeners"]]
        clients.extend(listeners)
        await asyncio.gather(*(c.login(email) for c, email in zip(listeners, setup["listeners"], strict=True)))
        # A socket URL opens one socket, once: one per socket, shared out over the listener users.
        gate = asyncio.Semaphore(32)

        async def socket_url(index: int) -> str:
            async with gate:
                return await listeners[index % len(listeners)].socket_url(setup["room"])

        urls = list(await asyncio.gather(*(socket_url(i) for i in range(n))))
        run_tag = f"{time.time_ns() % 10**9:09d}"
        room = setup["room"]

        async def post(seq: int) -> None:
            status, body = await sender.post_message(room, _message(seq, run_tag))
            if status != 200 or not isinstance(body, dict) or body.get("id") is None:
                raise RuntimeError(f"HTTP {status} {body!r}")

        await post(WARM_SEQ - 1)  # first post of this process (caches), before any socket exists
        await asyncio.sleep(0.5)
        rss0 = rss_kib_of(server.pid)
        client = Child(client_process, args.client_cpus)
        if await _connect_and_warm(result, client, urls, args, post, server.pid, rss0):
            await _measure_all(result, client, server.pid, args, post)
    except (TimeoutError, RuntimeError, OSError) as error:
        result.notes.append(f"aborted: {type(error).__name__}: {error}")
    finally:
        await _close_client(client)
        if raw is not None:
            await raw.close()
        for c in clients:
            await c.close()
        stop_server(server, result)
    return result


def stop_server(server: HubbubServer, result: Result) -> None:
    """Stop ``hubbub serve``; notes on ``result`` whether it died before, and any error it logged."""
    if not server.alive() and server.process is not None:
        result.notes.append(f"hubbub serve died: {server.stderr_tail()}")
    server.stop()
    tail = server.stderr_tail(15)
    if "Traceback" in tail or "ERROR" in tail:
        result.notes.append(f"server stderr:\n{tail}")


async def run_reference(args: argparse.Namespace, template: bytes) -> Result:
    n = args.n
    result = Result("reference", n)
    reference = Child(reference_process, args.server_cpus)
    client: Child | None = None
    control: WSTransport | None = None
    try:
        port = await reference.recv(30)
        control, listener = await ws_connect(ReferenceControlClient, f"ws://127.0.0.1:{port}/control")
        assert isinstance(listener, ReferenceControlClient)

        async def ask(message: bytes) -> bytes:
            assert control is not None
            control.send(WSMsgType.BINARY, message)
            return await asyncio.wait_for(listener.replies.get(), 30)

        async def trigger(seq: int) -> None:
            assert control is not None
            control.send(WSMsgType.BINARY, b"S%d" % seq)

        await ask(b"T" + template)
        await asyncio.sleep(0.5)
        rss0 = rss_kib_of(reference.pid)
        client = Child(client_process, args.client_cpus)
        urls = [f"ws://127.0.0.1:{port}/events/1/reference"]
        if await _connect_and_warm(result, client, urls, args, trigger, reference.pid, rss0):
            subscribers = int((await ask(b"C"))[1:])
            if subscribers != result.connected:
                result.notes.append(f"the reference counts {subscribers} subscribers, the client {result.connected}")
            await _measure_all(result, client, reference.pid, args, trigger)
    except (TimeoutError, RuntimeError, OSError) as error:
        result.notes.append(f"aborted: {type(error).__name__}: {error}")
    finally:
        await _close_client(client)
        if control is not None:
            control.disconnect()
        with contextlib.suppress(OSError):
            reference.conn.send("stop")
        reference.stop()
    return result


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def cpu_per_delivery(phase: Phase) -> float:
    """Server CPU seconds per delivery: unlike deliveries/s, it hardly moves when other load starves the server."""
    if not phase.complete or math.isnan(phase.server_cpu):
        return float("nan")
    return phase.server_cpu * phase.seconds / phase.delivered


def _p50_p99(phase: Phase) -> str:
    return f"{fmt_ms(percentile(phase.latencies, 0.5))} / {fmt_ms(percentile(phase.latencies, 0.99))}"


def _rows(result: Result) -> list[list[str]]:
    rows = []
    for phase in result.phases.values() or [Phase("-", float("nan"))]:
        lat = phase.latencies
        rows.append(
            [
                result.server,
                phase.name,
                fmt_rate(phase.offered),
                f"{phase.delivered}/{phase.expected}",
                f"{phase.seconds:.2f}" if phase.delivered else "-",
                fmt_rate(phase.rate) if phase.complete else f"({fmt_rate(phase.rate)})",
                fmt_ms(percentile(lat, 0.5)),
                fmt_ms(percentile(lat, 0.99)),
                fmt_ms(lat[-1] if lat else float("nan")),
                _pct(phase.server_cpu),
                _pct(phase.client_cpu),
                f"{phase.delivered / phase.event_frames:.2f}" if phase.event_frames else "-",
                str(phase.other_frames),
            ]
        )
    return rows


HEADER = [
    "server",
    "phase",
    "offered/s",
    "deliveries",
    "seconds",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "server CPU",
    "client CPU",
    "events/frame",
    "other frames",
]


async def bench(args: argparse.Namespace, data_dir: Path, env: dict[str, str], setup: dict[str, Any]) -> int:
    summary: list[list[str]] = []
    failed = False
    pinning = f"server on CPU {args.server_cpus}, client on CPU {args.client_cpus}" if args.pin else "no CPU pinning"
    print(f"# {os.cpu_count()} CPUs; {pinning}; {args.posts} posts per phase; {args.listeners} listener users")
    for n in args.sizes:
        args.n = n
        print(
            f"\n=== N = {n} sockets; saturating: a post every {n / args.offered_rate * 1000:.1f} ms"
            + (f", paced: every {n / args.paced_rate * 1000:.1f} ms" if args.paced_rate > 0 else "")
            + " ===",
            flush=True,
        )
        began = time.perf_counter()
        hub = await _bounded(run_hubbub(args, data_dir, env, setup), args, Result("hubbub", n))
        if hub.template is None:
            hub.notes.append("no hubbub frame captured; the reference cannot run")
            ref = Result("reference", n)
        else:
            ref = await _bounded(run_reference(args, hub.template), args, Result("reference", n))
        print(f"frame: {len(hub.template or b'')} bytes: {(hub.template or b'')[:100]!r}...")
        print_table(HEADER, _rows(hub) + _rows(ref))
        print(
            "idle memory: "
            + ", ".join(
                f"{r.server} {r.rss_per_conn / 1024:.1f} KiB/conn ({r.rss_per_conn * n / 2**20:.1f} MiB "
                f"for {r.connected} sockets, opened in {r.connect_seconds:.1f} s)"
                for r in (hub, ref)
            )
        )
        for result in (hub, ref):
            for phase in result.phases.values():
                if phase.client_cpu >= 0.9:
                    result.notes.append(
                        f"{phase.name}: client CPU {phase.client_cpu:.0%}: client-bound, the rate is a lower bound"
                    )
            if result.disconnected:
                result.notes.append(f"{result.disconnected} sockets were closed by the server during the run")
            for note in result.notes:
                print(f"  note ({result.server}): {note}")
        hub_sat, ref_sat = hub.phase("saturating"), ref.phase("saturating")
        ratio = hub_sat.rate / ref_sat.rate if hub_sat.complete and ref_sat.complete else float("nan")
        verdict = ""
        if n == 5000 and not math.isnan(ratio):
            verdict = "  (target >= 90% at N=5000: " + ("met" if ratio >= 0.9 else "NOT met") + ")"
        shown = "n/a (a saturating phase did not complete)" if math.isnan(ratio) else f"{ratio:.1%}"
        print(f"hubbub / reference deliveries/s (saturating): {shown}{verdict}")
        if hub_sat.complete and ref_sat.complete and hub_sat.event_frames and ref_sat.event_frames:
            hub_frames, ref_frames = hub_sat.event_frames / hub_sat.seconds, ref_sat.event_frames / ref_sat.seconds
            print(
                f"frames/s (saturating): hubbub {fmt_rate(hub_frames)}, reference {fmt_rate(ref_frames)};"
                f" hubbub / reference {hub_frames / ref_frames:.1%}"
            )
        hub_cpu, ref_cpu = cpu_per_delivery(hub_sat), cpu_per_delivery(ref_sat)
        if not (math.isnan(hub_cpu) or math.isnan(ref_cpu)):
            # What the rate would be were both given a whole core: the same figure, robust to a busy machine.
            print(
                f"server CPU per delivery (saturating): hubbub {hub_cpu * 1e6:.2f} us,"
                f" reference {ref_cpu * 1e6:.2f} us; reference / hubbub {ref_cpu / hub_cpu:.1%}"
            )
        print(f"[N={n} took {time.perf_counter() - began:.0f} s]", flush=True)
        complete = all(p.complete for r in (hub, ref) for p in r.phases.values())
        failed = failed or not complete or not hub_sat.complete or not ref_sat.complete
        summary.append(
            [
                str(n),
                fmt_rate(hub_sat.rate) if hub_sat.complete else "incomplete",
                fmt_rate(ref_sat.rate) if ref_sat.complete else "incomplete",
                "-" if math.isnan(ratio) else f"{ratio:.1%}",
                _p50_p99(hub_sat),
                _p50_p99(ref_sat),
                _p50_p99(hub.phase("paced")),
                _p50_p99(ref.phase("paced")),
                f"{hub.rss_per_conn / 1024:.1f}",
                f"{ref.rss_per_conn / 1024:.1f}",
                f"{cpu_per_delivery(hub_sat) * 1e6:.2f}/{cpu_per_delivery(ref_sat) * 1e6:.2f}",
            ]
        )
    print("\n=== summary (deliveries/s and ratio from the saturating phase) ===")
    print_table(
        [
            "N",
            "hubbub deliv/s",
            "ref deliv/s",
            "ratio",
            "hubbub sat p50/p99 ms",
            "ref sat p50/p99 ms",
            "hubbub paced p50/p99 ms",
            "ref paced p50/p99 ms",
            "hubbub KiB/conn",
            "ref KiB/conn",
            "CPU us/delivery (hubbub/ref)",
        ],
        summary,
    )
    return 1 if failed else 0


async def _bounded(run: Awaitable[Result], args: argparse.Namespace, fallback: Result) -> Result:
    """A whole size's phase gets a hard limit too, on top of the limits inside it."""
    limit = args.connect_timeout + fallback.n / 100 + 2 * args.run_timeout + 180
    try:
        async with asyncio.timeout(limit):
            return await run
    except TimeoutError:
        fallback.notes.append(f"did not complete within {limit:.0f} s")
        return fallback


def add_poster_option(parser: argparse.ArgumentParser) -> None:
    """``--poster``: how hubbub's posts are sent (``_common.RawPoster``), for every bench running ``run_hubbub``."""
    parser.add_argument(
        "--poster",
        choices=("raw", "aiohttp"),
        default="raw",
        help="hubbub's poster: ready-made HTTP requests (raw), as the reference gets ready-made frames, "
        "or aiohttp's client, whose own cost (about 0.5 ms a post) then counts in hubbub's latency",
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Fan-out of one room to N sechat sockets: hubbub vs a bare picows broadcast server (loopback).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000], help="socket counts N")
    parser.add_argument("--posts", type=int, default=50, help="measured posts M per size")
    parser.add_argument(
        "--offered-rate",
        type=float,
        default=250_000,
        help="saturating phase: a post every N/offered-rate seconds (deliveries/s offered)",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=40_000,
        help="second phase, for latency below capacity: a post every N/paced-rate seconds (0: skip it)",
    )
    parser.add_argument("--listeners", type=int, default=8, help="users the sockets sign in as")
    add_poster_option(parser)
    parser.add_argument("--concurrency", type=int, default=100, help="socket handshakes in flight at once")
    parser.add_argument("--connect-timeout", type=float, default=60, help="seconds (+ N/100) to open N sockets")
    parser.add_argument("--run-timeout", type=float, default=90, help="seconds to wait for all deliveries")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="pin the server (hubbub or reference, all threads) to CPU 0 and the client process to CPU 1",
    )
    args = parser.parse_args()
    args.server_cpus, args.client_cpus = ({0}, {1}) if args.pin else (None, None)
    if any(n < 1 for n in args.sizes) or args.posts < 1 or args.posts >= WARM_SEQ - 1:
        parser.error("sizes must be positive and --posts between 1 and 899,998")

    started = time.perf_counter()
    limit = raise_nofile_limit()
    if max(args.sizes) + 100 > limit:
        print(f"# warning: RLIMIT_NOFILE is {limit}; {max(args.sizes)} sockets may not fit")
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-fanout-") as tmp:
        data_dir = Path(tmp) / "data"
        env = bench_env(
            message_rate_burst=10**9,
            message_rate_per_second=10**9,
            ws_max_connections_per_ip=10**6,
            ws_token_ttl_seconds=24 * 3600,
            ws_tokens_per_user=10**6,  # every socket opens a URL of its own, asked for up front
            max_connections=max_connections_for(max(args.sizes)),
        )
        setup_server = HubbubServer(data_dir, env)
        names = ["poster", *(f"listener{i:02d}" for i in range(args.listeners))]
        print(f"# setting up: {len(names)} users and a room via the CLI; RLIMIT_NOFILE {limit}", flush=True)
        setup_server.create_users(names)
        setup = {
            "room": setup_server.create_room("bench-fanout"),
            "poster": "poster@bench.invalid",
            "listeners": [f"{name}@bench.invalid" for name in names[1:]],
        }
        code = run_uvloop(bench(args, data_dir, env, setup))
    print(f"# wall time {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
