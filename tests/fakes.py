"""Test doubles shared by the suite: a settable clock, settings for tests, users and sessions."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        password_time_cost=1,
        password_memory_kib=1024,
    )
    return dataclasses.replace(base, **overrides)


async def eventually(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until ``condition()`` holds (server-side state seen from a test), within ``timeout``."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the state lives in another component; nothing to await on
            await asyncio.sleep(0.005)
