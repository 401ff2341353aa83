"""Test doubles shared by the suite: a settable clock, settings for tests, users and sessions."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import argon2
import pytest

from hubbub.settings import Settings

TIMEOUT = 10.0 * float(os.environ.get("HUBBUB_TEST_TIMEOUT_FACTOR", "1"))


class FakeClock:
    """A clock that moves only when told to; starts at a fixed, realistic time."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.value = start

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a server under test: loopback, free ports, generous rate limits."""
    base = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        ws_port=0,
        message_rate_burst=1000,
        message_rate_per_second=1000.0,
        login_attempts_per_minute=1000,
        login_attempts_per_account_per_minute=1000,
        login_attempts_per_address_per_minute=1000,
        password_time_cost=1,
        password_memory_kib=1024,
    )
    return dataclasses.replace(base, **overrides)


async def eventually(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until ``condition()`` holds (server-side state seen from a test), within ``timeout``."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the state lives in another component; nothing to await on
            await asyncio.sleep(0.005)


class HashThreads:
    """Records the thread of every Argon2 hash and check, and can hold checks until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: list[str] = []
        self.entered = threading.Semaphore(0)
        self.gate = threading.Event()
        self.gate.set()
        hash_, verify = argon2.PasswordHasher.hash, argon2.PasswordHasher.verify

        def spy_hash(hasher: argon2.PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
            self.threads.append(threading.current_thread().name)
            return hash_(hasher, password, **kwargs)

        def spy_verify(hasher: argon2.PasswordHasher, stored: str | bytes, password: str | bytes) -> bool:
            self.threads.append(threading.current_thread().name)
            self.entered.release()
            # Held on the loop thread, this would stop the whole server until the timeout.
            self.gate.wait(TIMEOUT)
            return verify(hasher, stored, password)

        monkeypatch.setattr(argon2.PasswordHasher, "hash", spy_hash)
        monkeypatch.setattr(argon2.PasswordHasher, "verify", spy_verify)

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    async def wait_entered(self, count: int = 1) -> None:
        for _ in range(count):
            assert await asyncio.to_thread(self.entered.acquire, True, TIMEOUT)
