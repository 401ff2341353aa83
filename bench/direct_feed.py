"""The web UI's and the SDK's direct feed: W held ``GET /direct/events?wait=1`` polls on one
``hubbub serve``, against a bare aiohttp ``asyncio.Event`` server holding the same requests.

1. **hubbub**: W listener users, one sender who is everyone's contact, and a session each are
   written straight into a fresh SQLite file (set-up, not measured; ``longpoll._prepare_hubbub``),
   then ``hubbub serve`` starts on it. The sender opens a page first (it is online from then on,
   so its one presence change, which wakes every listener watching it, happens before the
   measurement). ``--clients`` client processes each hold W / clients polls, one per listener,
   each re-polling from the cursor its last answer gave, as ``static/direct/feed.js`` does. Once
   the ``hubbub_longpoll_waiters`` gauge shows W waiting, VmRSS growth / W is the memory per
   held poll.
2. The sender posts ``--rate`` direct messages per second (open loop) for ``--seconds`` through
   ``POST /direct/<user>/send``, each to a random listener; the text is the send time on
   ``CLOCK_MONOTONIC`` and the client answered records receive minus send time.
3. **reference**: a bare aiohttp server (own process, same loop) keeping each user's messages in
   a list and parking a poll on the user's ``asyncio.Event``; same clients, paths, schedule.

    .venv/bin/python bench/direct_feed.py [--waiters 2000] [--clients 2] [--rate 100] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
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
from longpoll import Result, _prepare_hubbub, _waiting

HOLD_SECONDS = 55.0


async def _hold_polls(spec: dict[str, Any]) -> dict[str, Any]:
    """Hold one feed poll per user in ``spec`` until SIGTERM; the latencies and counts seen."""
    base = spec["base"]
    latencies: list[float] = []
    counts = {"errors": 0, "empty": 0}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    timeout = aiohttp.ClientTimeout(total=HOLD_SECONDS + 30)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:

        async def hold(uid: int, token: str) -> None:
            cursor = 0
            headers = {"Cookie": f"acct={token}"}
            while not stop.is_set():
                try:
                    url = f"{base}/direct/events?since={cursor}&wait=1&u={uid}"
                    async with session.get(url, headers=headers) as response:
                        answer = await response.json()
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    counts["errors"] += 1
                    await asyncio.sleep(0.5)
                    continue
                now = clock()
                events = answer.get("events", [])
                counts["empty"] += not events
                for event in events:
                    if event.get("type") == "message" and event["message"]["recipient_id"] == uid:
                        latencies.append(now - float(event["message"]["text"]))
                cursor = max(cursor, int(answer.get("cursor", cursor)))

        tasks = [asyncio.create_task(hold(uid, token)) for uid, token in spec["users"]]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies, "errors": counts["errors"], "continues": counts["empty"]}


def _client_main(spec_path: Path, out_path: Path) -> None:
    die_with_parent()
    spec = json.loads(spec_path.read_text())
    out_path.write_text(json.dumps(run_uvloop(_hold_polls(spec))))


def _reference_app() -> web.Application:
    """Each user's messages in a list; a poll after the end waits on the user's ``asyncio.Event``."""
    messages: dict[int, list[dict[str, Any]]] = {}
    events: dict[int, asyncio.Event] = {}
    waiting = [0]

    async def poll(request: web.Request) -> web.Response:
        uid, since = int(request.query["u"]), int(request.query["since"])
        log = messages.setdefault(uid, [])
        if since >= len(log):
            event = events.setdefault(uid, asyncio.Event())
            waiting[0] += 1
            try:
                async with asyncio.timeout(HOLD_SECONDS):
                    while since >= len(log):
                        await event.wait()
            except TimeoutError:
                return web.json_response({"events": [], "cursor": since})
            finally:
                waiting[0] -= 1
        return web.json_response({"events": log[since:], "cursor": len(log)})

    async def send(request: web.Request) -> web.Response:
        form = await request.post()
        uid = int(request.match_info["uid"])
        log = messages.setdefault(uid, [])
        message = {"id": len(log) + 1, "recipient_id": uid, "text": str(form["text"])}
        log.append({"id": len(log) + 1, "type": "message", "message": message})
        event = events.pop(uid, None)
        if event is not None:
            event.set()
        return web.json_response({"message": message, "duplicate": False})

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=f"hubbub_longpoll_waiters {waiting[0]}\n")

    app = web.Application()
    app.add_routes([web.get("/direct/events", poll), web.post("/direct/{uid}/send", send), web.get("/metrics", count)])
    return app


async def _reference_main() -> None:
    runner = web.AppRunner(_reference_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    print(f"listening on {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


def _measure(name: str, base: str, pid: int, listeners: list[tuple[int, str]], sender: tuple[int, str, str],
             args: argparse.Namespace, work: Path) -> Result:  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    _, token, fkey = sender
    headers = {"Cookie": f"acct={token}"}

    async def warm_up() -> None:
        page = {**headers, "Accept": "text/html"}
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
            session.get(f"{base}/contacts", headers=page) as response,
        ):
            await response.read()

    run_uvloop(warm_up())
    time.sleep(0.5)
    rss_before = rss_kib_of(pid)
    clients = []
    for index in range(args.clients):
        spec = work / f"client{index}.json"
        spec.write_text(json.dumps({"base": base, "users": listeners[index :: args.clients]}))
        clients.append(subprocess.Popen([PYTHON, __file__, "--client", str(spec), str(work / f"out{index}.json")]))
        if args.pin:
            pin_process(clients[-1].pid, {1})
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
            await asyncio.sleep(1.0)
            rss_after = rss_kib_of(pid)
            targets = random.sample([u for u, _ in listeners], min(len(listeners), args.rate * args.seconds))
            errors = 0

            async def send(to: int) -> None:
                nonlocal errors
                form = {"text": f"{clock():.6f}", "fkey": fkey}
                async with session.post(f"{base}/direct/{to}/send", data=form, headers=headers) as response:
                    errors += response.status != 200
                    await response.read()

            begin = time.monotonic()
            sends = []
            for index, to in enumerate(targets):
                delay = begin + index / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sends.append(asyncio.create_task(send(to)))
            await asyncio.gather(*sends)
            await asyncio.sleep(2.0)
            return ramp, rss_after, len(targets), errors

    ramp, rss_after, sent, send_errors = run_then_stop(drive(), clients)
    latencies: list[float] = []
    client_errors = empty = 0
    for index, process in enumerate(clients):
        process.wait(60)
        out = json.loads((work / f"out{index}.json").read_text())
        latencies.extend(out["latencies"])
        client_errors += out["errors"]
        empty += out["continues"]
    return Result(name, len(listeners), rss_before, rss_after, ramp, sent, send_errors, sorted(latencies),
                  client_errors, empty)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiters", type=int, default=2000, help="held polls (one per user)")
    parser.add_argument("--clients", type=int, default=2, help="client processes holding them")
    parser.add_argument("--rate", type=int, default=100, help="direct messages per second")
    parser.add_argument("--seconds", type=int, default=5, help="how long messages are sent")
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
    print(f"{args.waiters} held feed polls in {args.clients} client processes, {args.rate} DMs/s for {args.seconds} s")
    print(f"open-file limit {limit}; pinned: {args.pin}")
    results = []
    with tempfile.TemporaryDirectory(prefix="hubbub-direct-feed-") as temporary:
        root = Path(temporary)
        listeners, sender = _prepare_hubbub(root / "data", args.waiters)
        env = bench_env(
            direct_poll_hold_seconds=HOLD_SECONDS,
            direct_poll_max_waiters=args.waiters + 100,
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
        reference = subprocess.Popen(
            [PYTHON, __file__, "--reference-server"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert reference.stdout is not None
        base = f"http://127.0.0.1:{int(reference.stdout.readline().decode().split()[-1])}"
        try:
            results.append(_measure("reference", base, reference.pid, listeners, sender, args, root / "ref"))
        finally:
            reference.terminate()
            reference.wait(10)
    rows = [
        [
            r.name,
            f"{r.waiters}",
            f"{r.ramp_seconds:.1f}",
            f"{r.kib_per_waiter:.2f}",
            f"{len(r.latencies)}/{r.sent}",
            fmt_ms(percentile(r.latencies, 0.5)),
            fmt_ms(percentile(r.latencies, 0.99)),
            fmt_ms(r.latencies[-1] if r.latencies else float("nan")),
            f"{r.send_errors}/{r.client_errors}",
        ]
        for r in results
    ]
    header = ["server", "held", "ramp s", "KiB/held poll", "answers/sent", "wake p50 ms", "p99 ms", "max ms"]
    print_table([*header, "errors send/client"], rows)
    hub, ref = results
    print(
        f"hubbub/reference: memory per held poll {hub.kib_per_waiter / max(ref.kib_per_waiter, 1e-9):.2f}x, "
        f"wake-up p50 {percentile(hub.latencies, 0.5) / percentile(ref.latencies, 0.5):.2f}x, "
        f"p99 {percentile(hub.latencies, 0.99) / percentile(ref.latencies, 0.99):.2f}x"
    )


if __name__ == "__main__":
    main()
