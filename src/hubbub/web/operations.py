"""Endpoints for operators and load balancers: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``GET /healthz``: the process is up and its event loop answers (liveness).
- ``GET /readyz``: the store and the bus both answer within ``bus_timeout_seconds``;
  otherwise 503 naming what does not, so a load balancer sends clients elsewhere.
- ``GET /metrics``: Prometheus text format, for client addresses in
  ``metrics_allowed`` only (the counts say how busy the server is).
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from hubbub.core.addresses import Networks
from hubbub.dialects.sechat.http import SERVICE, client_address

__all__ = ["METRICS_ALLOWED", "operations_routes"]

METRICS_ALLOWED: Final = web.AppKey("metrics_allowed", Networks)


async def healthz(request: web.Request) -> web.Response:
    """Liveness for load balancers (and the benchmark's reference endpoint)."""
    return web.Response(text="ok", content_type="text/plain")


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when the store and the bus answer, else 503 saying which does not."""
    context = request.app[SERVICE].context
    timeout = context.settings.bus_timeout_seconds

    async def store_answers() -> bool:
        await context.store.read(lambda tx: tx.last_event_id())
        return True

    try:
        async with asyncio.timeout(timeout):
            store_ok = await store_answers()
    except Exception:  # any failure of the database means "not ready", never a 500
        store_ok = False
    try:
        async with asyncio.timeout(timeout):
            bus_ok = await context.bus.reachable()
    except Exception:
        bus_ok = False
    lines = [f"store: {'ok' if store_ok else 'unreachable'}", f"bus: {'ok' if bus_ok else 'unreachable'}"]
    status = 200 if store_ok and bus_ok else 503
    return web.Response(status=status, text="\n".join(lines) + "\n", content_type="text/plain")


async def metrics(request: web.Request) -> web.Response:
    allowed = request.app.get(METRICS_ALLOWED)
    if allowed and client_address(request) not in allowed:
        return web.Response(status=403, text="metrics are not served to this address\n", content_type="text/plain")
    body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, REGISTRY)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def operations_routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]
