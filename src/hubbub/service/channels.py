"""What the IRC gateway lists and shows: rooms and streams with who may read them, and who is in them.

Reads only; the rules are the ones every transport uses (``rules.can_read`` for rooms, the
stream's chat level for streams, ``service.streams.levels``). The gateway turns these into
channel names (dialects/irc/names.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel, Room, User, slugify
from hubbub.core.rules import can_read
from hubbub.core.streams import ChatLevel, Stream
from hubbub.service.context import Context, standing_in
from hubbub.service.queries import PRESENT_COUNTED
from hubbub.service.rooms import ROOM_BATCH
from hubbub.service.streams import levels
from hubbub.store.base import ReadTx

__all__ = ["ChannelSource", "Channels", "Member"]


@dataclass(frozen=True, slots=True)
class ChannelSource:
    """A room (or the stream whose room it is) as one viewer may list it."""

    room_id: RoomId
    slug: str
    readable: bool
    topic: str = ""
    present: int = 0  # users in it now, counted only when readable and up to PRESENT_COUNTED + 1
    stream_id: int | None = None
    owner_slug: str = ""
    stream_slug: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    user: User
    operator: bool  # owns the room (or the stream), or a moderator


def _may_read(tx: ReadTx, room: Room, stream: Stream | None, viewer: User, now: int) -> bool:
    """Whether the viewer may read the room as a channel: its ``stream``'s chat level for a stream's room."""
    if stream is not None:
        return levels(tx, stream, viewer, now)[0] is not ChatLevel.NONE
    return can_read(standing_in(tx, room, viewer, now), room)


def _stream_topic(live: bool) -> str:
    return "Status: live" if live else "Status: offline"  # what multistreamer's IRC server showed (§B.6)


def _each_room(tx: ReadTx) -> Iterator[Room]:
    """Every room on the node, by id, a batch per statement."""
    after: RoomId | None = None
    while True:
        batch = tx.list_rooms(limit=ROOM_BATCH, after=after)
        yield from batch
        if len(batch) < ROOM_BATCH:
            return
        after = batch[-1].id


def _source(
    room: Room, stream: Stream | None, owners: Mapping[UserId, User], readable: bool, present: int
) -> ChannelSource:
    if stream is None:
        return ChannelSource(room.id, room.slug, readable, room.description, present)
    owner = owners.get(stream.owner_id)
    return ChannelSource(
        room.id,
        room.slug,
        readable,
        _stream_topic(stream.state.live),
        present,
        stream_id=stream.id,
        owner_slug=_owner_slug(owner, stream),
        stream_slug=stream.slug,
    )


def _owner_slug(owner: User | None, stream: Stream) -> str:
    return owner.slug if owner is not None else slugify(str(stream.owner_id))


class Channels:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def sources(self, viewer_id: UserId, *, counted: bool = False) -> list[ChannelSource]:
        """Every room and stream (names stay stable whoever asks), each saying whether the viewer may read it.

        ``counted``: also count who is in each readable room (``LIST``). A command about one
        channel finds its room by slug (``oldest_room``, ``room_slug``) and judges that room alone
        (``source``).
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[ChannelSource]:
            viewer = tx.user(viewer_id)
            streams = {stream.room_id: stream for stream in tx.list_streams()}
            owners = tx.users({stream.owner_id for stream in streams.values()})
            found: list[ChannelSource] = []
            for room in _each_room(tx):
                stream = streams.get(room.id)
                readable = viewer is not None and _may_read(tx, room, stream, viewer, now)
                # LIST walks every room: counting each one's crowd whole made one LIST cost what
                # every member of every room does.
                present = tx.present_count(room.id, up_to=PRESENT_COUNTED + 1) if readable and counted else 0
                found.append(_source(room, stream, owners, readable, present))
            return found

        return await self._ctx.store.read(read)

    async def stream_parts(self) -> list[tuple[int, RoomId, str, str]]:
        """Every stream's (id, its room's id, owner slug, stream slug): what names its channel."""

        def read(tx: ReadTx) -> list[tuple[int, RoomId, str, str]]:
            streams = tx.list_streams()
            owners = tx.users({stream.owner_id for stream in streams})
            return [
                (stream.id, stream.room_id, _owner_slug(owners.get(stream.owner_id), stream), stream.slug)
                for stream in streams
            ]

        return await self._ctx.store.read(read)

    async def oldest_room(self, slug: str) -> RoomId | None:
        """The oldest room, but no stream's, whose slug cut to ``CHANNEL_SLUG_CHARS`` is ``slug``."""
        return await self._ctx.store.read(lambda tx: tx.oldest_room_with_slug(slug))

    async def room_slug(self, room_id: RoomId) -> str | None:
        """A room's slug; None when there is no such room, or it is a stream's."""

        def read(tx: ReadTx) -> str | None:
            room = tx.room(room_id)
            return None if room is None or tx.stream_of_room(room_id) is not None else room.slug

        return await self._ctx.store.read(read)

    async def source(self, viewer_id: UserId, room_id: RoomId) -> ChannelSource | None:
        """One room (or its stream) as the viewer may list it, uncounted; None: no such room."""
        now = self._ctx.now()

        def read(tx: ReadTx) -> ChannelSource | None:
            viewer = tx.user(viewer_id)
            room = tx.room(room_id)
            if room is None:
                return None
            stream = tx.stream_of_room(room_id)
            owners = tx.users({stream.owner_id}) if stream is not None else {}
            readable = viewer is not None and _may_read(tx, room, stream, viewer, now)
            return _source(room, stream, owners, readable, 0)

        return await self._ctx.store.read(read)

    async def members(self, viewer_id: UserId, room_id: RoomId, *, limit: int | None = None) -> list[Member] | None:
        """Who is in the room now, most recently seen first: all, or the first ``limit`` (None: no
        such room, or the viewer may not read it)."""
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[Member] | None:
            viewer = tx.user(viewer_id)
            room = tx.room(room_id)
            stream = tx.stream_of_room(room_id)
            if viewer is None or room is None or not _may_read(tx, room, stream, viewer, now):
                return None
            grants = dict(tx.access_grants(room_id))
            members = tx.present_members(room_id, limit=limit)
            users = tx.users({m.user_id for m in members})
            found: list[Member] = []
            for member in members:
                user = users.get(member.user_id)
                if user is None:
                    continue
                owner = grants.get(user.id) is AccessLevel.OWNER or user.is_moderator
                if stream is not None:
                    owner = owner or stream.owner_id == user.id
                found.append(Member(user, owner))
            return found

        return await self._ctx.store.read(read)

    async def is_present(self, viewer_id: UserId, room_id: RoomId) -> bool | None:
        """Whether the viewer is in the room now (None: no such room, or the viewer may not read it).

        What a ``JOIN`` asks before entering, without reading who else is there.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> bool | None:
            viewer = tx.user(viewer_id)
            room = tx.room(room_id)
            if viewer is None or room is None or not _may_read(tx, room, tx.stream_of_room(room_id), viewer, now):
                return None
            membership = tx.membership(room_id, viewer_id)
            return membership is not None and membership.present

        return await self._ctx.store.read(read)

    async def user_by_nick(self, nick: str) -> User | None:
        return await self._ctx.store.read(lambda tx: tx.user_by_nick(nick))
