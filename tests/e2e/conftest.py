"""A live ``hubbub serve`` subprocess for tests that drive real, published clients.

The server is the installed ``hubbub`` command, started exactly as an operator would start it
(loopback only, free ports, a fresh data directory), with its users, rooms and publish token
made through the CLI before it starts. Tests talk to it over the network only; what the server
stored is read back over HTTP or from its SQLite file opened read-only. The process is always
stopped at the end: SIGTERM, then SIGKILL if it does not exit in time.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from bs4 import BeautifulSoup

from hubbub.settings import ENV_PREFIX
from tests.fakes import TIMEOUT

HUBBUB = Path(sys.executable).with_name("hubbub")  # the console script of the interpreter running the tests
PASSWORD = "a long secret for the tests"
STOP_TIMEOUT = 10.0

# The cast every live server starts with, created through the CLI before it listens. Each
# test works in a room of its own, so tests sharing a server never see each other's messages.
USERS = {
    "ce": "ChatExchange Bot",
    "sechat": "Sechat Bot",
    "npm": "Node Bot",
    "jon": "Jon Skeet",
}
# Room name -> the cast member who owns it (owners may pin and clear stars), or None.
ROOMS = {
    "ChatExchange Sandbox": "ce",
    "ChatExchange Socket": None,
    "ChatExchange Polling": None,
    "Sechat Sandbox": "sechat",
    "Sechat Socket": None,
    "Node Sandbox": "npm",
}


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    email: str
    password: str = PASSWORD


@dataclass
class LiveServer:
    """A running ``hubbub serve`` and what was created in it before it started."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    ws_port: int
    users: dict[str, Account] = field(default_factory=dict)
    rooms: dict[str, int] = field(default_factory=dict)
    publish_token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """An anonymous GET (a visitor who is not signed in)."""
        return requests.get(self.base + path, timeout=TIMEOUT, allow_redirects=False, **kwargs)

    def source(self, message_id: int) -> str:
        """The stored markdown of a message, as ``GET /message/{id}?plain=true`` serves it."""
        response = self.get(f"/message/{message_id}", params={"plain": "true"})
        assert response.status_code == 200, response.text
        return response.text

    def db(self) -> sqlite3.Connection:
        """The server's database, read-only (the server keeps writing to it)."""
        path = self.data_dir / "hubbub.sqlite3"
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT)
        connection.row_factory = sqlite3.Row
        return connection

    def query(self, sql: str, *params: object) -> list[sqlite3.Row]:
        with contextlib.closing(self.db()) as connection:
            return connection.execute(sql, params).fetchall()

    def message(self, message_id: int) -> sqlite3.Row:
        [row] = self.query("SELECT * FROM messages WHERE id = ?", message_id)
        return row

    def messages(self, room: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM messages WHERE room_id = ? ORDER BY id", room)

    def present(self, room: int) -> set[int]:
        """Ids of the users the server counts as in ``room``."""
        rows = self.query("SELECT user_id FROM memberships WHERE room_id = ? AND present", room)
        return {int(row["user_id"]) for row in rows}

    def unread(self, user: int) -> set[int]:
        """Messages whose ping or reply ``user`` has not acknowledged yet."""
        rows = self.query("SELECT message_id FROM inbox WHERE user_id = ? AND unread", user)
        return {int(row["message_id"]) for row in rows}

    def stargazers(self, message_id: int) -> set[int]:
        return {int(r["user_id"]) for r in self.query("SELECT user_id FROM stars WHERE message_id = ?", message_id)}

    def signed_in(self, key: str) -> ChatSession:
        """A plain HTTP session signed in as one of the cast, for acting beside a client under test."""
        session = ChatSession(self.base, self.users[key])
        session.login()
        return session


@dataclass
class ChatSession:
    """Another user in the room, speaking the form API directly with ``requests``."""

    base: str
    account: Account
    http: requests.Session = field(default_factory=requests.Session)
    fkey: str = ""

    def login(self) -> None:
        response = self.http.post(
            self.base + "/users/login",
            data={"email": self.account.email, "password": self.account.password},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert response.status_code == 302, response.text
        page = BeautifulSoup(self.http.get(self.base + "/chats/join/favorite", timeout=TIMEOUT).text, "html.parser")
        fkey = page.find("input", {"name": "fkey"})
        assert fkey is not None
        self.fkey = str(fkey["value"])

    def post(self, path: str, **form: object) -> requests.Response:
        response = self.http.post(
            self.base + path, data={**form, "fkey": self.fkey}, allow_redirects=False, timeout=TIMEOUT
        )
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response

    def say(self, room: int, text: str) -> int:
        message_id = self.post(f"/chats/{room}/messages/new", text=text).json()["id"]
        assert isinstance(message_id, int), message_id
        return message_id

    def edit(self, message_id: int, text: str) -> None:
        assert self.post(f"/messages/{message_id}", text=text).text == '"ok"'

    def delete(self, message_id: int) -> None:
        assert self.post(f"/messages/{message_id}/delete").text == '"ok"'

    def close(self) -> None:
        self.http.close()


def _environment() -> dict[str, str]:
    """The tests' environment without stray ``HUBBUB_*`` settings, and with cheap password hashing.

    The hashing cost only changes how long a login takes (two cores are shared by the suite);
    every protocol setting keeps its default, so clients meet the server operators run.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    env["HUBBUB_PASSWORD_TIME_COST"] = "1"
    env["HUBBUB_PASSWORD_MEMORY_KIB"] = "8192"
    return env


def _cli(data_dir: Path, *args: str) -> str:
    """Run ``hubbub <args>`` against ``data_dir``; returns the last line of its output (the new id)."""
    result = subprocess.run(
        [str(HUBBUB), *args, "--data-dir", str(data_dir)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout.strip().splitlines()[-1]


def wait_for(condition: Callable[[], object], timeout: float = TIMEOUT) -> None:
    """Poll until ``condition()`` is true: state that another process or a client's thread changes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


_HTTP_LISTENING = re.compile(r"http listening on http://127\.0\.0\.1:(\d+)")
_GATEWAY_LISTENING = re.compile(r"gateway listening on ws://127\.0\.0\.1:(\d+)")


def _bound_ports(process: subprocess.Popen[bytes], log: Path) -> tuple[int, int]:
    """The HTTP and gateway ports a server started with ``--port 0 --ws-port 0`` says it bound.

    Letting the server pick its own ports leaves no window in which another process
    could take a port that was probed free.
    """
    deadline = time.monotonic() + 3 * TIMEOUT
    while True:
        output = log.read_text()
        http, gateway = _HTTP_LISTENING.search(output), _GATEWAY_LISTENING.search(output)
        if http is not None and gateway is not None:
            return int(http.group(1)), int(gateway.group(1))
        if process.poll() is not None:
            pytest.fail(f"hubbub serve exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"hubbub serve did not say where it listens:\n{log.read_text()}")
        time.sleep(0.05)  # reading another process's output file: there is nothing to wait on


def _wait_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    """Poll ``/healthz`` until the server answers, failing early if the process has died."""
    deadline = time.monotonic() + 3 * TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"hubbub serve exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(base + "/healthz", timeout=TIMEOUT).text == "ok":
                return
        if time.monotonic() > deadline:
            pytest.fail(f"hubbub serve did not become healthy:\n{log.read_text()}")
        time.sleep(0.05)  # polling another process: there is nothing to wait on


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A ``hubbub serve`` subprocess on loopback with the cast of ``USERS`` and ``ROOMS``; shared by a module."""
    data_dir = tmp_path_factory.mktemp("hubbub-data")
    users = {
        key: Account(
            int(_cli(data_dir, "users", "create", name, "--email", f"{key}@example.org", "--password", PASSWORD)),
            name,
            f"{key}@example.org",
        )
        for key, name in USERS.items()
    }
    rooms = {
        name: int(
            _cli(
                data_dir,
                "rooms",
                "create",
                name,
                "--description",
                f"{name} for tests",
                *([] if owner is None else ["--owner", str(users[owner].id)]),
            )
        )
        for name, owner in ROOMS.items()
    }
    token = _cli(data_dir, "tokens", "create", "--name", "e2e", "--scope", "publish")
    assert token.startswith("hbb_"), token

    with serving(data_dir) as (process, port, ws_port):
        yield LiveServer(process, data_dir, port, ws_port, users, rooms, token)


@contextlib.contextmanager
def serving(
    data_dir: Path,
    settings: Mapping[str, str] | None = None,
    *,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """``hubbub serve`` on loopback over ``data_dir``, healthy; yields it with its HTTP and gateway ports.

    ``settings`` become ``HUBBUB_<NAME>`` variables (``{"http_head_timeout": "0.5"}``); ``preexec_fn``
    runs in the child before it execs (to lower its resource limits, say). The server is stopped at
    the end, and must not have logged a traceback or failed to stop cleanly.
    """
    environment = _environment()
    environment.update({ENV_PREFIX + name.upper(): value for name, value in (settings or {}).items()})
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(HUBBUB),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--ws-port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec_fn,  # noqa: PLW1509 - only resource limits, set before exec
        )
    try:
        port, ws_port = _bound_ports(process, log)
        _wait_healthy(process, f"http://127.0.0.1:{port}", log)
        yield process, port, ws_port
    finally:
        _stop(process)
    # A server-side traceback means some request failed inside hubbub, even if the client
    # under test shrugged it off; that is a bug worth failing for.
    assert "Traceback" not in log.read_text(), log.read_text()
    assert process.returncode == 0, f"hubbub serve did not shut down cleanly on SIGTERM:\n{log.read_text()}"
