"""Typed integer ids, so that a room id is never passed where a user id belongs."""

from __future__ import annotations

from typing import Final, NewType

__all__ = ["FEEDS_USER_ID", "EventId", "MessageId", "RoomId", "UserId"]

UserId = NewType("UserId", int)
RoomId = NewType("RoomId", int)
MessageId = NewType("MessageId", int)
EventId = NewType("EventId", int)

# Stack Exchange's "Feeds" account: the actor of system events (14, 34) and feed items.
FEEDS_USER_ID: Final = UserId(-2)
