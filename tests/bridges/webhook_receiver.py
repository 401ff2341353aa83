"""A real webhook receiver for tests: an aiohttp server on 127.0.0.1 (a free port) that records every call.

Each path answers as it is told: a list of statuses used in turn (the last one repeats),
optionally with headers, or ``HANG`` (the request is held until the receiver stops).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from tests.fakes import TIMEOUT

HANG: Final = -1


@dataclass(frozen=True)
class Received:
    path: str
    body: Any
    content_type: str
    at: float  # time.monotonic() when it arrived


@dataclass
class Receiver:
    answers: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    calls: list[Received] = field(default_factory=list)
    open_requests: int = 0  # requests arrived and not answered yet
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    def answer(self, path: str, *statuses: int, headers: dict[str, str] | None = None) -> str:
        """Make ``path`` answer these statuses in turn; returns its URL."""
        self.answers[path] = [(status, headers or {}) for status in statuses]
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [call for call in self.calls if call.path == path]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, path: str, count: int, timeout: float = TIMEOUT) -> list[Received]:
        """The first ``count`` calls to ``path``, once they have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.at(path)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.at(path)[:count]

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.calls.append(
            Received(request.path, json.loads(raw), request.headers.get("Content-Type", ""), time.monotonic())
        )
        self._arrived.set()
        turn = len(self.at(request.path)) - 1
        answers = self.answers.get(request.path, [(204, {})])
        status, headers = answers[min(turn, len(answers) - 1)]
        if status == HANG:
            self.open_requests += 1
            try:
                await self._release.wait()
            finally:
                self.open_requests -= 1
            return web.Response(status=204)
        return web.Response(status=status, headers=headers)
