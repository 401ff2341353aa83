"""Composition root: read settings, open the store and bus, wire the service and servers.

This is the only module that picks engines (by URL scheme) and the only place the
pieces meet; everything below receives what it needs as arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web

from hubbub.bridges.manager import BridgeManager
from hubbub.bridges.webhooks import WebhookDelivery
from hubbub.bus.base import Bus
from hubbub.bus.memory import MemoryBus
from hubbub.core.addresses import ClientAddresses, parse_networks
from hubbub.core.clock import Clock, SystemClock
from hubbub.dialects.comet.routes import ENCODED_ANSWERS, POLL_PREFIX, comet_routes
from hubbub.dialects.irc.server import IrcServer
from hubbub.dialects.realtime.routes import HUB, RealtimeRenderer, RealtimeSockets, realtime_routes
from hubbub.dialects.sechat.socket import SechatRenderer, SechatSockets
from hubbub.dialects.streams.api import streams_api_routes
from hubbub.dialects.streams.socket import StreamSockets, StreamsRenderer
from hubbub.errors import ConfigError, LocalError
from hubbub.fanout.access import AccessWatch
from hubbub.fanout.channels import ChannelWaiters
from hubbub.fanout.direct_watch import DirectWatch
from hubbub.fanout.hub import Hub
from hubbub.fanout.rooms import RoomFanout
from hubbub.fanout.streams import StreamFanout
from hubbub.fanout.topics import TopicFanout
from hubbub.gateway.aiohttp_endpoint import socket_endpoint
from hubbub.gateway.listener import ConnectionBudget, default_budget
from hubbub.gateway.picows_server import PicowsGateway
from hubbub.gateway.router import GatewayLimits, SocketRouter
from hubbub.hosts import Site
from hubbub.service.ratelimit import Limits, MemoryLimits
from hubbub.service.service import Service
from hubbub.settings import Settings
from hubbub.store.base import Store
from hubbub.store.measured import MeasuredStore
from hubbub.web.app import create_app
from hubbub.web.direct_api import DIRECT_WATCH
from hubbub.web.poll_connections import PollPort
from hubbub.web.port_limits import HttpLimits
from hubbub.web.server import GuardedSite

__all__ = ["Runtime", "open_bus", "open_limits", "open_store", "sqlite_path"]

log = logging.getLogger("hubbub")


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file a ``database`` setting names (``""`` = the default file in the data dir)."""
    url = settings.database
    if not url:
        return settings.data_dir / "hubbub.sqlite3"
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return None


def open_store(settings: Settings) -> Store:
    """The store a ``database`` setting names.

    Raises:
        ConfigError: An unknown scheme.
    """
    path = sqlite_path(settings)
    if path is not None:
        from hubbub.store.sqlite import SqliteStore

        return SqliteStore.open(path, synchronous=settings.sqlite_synchronous)
    scheme = settings.database.partition(":")[0]
    if scheme in ("postgresql", "postgres"):
        try:
            from hubbub.store.postgres import PostgresStore
        except ImportError as error:  # the optional driver is missing
            raise ConfigError(
                f"{scheme}:// needs the PostgreSQL driver: pip install 'hubbub[postgres]' ({error})"
            ) from error
        return PostgresStore.open(settings.database, read_connections=settings.postgres_read_connections)
    raise ConfigError(
        f"unsupported database {scheme!r}; expected an empty value, sqlite:///path or postgresql://user@host/db"
    )


# A client polls its buddy list every few minutes; a session silent for a day has gone, and its
# next list (if any) just says listChanged.
BUDDY_SNAPSHOT_MAX_AGE_SECONDS: Final = 86_400
BUDDY_SNAPSHOT_PURGE_SECONDS: Final = 3600.0

REDIS_SCHEMES: Final = frozenset({"redis", "rediss", "unix"})  # what redis-py's from_url takes


def uses_redis(settings: Settings) -> bool:
    """A node of several: its bus (and so its rate limits) is the Redis server ``bus`` names."""
    return settings.bus.partition(":")[0] in REDIS_SCHEMES


async def open_bus(settings: Settings) -> Bus:
    """The bus a ``bus`` setting names; a Redis bus is subscribed when this returns.

    Raises:
        ConfigError: An unknown scheme, the redis extra not installed, or Redis unreachable.
    """
    scheme = settings.bus.partition(":")[0]
    if scheme == "memory":
        return MemoryBus()
    if uses_redis(settings):
        try:
            from hubbub.bus.redis import RedisBus
        except ImportError as error:
            raise ConfigError(f"a redis bus needs the redis extra: pip install 'hubbub[redis]' ({error})") from error
        return await RedisBus.connect(
            settings.bus,
            prefix=settings.redis_prefix,
            reconnect_seconds=settings.bus_reconnect_seconds,
            timeout_seconds=settings.bus_timeout_seconds,
            publish_backlog=settings.bus_publish_backlog,
        )
    raise ConfigError(f"unsupported bus {scheme!r}; expected memory: or redis://host:port/db")


def open_limits(settings: Settings, clock: Clock) -> Limits:
    """Rate limiters on the engine the bus names: Redis for a cluster (shared by every node), else in process."""
    if uses_redis(settings):
        from hubbub.bus.redis import redis_client
        from hubbub.service.ratelimit_redis import RedisLimits

        client = redis_client(
            settings.bus, name=f"{settings.redis_prefix}limits", timeout=settings.bus_timeout_seconds, retries=1
        )
        return RedisLimits(
            client, prefix=settings.redis_prefix, clock=clock, retry_seconds=settings.bus_reconnect_seconds
        )
    return MemoryLimits(clock)


def client_addresses(settings: Settings) -> ClientAddresses:
    """How both ports find a request's client address (``trusted_proxies``).

    Raises:
        ConfigError: An entry that is not an IP address or network.
    """
    return ClientAddresses(parse_networks("trusted_proxies", settings.trusted_proxies))


def gateway_limits(settings: Settings) -> GatewayLimits:
    origins = settings.ws_allowed_origins.strip()
    allowed = None if origins in ("", "*") else frozenset(o.strip().rstrip("/") for o in origins.split(","))
    return GatewayLimits(
        send_buffer_bytes=settings.ws_send_buffer_bytes,
        max_frame_bytes=settings.ws_max_frame_bytes,
        max_connections_per_ip=settings.ws_max_connections_per_ip,
        allowed_origins=allowed,
        socket_send_buffer_bytes=settings.ws_socket_send_buffer_bytes,
        socket_receive_buffer_bytes=settings.ws_socket_receive_buffer_bytes,
        close_timeout=settings.ws_close_timeout,
        client_addresses=client_addresses(settings),
    )


@dataclass
class Runtime:
    """A running hubbub node: its service, hub and servers. ``start`` binds, ``stop`` releases."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    store: Store | None = None
    bus: Bus | None = None
    limits: Limits | None = None
    service: Service | None = None
    hub: Hub | None = None
    rooms: RoomFanout | None = None
    topics: TopicFanout | None = None
    access: AccessWatch | None = None
    channel_waiters: ChannelWaiters | None = None
    poll_port: PollPort | None = None  # the HTTP port's comet poll connections
    direct_watch: DirectWatch | None = None
    sechat_sockets: SechatSockets | None = None
    realtime_sockets: RealtimeSockets | None = None
    streams: StreamFanout | None = None
    stream_sockets: StreamSockets | None = None
    bridges: BridgeManager | None = None
    webhooks: WebhookDelivery | None = None
    irc: IrcServer | None = None
    http_port: int = 0
    ws_port: int = 0
    irc_port: int = 0
    _runner: web.AppRunner | None = None
    _gateway: PicowsGateway | None = None
    _gateway_port: list[int] = field(default_factory=lambda: [0])
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        settings = self.settings
        site = Site(settings)  # a bad public URL or allowed host stops here, before anything is opened
        addresses = client_addresses(settings)  # a bad setting stops the node before it opens anything
        metrics_allowed = parse_networks("metrics_allowed", settings.metrics_allowed)
        self.store = MeasuredStore(open_store(settings))
        self.bus = await open_bus(settings)
        self.limits = open_limits(settings, self.clock)
        self.service = Service(store=self.store, bus=self.bus, clock=self.clock, settings=settings, limits=self.limits)
        await self.service.start()

        self.rooms = RoomFanout(SechatRenderer())
        self.topics = TopicFanout(RealtimeRenderer())
        self.access = AccessWatch(journal_size=settings.access_journal_size)
        self.channel_waiters = ChannelWaiters(
            per_user=settings.comet_max_waiters_per_user, total=settings.comet_max_waiters
        )
        self.direct_watch = DirectWatch(
            per_user=settings.direct_poll_max_waiters_per_user, total=settings.direct_poll_max_waiters
        )
        self.hub = Hub(
            bus=self.bus,
            store=self.store,
            fanouts=[self.rooms, self.topics, self.access, self.channel_waiters, self.direct_watch],
        )
        self.sechat_sockets = SechatSockets(service=self.service, hub=self.hub, fanout=self.rooms, access=self.access)
        self.realtime_sockets = RealtimeSockets(service=self.service, fanout=self.topics, access=self.access)
        self.hub.add_fanout(self.realtime_sockets)
        self.streams = StreamFanout(StreamsRenderer())
        self.stream_sockets = StreamSockets(service=self.service, hub=self.hub, fanout=self.streams, access=self.access)
        self.hub.add_fanout(self.stream_sockets)  # its directory first: a socket admitted by it must see its events
        self.hub.add_fanout(self.streams)
        if settings.streams_bridges:
            self.bridges = BridgeManager(self.service, viewcount_every=settings.streams_viewcount_interval)
            self.hub.add_fanout(self.bridges)
            self.service.stream_chat.writers = self.bridges
        if settings.webhooks:
            self.webhooks = WebhookDelivery(self.service)
            self.hub.add_fanout(self.webhooks)
        if settings.irc_port is not None:
            self.irc = IrcServer(service=self.service, hub=self.hub)
            self.hub.add_fanout(self.irc.delivery)
        await self.hub.start()
        # Nothing was delivered before start(): the access journal is complete from here on.
        self.access.begin(self.hub.last_event_id)
        await self.stream_sockets.load()
        if self.bridges is not None:
            await self.bridges.start()
        if self.webhooks is not None:
            await self.webhooks.start()

        router = SocketRouter(
            [("/events/", self.sechat_sockets), ("/ws/", self.stream_sockets), ("/", self.realtime_sockets)],
            gateway_limits(settings),
            site,
        )
        budget = ConnectionBudget(settings.max_connections or default_budget())
        log.info("accepting up to %d connections on both ports together", budget.limit)
        self._gateway = PicowsGateway(router, budget)
        self.ws_port = await self._gateway.start(settings.host, settings.ws_port)
        self._gateway_port[0] = self.ws_port
        log.info("websocket gateway listening on %s:%d", settings.host, self.ws_port)

        comet, install_comet = comet_routes(settings, self.channel_waiters)
        app = create_app(
            self.service,
            self._gateway_port,
            site=site,
            socket_endpoint=socket_endpoint(router),
            extra_routes=[*realtime_routes(), *streams_api_routes(), *comet],
            client_addresses=addresses,
            metrics_allowed=metrics_allowed,
            any_host_prefixes=(POLL_PREFIX,),
        )
        app[HUB] = self.hub
        app[DIRECT_WATCH] = self.direct_watch
        install_comet(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.poll_port = PollPort(self.service, self.channel_waiters, app[ENCODED_ANSWERS])
        listener = GuardedSite(
            self._runner,
            settings.host,
            settings.port,
            limits=HttpLimits.from_settings(settings),
            accept=lambda factory, host, port: budget.serve(factory, host, port, name="HTTP"),
            polls=self.poll_port,
        )
        await listener.start()
        self.http_port = self._runner.addresses[0][1]
        site.http_port = self.http_port  # the port of hubbub's own pages, for the Origin check
        log.info("http listening on %s:%d", settings.host, self.http_port)
        if self.irc is not None and settings.irc_port is not None:
            self.irc_port = await self.irc.start(settings.host, settings.irc_port)
            log.info("IRC gateway listening on %s:%d", settings.host, self.irc_port)
        self._tasks = [
            asyncio.create_task(self.sechat_sockets.run_keepalive(), name="hubbub-sechat-keepalive"),
            asyncio.create_task(self.realtime_sockets.run_heartbeat(), name="hubbub-realtime-heartbeat"),
            asyncio.create_task(self._sweep_presence(), name="hubbub-presence-sweep"),
            asyncio.create_task(self.stream_sockets.run_pings(), name="hubbub-streams-pings"),
        ]

    async def _sweep_presence(self) -> None:
        """Turn lapsed presence into idle/offline events, on every node (the sweep is idempotent)."""
        assert self.service is not None
        last_purge = 0.0
        while True:
            await asyncio.sleep(self.settings.presence_sweep_seconds)
            try:
                await self.service.presence.sweep()
                if time.monotonic() - last_purge >= BUDDY_SNAPSHOT_PURGE_SECONDS:
                    await self.service.presence.purge_buddy_snapshots(BUDDY_SNAPSHOT_MAX_AGE_SECONDS)
                    last_purge = time.monotonic()
            except Exception:  # the store may be away for a moment; the next sweep catches up
                log.exception("presence sweep failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.irc is not None:
            await self.irc.stop()
        if self._gateway is not None:
            await self._gateway.stop()
            self._gateway = None
        if self.direct_watch is not None:
            self.direct_watch.close()  # held /direct/events polls answer now instead of holding the shutdown
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.bridges is not None:
            await self.bridges.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        for sockets in (self.sechat_sockets, self.realtime_sockets, self.stream_sockets):
            if sockets is not None:
                await sockets.stop()
        if self.hub is not None:
            await self.hub.stop()
        if self.service is not None:
            self.service.close()
        if self.limits is not None:
            await self.limits.close()
        if self.bus is not None:
            await self.bus.close()
        if self.store is not None:
            await self.store.close()

    @property
    def http_app(self) -> web.Application:
        """The HTTP application being served (its router lists every route); only while started."""
        if self._runner is None:
            raise LocalError("Runtime.start() was not awaited")
        return self._runner.app

    @property
    def ws_url(self) -> str:
        return f"ws://{self.settings.host}:{self.ws_port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.http_port}"
