"""A ``Store`` that times every unit of work for ``hubbub_store_seconds`` (queueing included), then runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from hubbub import metrics
from hubbub.store.base import ReadTx, Store, WriteTx

__all__ = ["MeasuredStore"]

T = TypeVar("T")


class MeasuredStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reads = metrics.STORE_SECONDS.labels(op="read")
        self._writes = metrics.STORE_SECONDS.labels(op="write")

    async def read(self, work: Callable[[ReadTx], T]) -> T:
        started = time.perf_counter()
        try:
            return await self._store.read(work)
        finally:
            self._reads.observe(time.perf_counter() - started)

    async def lookup(self, work: Callable[[ReadTx], T]) -> T:
        started = time.perf_counter()
        try:
            return await self._store.lookup(work)
        finally:
            self._reads.observe(time.perf_counter() - started)

    async def write(self, work: Callable[[WriteTx], T], *, prefetch: Callable[[WriteTx], None] | None = None) -> T:
        started = time.perf_counter()
        try:
            return await self._store.write(work, prefetch=prefetch)
        finally:
            self._writes.observe(time.perf_counter() - started)

    async def close(self) -> None:
        await self._store.close()


_: type[Store] = MeasuredStore
