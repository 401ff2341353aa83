"""Who may see an event, and what an access change takes away: decided once here for every transport.

- Room events go to whoever may read the room.
- Mentions (8), replies (18) and the other personal notices go to their target only,
  and a notice about a room only while the target may read that room
  (``rules.can_be_pinged`` keeps the service from making one for anybody else).
- Spam flags (9) go to readers of the room with 10,000 reputation or more.
- Moderator flags (12) go to moderators only.
- Published feed items go to the subscribers of their topic (the realtime dialect
  decides which topics a connection may hold).

A viewer's *view* of some rooms (what a socket, a replay or a poll of those rooms
shows) is the rooms' events the viewer may see plus every event aimed at the viewer
from any room, and each of those is filed under every room of the view as well as
its own (``in_view``, ``file_view``). Every transport uses these two, so a socket,
its replay and ``POST /events`` show the same events under the same rooms.

``access_change`` reads the log for what changes a user's reach: entering and
leaving rooms (3, 4), access levels and kicks (15), suspensions (29), logging out
and password changes (hubbub's 1003, 1004). The service applies it to the socket
URLs it handed out (in the transaction that appends the event), and every node's
fan-out applies it to its open connections when the hub delivers the event, so a
change made on any node reaches every node the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from hubbub.core.events import CHAT_EVENT_TYPES, Event, EventType
from hubbub.core.ids import EventId, RoomId, UserId
from hubbub.core.models import User
from hubbub.core.rules import FLAG_VIEW_REPUTATION

__all__ = [
    "EVERY_ROOM",
    "TARGETED_TYPES",
    "AccessChange",
    "AccessChangeKind",
    "Audience",
    "access_change",
    "audience_of",
    "file_view",
    "in_view",
    "is_personal",
    "may_see",
]


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
        EventType.SESSION_ENDED,
        EventType.SESSIONS_REVOKED,
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
        can_read_room: ``rules.can_read`` for the viewer and the event's room. A targeted
            event with no room (a suspension, an inbox count) follows its target
            everywhere; one about a room (a ping, a reply) needs the room to be readable.
    """
    audience = audience_of(event)
    if audience is Audience.TARGET:
        is_target = viewer is not None and viewer.id == event.target_user_id
        return is_target and (event.room_id is None or can_read_room)
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
    """Whether ``event`` is a chat event aimed at ``viewer`` (a ping, a reply, a suspension), which follows them.

    hubbub's own kinds (inbox counters, session ends) are aimed at users too, but they
    are no chat event and travel other ways (the realtime topics, the fan-out's hooks).
    """
    return (
        viewer is not None
        and event.type in CHAT_EVENT_TYPES
        and audience_of(event) is Audience.TARGET
        and event.target_user_id == viewer.id
    )


class _EveryRoom:
    """Holds every room id: what live delivery passes ``in_view`` as ``readable``."""

    def __contains__(self, room_id: object) -> bool:
        return True


# A notice is made only for a user who may read its room at that point of the log
# (rules.can_be_pinged), and the hub delivers in log order, so when live delivery reaches it
# any later loss of access is still to come: live delivery needs no check of its own.
EVERY_ROOM: Final[Container[RoomId]] = _EveryRoom()


def in_view(event: Event, viewer: User | None, rooms: Collection[RoomId], *, readable: Container[RoomId]) -> bool:
    """Whether ``event`` belongs to the viewer's view of ``rooms`` (rooms the viewer may read).

    It does when it is an event of one of the rooms that the viewer may see, or when it is
    aimed at the viewer (``is_personal``): one with no room (a suspension), or one from a
    room the viewer may read (``readable``: a removed member gets no more of a room's
    pings, which carry its text). A replay or a poll passes the rooms the viewer may read
    now; live delivery passes ``EVERY_ROOM``. Other events with no room (inbox counters,
    feed items) belong to no room's view.
    """
    if is_personal(event, viewer):
        return event.room_id is None or event.room_id in readable
    if event.room_id is None:
        return False
    return event.room_id in rooms and may_see(event, viewer, can_read_room=True)


def file_view(events: Iterable[Event], viewer: User | None, rooms: Collection[RoomId]) -> dict[RoomId, list[Event]]:
    """Where each event of a view is shown: rooms in increasing id order, each room's events in id order.

    An event aimed at the viewer goes, unchanged, under every room of the view and under its
    own room, if it has one (Stack Exchange shows a reply under every room its target is in,
    sechat.md §5.4); any other event under its own room. Rooms that get no event are left out.
    """
    filed: dict[RoomId, dict[int, Event]] = {}
    for event in events:
        own = () if event.room_id is None else (event.room_id,)
        under = {*rooms, *own} if is_personal(event, viewer) else own
        for room_id in under:
            filed.setdefault(room_id, {})[event.id] = event
    return {room_id: [by_id[key] for key in sorted(by_id)] for room_id, by_id in sorted(filed.items())}


class AccessChangeKind(Enum):
    ENTERED = "entered"  # 3: the user is in the room now; their sockets carry it from here on
    LEFT = "left"  # 4: they left it, were kicked, or may no longer read it; sockets stop carrying it
    ACCESS = "access"  # 15 with a target: the user's level in the room changed, or a kick
    ROOM_ACCESS = "room-access"  # 15 without a target: the room became public, a gallery or private
    SUSPENSION = "suspension"  # 29: the user was suspended, or the suspension was lifted
    SESSION_ENDED = "session-ended"  # 1003: the user logged out of one session
    SESSIONS_REVOKED = "sessions-revoked"  # 1004: every session of the user but ``session`` (if any) ended


@dataclass(frozen=True, slots=True)
class AccessChange:
    """What one event changes about who may reach what; ``event_id`` places it in the log."""

    event_id: EventId
    kind: AccessChangeKind
    user_id: UserId | None  # None only for ROOM_ACCESS, which is about everyone
    room_id: RoomId | None = None
    session: str | None = None  # SESSION_ENDED: the session that ended; SESSIONS_REVOKED: the one kept

    def revokes(self, user_id: UserId, room_id: RoomId | None, session: str) -> bool:
        """Whether an unused socket URL of ``user_id`` for ``room_id`` (None: the realtime
        socket), asked for by ``session``, stops being valid: the URL was handed out for
        a reach that this change narrows or questions."""
        kind = self.kind
        if kind is AccessChangeKind.ENTERED:
            return False
        if kind is AccessChangeKind.ROOM_ACCESS:
            return room_id is not None and room_id == self.room_id
        if user_id != self.user_id:
            return False
        if kind in (AccessChangeKind.LEFT, AccessChangeKind.ACCESS):
            return room_id is not None and room_id == self.room_id
        if kind is AccessChangeKind.SUSPENSION:
            return True
        return self.ends_session(user_id, session)

    def ends_session(self, user_id: UserId, session: str) -> bool:
        """Whether connections signed in as ``user_id`` by ``session`` must stop acting for them."""
        if user_id != self.user_id:
            return False
        if self.kind is AccessChangeKind.SESSION_ENDED:
            return session == self.session
        if self.kind is AccessChangeKind.SESSIONS_REVOKED:
            return session != self.session
        return False


_MEMBERSHIP: Final = {EventType.USER_ENTERED: AccessChangeKind.ENTERED, EventType.USER_LEFT: AccessChangeKind.LEFT}
_SESSIONS: Final = {
    EventType.SESSION_ENDED: AccessChangeKind.SESSION_ENDED,
    EventType.SESSIONS_REVOKED: AccessChangeKind.SESSIONS_REVOKED,
}


def access_change(event: Event) -> AccessChange | None:
    """The access change ``event`` records, or None for the events that change nobody's reach."""
    event_id = EventId(event.id)
    if event.type in _MEMBERSHIP:
        if event.user_id is None or event.room_id is None:
            return None
        return AccessChange(event_id, _MEMBERSHIP[event.type], event.user_id, event.room_id)
    if event.type is EventType.ACCESS_LEVEL_CHANGED:
        if event.room_id is None:
            return None
        if event.target_user_id is None:
            return AccessChange(event_id, AccessChangeKind.ROOM_ACCESS, None, event.room_id)
        return AccessChange(event_id, AccessChangeKind.ACCESS, event.target_user_id, event.room_id)
    if event.type is EventType.USER_SUSPENDED and event.target_user_id is not None:
        return AccessChange(event_id, AccessChangeKind.SUSPENSION, event.target_user_id)
    if event.type in _SESSIONS and event.target_user_id is not None:
        return AccessChange(event_id, _SESSIONS[event.type], event.target_user_id, session=event.data or None)
    return None
