"""What the benchmarks share: a real ``hubbub serve`` in a subprocess, signed-in HTTP clients, statistics,
and the bare picows broadcast server that fan-out benches measure beside hubbub.

Everything here talks to 127.0.0.1 only. ``HubbubServer`` owns its process and log
files; the caller owns the data directory (a ``tempfile.TemporaryDirectory``), so
every bench cleans up whatever way it ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import multiprocessing.connection
import os
import re
import resource
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

__all__ = [
    "CLOCK",
    "MARK",
    "PASSWORD",
    "ChatClient",
    "HubbubServer",
    "RawPoster",
    "ReferenceControlClient",
    "bench_env",
    "clock",
    "cpu_seconds_of",
    "die_with_parent",
    "fmt_ms",
    "fmt_rate",
    "held_polls_settings",
    "max_connections_for",
    "percentile",
    "pin_process",
    "print_table",
    "raise_nofile_limit",
    "reference_process",
    "rss_kib_of",
    "run_then_stop",
    "run_uvloop",
    "start_child",
]

PASSWORD = "bench-password-123"
MARK = re.compile(rb"bench-s(\d{6})-e")  # in every measured message text: bench-s<seq>-e
PYTHON = sys.executable
_FKEY = re.compile(r'<input[^>]*id="fkey"[^>]*value="([^"]+)"')
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_SERVE = (PYTHON, "-m", "hubbub", "serve", "--host", "127.0.0.1", "--port", "0", "--ws-port", "0")

# One clock for timestamps compared across processes. On Linux CLOCK_MONOTONIC is system-wide
# (clock_gettime(2): "a nonsettable system-wide clock"), so a poster's send time and a client's
# receive time taken in different processes on this machine are directly comparable, and unlike
# time.time() it cannot be stepped by NTP during a run. Elsewhere fall back to the wall clock.
CLOCK = time.CLOCK_MONOTONIC if sys.platform.startswith("linux") else time.CLOCK_REALTIME


def clock() -> float:
    return time.clock_gettime(CLOCK)


def raise_nofile_limit() -> int:
    """Raise this process's open-file soft limit to the hard limit (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def die_with_parent() -> None:
    """Have the kernel end this process (SIGTERM) when the bench that started it ends, however it ends.

    A client process left behind by a bench that failed or was killed keeps polling a dead
    server, taking the CPU the next run measures with. Linux only; elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the parent was already gone before the request took effect
        os._exit(1)


def start_child(cpus: set[int] | None) -> None:
    """First steps of a bench's child process: end with the bench, lift the file limit, pin to ``cpus``."""
    die_with_parent()
    raise_nofile_limit()
    if cpus:
        os.sched_setaffinity(0, cpus)


def run_then_stop(coroutine: Any, clients: Sequence[subprocess.Popen[bytes]]) -> Any:
    """Run ``coroutine`` (``run_uvloop``), then ask the client processes to stop (SIGTERM: they write
    their results); if it failed, kill them instead and raise."""
    try:
        answer = run_uvloop(coroutine)
    except BaseException:
        for process in clients:
            process.kill()
            process.wait(10)
        raise
    for process in clients:
        process.terminate()
    return answer


def max_connections_for(count: int) -> int:
    """``max_connections`` for a server that must hold ``count`` clients at once.

    The default keeps 1/8 of the descriptors back (17,500 of 20,000 here), fewer than the
    19,000 connections a bench may hold; its server opens only a few files besides them.
    """
    return min(raise_nofile_limit() - 256, count + 128)


def held_polls_settings(count: int) -> dict[str, object]:
    """Settings for a server that must hold ``count`` long polls from the benches' client processes.

    The client processes share one core while they open thousands of polls: at 18,000 some
    wrote their first request more than the default 10 s after connecting, and the server closed
    those connections as too slow to send a head (the clients logged it and polled again).
    """
    return {
        "http_max_connections_per_ip": 0,
        "max_connections": max_connections_for(count),
        "http_head_timeout": 120,
    }


def bench_env(**settings: object) -> dict[str, str]:
    """The environment for hubbub processes: quiet logs, cheap password hashing, plus ``settings``.

    Password hashing is made cheap and the login rate limit high because signing in is
    set-up, not what is measured.
    """
    env = dict(os.environ)
    env.pop("HUBBUB_CONFIG", None)
    base: dict[str, object] = {
        "log_level": "warning",
        "password_time_cost": 1,
        "password_memory_kib": 8192,
        "login_attempts_per_minute": 1_000_000,  # every bench user signs in from 127.0.0.1
        "login_attempts_per_account_per_minute": 1_000_000,
        "login_attempts_per_address_per_minute": 1_000_000,
    }
    base.update(settings)
    for name, value in base.items():
        env[f"HUBBUB_{name.upper()}"] = str(value)
    return env


def pin_process(pid: int, cpus: set[int]) -> None:
    """Restrict every thread of a process to ``cpus`` (threads it starts later inherit it). Linux only."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task), cpus)


def rss_kib_of(pid: int) -> int:
    """VmRSS of a process in KiB (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14, 15)


class HubbubServer:
    """``python -m hubbub serve`` on loopback with free ports, its output in files under ``data_dir``."""

    def __init__(self, data_dir: Path, env: Mapping[str, str]) -> None:
        self.data_dir = data_dir
        self.env = dict(env)
        self.process: subprocess.Popen[bytes] | None = None
        self.http_port = 0
        self.ws_port = 0
        self._stdout = data_dir / "serve.stdout"
        self._stderr = data_dir / "serve.stderr"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cli(self, *args: str, timeout: float = 60) -> str:
        """Run ``python -m hubbub <args> --data-dir <dir>``; returns the last line of its output."""
        result = subprocess.run(
            [PYTHON, "-m", "hubbub", *args, "--data-dir", str(self.data_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"hubbub {' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout.strip().splitlines()[-1]

    def create_users(self, names: Sequence[str], *, parallel: int = 2) -> list[int]:
        """Create users ``<name>@bench.invalid`` with ``PASSWORD``; returns their ids in order."""

        def one(name: str) -> int:
            return int(self.cli("users", "create", name, "--email", f"{name}@bench.invalid", "--password", PASSWORD))

        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(one, names))

    def create_room(self, name: str) -> int:
        return int(self.cli("rooms", "create", name))

    def start(self, timeout: float = 30) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self._stdout, "wb") as out, open(self._stderr, "ab") as err:
            self.process = subprocess.Popen(
                [*_SERVE, "--data-dir", str(self.data_dir)],
                env=self.env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self._stdout.read_text(encoding="utf-8", errors="replace")
            http = re.search(r"http listening on http://127\.0\.0\.1:(\d+)", text)
            ws = re.search(r"websocket gateway listening on ws://127\.0\.0\.1:(\d+)", text)
            if http and ws:
                self.http_port, self.ws_port = int(http.group(1)), int(ws.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"hubbub serve did not start:\n{self.stderr_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._stderr.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode

    def __enter__(self) -> HubbubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ChatClient:
    """One signed-in browser: its own cookie jar, fkey and keep-alive connection pool."""

    def __init__(self, base_url: str, *, limit: int = 8, timeout: float = 30) -> None:
        self.base = base_url
        self.fkey = ""
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for 127.0.0.1
            connector=aiohttp.TCPConnector(limit=limit),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def login(self, email: str, password: str = PASSWORD) -> None:
        form = {"email": email, "password": password}
        async with self.session.post(self.base + "/users/login", data=form, allow_redirects=False) as response:
            if response.status != 302:
                raise RuntimeError(f"login {email}: HTTP {response.status} {await response.text()}")
        async with self.session.get(self.base + "/chats/join/favorite") as response:
            match = _FKEY.search(await response.text())
        if match is None:
            raise RuntimeError(f"login {email}: no fkey on /chats/join/favorite")
        self.fkey = match.group(1)

    async def post_form(self, path: str, form: Mapping[str, str]) -> tuple[int, Any]:
        """POST a form with the fkey; returns (status, JSON body or text)."""
        data = {**form, "fkey": self.fkey}
        async with self.session.post(self.base + path, data=data, allow_redirects=False) as response:
            body: Any = await response.read()
            if response.content_type == "application/json":
                body = await response.json()
            return response.status, body

    async def post_message(self, room_id: int, text: str) -> tuple[int, Any]:
        return await self.post_form(f"/chats/{room_id}/messages/new", {"text": text})

    async def socket_url(self, room_id: int) -> str:
        status, body = await self.post_form("/ws-auth", {"roomid": str(room_id)})
        if status != 200 or not isinstance(body, dict) or "url" not in body:
            raise RuntimeError(f"/ws-auth: HTTP {status} {body!r}")
        return str(body["url"])

    async def close(self) -> None:
        await self.session.close()


class RawPoster:
    """A signed-in ``ChatClient``'s requests, written as ready-made HTTP/1.1 requests.

    What the benches time should be the server's work. The bare picows reference is triggered
    by one ready-made frame; through aiohttp's client, a form post costs the bench process
    about half a millisecond of Python before its bytes leave (cookies, form encoding,
    headers), time that counted against hubbub only, and with 16 posters it made
    bench/post_messages.py measure its own client. Here the request is the request aiohttp
    would send (the same cookie, fkey and form fields), formatted in one step, on kept-alive
    connections (one per request in flight, opened as needed); the answer is read up to its
    ``Content-Length`` (JSON parsed).
    """

    def __init__(self, client: ChatClient) -> None:
        url = urllib.parse.urlsplit(client.base)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        cookie = "; ".join(f"{morsel.key}={morsel.value}" for morsel in client.session.cookie_jar)  # one host's
        host = f"Host: {self._host}:{self._port}\r\n"
        self._head = (
            "POST {path} HTTP/1.1\r\n" + host + f"Cookie: {cookie}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: {length}\r\n\r\n"
        )
        self._get_signed_in = "GET {path} HTTP/1.1\r\n" + host + f"Cookie: {cookie}\r\n\r\n"
        self._get_anonymous = "GET {path} HTTP/1.1\r\n" + host + "\r\n"
        self._fkey = urllib.parse.quote_plus(client.fkey)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: list[asyncio.StreamWriter] = []

    async def post_message(self, room_id: int, text: str) -> tuple[int, Any]:
        body = f"text={urllib.parse.quote_plus(text)}&fkey={self._fkey}".encode()
        head = self._head.format(path=f"/chats/{room_id}/messages/new", length=len(body)).encode()
        status, answer = await self._exchange(head + body)
        return status, json.loads(answer) if answer.startswith(b"{") else answer.decode()

    async def get(self, path: str, *, signed_in: bool = True) -> tuple[int, bytes]:
        """GET ``path``, with the session cookie or (``signed_in=False``) without any."""
        request = self._get_signed_in if signed_in else self._get_anonymous
        return await self._exchange(request.format(path=path).encode())

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request on an idle connection (or a new one); (status, body) of its answer."""
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self._host, self._port)
            self._open.append(writer)
        writer.write(request)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        answer = await reader.readexactly(length)
        self._idle.append((reader, writer))
        return int(status_line.split()[1]), answer

    async def close(self) -> None:
        for writer in self._open:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._idle.clear()
        self._open.clear()


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def fmt_rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def fmt_ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.2f}"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    for line in lines:
        print(
            "  ".join(
                str(cell).rjust(w) if i else str(cell).ljust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    sys.stdout.flush()


def run_uvloop(coroutine: Any) -> Any:
    """Run a coroutine on uvloop (asyncio's loop when uvloop is missing)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


# ----------------------------------------------------------------------------------------------
# The reference: a bare picows broadcast server in its own process (fanout.py and peers.py measure it).


class _Broadcaster:
    def __init__(self) -> None:
        self.subscribers: set[WSTransport] = set()
        self.template = b""

    def trigger(self, seq: int) -> None:
        data = MARK.sub(b"bench-s%06d-e" % seq, self.template, count=1)
        for transport in self.subscribers:
            transport.send(WSMsgType.TEXT, data)


class _RefSubscriber(WSListener):
    def __init__(self, hub: _Broadcaster) -> None:
        super().__init__()
        self.hub = hub

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.hub.subscribers.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.hub.subscribers.discard(transport)


class _RefControl(WSListener):
    """``T<bytes>`` sets the frame, ``S<seq>`` broadcasts it, ``C`` answers ``C<subscribers>``."""

    def __init__(self, hub: _Broadcaster) -> None:
        super().__init__()
        self.hub = hub

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        payload = frame.get_payload_as_bytes()
        if frame.msg_type is not WSMsgType.BINARY or not payload:
            return
        kind, body = payload[:1], payload[1:]
        if kind == b"T":
            self.hub.template = body
            transport.send(WSMsgType.BINARY, b"T")
        elif kind == b"S":
            self.hub.trigger(int(body))
        elif kind == b"C":
            transport.send(WSMsgType.BINARY, b"C%d" % len(self.hub.subscribers))


async def _reference_main(conn: multiprocessing.connection.Connection) -> None:
    hub = _Broadcaster()

    def listener(request: WSUpgradeRequest) -> WSListener:
        return _RefControl(hub) if request.path == b"/control" else _RefSubscriber(hub)

    # The options hubbub's gateway uses (hubbub/gateway/picows_server.py), so only the work per frame differs.
    server = await ws_create_server(
        listener, "127.0.0.1", 0, websocket_handshake_timeout=10, enable_auto_pong=True, read_buffer_init_size=1024
    )
    conn.send(server.sockets[0].getsockname()[1])
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # any message: stop
    server.close()
    for transport in list(hub.subscribers):
        transport.disconnect(graceful=False)


def reference_process(conn: multiprocessing.connection.Connection, cpus: set[int] | None) -> None:
    """The reference server's process: sends its port on ``conn``, stops on any message from it."""
    start_child(cpus)
    run_uvloop(_reference_main(conn))


class ReferenceControlClient(WSListener):
    """The orchestrator's end of the reference's ``/control`` socket: its replies in a queue."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.replies.put_nowait(frame.get_payload_as_bytes())
