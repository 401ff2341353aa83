"""Comet long polls: W waiting polls on one ``hubbub serve``, against a bare aiohttp ``asyncio.Event`` server.

For each server, in this order:

1. **hubbub**: the bench writes W listener users, one sender who is everyone's contact, and a
   session for each straight into a fresh SQLite file (set-up, not measured: no password
   hashing), then starts ``hubbub serve`` on it. ``--clients`` client processes (aiohttp on
   uvloop) each hold W / clients polls, one per user, at the user's next seq
   (``GET /x/0/false/p_<uid>=<seq>`` with the user's cookies). Once the server's
   ``hubbub_longpoll_waiters`` gauge shows all W waiting, its VmRSS minus the VmRSS before the
   clients connected, divided by W, is the memory per waiting poll.
2. After ``--warmup`` seconds of unmeasured messages (the sender's connections opened, its first
   sends served), the sender (this process) posts ``--rate`` direct messages per second (open
   loop) for ``--seconds`` through ``/ajax/chat/send.php``, each to a different user drawn at random; every
   text is the send time on ``CLOCK_MONOTONIC`` (one system-wide clock on Linux, _common.CLOCK),
   and the client whose poll it answers records receive time minus send time. The client then
   polls the next seq, as a real client does.
3. **reference**: a bare aiohttp server (its own process, same loop) that keeps each user's
   messages in a list and parks a poll at the next index on that user's ``asyncio.Event``;
   ``POST /ajax/chat/send.php`` appends and sets the event. Same clients, same paths, same
   sender, same schedule: what holding W requests and waking one costs with nothing else.

Both hold a poll 55 s at most (hubbub: ``comet_poll_timeout_min = max = 55``), longer than a
run's measuring phase. With ``--pin`` (default on 2+ CPUs) each server runs on CPU 0 and the
clients and the sender on CPU 1.

    .venv/bin/python bench/longpoll.py [--waiters 10000] [--clients 4] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PYTHON,
    HubbubServer,
    bench_env,
    clock,
    die_with_parent,
    fmt_ms,
    held_polls_settings,
    percentile,
    pin_process,
    print_table,
    raise_nofile_limit,
    rss_kib_of,
    run_then_stop,
    run_uvloop,
)

HOLD_SECONDS = 55.0
WARMUP_MARK = "w"  # starts the text of a warm-up message, which the clients do not time
_WAITERS_GAUGE = re.compile(r"^hubbub_longpoll_waiters (\S+)$", re.M)


# --- client processes ---------------------------------------------------------------------------


async def _hold_polls(spec: dict[str, Any]) -> dict[str, Any]:
    """Hold one poll per user in ``spec`` until SIGTERM; the latencies and counts seen."""
    base = spec["base"]
    latencies: list[float] = []
    counts = {"errors": 0, "continues": 0}
    kinds: dict[str, int] = {}  # what went wrong, by kind (the start of the error's text)

    def failed(kind: str) -> None:
        counts["errors"] += 1
        kinds[kind] = kinds.get(kind, 0) + 1

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=HOLD_SECONDS + 30)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout
    ) as session:

        async def poll(uid: int, token: str) -> None:
            headers = {"Cookie": f"acct={token}; c_user={uid}", "Host": "0.channel01.bench.invalid"}
            seq = -1
            while True:
                try:
                    async with session.get(f"{base}/x/0/false/p_{uid}={seq}", headers=headers) as response:
                        text = await response.text()
                except (aiohttp.ClientError, TimeoutError) as error:
                    failed(f"{type(error).__name__}: {str(error)[:80]}")
                    await asyncio.sleep(0.5)
                    continue
                received = clock()
                answer = json.loads(text[9:])
                if answer["t"] == "refresh" and "seq" in answer:
                    seq = int(answer["seq"])
                elif answer["t"] == "msg":
                    text = answer["ms"][0]["msg"]["text"]
                    if not text.startswith(WARMUP_MARK):
                        latencies.append(received - float(text))
                    seq += 1
                elif answer["t"] == "continue":
                    counts["continues"] += 1
                else:
                    failed(f"answer {text[:80]}")
                    await asyncio.sleep(0.5)

        tasks = [asyncio.create_task(poll(uid, token)) for uid, token in spec["users"]]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies, **counts, "kinds": kinds}


def _client_main(spec_path: Path, out_path: Path) -> None:
    die_with_parent()
    spec = json.loads(spec_path.read_text())
    out_path.write_text(json.dumps(run_uvloop(_hold_polls(spec))))


# --- the reference server -----------------------------------------------------------------------


def _reference_app() -> web.Application:
    messages: dict[int, list[str]] = {}
    events: dict[int, asyncio.Event] = {}
    waiting = [0]
    path = re.compile(r"p_(\d+)=(-?\d+)$")

    def frame(obj: dict[str, Any]) -> web.Response:
        return web.Response(body=b"for (;;);" + json.dumps(obj, separators=(",", ":")).encode())

    async def poll(request: web.Request) -> web.Response:
        match = path.search(request.match_info["tail"])
        if match is None:
            return frame({"t": "refresh"})
        uid, seq = int(match[1]), int(match[2])
        log = messages.setdefault(uid, [])
        if seq < 0 or seq > len(log):
            return frame({"t": "refresh", "seq": len(log)})
        if seq == len(log):
            event = events.setdefault(uid, asyncio.Event())
            waiting[0] += 1
            try:
                async with asyncio.timeout(HOLD_SECONDS):
                    while seq == len(log):
                        await event.wait()
            except TimeoutError:
                return frame({"t": "continue"})
            finally:
                waiting[0] -= 1
        return frame({"t": "msg", "c": f"p_{uid}", "ms": [{"type": "msg", "msg": {"text": log[seq]}}]})

    async def send(request: web.Request) -> web.Response:
        form = await request.post()
        uid = int(str(form["to"]))
        messages.setdefault(uid, []).append(str(form["msg_text"]))
        event = events.pop(uid, None)
        if event is not None:
            event.set()
        return frame({"error": 0, "errorSummary": "", "errorDescription": "No error.", "payload": []})

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=f"hubbub_longpoll_waiters {waiting[0]}\n")

    app = web.Application()
    app.add_routes([web.get("/x/{tail:.*}", poll), web.post("/ajax/chat/send.php", send), web.get("/metrics", count)])
    return app


async def _reference_main() -> None:
    runner = web.AppRunner(_reference_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    print(f"listening on {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


class ReferenceServer:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, __file__, "--reference-server"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        self.base_url = f"http://127.0.0.1:{int(line.split()[-1])}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    waiters: int
    rss_before_kib: int
    rss_after_kib: int
    ramp_seconds: float
    sent: int
    send_errors: int
    latencies: list[float]
    client_errors: int
    continues: int  # polls that ran their full hold while the run lasted (re-polled, as clients do)
    error_kinds: dict[str, int] = field(default_factory=dict)  # the clients' errors by kind

    @property
    def kib_per_waiter(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.waiters)


def _prepare_hubbub(data_dir: Path, waiters: int) -> tuple[list[tuple[int, str]], tuple[int, str, str]]:
    """Users, contacts and sessions written straight into the store; ([(uid, token)], sender)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from hubbub.core.clock import SystemClock
    from hubbub.core.direct import Stance
    from hubbub.core.models import User
    from hubbub.service.service import Service
    from hubbub.settings import Settings
    from hubbub.store.base import WriteTx
    from hubbub.store.sqlite import SqliteStore

    async def prepare() -> tuple[list[tuple[int, str]], tuple[int, str, str]]:
        store = SqliteStore.open(data_dir / "hubbub.sqlite3")
        settings = Settings(data_dir=data_dir)
        service = Service(store=store, bus=_NullBus(), clock=SystemClock(), settings=settings)
        await service.start()

        def users(tx: WriteTx) -> list[User]:
            made = [
                tx.insert_user(
                    name=f"listener {i}",
                    email=f"l{i}@bench.invalid",
                    password_hash="!",
                    reputation=20,
                    is_moderator=False,
                    now=1,
                )
                for i in range(waiters + 1)
            ]
            sender = made[-1]
            for user in made[:-1]:
                tx.set_contact_stance(user.id, sender.id, Stance.WANT, 1)
                tx.set_contact_stance(sender.id, user.id, Stance.WANT, 1)
            return made

        made = await store.write(users)
        opened = await asyncio.gather(*(service.accounts.open_session(user) for user in made))
        service.close()
        await store.close()
        listeners = [(int(user.id), token) for user, (token, _) in zip(made[:-1], opened[:-1], strict=True)]
        sender_token, sender_session = opened[-1]
        return listeners, (int(made[-1].id), sender_token, sender_session.fkey)

    return asyncio.run(prepare())


class _NullBus:
    """Set-up publishes nothing anyone listens to."""

    async def publish(self, events: Sequence[Any]) -> None:
        return None

    async def close(self) -> None:
        return None


async def _waiting(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(f"{base}/metrics") as response:
        match = _WAITERS_GAUGE.search(await response.text())
    return 0 if match is None else int(float(match[1]))


def _measure(
    name: str,
    base: str,
    pid: int,
    listeners: list[tuple[int, str]],
    sender: tuple[int, str, str],
    args: argparse.Namespace,
    work: Path,
) -> Result:
    work.mkdir(parents=True, exist_ok=True)
    rss_before = rss_kib_of(pid)
    clients = []
    shares = [listeners[i :: args.clients] for i in range(args.clients)]
    for index, share in enumerate(shares):
        spec = work / f"client{index}.json"
        spec.write_text(json.dumps({"base": base, "users": share}))
        process = subprocess.Popen([PYTHON, __file__, "--client", str(spec), str(work / f"out{index}.json")])
        clients.append(process)
        if args.pin:
            pin_process(process.pid, {1})
    if args.pin:
        pin_process(pid, {0})

    async def drive() -> tuple[float, int, int, int]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            started = time.monotonic()
            while await _waiting(session, base) < len(listeners):
                if time.monotonic() - started > 120:
                    raise RuntimeError(f"{name}: only {await _waiting(session, base)} polls waiting after 120 s")
                await asyncio.sleep(0.25)
            ramp = time.monotonic() - started
            await asyncio.sleep(1.0)  # let the last connections settle
            rss_after = rss_kib_of(pid)
            uid, token, fkey = sender
            headers = {"Cookie": f"acct={token}; c_user={uid}"}
            targets = random.sample([u for u, _ in listeners], min(len(listeners), args.rate * args.seconds))
            errors = 0

            async def send(index: int, to: int, mark: str = "") -> None:
                nonlocal errors
                form = {
                    "msg_text": f"{mark}{clock():.6f}",
                    "msg_id": str(index + 1),
                    "to": str(to),
                    "client_time": str(int(time.time() * 1000)),
                    "post_form_id": fkey,
                }
                async with session.post(f"{base}/ajax/chat/send.php", data=form, headers=headers) as response:
                    if json.loads((await response.text())[9:]).get("error") != 0:
                        errors += 1

            # Warm-up, not measured: the sender opens its connections and the server serves its first
            # sends (measured without it, the first sends after the ramp took up to 170 ms).
            measured = set(targets)
            warm = [u for u, _ in listeners if u not in measured][: int(args.rate * args.warmup)]
            for index, to in enumerate(warm):
                await asyncio.sleep(1 / args.rate)
                await send(len(targets) + index, to, WARMUP_MARK)
            await asyncio.sleep(0.5)
            begin = time.monotonic()
            sends = []
            for index, to in enumerate(targets):
                delay = begin + index / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sends.append(asyncio.create_task(send(index, to)))
            await asyncio.gather(*sends)
            await asyncio.sleep(2.0)  # the last answers reach their clients
            return ramp, rss_after, len(targets), errors

    ramp, rss_after, sent, send_errors = run_then_stop(drive(), clients)
    latencies: list[float] = []
    client_errors = continues = 0
    kinds: dict[str, int] = {}
    for index, process in enumerate(clients):
        process.wait(60)
        out = json.loads((work / f"out{index}.json").read_text())
        latencies.extend(out["latencies"])
        client_errors += out["errors"]
        continues += out["continues"]
        for kind, count in out["kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    return Result(
        name=name,
        waiters=len(listeners),
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        ramp_seconds=ramp,
        sent=sent,
        send_errors=send_errors,
        latencies=sorted(latencies),
        client_errors=client_errors,
        continues=continues,
        error_kinds=kinds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiters", type=int, default=10_000, help="waiting polls (one per user)")
    parser.add_argument("--clients", type=int, default=4, help="client processes holding them")
    parser.add_argument("--rate", type=int, default=100, help="direct messages per second")
    parser.add_argument("--seconds", type=int, default=10, help="how long messages are sent")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured messages first")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=(os.cpu_count() or 1) >= 2)
    parser.add_argument("--client", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reference-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        _client_main(*args.client)
        return
    if args.reference_server:
        run_uvloop(_reference_main())
        return
    limit = raise_nofile_limit()
    print(f"{args.waiters} waiting polls in {args.clients} client processes, {args.rate} DMs/s for {args.seconds} s")
    print(f"open-file limit {limit}; pinned: {args.pin}")
    results = []
    with tempfile.TemporaryDirectory(prefix="hubbub-longpoll-") as temporary:
        root = Path(temporary)
        listeners, sender = _prepare_hubbub(root / "data", args.waiters)
        env = bench_env(
            comet_poll_timeout_min=HOLD_SECONDS,
            comet_poll_timeout_max=HOLD_SECONDS,
            comet_max_waiters=args.waiters + 100,
            comet_offline_policy="deliver",
            **held_polls_settings(args.waiters),
            message_rate_burst=1_000_000,
            message_rate_per_second=1_000_000,
        )
        server = HubbubServer(root / "data", env)
        server.start()
        try:
            results.append(_measure("hubbub", server.base_url, server.pid, listeners, sender, args, root / "hubbub"))
        finally:
            server.stop()
        reference = ReferenceServer()
        try:
            results.append(
                _measure("reference", reference.base_url, reference.pid, listeners, sender, args, root / "ref")
            )
        finally:
            reference.stop()
    rows = []
    for r in results:
        lat = r.latencies
        rows.append(
            [
                r.name,
                f"{r.waiters}",
                f"{r.ramp_seconds:.1f}",
                f"{r.rss_before_kib / 1024:.1f}",
                f"{r.rss_after_kib / 1024:.1f}",
                f"{r.kib_per_waiter:.2f}",
                f"{len(lat)}/{r.sent}",
                fmt_ms(percentile(lat, 0.5)),
                fmt_ms(percentile(lat, 0.99)),
                fmt_ms(lat[-1] if lat else float("nan")),
                f"{r.continues}",
                f"{r.send_errors}/{r.client_errors}",
            ]
        )
    print_table(
        [
            "server",
            "waiters",
            "ramp s",
            "RSS MiB before",
            "RSS MiB held",
            "KiB/waiter",
            "answers/sent",
            "wake p50 ms",
            "wake p99 ms",
            "max ms",
            "continues",
            "errors send/client",
        ],
        rows,
    )
    for r in results:
        for kind, count in sorted(r.error_kinds.items(), key=lambda item: -item[1])[:5]:
            print(f"  client errors ({r.name}): {count} x {kind}")
    hub, ref = results
    print(
        f"hubbub/reference: memory per waiting poll {hub.kib_per_waiter / max(ref.kib_per_waiter, 1e-9):.2f}x, "
        f"wake-up p50 {percentile(hub.latencies, 0.5) / percentile(ref.latencies, 0.5):.2f}x, "
        f"p99 {percentile(hub.latencies, 0.99) / percentile(ref.latencies, 0.99):.2f}x"
    )
    print(
        f"targets: <= 10 KB per waiting poll: {hub.kib_per_waiter * 1.024:.2f} KB; "
        f"wake-up p99 <= 50 ms at {args.rate} DMs/s: {fmt_ms(percentile(hub.latencies, 0.99))} ms"
    )


if __name__ == "__main__":
    main()
