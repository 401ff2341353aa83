"""Who may see an event: decided once here for every transport (shared/DESIGN.md).

- Room events go to whoever may read the room.
- Mentions (8), replies (18) and the other personal notices go to their target only.
- Spam flags (9) go to readers of the room with 10,000 reputation or more.
- Moderator flags (12) go to moderators only.
- Published feed items go to the subscribers of their topic (the realtime dialect
  decides which topics a connection may hold).

A viewer's *view* of some rooms (what a socket, a replay or a poll of those rooms
shows) is the rooms' events the viewer may see plus every event aimed at the viewer
from any room, and each of those is filed under every room of the view as well as
its own (``in_view``, ``file_view``). Every transport uses these two, so a socket,
its replay and ``POST /events`` show the same events under the same rooms.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import Enum
from typing import Final

from hubbub.core.events import Event, EventType
from hubbub.core.ids import RoomId
from hubbub.core.models import User
from hubbub.core.rules import FLAG_VIEW_REPUTATION

__all__ = ["TARGETED_TYPES", "Audience", "audience_of", "file_view", "in_view", "is_personal", "may_see"]


class Audience(Enum):
    ROOM = "room"
    TARGET = "target"
    HIGH_REPUTATION = "high-reputation"
    MODERATORS = "moderators"
    TOPIC = "topic"


TARGETED_TYPES: Final = frozenset(
    {
        EventType.USER_MENTIONED,
        EventType.MESSAGE_REPLY,
        EventType.USER_SETTINGS_CHANGED,
        EventType.GLOBAL_NOTIFICATION,
        EventType.USER_NOTIFICATION,
        EventType.INVITATION,
        EventType.USER_SUSPENDED,
        EventType.INBOX_CHANGED,
    }
)


def audience_of(event: Event) -> Audience:
    if event.type in TARGETED_TYPES:
        return Audience.TARGET
    if event.type is EventType.MESSAGE_FLAGGED:
        return Audience.HIGH_REPUTATION
    if event.type is EventType.MODERATOR_FLAG:
        return Audience.MODERATORS
    if event.type is EventType.FEED_PUBLISHED:
        return Audience.TOPIC
    return Audience.ROOM


def may_see(event: Event, viewer: User | None, *, can_read_room: bool) -> bool:
    """Whether ``viewer`` (None: anonymous) may receive ``event``.

    Args:
        can_read_room: ``rules.can_read`` for the viewer and the event's room;
            ignored for targeted events, which follow their target everywhere.
    """
    audience = audience_of(event)
    if audience is Audience.TARGET:
        return viewer is not None and viewer.id == event.target_user_id
    if audience is Audience.TOPIC:
        return False
    if not can_read_room:
        return False
    if audience is Audience.HIGH_REPUTATION:
        return viewer is not None and (viewer.reputation >= FLAG_VIEW_REPUTATION or viewer.is_moderator)
    if audience is Audience.MODERATORS:
        return viewer is not None and viewer.is_moderator
    return True


def is_personal(event: Event, viewer: User | None) -> bool:
    """Whether ``event`` is a room's event aimed at ``viewer`` (a ping, a reply ...), which follows them."""
    return (
        viewer is not None
        and event.room_id is not None
        and audience_of(event) is Audience.TARGET
        and event.target_user_id == viewer.id
    )


def in_view(event: Event, viewer: User | None, rooms: Collection[RoomId]) -> bool:
    """Whether ``event`` belongs to the viewer's view of ``rooms`` (rooms the viewer may read).

    It does when it is an event of one of the rooms that the viewer may see, or when it is
    aimed at the viewer, whatever room it happened in. Events with no room (inbox counters,
    feed items) belong to no room's view.
    """
    if event.room_id is None:
        return False
    if is_personal(event, viewer):
        return True
    return event.room_id in rooms and may_see(event, viewer, can_read_room=True)


def file_view(events: Iterable[Event], viewer: User | None, rooms: Collection[RoomId]) -> dict[RoomId, list[Event]]:
    """Where each event of a view is shown: rooms in increasing id order, each room's events in id order.

    An event aimed at the viewer goes, unchanged, under every room of the view and under its
    own room (Stack Exchange shows a reply under every room its target is in, sechat.md §5.4);
    any other event under its own room. Rooms that get no event are left out.
    """
    filed: dict[RoomId, dict[int, Event]] = {}
    for event in events:
        if event.room_id is None:
            continue
        under = {*rooms, event.room_id} if is_personal(event, viewer) else (event.room_id,)
        for room_id in under:
            filed.setdefault(room_id, {})[event.id] = event
    return {room_id: [by_id[key] for key in sorted(by_id)] for room_id, by_id in sorted(filed.items())}
