"""Chat clients for the cluster tests: signed-in aiohttp sessions speaking the sechat form API and socket.

Each ``ChatUser`` has its own cookie jar and talks to one base URL (nginx, or a
node directly). What a test checks is collected here in plain shapes: message ids
in the order a client received them.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from tests.cluster.harness import PASSWORD
from tests.fakes import TIMEOUT

_FKEY: Final = re.compile(r'<input[^>]*name="fkey"[^>]*value="([^"]+)"|<input[^>]*value="([^"]+)"[^>]*name="fkey"')
POSTED: Final = 1


@dataclass
class ChatUser:
    base: str
    email: str
    session: aiohttp.ClientSession = field(
        default_factory=lambda: aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    )
    fkey: str = ""

    async def login(self) -> None:
        response = await self.session.post(
            self.base + "/users/login", data={"email": self.email, "password": PASSWORD}, allow_redirects=False
        )
        assert response.status == 302, await response.text()
        await self._read_fkey()

    async def signup(self, name: str) -> None:
        """Make the account through the web sign-up form (signed in afterwards)."""
        form = {"name": name, "email": self.email, "password": PASSWORD, "password2": PASSWORD}
        response = await self.session.post(self.base + "/users/signup", data=form, allow_redirects=False)
        assert response.status == 302, await response.text()
        await self._read_fkey()

    async def _read_fkey(self) -> None:
        page = await (await self.session.get(self.base + "/chats/join/favorite")).text()
        match = _FKEY.search(page)
        assert match is not None, page[:500]
        self.fkey = match.group(1) or match.group(2)

    def on(self, base: str) -> ChatUser:
        """The same session (cookies, fkey) talking to another address (another node)."""
        return ChatUser(base, self.email, self.session, self.fkey)

    async def form(self, path: str, **fields: object) -> aiohttp.ClientResponse:
        data = {"fkey": self.fkey, **{key: str(value) for key, value in fields.items()}}
        return await self.session.post(self.base + path, data=data, allow_redirects=False)

    async def post(self, room: int, text: str) -> int | None:
        """Post a message; its id once the server has acknowledged it, else None (refused, node gone)."""
        try:
            response = await self.form(f"/chats/{room}/messages/new", text=text)
            if response.status != 200:
                return None
            answer: Any = await response.json()
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None
        return int(answer["id"]) if answer.get("id") else None

    async def socket_url(self, room: int) -> str:
        response = await self.form("/ws-auth", roomid=room)
        assert response.status == 200, await response.text()
        return str((await response.json())["url"])

    async def poll(self, room: int, since: int) -> tuple[list[int], int]:
        """``POST /events`` from ``since``: posted message ids in order and the new cursor."""
        response = await self.form("/events", **{f"r{room}": since})
        assert response.status == 200, await response.text()
        part = (await response.json()).get(f"r{room}", {})
        return [e["message_id"] for e in part.get("e", []) if e["event_type"] == POSTED], int(part.get("t", since))

    async def close(self) -> None:
        await self.session.close()


def posted_ids(frame: str, room: int) -> tuple[list[int], int | None]:
    """Message ids posted in one socket frame for ``room``, and the frame's cursor."""
    part: dict[str, Any] = json.loads(frame).get(f"r{room}", {})
    ids = [e["message_id"] for e in part.get("e", []) if e["event_type"] == POSTED]
    return ids, part.get("t")


async def receive_until(ws: aiohttp.ClientWebSocketResponse, room: int, wanted: set[int]) -> list[int]:
    """Posted message ids from ``ws`` in arrival order, until every id in ``wanted`` has come."""
    seen: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        while not wanted <= set(seen):
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.TEXT, (message, seen)
            seen += posted_ids(message.data, room)[0]
    return seen


@dataclass
class Reader:
    """A client that keeps a socket open through nginx and reconnects from its last cursor when it drops."""

    user: ChatUser
    room: int
    seen: list[int] = field(default_factory=list)
    cursor: int = 0
    reconnects: int = 0

    async def begin(self) -> Reader:
        """Start from the log's end now: everything posted after this counts."""
        await self.user.socket_url(self.room)  # joins the room, so the log is not empty and the cursor is not 0
        _, self.cursor = await self.user.poll(self.room, 0)
        assert self.cursor > 0  # ?l=0 would mean "no cursor": live from whenever the socket attaches
        return self

    async def read_until(self, wanted: set[int]) -> None:
        async with asyncio.timeout(4 * TIMEOUT):
            while not wanted <= set(self.seen):
                try:
                    url = await self.user.socket_url(self.room)
                    async with self.user.session.ws_connect(f"{url}?l={self.cursor}" if self.cursor else url) as ws:
                        async for message in ws:
                            if message.type is not aiohttp.WSMsgType.TEXT:
                                break
                            ids, cursor = posted_ids(message.data, self.room)
                            self.seen += ids
                            if cursor is not None:
                                self.cursor = max(self.cursor, int(cursor))
                            if wanted <= set(self.seen):
                                return
                except (aiohttp.ClientError, AssertionError, ConnectionError):
                    pass  # the node went away mid-handshake: nginx sends the next try elsewhere
                self.reconnects += 1


def posted_events(frame: str, room: int) -> tuple[list[tuple[int, int]], int | None]:
    """(event id, message id) of each message posted in one frame or poll answer for ``room``, and its cursor."""
    part: dict[str, Any] = json.loads(frame).get(f"r{room}", {})
    return [(e["id"], e["message_id"]) for e in part.get("e", []) if e["event_type"] == POSTED], part.get("t")
