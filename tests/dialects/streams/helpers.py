"""Speaking the streams dialect to a running node: API calls with tokens, and stream sockets."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hubbub.core.models import User
from tests.conftest import PASSWORD, Node
from tests.fakes import TIMEOUT


@dataclass
class StreamsUser:
    """A hubbub user with a streams token and an HTTP session."""

    node: Node
    user: User
    token: str
    http: aiohttp.ClientSession
    sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.user.id)

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        sent = {"Authorization": f"Bearer {self.token}", **headers}
        data = None if body is None else json.dumps(body)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        async with self.http.request(method, self.node.base + path, data=data, headers=sent) as response:
            return response.status, await response.json(content_type=None)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await self.call(method, path, body)
        assert status == 200, (method, path, status, answer)
        return answer

    async def socket(
        self, stream_id: int, *, port: str = "gateway", query: str = "", **kwargs: Any
    ) -> aiohttp.ClientWebSocketResponse:
        socket = await self.http.ws_connect(socket_url(self.node, stream_id, self.token, port=port) + query, **kwargs)
        self.sockets.append(socket)
        return socket


def socket_url(node: Node, stream_id: int, token: str | None, *, port: str = "gateway") -> str:
    runtime = node.runtime
    base = runtime.ws_url if port == "gateway" else runtime.base_url.replace("http://", "ws://")
    return f"{base}/ws/{stream_id}" + ("" if token is None else f"?token={token}")


def basic(email: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()


async def streams_user(node: Node, name: str) -> StreamsUser:
    user = await node.user(name)
    http = aiohttp.ClientSession()
    node.sessions.append(http)
    assert user.email is not None
    async with http.get(node.base + "/api/v1/auth", headers={"Authorization": basic(user.email, PASSWORD)}) as response:
        assert response.status == 200, await response.text()
        token = (await response.json())["token"]
    return StreamsUser(node, user, token, http)


async def receive(socket: aiohttp.ClientWebSocketResponse, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next JSON frame (websocket pings and pongs skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await socket.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                value = json.loads(message.data)
                assert isinstance(value, dict)
                return value
            if message.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                continue
            raise AssertionError(f"expected a text frame, got {message.type} {message.data!r} {message.extra!r}")


async def nothing_more(socket: aiohttp.ClientWebSocketResponse, probe: StreamsUser, stream_id: int) -> None:
    """Prove ``socket`` got nothing else: a status request sent now is answered with the next frame."""
    await socket.send_json({"type": "status"})
    frame = await receive(socket)
    assert frame["type"] == "status", frame
    del probe, stream_id


async def send(socket: aiohttp.ClientWebSocketResponse, **frame: Any) -> None:
    await socket.send_json(frame)
