"""What a stream socket is sent: the frames of events (``StreamsRenderer``) and, on resuming, what it missed.

``StreamsRenderer`` is ``fanout.streams``'s renderer: chat lines, room messages and viewer
counts rendered once per event; status frames once per viewer; whether a change takes the
stream away. ``replay_missed`` reads the log from a socket's ``since`` up to where its live
delivery began and sends the frames it would have had, within a byte budget.
"""

from __future__ import annotations

import functools
from typing import Final

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.streams import ChatLevel
from hubbub.dialects.streams import codec
from hubbub.dialects.streams.codec import StreamSnapshot
from hubbub.fanout.streams import StreamSubscriber
from hubbub.store.base import ReadTx, Store

__all__ = ["REPLAY_PAGE", "StreamsRenderer", "replay_missed"]

REPLAY_PAGE: Final = 500  # events read from the log per page while replaying


class StreamsRenderer:
    """``fanout.streams.StreamRenderer`` for multistreamer's frames."""

    def shared(self, event: Event, stream_id: int | None) -> bytes | None:
        if event.type is EventType.STREAM_CHAT:
            return codec.chat_frame(event)
        if event.type is EventType.MESSAGE_POSTED:
            return None if stream_id is None else codec.room_message_frame(event, stream_id)
        return codec.viewcount_frame(event)

    def keeps(self, event: Event, subscriber: StreamSubscriber) -> bool:
        if event.type is EventType.STREAM_DELETED:
            return False
        snapshot = StreamSnapshot.from_event(event)
        return snapshot is None or snapshot.chat_level(subscriber.user_id) is not ChatLevel.NONE

    def personal(self, event: Event, subscriber: StreamSubscriber) -> bytes | None:
        snapshot = StreamSnapshot.from_event(event)
        if snapshot is None or snapshot.kind not in ("start", "end"):
            return None  # the original pushed status only on stream:start and stream:end
        own = subscriber.audience
        return codec.status_frame(
            user_name=subscriber.user_name,
            state=snapshot.state,
            chat_level=snapshot.chat_level(subscriber.user_id),
            attached=snapshot.accounts,
            own_others=own if isinstance(own, tuple) else (),
        )


async def replay_missed(
    store: Store, subscriber: StreamSubscriber, since: EventId, through: EventId, budget: int
) -> EventId:
    """Send the chat frames of ``(since, through]`` this socket would have had; how far it got."""
    connection, user_id, room_id = subscriber.connection, subscriber.user_id, subscriber.room_id
    cursor, spent = since, 0
    while cursor < through and not connection.closed:
        read = functools.partial(_page_after, cursor)
        page = [event for event in await store.read(read) if event.id <= through]
        if not page:
            return through
        for event in page:
            if _reaches(event, user_id, room_id):
                data = (
                    codec.chat_frame(event)
                    if event.type is EventType.STREAM_CHAT
                    else codec.room_message_frame(event, subscriber.stream_id)
                )
                if data is not None:
                    if spent and spent + len(data) > budget:
                        return cursor
                    connection.send(data)
                    spent += len(data)
            cursor = EventId(event.id)
    return cursor


def _page_after(after: EventId, tx: ReadTx) -> list[Event]:
    return tx.events_after(after, limit=REPLAY_PAGE)


def _reaches(event: Event, user_id: UserId, room_id: RoomId) -> bool:
    if event.type is EventType.MESSAGE_POSTED:
        return event.room_id == room_id
    if event.type is not EventType.STREAM_CHAT:
        return False
    if event.room_id is not None:
        return event.room_id == room_id
    return user_id in (event.user_id, event.target_user_id)
