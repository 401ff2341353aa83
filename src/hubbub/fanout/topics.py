"""Fan-out for connections that subscribe to named topics (the realtime feed).

A dialect's ``TopicRenderer`` says which topics an event feeds, with what payload,
and whether a topic belongs to one user (``<uid>-topbar``): such items reach only
connections signed in as that user. Each topic's frame is rendered once per event
and written to every subscriber of that topic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hubbub.core.events import Event
from hubbub.core.ids import UserId
from hubbub.fanout.connection import Connection
from hubbub.fanout.sequencer import Batch

__all__ = ["TopicFanout", "TopicItem", "TopicRenderer", "TopicSubscriber"]


class TopicItem(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> str:
        """The payload as compact JSON text."""
        ...

    @property
    def owner(self) -> UserId | None:
        """Only connections signed in as this user may receive the item."""
        ...


class TopicRenderer(Protocol):
    def items(self, event: Event) -> Sequence[TopicItem]: ...

    def frame(self, topic: str, payload: str) -> bytes: ...


@dataclass(eq=False, slots=True)
class TopicSubscriber:
    connection: Connection
    user_id: UserId | None = None
    topics: set[str] = field(default_factory=set)
    connected_at: float = field(default_factory=time.monotonic)
    last_inbound: float = field(default_factory=time.monotonic)


class TopicFanout:
    def __init__(self, renderer: TopicRenderer) -> None:
        self._renderer = renderer
        self._by_topic: dict[str, set[TopicSubscriber]] = {}
        self._subscribers: set[TopicSubscriber] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def subscriptions(self) -> int:
        return sum(len(subs) for subs in self._by_topic.values())

    def all_subscribers(self) -> list[TopicSubscriber]:
        return list(self._subscribers)

    def topic_subscribers(self, topic: str) -> list[TopicSubscriber]:
        return list(self._by_topic.get(topic, ()))

    def add(self, subscriber: TopicSubscriber) -> None:
        self._subscribers.add(subscriber)

    def remove(self, subscriber: TopicSubscriber) -> None:
        for topic in list(subscriber.topics):
            self.unsubscribe(subscriber, topic)
        self._subscribers.discard(subscriber)

    def subscribe(self, subscriber: TopicSubscriber, topic: str) -> None:
        subscriber.topics.add(topic)
        self._by_topic.setdefault(topic, set()).add(subscriber)

    def unsubscribe(self, subscriber: TopicSubscriber, topic: str) -> None:
        subscriber.topics.discard(topic)
        subs = self._by_topic.get(topic)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self._by_topic[topic]

    def deliver(self, batch: Batch) -> int:
        writes = 0
        if not self._by_topic:  # nobody follows any topic: nothing to render
            return writes
        for event in batch:
            for item in self._renderer.items(event):
                subscribers = self._by_topic.get(item.topic)
                if not subscribers:
                    continue
                data = self._renderer.frame(item.topic, item.payload)
                for sub in list(subscribers):
                    if sub.connection.closed:
                        continue
                    if item.owner is None or sub.user_id == item.owner:
                        sub.connection.send(data)
                        writes += 1
        return writes
