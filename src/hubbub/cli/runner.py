"""How the database commands run: settings loaded as ``hubbub serve`` loads them, the service
opened on the database without any server, and refusals turned into command-line errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from hubbub.app import open_bus, open_store
from hubbub.core.clock import SystemClock
from hubbub.errors import ConfigError, RemoteError
from hubbub.service.service import Service
from hubbub.settings import Settings, load_settings

__all__ = ["_load", "_remote", "_run", "_with_service", "call_service"]

T = TypeVar("T")


def _load(**flags: object) -> Settings:
    try:
        return load_settings(flags)
    except ConfigError as error:
        raise click.UsageError(str(error)) from error


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def _with_service(settings: Settings, work: Callable[[Service], Awaitable[T]]) -> T:
    """Run ``work`` against the database without starting any server."""
    store = open_store(settings)
    try:
        bus = await open_bus(settings)
    except BaseException:
        await store.close()
        raise
    try:
        service = Service(store=store, bus=bus, clock=SystemClock(), settings=settings)
        await service.start()
        try:
            return await work(service)
        finally:
            service.close()
    finally:
        await bus.close()
        await store.close()


def _remote(call: Callable[[], T]) -> T:
    try:
        return call()
    except RemoteError as error:
        raise click.ClickException(str(error)) from error


def call_service(flags: dict[str, object], work: Callable[[Service], Awaitable[T]]) -> T:
    """A database command's body: settings from its flags, ``work`` on the service, refusals as errors."""
    settings = _load(**flags)
    return _remote(lambda: _run(_with_service(settings, work)))
