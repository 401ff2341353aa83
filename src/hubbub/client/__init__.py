"""hubbub's Python SDK: an asyncio client for Stack Exchange chat's protocol, and a bot toolkit.

Works against hubbub and, with ``login_url`` set, against chat.stackexchange.com
(docs/sdk.md)::

    async with Client("http://127.0.0.1:8080") as client:
        await client.login("bot@example.org", "secret")
        room = await client.join(1)
        await room.send("hello")
        async for event in room.events():
            if isinstance(event, events.MessageEvent) and event.text == "ping":
                await room.reply(event.message_id, "pong")
"""

from __future__ import annotations

from hubbub.client import errors, events
from hubbub.client.client import Client, Room, split_message
from hubbub.client.direct import Contact, Direct, DirectEvent, DirectMessage, DirectStream
from hubbub.client.stream import EventStream

__all__ = [
    "Client",
    "Contact",
    "Direct",
    "DirectEvent",
    "DirectMessage",
    "DirectStream",
    "EventStream",
    "Room",
    "errors",
    "events",
    "split_message",
]
