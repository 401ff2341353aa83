"""Password hashing off the event loop: Argon2id in a small thread pool with a bounded queue.

Argon2id is slow on purpose (tens of milliseconds and ``password_memory_kib`` of
memory per hash). Run on the event-loop thread, every login stalls every socket and
request of the process for that long. Here each hash and each check runs on one of
``password_hash_threads`` threads of its own pool (argon2-cffi releases the GIL while
it works), so the loop keeps serving. At most ``password_hash_queue`` more wait for a
thread; beyond that a caller is refused at once with ``Busy`` (the dialect's "try
again in N seconds"), before anything changed, instead of queueing without bound.

Every password of hubbub is hashed or checked here: sign-up, accounts created from
the CLI, logins, re-hashing after a parameter change, and password changes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hubbub.errors import Busy

__all__ = ["PasswordHashing"]

T = TypeVar("T")


class PasswordHashing:
    """Hash and check passwords with Argon2id without blocking the event loop.

    Args:
        time_cost: Argon2id passes (``password_time_cost``).
        memory_kib: Argon2id memory per hash (``password_memory_kib``).
        threads: Hashes running at the same time (``password_hash_threads``).
        queue: Hashes that may wait for a thread (``password_hash_queue``).
    """

    def __init__(self, *, time_cost: int, memory_kib: int, threads: int, queue: int) -> None:
        if threads < 1 or queue < 0:
            raise ValueError("password hashing needs threads >= 1 and queue >= 0")
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._capacity = threads + queue
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        # Running plus waiting. A job leaves when its thread is done with it, not when its
        # caller stops waiting: a cancelled login still holds its thread until the hash ends.
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def in_progress(self) -> int:
        """Hashes running or waiting for a thread."""
        with self._lock:
            return self._admitted

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    async def _run(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._admitted >= self._capacity:
                raise Busy(retry_after=1)
            self._admitted += 1
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="hubbub-password")
        future = self._pool.submit(work)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    async def hash(self, password: str) -> str:
        """The Argon2id hash of ``password`` (a PHC string with its salt and parameters).

        Raises:
            Busy: ``password_hash_threads`` are working and ``password_hash_queue`` more wait.
        """
        return await self._run(lambda: self._hasher.hash(password))

    async def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored``; False for a wrong password or a malformed hash.

        Raises:
            Busy: As for ``hash``.
        """

        def check() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self._run(check)

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than the current ones (cheap: parses only)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return False

    def close(self) -> None:
        """Let the threads end once their current work is done (new work starts a new pool)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
