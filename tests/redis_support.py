"""Redis for tests: the shared server on 127.0.0.1:6379, a unique key prefix per test, private servers.

Tests that need Redis take the ``redis_url`` fixture, which skips (saying how to
start Redis) only when nothing answers on 127.0.0.1:6379; this project's
machines and CI run one, so under CI a missing server fails those tests instead.
Each test gets a prefix of its own (``redis_prefix``) and every key under it is
deleted afterwards, so test runs and deployments can
share the server. ``PrivateRedis`` is a throwaway ``redis-server`` on a free
port, for tests that stop and restart Redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from tests.fakes import TIMEOUT
from tests.ports import free_port

SHARED_REDIS = ("127.0.0.1", 6379)
HOW_TO_START = (
    "Redis is not answering on 127.0.0.1:6379; start it with `redis-server --daemonize yes` "
    "(Debian: apt-get install redis-server) to run the Redis tests"
)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(7) == b"+PONG\r\n"
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared server; without one the Redis tests skip, except under CI, which has one: there they fail."""
    host, port = SHARED_REDIS
    if not _answers(host, port):
        if os.environ.get("CI"):
            pytest.fail(HOW_TO_START)
        pytest.skip(HOW_TO_START)
    return f"redis://{host}:{port}/0"


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; returns how many there were."""
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test (or deployment) uses; its keys are deleted afterwards."""
    prefix = f"hubbub-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefix(redis_url, prefix)


async def kill_clients(url: str, name: str) -> int:
    """``CLIENT KILL`` every connection named ``name``; returns how many."""
    client = Redis.from_url(url)
    try:
        ids = [entry["id"] for entry in await client.client_list() if entry.get("name") == name]
        for client_id in ids:
            await client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        await client.aclose()


class PrivateRedis:
    """A ``redis-server`` of this test's own on a free loopback port, without persistence."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self._directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        waited = 0.0
        while not _answers("127.0.0.1", self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self._process.returncode}")
            if waited > TIMEOUT:
                raise RuntimeError(f"redis-server on port {self.port} did not answer")
            # The server is another process with nothing to await on; poll its port.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(0.02)
            waited += 0.02

    def pause(self) -> None:
        """SIGSTOP: the server holds its connections open and answers nothing (a network partition)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)  # a paused server cannot die
            self._process.kill()
            self._process.wait(TIMEOUT)
            self._process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
