"""Matrix Synapse as bench/peers.py measures it: one process on SQLite, its users, its room, its /sync receivers.

Synapse comes from PyPI (``matrix-synapse``) in a virtual environment of its own (``_peers_env``).
The configuration this module writes is the smallest one that serves the client API on
127.0.0.1 alone: no federation listener, no trusted key servers (nothing leaves the machine),
presence off (large deployments turn it off; hubbub's posts do not touch presence either),
every ``rc_*`` rate limit lifted, cheap bcrypt (signing in is set-up, not measured), logs at
WARNING into the run directory. Users are registered through the shared-secret admin API
(what ``register_new_matrix_user`` does), then sign in with a password.

The /sync receivers run in a client process of their own (``sync_client_process``): the
command loop of fanout.py's client process, whose "connect" here starts one long-poll loop per
receiver instead of a websocket. Each receiver is its own device (its own login): Synapse
shares one /sync computation between identical requests of one device, which N real users
never send, so N receivers have N devices, spread over a few users like fanout.py's sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

import fanout
from _common import clock, pin_process, raise_nofile_limit, run_uvloop
from _peers_env import PeerUnavailable, Processes, free_port, wait_until

__all__ = ["REQUIREMENT", "Synapse", "sync_client_process"]

REQUIREMENT = "matrix-synapse"
SERVER_NAME = "bench.test"
_UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}
_RATE_LIMITS: dict[str, Any] = {
    **{
        name: _UNLIMITED
        for name in (
            "rc_message",
            "rc_registration",
            "rc_admin_redaction",
            "rc_joins_per_room",
            "rc_key_requests",
            "rc_3pid_validation",
            "rc_third_party_invite",
            "rc_media_create",
            "rc_delayed_event_mgmt",
            "rc_room_creation",
            "rc_reports",
            "rc_user_directory",
            "rc_profile",
        )
    },
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_presence": {"per_user": _UNLIMITED},
}
PASSWORD = "bench-password-123"


class Synapse:
    """One homeserver process in ``run_dir``, started and stopped through ``processes``."""

    name = "Synapse"

    def __init__(self, venv: Path, run_dir: Path, processes: Processes, version: str) -> None:
        self.python = venv / "bin" / "python"
        self.run_dir = run_dir
        self.processes = processes
        self.version = version
        self.port = 0
        self.secret = secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}  # user name -> access token from registration
        self.receiver_tokens: list[str] = []  # one login (device) per /sync receiver, kept across sizes
        self.room_id = ""
        self._config = run_dir / "homeserver.yaml"
        self._log = run_dir / "homeserver.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _configure(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log_config = {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain", "filename": str(self._log)}},
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        config = {
            "server_name": SERVER_NAME,
            "pid_file": str(self.run_dir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(self.run_dir / "homeserver.db")}},
            "log_config": str(self.run_dir / "log.yaml"),
            "media_store_path": str(self.run_dir / "media"),
            "signing_key_path": str(self.run_dir / "signing.key"),
            "report_stats": False,
            "registration_shared_secret": self.secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "enable_metrics": False,
            "url_preview_enabled": False,
            "bcrypt_rounds": 4,
            **_RATE_LIMITS,
        }
        # JSON is YAML, so no YAML writer is needed here.
        (self.run_dir / "log.yaml").write_text(json.dumps(log_config), encoding="utf-8")
        self._config.write_text(json.dumps(config, indent=1), encoding="utf-8")
        command = [str(self.python), "-m", "synapse.app.homeserver", "-c", str(self._config), "--generate-keys"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise PeerUnavailable(f"Synapse --generate-keys failed: {result.stderr.strip()[-600:]}")

    def start(self, cpus: set[int] | None, timeout: float = 180) -> None:
        """Start the homeserver (configured on first use) and wait until its client API answers."""
        if not self._config.exists():
            self._configure()
        with open(self.run_dir / "homeserver.out", "ab") as log:
            self.process = self.processes.popen(
                "Synapse",
                [str(self.python), "-m", "synapse.app.homeserver", "-c", str(self._config)],
                cwd=self.run_dir,
                env=None,
                log=log,
            )
        process = self.process
        wait_until(self._answers, timeout, "Synapse start", lambda: process.poll() is None)
        if cpus:
            pin_process(self.pid, cpus)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/_matrix/client/versions", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process.pid)
            self.process.wait(10)
            self.process = None

    def log_tail(self, lines: int = 15) -> str:
        text = ""
        for path in (self._log, self.run_dir / "homeserver.out"):
            if path.exists():
                text += path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- the client-server API, from the orchestrator ------------------------------------------------

    async def _call(
        self, session: aiohttp.ClientSession, method: str, path: str, body: Any, token: str | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with session.request(method, self.base_url + path, json=body, headers=headers) as response:
            answer = await response.json(content_type=None)
            if response.status != 200:
                raise RuntimeError(
                    f"Synapse {method} {path.split('?', maxsplit=1)[0]}: HTTP {response.status} {answer}"
                )
            return answer

    async def register(self, session: aiohttp.ClientSession, name: str) -> str:
        """Register ``name`` through the shared-secret admin API; returns its access token."""
        path = "/_synapse/admin/v1/register"
        async with session.get(self.base_url + path) as response:
            nonce = (await response.json())["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), name.encode(), PASSWORD.encode(), b"notadmin"]))
        body = {"nonce": nonce, "username": name, "password": PASSWORD, "mac": mac.hexdigest(), "admin": False}
        answer = await self._call(session, "POST", path, body)
        self.tokens[name] = str(answer["access_token"])
        return self.tokens[name]

    async def set_up(self, session: aiohttp.ClientSession, posters: list[str], listeners: list[str]) -> None:
        """Register every user; the first poster creates the room, everyone else joins it."""
        gate = asyncio.Semaphore(4)

        async def register(name: str) -> None:
            async with gate:
                await self.register(session, name)

        await asyncio.gather(*(register(name) for name in [*posters, *listeners]))
        owner = self.tokens[posters[0]]
        room = await self._call(session, "POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat"}, owner)
        self.room_id = str(room["room_id"])
        for name in [*posters[1:], *listeners]:  # one at a time: each join is an event in the room
            await self._call(session, "POST", f"/_matrix/client/v3/join/{quote(self.room_id)}", {}, self.tokens[name])

    async def send(self, session: aiohttp.ClientSession, name: str, text: str, txn: str) -> None:
        path = f"/_matrix/client/v3/rooms/{quote(self.room_id)}/send/m.room.message/{txn}"
        answer = await self._call(session, "PUT", path, {"msgtype": "m.text", "body": text}, self.tokens[name])
        if "event_id" not in answer:
            raise RuntimeError(f"Synapse send: no event_id in {answer}")

    async def receiver_urls(
        self, session: aiohttp.ClientSession, listeners: list[str], n: int, limit: int
    ) -> list[str]:
        """N /sync URLs, each with a device of its own (logins made once, reused by later sizes).

        The token travels in the URL's fragment, which never reaches the server: the client
        process splits it off into an ``Authorization`` header.
        """
        gate = asyncio.Semaphore(8)

        async def login(index: int) -> str:
            body = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": listeners[index % len(listeners)]},
                "password": PASSWORD,
                "device_id": f"RECEIVER{index:05d}",
                "initial_device_display_name": "bench receiver",
            }
            async with gate:
                return str((await self._call(session, "POST", "/_matrix/client/v3/login", body))["access_token"])

        have = len(self.receiver_tokens)
        self.receiver_tokens += await asyncio.gather(*(login(i) for i in range(have, n)))
        room_filter = {
            "presence": {"types": []},
            "account_data": {"types": []},
            "room": {
                "rooms": [self.room_id],
                "timeline": {"limit": limit, "types": ["m.room.message"]},
                "state": {"types": []},
                "ephemeral": {"types": []},
                "account_data": {"types": []},
            },
        }
        url = f"{self.base_url}/_matrix/client/v3/sync?filter={quote(json.dumps(room_filter, separators=(',', ':')))}"
        return [f"{url}#{token}" for token in self.receiver_tokens[:n]]


# ----------------------------------------------------------------------------------------------
# The /sync client process: fanout.py's command loop, a long-poll loop per receiver.


class _SyncReceiver:
    """One receiver's long-poll loop; ``disconnect`` is what fanout's "close" command calls."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.got_event = False

    def disconnect(self, graceful: bool = False) -> None:
        if self.task is not None:
            self.task.cancel()


_SESSION: list[aiohttp.ClientSession] = []  # the process's one HTTP session, kept alive until it exits


async def _connect_syncs(
    received: Any, transports: list[Any], urls: list[str], count: int, concurrency: int, timeout: float
) -> dict[str, Any]:
    """Initial /sync for ``count`` receivers (``concurrency`` at once), then each one's long-poll loop."""
    if not _SESSION:
        _SESSION.append(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),  # one connection per waiting poll
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120),
            )
        )
    session = _SESSION[0]
    semaphore = asyncio.Semaphore(concurrency)
    errors: dict[str, int] = {}

    async def poll_forever(receiver: _SyncReceiver, url: str, headers: dict[str, str], since: str) -> None:
        while True:
            try:
                async with session.get(f"{url}&timeout=30000&since={quote(since)}", headers=headers) as response:
                    body = await response.read()
                    status = response.status
                now = clock()
                if status != 200:
                    raise RuntimeError(f"HTTP {status}")
                since = str(json.loads(body)["next_batch"])
            except (aiohttp.ClientError, TimeoutError, RuntimeError, ValueError, KeyError):
                received.disconnected += 1  # a failed poll: counted, retried after a pause
                await asyncio.sleep(0.5)
                continue
            if fanout.record_deliveries(received, body, now) and not receiver.got_event:
                receiver.got_event = True
                received.subscribed += 1

    async def one(index: int) -> None:
        url, _, token = urls[index % len(urls)].partition("#")
        headers = {"Authorization": f"Bearer {token}"}
        async with semaphore:
            try:
                async with session.get(f"{url}&timeout=0", headers=headers) as response:
                    answer = await response.json(content_type=None)
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status} {str(answer)[:100]}")
            except Exception as error:  # any failure to start a receiver is counted and reported
                fanout.count_error(errors, error)
                return
        receiver = _SyncReceiver()
        receiver.task = asyncio.create_task(poll_forever(receiver, url, headers, str(answer["next_batch"])))
        transports.append(receiver)

    return await fanout.open_all(count, one, transports, errors, timeout)


def sync_client_process(conn: Any, cpus: set[int] | None) -> None:
    """The /sync receivers' process (a ``fanout.Child`` target)."""
    raise_nofile_limit()
    if cpus:
        os.sched_setaffinity(0, cpus)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches this process too; the bench reports it
        run_uvloop(_sync_client_main(conn))


async def _sync_client_main(conn: Any) -> None:
    try:
        await fanout.client_main(conn, connect=_connect_syncs)
    finally:
        for session in _SESSION:
            await session.close()
