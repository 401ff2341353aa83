"""Each room's slug (``core.models.room_slug``), kept beside its name and indexed, so that an IRC
channel name finds its room without reading every room.

A channel is ``#<slug>``, and when rooms share a slug the oldest keeps it (dialects/irc/names.py):
which room a name stands for depended on every room's name, so each ``JOIN`` read them all and
slugged each in Python, 30 ms of CPU at 10,000 rooms. The slug is Python's (Unicode
normalisation), which neither engine's SQL has, so this migration fills it in Python, a thousand
rooms at a time.
"""

from typing import Any

from yoyo import step

__depends__ = {"0016.rooms-by-activity"}


def _fill_slugs(connection: Any) -> None:
    from hubbub.core.models import room_slug
    from hubbub.store.migrate import fill_from_names

    fill_from_names(connection, "rooms", "slug", room_slug)


steps = [
    step("ALTER TABLE rooms ADD COLUMN slug TEXT NOT NULL DEFAULT ''"),
    step(_fill_slugs),
    # the oldest room of a slug cut to an IRC channel's 51 characters (core.models.CHANNEL_SLUG_CHARS,
    # store/sql/rooms.py): the query names this expression, and a whole slug is its own cut
    step("CREATE INDEX rooms_slug ON rooms (substr(slug, 1, 51), id)"),
]
