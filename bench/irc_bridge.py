"""IRC bridge relay: lines through a real IRC server and hubbub's bridge, beside IRC client to IRC client.

Debian's ngircd on loopback (no fake lag), a ``hubbub serve`` with one live stream whose
IRC account points at it (flood control raised out of the way: ``--flood-rate``), a
streams socket on the stream, and two plain IRC clients (irctokens over asyncio). Three
paths, each measured the same way in the same run:

1. **baseline**: IRC client A -> ngircd -> IRC client B;
2. **IRC -> stream**: client A -> ngircd -> the bridge -> hubbub's log -> the streams socket;
3. **stream -> IRC**: the streams socket (``text`` frames through the account) -> hubbub ->
   the bridge -> ngircd -> client B.

Each path runs a *saturating* phase (``--lines`` lines sent at once: lines/s = lines /
(last receive - first send)) and a *paced* phase (``--paced`` lines at ``--rate`` a second:
per-line latency p50/p99). Ratios are path / baseline. What the bridge adds is hubbub's
write (one event per line) and fan-out; the split, flood bucket and parsing are per line.

    .venv/bin/python bench/irc_bridge.py [--lines 2000] [--paced 200] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from irctokens.line import build
from irctokens.stateful import StatefulDecoder

from _common import PASSWORD, HubbubServer, bench_env, fmt_ms, fmt_rate, percentile, print_table

NGIRCD = "/usr/sbin/ngircd"
CHANNEL = "#bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_ngircd(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    conf = directory / "ngircd.conf"
    conf.write_text(
        f"[Global]\n\tName = bench.irc\n\tInfo = bench\n\tListen = 127.0.0.1\n\tPorts = {port}\n"
        "[Limits]\n\tMaxConnectionsIP = 0\n\tMaxNickLength = 30\n\tMaxPenaltyTime = 0\n"
        "[Options]\n\tDNS = no\n\tIdent = no\n\tPAM = no\n"
    )
    log = (directory / "ngircd.log").open("wb")
    process = subprocess.Popen([NGIRCD, "--nodaemon", "--config", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("ngircd did not start")


class IrcClient:
    """A plain IRC client: registers, joins, sends PRIVMSGs, records when each line arrives."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.arrivals: dict[str, float] = {}
        self._joined = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self._send("NICK", [self.nick])
        self._send("USER", [self.nick, "0", "*", self.nick])
        self._send("JOIN", [CHANNEL])
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._joined.wait(), 15)

    def _send(self, command: str, params: list[str]) -> None:
        self.writer.write(f"{build(command, params).format()}\r\n".encode())

    def say(self, text: str) -> None:
        self._send("PRIVMSG", [CHANNEL, text])

    async def _read(self) -> None:
        decoder = StatefulDecoder()
        while lines := decoder.push(await self.reader.read(65536)):
            now = time.monotonic()
            for line in lines:
                if line.command == "PING":
                    self._send("PONG", line.params[-1:])
                elif line.command == "JOIN" and line.hostmask.nickname == self.nick:
                    self._joined.set()
                elif line.command == "PRIVMSG" and len(line.params) == 2:
                    self.arrivals[line.params[1]] = now

    async def close(self) -> None:
        self._send("QUIT", [])
        if self._task is not None:
            self._task.cancel()
        self.writer.close()


async def _run_path(
    send: Callable[[str], Awaitable[None]], arrivals: dict[str, float], tag: str, lines: int, paced: int, rate: float
) -> tuple[float, list[float]]:
    """(saturating lines/s, paced latencies in seconds)."""
    texts = [f"{tag} burst {i}" for i in range(lines)]
    start = time.monotonic()
    for text in texts:
        await send(text)
    deadline = time.monotonic() + 120
    while not all(t in arrivals for t in texts) and time.monotonic() < deadline:  # noqa: ASYNC110 - other tasks fill it
        await asyncio.sleep(0.01)
    missing = sum(t not in arrivals for t in texts)
    if missing:
        raise RuntimeError(f"{tag}: {missing} of {lines} lines never arrived")
    throughput = lines / (max(arrivals[t] for t in texts) - start)
    sent: dict[str, float] = {}
    for i in range(paced):
        text = f"{tag} paced {i}"
        sent[text] = time.monotonic()
        await send(text)
        await asyncio.sleep(1 / rate)
    deadline = time.monotonic() + 60
    while not all(t in arrivals for t in sent) and time.monotonic() < deadline:  # noqa: ASYNC110 - as above
        await asyncio.sleep(0.01)
    return throughput, sorted(arrivals[t] - sent[t] for t in sent if t in arrivals)


async def main(args: argparse.Namespace) -> int:
    if not os.access(NGIRCD, os.X_OK):
        print(f"{NGIRCD} is missing (Debian's ngircd; make test installs it)")
        return 1
    directory = Path(tempfile.mkdtemp(prefix="hubbub-irc-bench-"))
    ngircd, port = start_ngircd(directory)
    server = HubbubServer(directory / "hubbub", bench_env())
    a, b = IrcClient("alice"), IrcClient("bob")
    try:
        (directory / "hubbub").mkdir()
        server.cli("users", "create", "John", "--email", "john@bench.invalid", "--password", PASSWORD)
        server.start()
        await a.connect(port)
        await b.connect(port)
        basic = base64.b64encode(f"john@bench.invalid:{PASSWORD}".encode()).decode()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.base_url}/api/v1/auth", headers={"Authorization": f"Basic {basic}"}) as r:
                token = (await r.json())["token"]
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

            async def call(method: str, path: str, body: object) -> dict[str, object]:
                async with http.request(method, server.base_url + path, data=json.dumps(body), headers=auth) as r:
                    answer: dict[str, object] = await r.json()
                    return answer

            settings = {"server": "127.0.0.1", "port": str(port), "tls": "false", "nick": "relay",
                        "channel": CHANNEL, "flood_burst": "100", "flood_rate": str(args.flood_rate)}  # fmt: skip
            account = await call("POST", "/api/v1/account", {"network": "irc", "name": "relay", "settings": settings})
            account_id = account["account"]["id"]  # type: ignore[index]
            stream = await call("POST", "/api/v1/stream", {"name": "Bench", "accounts": [{"id": account_id}]})
            stream_id = stream["stream"]["id"]  # type: ignore[index]
            await call("PATCH", f"/api/v1/stream/{stream_id}", {"data_pushing": True})
            ws_url = f"ws://127.0.0.1:{server.ws_port}/ws/{stream_id}?token={token}"
            async with http.ws_connect(ws_url) as ws:
                on_stream: dict[str, float] = {}
                while True:  # until the bridge is connected and in the channel
                    await ws.send_json({"type": "status"})
                    frame = json.loads((await ws.receive()).data)
                    if frame.get("type") == "status" and frame["accounts"].get(str(account_id), {}).get("ready"):
                        break
                    await asyncio.sleep(0.1)

                async def read_stream() -> None:
                    async for message in ws:
                        frame = json.loads(message.data)
                        if frame.get("type") == "text" and frame.get("account_id") == account_id:
                            on_stream.setdefault(frame["text"], time.monotonic())

                reader = asyncio.create_task(read_stream())

                async def irc_send(text: str) -> None:
                    a.say(text)

                async def stream_send(text: str) -> None:
                    await ws.send_json(
                        {"type": "text", "account_id": account_id, "cur_stream_account_id": account_id, "text": text}
                    )
                    # Offered just under the bridge's flood rate: faster, the bounded outbox (256
                    # lines) fills and drops lines by design; a streams socket also handles only 8
                    # frames at once.
                    await asyncio.sleep(1.05 / args.flood_rate)

                results = {
                    "baseline IRC -> IRC": await _run_path(
                        irc_send, b.arrivals, "base", args.lines, args.paced, args.rate
                    ),
                    "IRC -> stream": await _run_path(irc_send, on_stream, "in", args.lines, args.paced, args.rate),
                    "stream -> IRC": await _run_path(stream_send, b.arrivals, "out", args.lines, args.paced, args.rate),
                }
                reader.cancel()
        base_rate, base_lat = results["baseline IRC -> IRC"]
        rows = []
        for name, (rate, latencies) in results.items():
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            rows.append(
                [name, fmt_rate(rate), f"{rate / base_rate:.2f}", fmt_ms(p50), fmt_ms(p99),
                 f"{p99 / max(percentile(base_lat, 0.99), 1e-9):.1f}"]
            )  # fmt: skip
        print(f"{args.lines} lines saturating, {args.paced} paced at {args.rate}/s; ngircd on loopback")
        print_table(["path", "lines/s", "x baseline", "p50 ms", "p99 ms", "p99 x baseline"], rows)
        return 0
    finally:
        await a.close()
        await b.close()
        server.stop()
        ngircd.terminate()
        ngircd.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--paced", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--flood-rate", type=float, default=100.0, help="the bridge's flood_rate (lines/s)")
    sys.exit(asyncio.run(main(parser.parse_args())))
