"""Prometheus metrics of one node, named once here and served by ``GET /metrics``.

Every metric lives in prometheus-client's default registry (one process is one
node), so the process collectors (CPU, memory, open files) come along. Updates
stay off the per-event path: counters move once per batch or per request, a
histogram observes once per batch, and labels take a handful of fixed values
(a dialect, a store operation, a limit's name), never a room, user or address.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BUS_CATCH_UPS",
    "BUS_CAUGHT_UP_EVENTS",
    "BUS_CONNECTED",
    "BUS_LAG",
    "BUS_PUBLISH_FAILURES",
    "CONNECTIONS",
    "EVENTS_APPENDED",
    "EVENTS_DELIVERED",
    "FANOUT_LAG",
    "FRAME_WRITES",
    "GAP_FILLS",
    "LONGPOLL_WAITERS",
    "RATE_LIMIT_FALLBACKS",
    "RATE_LIMIT_REFUSALS",
    "SQLITE_CHECKPOINT_SECONDS",
    "SQLITE_WAL_PAGES_LEFT",
    "STORE_SECONDS",
    "WEBHOOK_ATTEMPTS",
    "WEBHOOK_CALLS",
    "WEBHOOK_QUEUE",
]

# Buckets from 100 µs to 10 s: loopback fan-out sits at the low end, a stalled store or bus at the top.
_SECONDS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

CONNECTIONS: Final = Gauge("hubbub_connections", "Open websocket connections on this node", ["dialect"])
EVENTS_APPENDED: Final = Counter("hubbub_events_appended", "Events this node appended to the log")
EVENTS_DELIVERED: Final = Counter(
    "hubbub_events_delivered", "Events the hub released to this node's connections, in log order"
)
FRAME_WRITES: Final = Counter("hubbub_frame_writes", "Frames written to connections by fan-out (one per connection)")
FANOUT_LAG: Final = Histogram(
    "hubbub_fanout_lag_seconds",
    "From the hub receiving a batch (bus or store) until it is written to connections; includes waiting for a gap",
    buckets=_SECONDS,
)
GAP_FILLS: Final = Counter("hubbub_hub_gap_fills", "Missing event ids the hub had to read from the store")
STORE_SECONDS: Final = Histogram(
    "hubbub_store_seconds", "Time a unit of work took in the store, queueing included", ["op"], buckets=_SECONDS
)
BUS_LAG: Final = Histogram(
    "hubbub_bus_lag_seconds",
    "From publish on one node to receipt on this one (wall clocks of two machines: NTP skew included)",
    buckets=_SECONDS,
)
BUS_CONNECTED: Final = Gauge("hubbub_bus_connected", "1 while this node's bus subscription is live, else 0")
BUS_PUBLISH_FAILURES: Final = Counter(
    "hubbub_bus_publish_failures", "Batches that could not be handed to the bus at once (kept for a retry)"
)
BUS_CATCH_UPS: Final = Counter(
    "hubbub_bus_catch_ups", "Times the hub was told it missed batches (bus lost or lagging) and read the store"
)
BUS_CAUGHT_UP_EVENTS: Final = Counter(
    "hubbub_bus_caught_up_events", "Events the hub delivered from the store after a lag"
)
SQLITE_CHECKPOINT_SECONDS: Final = Histogram(
    "hubbub_sqlite_checkpoint_seconds",
    "How long the SQLite store's background checkpoints took (copying the WAL into the database, syncing both)",
    buckets=_SECONDS,
)
SQLITE_WAL_PAGES_LEFT: Final = Gauge(
    "hubbub_sqlite_wal_pages_left",
    "Pages the last SQLite checkpoint could not copy yet because a reader still used them (0 when it copied all)",
)
RATE_LIMIT_REFUSALS: Final = Counter("hubbub_rate_limit_refusals", "Requests refused by a rate limit", ["limit"])
RATE_LIMIT_FALLBACKS: Final = Counter(
    "hubbub_rate_limit_fallbacks", "Rate-limit checks answered by this node alone because Redis was unreachable"
)
LONGPOLL_WAITERS: Final = Gauge("hubbub_longpoll_waiters", "Requests waiting on the hub for an event to be delivered")
WEBHOOK_CALLS: Final = Counter(
    "hubbub_webhook_calls",
    "Stream webhook calls by how they ended: delivered (2xx), failed (given up), dropped (a queue was full)",
    ["result"],
)
WEBHOOK_ATTEMPTS: Final = Counter("hubbub_webhook_attempts", "HTTP requests made to stream webhooks, retries included")
WEBHOOK_QUEUE: Final = Gauge("hubbub_webhook_queue", "Stream webhook calls waiting on this node")
