"""The hubbub network: a room of another hubbub server (or of Stack Exchange chat), through hubbub's SDK.

An account's settings name the room and who the bridge is there::

    {"base_url": "https://chat.example.org", "room_id": "17",
     "email": "relay@example.org", "password": "...", "login_url": ""}

The reader is the SDK's event stream of that room (it resumes after its last event id
on every reconnect, so nothing is missed and nothing comes twice); each posted
message becomes a line with the message id as ``remote_id``. Writing posts into the
room as the account's user; an emote is posted in italics (``*text*``), the way
multistreamer wrote emotes to YouTube. The remote server shows our own posts back
like anyone's, so a line written there comes back once, as that network's message,
and nothing read there is ever written back (no echo loop). The account's viewer count is
how many others the room's page shows as present.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping

from hubbub.bridges.base import IncomingLine
from hubbub.client.client import Client, Room
from hubbub.client.events import MessageEvent
from hubbub.client.stream import EventStream
from hubbub.errors import ConfigError

__all__ = ["HubbubBridge", "HubbubSettings"]


class HubbubSettings:
    """An account's settings, checked."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        try:
            self.base_url = settings["base_url"].rstrip("/")
            self.room_id = int(settings["room_id"])
            self.email = settings["email"]
            self.password = settings["password"]
        except (KeyError, ValueError) as error:
            raise ConfigError(f"a hubbub account needs base_url, room_id, email and password ({error})") from error
        self.login_url = settings.get("login_url") or None

    @classmethod
    def from_json(cls, text: str) -> HubbubSettings:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ConfigError("account settings must be a JSON object")
        return cls(value)


class HubbubBridge:
    """``bridges.base.Bridge`` for one hubbub room."""

    def __init__(self, settings: HubbubSettings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._room: Room | None = None
        self._events: EventStream | None = None
        self._cursor: int | None = None  # the last remote event handed out, kept across reconnects

    async def connect(self) -> None:
        settings = self._settings
        client = Client(settings.base_url, login_url=settings.login_url)
        try:
            await client.login(settings.email, settings.password)
            room = await client.join(settings.room_id)
        except BaseException:
            await client.close()
            raise
        self._client, self._room = client, room

    async def lines(self) -> AsyncIterator[IncomingLine]:
        assert self._room is not None
        # The first connection starts at the moment it joined; a reconnection resumes after the
        # last event it handed out, so a line said while the bridge was away still comes, once.
        self._events = self._room.events(since=self._cursor)
        async for event in self._events:
            self._cursor = event.id
            if type(event) is MessageEvent:
                yield IncomingLine(
                    kind="text",
                    text=event.text,
                    from_name=event.user_name,
                    from_id=event.user_id,
                    remote_id=str(event.message_id),
                )

    async def viewer_count(self) -> int | None:
        """The others the room's page shows as present (the way Stack Exchange clients read it)."""
        if self._room is None or self._client is None:
            return None
        present = await self._room.present_users()
        return len([user_id for user_id in present if user_id != self._client.user_id])

    async def write(self, kind: str, text: str) -> None:
        assert self._room is not None
        await self._room.send(f"*{text}*" if kind == "emote" else text)

    async def close(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            await events.aclose()
        client, self._client = self._client, None
        self._room = None
        if client is not None:
            await client.close()
