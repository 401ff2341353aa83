"""gateway/listener.py: one connection budget for every listener, and no spinning at the descriptor limit."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from hubbub.gateway.listener import ConnectionBudget, Listener, default_budget, listening_sockets
from tests.fakes import TIMEOUT, eventually


class Echo(asyncio.Protocol):
    """A server protocol that answers each chunk with itself."""

    def __init__(self, made: list[Echo]) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        made.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class Buffered(asyncio.BufferedProtocol):
    """The same, reading into its own buffer (as picows does)."""

    def __init__(self, made: list[Buffered]) -> None:
        self.buffer = bytearray(1024)
        self.transport: asyncio.Transport | None = None
        made.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        assert self.transport is not None
        self.transport.write(bytes(self.buffer[:nbytes]))


@contextlib.asynccontextmanager
async def listening(budget: ConnectionBudget, made: list[Echo]) -> AsyncIterator[tuple[Listener, int]]:
    sockets = await listening_sockets("127.0.0.1", 0)
    listener = Listener(sockets, lambda: Echo(made), budget, name="test")
    listener.resume()
    try:
        yield listener, sockets[0].getsockname()[1]
    finally:
        listener.close()
        listener.abort_clients()
        await listener.wait_closed()


async def echo(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    async with asyncio.timeout(TIMEOUT):
        assert await reader.readexactly(4) == b"ping"
    return reader, writer


def test_the_default_budget_leaves_a_reserve_below_the_limit() -> None:
    assert default_budget(160) == 96  # 64 kept back
    assert default_budget(1024) == 896  # an eighth kept back
    assert default_budget(1_048_576) == 917_504
    assert default_budget(10) == 1


async def test_accepting_stops_at_the_budget_and_resumes_when_a_connection_closes() -> None:
    made: list[Echo] = []
    budget = ConnectionBudget(2)
    async with listening(budget, made) as (listener, port):
        first = await echo(port)
        second = await echo(port)
        assert (budget.open, listener.connections) == (2, 2)
        # A third connection is left in the kernel's backlog: nobody reads the listening socket.
        third_reader, third_writer = await asyncio.open_connection("127.0.0.1", port)
        third_writer.write(b"ping")
        await eventually(lambda: not listener.accepting)
        assert len(made) == 2
        first[1].close()
        async with asyncio.timeout(TIMEOUT):
            assert await third_reader.readexactly(4) == b"ping"
        assert len(made) == 3
        await eventually(lambda: made[0].lost and budget.open == 2)
        for _, writer in (second, (third_reader, third_writer)):
            writer.close()
        await eventually(lambda: budget.open == 0)
        assert listener.accepting


async def test_two_listeners_share_one_budget() -> None:
    made: list[Echo] = []
    budget = ConnectionBudget(1)
    async with listening(budget, made) as (_, one_port), listening(budget, made) as (other, other_port):
        _, writer = await echo(one_port)
        reader, late = await asyncio.open_connection("127.0.0.1", other_port)
        late.write(b"ping")
        await eventually(lambda: not other.accepting)
        writer.close()
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(4) == b"ping"
        late.close()
        await eventually(lambda: budget.open == 0)


async def test_buffered_protocols_are_served_too() -> None:
    made: list[Buffered] = []
    sockets = await listening_sockets("127.0.0.1", 0)
    listener = Listener(sockets, lambda: Buffered(made), ConnectionBudget(10), name="test")
    listener.resume()
    try:
        _, writer = await echo(sockets[0].getsockname()[1])
        writer.close()
    finally:
        listener.close()
        await listener.wait_closed()
    assert len(made) == 1


class ExhaustedSocket(socket.socket):
    """A listening socket whose accept() fails as at the descriptor limit, until told otherwise."""

    exhausted = True
    attempts = 0

    def accept(self) -> tuple[socket.socket, object]:
        if self.exhausted:
            self.attempts += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


async def test_out_of_descriptors_pauses_says_so_once_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    made: list[Echo] = []
    raw = ExhaustedSocket(socket.AF_INET, socket.SOCK_STREAM)
    raw.bind(("127.0.0.1", 0))
    raw.listen()
    raw.setblocking(False)
    port = raw.getsockname()[1]
    budget = ConnectionBudget(10)
    listener = Listener([raw], lambda: Echo(made), budget, name="test")
    listener.resume()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        # One attempt, then one more after the retry delay (a spinning loop would race past 2).
        await eventually(lambda: raw.attempts == 1)
        await eventually(lambda: raw.attempts == 2)
        assert budget.open == 0
        raw.exhausted = False
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(4) == b"ping"
        writer.close()
    finally:
        listener.close()
        listener.abort_clients()
        await listener.wait_closed()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "hubbub.listener"]
    assert len(warnings) == 1, warnings
    assert "Too many open files" in warnings[0].getMessage()
