"""A channel name found by slug (dialects/irc/lookup.py) names what LIST's names say it does.

``channel_names`` builds every name from every room and stream; ``find_channel`` finds one from
the rooms' indexed slugs. Rooms here clash every way names can: the same slug in other words and
cases, a slug that is cut (longer than a channel name leaves room for), slugs that differ only
after the cut, names with nothing ASCII (``room<id>``), and rooms named as a stream's channel.
"""

from __future__ import annotations

from dataclasses import replace

from hubbub.dialects.irc.lookup import find_channel
from hubbub.dialects.irc.names import ROOM_CHANNEL_CHARS, ChannelTarget, channel_names
from hubbub.service.service import Service
from hubbub.store.base import WriteTx

LONG = "word " * 16  # a slug of 80 characters and more: cut to 51 in a channel's name
NAMES = [
    "Alpha",
    "alpha!",
    "ALPHA",
    "Beta",
    LONG + "one",
    LONG + "two",
    LONG[:51],  # exactly the cut
    "漢字",
    "Room 8",  # "room-8", not "room8": no clash with the room{id} of a name with nothing ASCII
    "Ann Show",  # a stream's channel: #ann-show
    "ann-show",
    "Gamma",
]


async def _names(service: Service) -> dict[str, ChannelTarget]:
    sources = await service.channels.sources((await service.accounts.list_users())[0].id)
    return channel_names(
        ((s.room_id, s.slug) for s in sources if s.stream_id is None),
        ((s.stream_id, s.room_id, s.owner_slug, s.stream_slug) for s in sources if s.stream_id is not None),
    )


async def test_every_name_finds_what_channel_names_says_and_nothing_else_finds_anything(service: Service) -> None:
    ann = await service.accounts.create_user("Ann", email="ann@example.org", password="secret-pass-1")
    await service.streams.create_stream(ann.id, "Show")  # #ann-show
    for name in NAMES[:5]:
        await service.rooms.create_room(name)
    await service.streams.create_stream(ann.id, "Show")  # the same name again: #ann-show.<stream id>
    for name in NAMES[5:]:
        await service.rooms.create_room(name)
    await service.rooms.create_room("Gamma")  # a second: #gamma.<its id>

    names = await _names(service)
    assert {"#alpha", "#beta", "#ann-show", "#gamma"} <= set(names)
    assert any(key.startswith("#alpha.") for key in names) and any(key.startswith("#ann-show.") for key in names)
    assert any(len(key) == ROOM_CHANNEL_CHARS for key in names)  # a cut name
    for key, target in names.items():
        assert await find_channel(service.channels, key) == target, key
        assert await find_channel(service.channels, key.upper()) == target, key  # names fold
    alpha = names["#alpha"]
    missing = [
        "#nowhere",
        "#show",  # the streams' rooms' own slug: a stream's room goes by the stream's name only
        f"#alpha.{alpha.room_id}",  # the oldest Alpha is #alpha, not #alpha.<its id>
        "#alpha.0",
        "#alpha.007",
        f"#beta.{names['#alpha'].room_id}",  # another room's id
        "#" + "word-" * 12,  # past the cut
        "alpha",
        "#",
        "#.5",
    ]
    for key in missing:
        assert key not in names
        assert await find_channel(service.channels, key) is None, key


async def test_a_renamed_room_goes_by_its_new_name(service: Service) -> None:
    old = await service.rooms.create_room("Old Name")
    newer = await service.rooms.create_room("New Name")
    assert await find_channel(service.channels, "#old-name") == ChannelTarget("#old-name", old.id)

    def rename(tx: WriteTx) -> None:
        room = tx.room(old.id)
        assert room is not None
        tx.update_room(replace(room, name="New Name"))

    await service.context.store.write(rename)
    # the older of the two keeps #new-name now
    assert await find_channel(service.channels, "#new-name") == ChannelTarget("#new-name", old.id)
    assert await find_channel(service.channels, f"#new-name.{newer.id}") == ChannelTarget(
        f"#new-name.{newer.id}", newer.id
    )
    assert await find_channel(service.channels, "#old-name") is None
