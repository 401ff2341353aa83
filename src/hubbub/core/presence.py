"""Presence: online, idle or offline, computed from the activity every transport reports
(``Activity``) with two named timeouts (``PresenceTimeouts``), and when a sighting must be
written (``presence_due``). Shown to contacts only (``core.contacts.may_see_presence``). No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from hubbub.core.ids import UserId

__all__ = ["Activity", "Presence", "PresenceRecord", "PresenceTimeouts", "next_presence", "presence_due"]


class Presence(StrEnum):
    ONLINE = "online"
    IDLE = "idle"
    OFFLINE = "offline"


class Activity(Enum):
    """What a transport reports about a user."""

    SEEN = "seen"  # a client of theirs is there (a poll, an open socket): online, or idle if inactive
    ACTIVE = "active"  # they did something (sent, typed, opened a page): online and not idle


@dataclass(frozen=True, slots=True)
class PresenceTimeouts:
    """The named timeouts presence is computed with (settings ``presence_*``)."""

    seen_seconds: int  # a sighting keeps a user online (or idle) this long
    idle_seconds: int  # no activity for this long makes an online user idle

    def __post_init__(self) -> None:
        if self.seen_seconds < 1 or self.idle_seconds < 1:
            raise ValueError("presence timeouts must be at least one second")


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceRecord:
    """A user's stored presence: ``state`` is what contacts see (offline while invisible)."""

    user_id: UserId
    state: Presence = Presence.OFFLINE
    seen_until: int = 0  # Unix seconds: online or idle until then unless seen again
    active_at: int = 0  # the last activity
    visible: bool = True
    changed_at: int = 0


def _state_of(visible: bool, seen_until: int, active_at: int, now: int, timeouts: PresenceTimeouts) -> Presence:
    if not visible or seen_until <= now:
        return Presence.OFFLINE
    if active_at <= now - timeouts.idle_seconds:
        return Presence.IDLE
    return Presence.ONLINE


def _sighted(
    record: PresenceRecord, now: int, timeouts: PresenceTimeouts, activity: Activity | None
) -> tuple[int, int, Presence]:
    """``seen_until``, ``active_at`` and the state after ``activity`` (no record built: every
    signed-in request asks ``presence_due``)."""
    seen_until, active_at = record.seen_until, record.active_at
    if activity is not None:
        seen_until = max(seen_until, now + timeouts.seen_seconds)
        if activity is Activity.ACTIVE:
            active_at = max(active_at, now)
    return seen_until, active_at, _state_of(record.visible, seen_until, active_at, now, timeouts)


def next_presence(
    record: PresenceRecord, now: int, timeouts: PresenceTimeouts, activity: Activity | None = None
) -> PresenceRecord:
    """The record after ``activity`` at ``now`` (None: time passing, as the sweep sees it)."""
    seen_until, active_at, state = _sighted(record, now, timeouts, activity)
    if state is record.state:
        if (seen_until, active_at) == (record.seen_until, record.active_at):
            return record
        return replace(record, seen_until=seen_until, active_at=active_at)
    return replace(record, seen_until=seen_until, active_at=active_at, state=state, changed_at=now)


def presence_due(record: PresenceRecord, now: int, timeouts: PresenceTimeouts, activity: Activity) -> bool:
    """Whether ``activity`` must be written: it changes the state, or the stored sighting is past
    its first half (so a user seen steadily is written about twice per ``seen_seconds``) or an
    activity is more than a quarter of ``idle_seconds`` old. Everything else is a no-op write."""
    if _sighted(record, now, timeouts, activity)[2] is not record.state:
        return True
    if record.seen_until - now < timeouts.seen_seconds / 2:
        return True
    return activity is Activity.ACTIVE and now - record.active_at > timeouts.idle_seconds / 4
