"""store/reader_threads.py: reads on their own threads, answered straight to the caller's event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from hubbub.store.reader_threads import ReaderThreads


class _Interrupted(BaseException):
    """Not an ``Exception``: still the caller's to see, and the thread goes on."""


def _direct(work: Any) -> Any:
    return work(None)


async def test_reads_return_their_results_and_raise_their_errors_and_the_threads_go_on() -> None:
    readers = ReaderThreads(2, _direct, thread_name="test-reader")
    try:
        assert await readers.run(lambda tx: 41 + 1) == 42
        with pytest.raises(ValueError, match="no such row"):
            await readers.run(lambda tx: (_ for _ in ()).throw(ValueError("no such row")))
        with pytest.raises(_Interrupted):
            await readers.run(lambda tx: (_ for _ in ()).throw(_Interrupted()))
        results = await asyncio.gather(*(readers.run(lambda tx, n=n: n * n) for n in range(200)))
        assert results == [n * n for n in range(200)]
        assert readers.run_blocking(lambda tx: "from the CLI") == "from the CLI"
    finally:
        readers.close()


async def test_reads_run_on_every_thread_at_once() -> None:
    readers = ReaderThreads(3, _direct, thread_name="test-reader")
    together = threading.Barrier(3, timeout=10)
    try:
        names = await asyncio.gather(
            *(readers.run(lambda tx: (together.wait(), threading.current_thread().name)[1]) for _ in range(3))
        )
        assert sorted(names) == ["test-reader_0", "test-reader_1", "test-reader_2"]
    finally:
        readers.close()


async def test_a_cancelled_read_is_dropped_and_the_next_one_answered() -> None:
    readers = ReaderThreads(1, _direct, thread_name="test-reader")
    release = threading.Event()
    try:
        slow = asyncio.ensure_future(readers.run(lambda tx: release.wait(10)))
        await asyncio.sleep(0.05)
        slow.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await readers.run(lambda tx: "next") == "next"
    finally:
        readers.close()


def test_a_read_whose_event_loop_closed_leaves_the_thread_serving() -> None:
    readers = ReaderThreads(1, _direct, thread_name="test-reader")
    release = threading.Event()
    try:
        loop = asyncio.new_event_loop()
        pending = loop.create_task(readers.run(lambda tx: release.wait(10)))
        loop.run_until_complete(asyncio.sleep(0.05))
        pending.cancel()
        loop.close()  # the read finishes after its loop is gone
        release.set()
        assert readers.run_blocking(lambda tx: "still here") == "still here"
    finally:
        readers.close()


def test_close_answers_what_is_queued_then_refuses_new_reads() -> None:
    readers = ReaderThreads(1, _direct, thread_name="test-reader")
    gate = threading.Event()
    done: list[int] = []
    callers = [threading.Thread(target=lambda: readers.run_blocking(lambda tx: gate.wait(10)))]
    callers += [threading.Thread(target=lambda n=n: done.append(readers.run_blocking(lambda tx: n))) for n in range(3)]
    for caller in callers:
        caller.start()
    for _ in range(500):  # until the three are queued behind the one holding the thread
        if readers._jobs.qsize() == 3:
            break
        threading.Event().wait(0.01)
    closing = threading.Thread(target=readers.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive() and done == []  # close waits for what is queued
    gate.set()
    closing.join(10)
    for caller in callers:
        caller.join(10)
    assert sorted(done) == [0, 1, 2] and not closing.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        readers.run_blocking(lambda tx: None)
