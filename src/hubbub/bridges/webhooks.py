"""Posting stream webhooks: a hub ``Fanout`` that turns the log's stream events into HTTP calls.

How a call travels (docs/dialects/streams.md, "Webhooks"):

1. ``deliver`` (called by the hub, in log order, never awaiting) picks the events hooks
   fire for (``core.webhooks.trigger_of``) and queues them; a stream known to have no
   hooks costs nothing more. Only the node holding the cluster's delivery lease does
   this, so each call is made by one node (below).
2. One task reads each queued event's stream, hooks and accounts from the store (cached
   per stream until the next ``STREAM_CHANGED``/``STREAM_DELETED`` of that stream, which
   every hook change appends) and queues one call per hook that fires for it.
3. Each hook has its own queue and at most one request in flight, so its calls go out in
   log order and a slow or dead receiver holds up nothing but its own hook. A call is
   tried ``webhooks_retries`` more times after no answer, a timeout or a 5xx (backoff
   from ``webhooks_retry_seconds``, doubling), after a 429 when its ``Retry-After`` says
   (at most ``webhooks_retry_after_max``); then it is given up and logged.

Bounded everything: at most ``webhooks_queue_max`` events and calls wait on a node, at
most ``webhooks_queue_per_hook`` for one hook; past either, new ones are dropped and
counted (``hubbub_webhook_calls{result="dropped"}``). Delivery is therefore
**at most once**: a call is never made twice, and one may not be made at all (dropped,
given up, or queued on a node that stopped).

One node of a cluster posts: whoever holds the ``webhooks`` lease in the store
(``LEASE_SECONDS``, renewed every ``RENEW_SECONDS``), as ``BridgeManager`` holds a
bridge's. Its hub sees every node's events in log order, also those read back from the
store after a gap or a lag, so nothing is left out and nothing comes twice. The node
that appended an event would do as well only if the hub knew where a batch came from,
which it does not for the batches it reads back from the store. While the holder is
gone and its lease not yet lapsed, nobody posts (at most once, again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import urllib.parse
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Final

import aiohttp

from hubbub import metrics
from hubbub.bridges.base import Backoff, renew_forever
from hubbub.core.events import EventType
from hubbub.core.webhooks import (
    Answer,
    Trigger,
    Webhook,
    answer_of,
    body_bytes,
    payload,
    retry_after_seconds,
    trigger_of,
)
from hubbub.fanout.sequencer import Batch
from hubbub.service.service import Service
from hubbub.service.webhooks import HookTargets

__all__ = ["LEASE_SECONDS", "RENEW_SECONDS", "Call", "WebhookDelivery"]

log = logging.getLogger("hubbub.webhooks")

LEASE_SECONDS: Final = 30
RENEW_SECONDS: Final = 10.0
KNOWN_STREAMS: Final = 4096  # streams whose hooks are cached
_INVALIDATING: Final = frozenset({EventType.STREAM_CHANGED, EventType.STREAM_DELETED})
USER_AGENT: Final = "hubbub-webhooks"


@dataclass(frozen=True, slots=True)
class Call:
    """One POST to one hook."""

    hook_id: int
    url: str
    body: bytes
    event: str


def _where(url: str) -> str:
    """A hook's host for the log: never the whole URL (a Discord webhook's path is its secret)."""
    return urllib.parse.urlsplit(url).netloc.rpartition("@")[2] or "?"


class WebhookDelivery:
    def __init__(self, service: Service) -> None:
        settings = service.settings
        self._service = service
        self._timeout = settings.webhooks_timeout
        self._retries = settings.webhooks_retries
        self._backoff = Backoff(first=settings.webhooks_retry_seconds, cap=settings.webhooks_retry_after_max)
        self._retry_after_max = settings.webhooks_retry_after_max
        self._max = settings.webhooks_queue_max
        self._per_hook = settings.webhooks_queue_per_hook
        self._triggers: deque[Trigger] = deque()
        self._wake = asyncio.Event()
        self._calls: dict[int, deque[Call]] = {}  # per hook, waiting (not the one in flight)
        self._queued = 0  # calls waiting in all of them
        self._senders: dict[int, asyncio.Task[None]] = {}
        # stream -> its hooks (None: none), and a generation per stream so that a read that raced
        # with a change of the stream is not cached.
        self._known: OrderedDict[int, HookTargets | None] = OrderedDict()
        self._generation: dict[int, int] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.holding = False
        self._held_before = False
        self.node = secrets.token_hex(8)  # this process, as lease holder
        self.dropped = 0  # events and calls dropped because a queue was full (since start)

    @property
    def pending(self) -> int:
        """Events and calls waiting on this node (requests in flight not counted)."""
        return len(self._triggers) + self._queued

    async def start(self) -> None:
        # One request per hook at a time, and the queue bounds how many hooks have one: no pool
        # limit, so that connections hanging on dead receivers never hold up live ones.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )
        await self.renew()
        self._tasks = [
            asyncio.create_task(self._resolve_forever(), name="hubbub-webhooks"),
            asyncio.create_task(
                renew_forever(self.renew, RENEW_SECONDS, "the webhook delivery lease"), name="hubbub-webhooks-lease"
            ),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._senders.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._senders = [], {}
        lost = self.pending
        if lost:
            log.warning("%d webhook calls were still waiting when this node stopped; they are not made", lost)
        metrics.WEBHOOK_QUEUE.dec(self._queued)
        self._triggers.clear()
        self._calls.clear()
        self._queued = 0
        if self.holding:
            self.holding = False
            with contextlib.suppress(Exception):  # the store may be closing; the lease lapses anyway
                await self._service.webhooks.release_delivery(self.node)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def renew(self) -> None:
        """Claim or renew the delivery lease; without it this node queues nothing."""
        held = await self._service.webhooks.claim_delivery(self.node, LEASE_SECONDS)
        if held != self.holding:
            # Taking the lease at start-up is routine; taking it over, or losing it, is news.
            level = logging.DEBUG if held and not self._held_before else logging.INFO
            log.log(level, "webhook delivery %s on this node", "starts" if held else "stops")
            self._held_before = True
        self.holding = held

    # step 1: the hub

    def deliver(self, batch: Batch) -> int:
        """Hub ``Fanout``: queue the events hooks fire for (writes nothing to connections)."""
        for event in batch:
            if event.type in _INVALIDATING and event.data:
                self._forget(event.data)
            if not self.holding:
                continue
            trigger = trigger_of(event)
            if trigger is None or (trigger.stream_id in self._known and self._known[trigger.stream_id] is None):
                continue
            if self.pending >= self._max:
                self._drop("event", trigger.stream_id)
                continue
            self._triggers.append(trigger)
            self._wake.set()
        return 0

    def _forget(self, data: str) -> None:
        trigger_id = _stream_id(data)
        if trigger_id is not None:
            self._known.pop(trigger_id, None)
            self._generation[trigger_id] = self._generation.get(trigger_id, 0) + 1

    def _drop(self, what: str, stream_id: int) -> None:
        self.dropped += 1
        metrics.WEBHOOK_CALLS.labels("dropped").inc()
        log.warning("webhook queue full: a %s of stream %d is dropped", what, stream_id)

    # step 2: which hooks, which bodies

    async def _resolve_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._triggers:
                trigger = self._triggers.popleft()
                try:
                    targets = await self._targets(trigger.stream_id)
                    if targets is not None:
                        self._fan_out(trigger, targets)
                except Exception:
                    log.exception("webhooks for event %d could not be prepared", trigger.event_id)

    async def _targets(self, stream_id: int) -> HookTargets | None:
        if stream_id in self._known:
            self._known.move_to_end(stream_id)
            return self._known[stream_id]
        generation = self._generation.get(stream_id, 0)
        targets = await self._service.webhooks.targets(stream_id)
        if self._generation.get(stream_id, 0) == generation:
            self._known[stream_id] = targets
            while len(self._known) > KNOWN_STREAMS:
                self._known.popitem(last=False)
        return targets

    def _fan_out(self, trigger: Trigger, targets: HookTargets) -> None:
        accounts = [targets.accounts[a] for a in trigger.account_ids if a in targets.accounts]
        for hook in targets.hooks:
            if trigger.event not in hook.events:
                continue
            body = body_bytes(payload(hook.type, trigger, targets.stream, accounts))
            self._enqueue(hook, Call(hook.id, hook.url, body, str(trigger.event)), trigger.stream_id)

    def _enqueue(self, hook: Webhook, call: Call, stream_id: int) -> None:
        waiting = self._calls.setdefault(hook.id, deque())
        if self.pending >= self._max or len(waiting) >= self._per_hook:
            self._drop(f"{call.event} call to hook {hook.id}", stream_id)
            return
        waiting.append(call)
        self._queued += 1
        metrics.WEBHOOK_QUEUE.inc()
        if hook.id not in self._senders:
            self._senders[hook.id] = asyncio.create_task(self._send_all(hook.id), name=f"hubbub-webhook-{hook.id}")

    # step 3: the requests

    async def _send_all(self, hook_id: int) -> None:
        try:
            while waiting := self._calls.get(hook_id):
                call = waiting.popleft()
                self._queued -= 1
                metrics.WEBHOOK_QUEUE.dec()
                await self._send(call)
        finally:
            self._senders.pop(hook_id, None)
            if not self._calls.get(hook_id):
                self._calls.pop(hook_id, None)

    async def _send(self, call: Call) -> None:
        assert self._session is not None
        outcome = "no answer"
        for attempt in range(self._retries + 1):
            retry_after: float | None = None
            metrics.WEBHOOK_ATTEMPTS.inc()
            try:
                async with self._session.post(
                    call.url, data=call.body, headers={"Content-Type": "application/json"}, allow_redirects=False
                ) as response:
                    answer = answer_of(response.status)
                    outcome = f"HTTP {response.status}"
                    if response.status == 429:
                        retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
                answer, outcome = Answer.RETRY, type(error).__name__
            if answer is Answer.DELIVERED:
                metrics.WEBHOOK_CALLS.labels("delivered").inc()
                return
            if answer is Answer.REFUSED or attempt == self._retries:
                break
            delay = self._backoff.delay(attempt) if retry_after is None else min(retry_after, self._retry_after_max)
            await asyncio.sleep(delay)
        metrics.WEBHOOK_CALLS.labels("failed").inc()
        log.warning("webhook %d (%s): %s call given up after %s", call.hook_id, _where(call.url), call.event, outcome)


def _stream_id(data: str) -> int | None:
    """The stream a ``STREAM_CHANGED``/``STREAM_DELETED`` event is about (its data's ``id``)."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    stream_id = value.get("id") if isinstance(value, dict) else None
    return stream_id if isinstance(stream_id, int) else None
