"""BridgeRunner with a scripted network: backoff, ready, dedupe after reconnects, bounded writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hubbub.bridges.base import OUTBOX, Backoff, BridgeRunner, IncomingLine
from tests.fakes import TIMEOUT, eventually


class ScriptedBridge:
    """Fails to connect ``failures`` times; each connection replays every line said so far, then drops."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.said: list[IncomingLine] = []
        self.written: list[tuple[str, str]] = []
        self.drop = asyncio.Event()
        self.closed = 0

    async def connect(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("refused")
        self.drop.clear()

    async def lines(self) -> AsyncIterator[IncomingLine]:
        for line in list(self.said):  # a network that replays what it has on every connection
            yield line
        await self.drop.wait()

    async def write(self, kind: str, text: str) -> None:
        self.written.append((kind, text))

    async def viewer_count(self) -> int | None:
        return None

    async def close(self) -> None:
        self.closed += 1


class CountingBridge(ScriptedBridge):
    """Answers viewer counts from a script; a count of -1 stands for a failed read."""

    def __init__(self, counts: list[int | None]) -> None:
        super().__init__(failures=0)
        self.counts = counts
        self.asked = 0

    async def viewer_count(self) -> int | None:
        self.asked += 1
        count = self.counts[min(self.asked, len(self.counts)) - 1]
        if count == -1:
            raise ConnectionError("the network did not answer")
        return count


def _line(n: int) -> IncomingLine:
    return IncomingLine(kind="text", text=f"line {n}", from_name="x", from_id="7", remote_id=str(n))


async def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(first=1.0, cap=8.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    jittered = Backoff(first=1.0, cap=60.0, jitter=0.2)
    assert all(0.8 <= jittered.delay(0) <= 1.2 for _ in range(100))


async def test_reconnects_after_failures_and_drops_and_shows_each_line_once() -> None:
    bridge = ScriptedBridge(failures=2)
    shown: list[str] = []
    ready: list[bool] = []

    async def sink(line: IncomingLine) -> None:
        shown.append(line.text)

    runner = BridgeRunner(bridge, sink, name="t", backoff=Backoff(first=0.01, cap=0.02), on_ready=ready.append)
    bridge.said = [_line(1), _line(2)]
    runner.start()
    assert await runner.wait_ready(TIMEOUT)
    await eventually(lambda: shown == ["line 1", "line 2"])
    assert bridge.attempts == 3
    for n in (3, 4):
        bridge.said.append(_line(n))
        bridge.drop.set()  # the connection drops; the next one replays everything
        await eventually(lambda n=n: shown[-1] == f"line {n}")
    assert shown == ["line 1", "line 2", "line 3", "line 4"]
    assert runner.connections == 3 and ready[:2] == [True, False] and ready[-1] is True
    assert runner.write("text", "out") is True
    await eventually(lambda: bridge.written == [("text", "out")])
    await runner.stop()
    assert runner.ready is False and bridge.closed >= 1


async def test_the_outbox_is_bounded() -> None:
    bridge = ScriptedBridge(failures=10**6)  # never connects: nothing drains the outbox
    runner = BridgeRunner(bridge, None, name="t", backoff=Backoff(first=10.0))
    accepted = [runner.write("text", str(n)) for n in range(OUTBOX + 5)]
    assert accepted.count(True) == OUTBOX and accepted[-1] is False
    await runner.stop()


async def test_viewer_counts_are_reported_when_known_and_changed_and_not_for_writers() -> None:
    bridge = CountingBridge([None, 3, 3, -1, 3, 5, 5])
    reported: list[int] = []

    async def report(count: int) -> None:
        reported.append(count)

    async def sink(line: IncomingLine) -> None:
        pass

    runner = BridgeRunner(bridge, sink, name="t", on_viewcount=report, viewcount_every=0.01)
    runner.start()
    await eventually(lambda: bridge.asked >= 7)
    await runner.stop()
    assert reported == [3, 5]  # unknown, repeated and failed reads say nothing
    assert runner.viewer_count == 5

    writer_bridge = CountingBridge([4])
    writer = BridgeRunner(writer_bridge, None, name="w", on_viewcount=report, viewcount_every=0.01)
    writer.start()
    assert await writer.wait_ready(TIMEOUT)
    await asyncio.sleep(0.05)  # several intervals: a writer-only runner would have asked by now
    await writer.stop()
    assert writer_bridge.asked == 0 and reported == [3, 5]
