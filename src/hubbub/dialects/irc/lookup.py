"""Which room or stream an IRC channel name stands for, found by slug instead of by listing every room.

The names are ``channel_names``' (dialects/irc/names.py): streams name their channels first, then
each room is ``#<slug>`` unless a stream or an older room has that name, and ``#<slug>.<room id>``
if one has. Which room a name stands for so depends on the others: each ``JOIN`` read every
room's name to build them all, 30 ms of CPU at 10,000 rooms. With the rooms' slugs indexed
(migration 0017) a name costs a few statements: the streams (few, and named first), the oldest
room of the slug, and for a ``.<room id>`` name that room's own slug. ``LIST`` still builds
every name, from the rooms it lists anyway.
"""

from __future__ import annotations

from hubbub.core.ids import RoomId
from hubbub.dialects.irc.names import (
    ROOM_CHANNEL_CHARS,
    ChannelTarget,
    fold,
    room_channel,
    split_room_channel,
    stream_channels,
)
from hubbub.service.channels import Channels

__all__ = ["find_channel"]


async def find_channel(channels: Channels, channel: str) -> ChannelTarget | None:
    """The room or stream ``channel`` names, as ``channel_names`` would say (None: no such channel)."""
    key = fold(channel)
    streams = stream_channels(await channels.stream_parts())
    if key in streams:
        return streams[key]
    plain, clashed = split_room_channel(key)
    if not plain.startswith("#") or len(plain) > ROOM_CHANNEL_CHARS:
        return None
    oldest = await channels.oldest_room(plain[1:])  # a name as long as the cut: any slug it begins
    if clashed is None:
        return None if oldest is None else ChannelTarget(plain, oldest)
    slug = await channels.room_slug(RoomId(clashed))
    if slug is None or room_channel(slug) != plain or (plain not in streams and oldest == clashed):
        return None  # no such room, or its name is another: without the clash, or a stream's room
    return ChannelTarget(f"{plain}.{clashed}", clashed)
