"""Handing a store thread's result to the caller's future: the one rule both the writer and the readers follow."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

__all__ = ["settle"]


def settle(future: asyncio.Future[Any] | Future[Any], succeeded: bool, value: Any) -> None:
    """Set ``future``'s result (or exception, when not ``succeeded``), unless its caller stopped waiting.

    A cancelled caller's work is done (or not) all the same; its answer is simply dropped.
    """
    if future.done():
        return
    if succeeded:
        future.set_result(value)
    else:
        future.set_exception(value)
