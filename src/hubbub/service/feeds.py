"""Publishing items into realtime topics: an event in the log like any other.

A published item is a FEED_PUBLISHED event (topic + JSON text) made by the Feeds
user (-2), so every node's hub delivers it and it shares the log's ordering.
"""

from __future__ import annotations

from hubbub.core.events import Event, EventType, NewEvent
from hubbub.core.ids import FEEDS_USER_ID
from hubbub.service.context import Changes, Context
from hubbub.store.base import WriteTx

__all__ = ["Feeds"]


class Feeds:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def publish(self, topic: str, payload: str) -> Event:
        """Append one item for ``topic``; ``payload`` is JSON text, already validated by the caller."""

        def work(tx: WriteTx, changes: Changes, now: int) -> Event:
            return changes.append(
                NewEvent(
                    type=EventType.FEED_PUBLISHED,
                    time_stamp=now,
                    user_id=FEEDS_USER_ID,
                    user_name="Feeds",
                    topic=topic,
                    data=payload,
                )
            )

        return await self._ctx.apply(work)
