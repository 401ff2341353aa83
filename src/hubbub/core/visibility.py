"""Who may see an event: decided once here for every transport (shared/DESIGN.md).

- Room events go to whoever may read the room.
- Mentions (8), replies (18) and the other personal notices go to their target only.
- Spam flags (9) go to readers of the room with 10,000 reputation or more.
- Moderator flags (12) go to moderators only.
- Published feed items go to the subscribers of their topic (the realtime dialect
  decides which topics a connection may hold).
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from hubbub.core.events import Event, EventType
from hubbub.core.models import User
from hubbub.core.rules import FLAG_VIEW_REPUTATION

__all__ = ["TARGETED_TYPES", "Audience", "audience_of", "may_see"]


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
