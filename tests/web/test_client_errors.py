"""web/client_errors.py: malformed requests and abandoned bodies are logged as the client's doing."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from tests.conftest import Node
from tests.fakes import TIMEOUT, eventually

MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
    b"GET /\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"y" * 10_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGARBAGE\x00 / HTTP/1.1\r\n\r\n",  # a bad second request
]

ABANDONED = [
    b"POST /users/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 1000\r\n\r\nemail=a",
    b"POST /chats/1/messages/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 100000\r\n\r\ntext=hello",
    b"POST /chats/1/messages/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\n--b\r\n",
]


async def exchange(node: Node, data: bytes, *, leave: bool) -> bytes:
    """Send ``data``; then hang up at once (``leave``) or read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.runtime.http_port)
    try:
        writer.write(data)
        await writer.drain()
        if leave:
            return b""
        async with asyncio.timeout(TIMEOUT):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("data", MALFORMED, ids=["content-length", "url", "header", "header-size", "second-request"])
async def test_a_malformed_request_is_one_line_without_a_traceback(
    node: Node, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await exchange(node, data, leave=False)
    assert b" 400 " in answer.split(b"\r\n", 1)[0] or b" 431 " in answer.split(b"\r\n", 1)[0]
    assert errors(caplog) == []
    # One line at info, or at debug where aiohttp chose debug (a bad method: someone speaking TLS, say).
    [line] = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert line.levelno in (logging.INFO, logging.DEBUG)
    assert line.getMessage().startswith("malformed request from 127.0.0.1: ")
    assert "\n" not in line.getMessage()


@pytest.mark.parametrize("data", ABANDONED, ids=["login", "form", "multipart"])
async def test_a_body_the_client_abandons_is_no_error(
    node: Node, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    left = len(caplog.records)
    await exchange(node, data, leave=True)
    await eventually(lambda: any("left mid-request" in r.getMessage() for r in caplog.records[left:]))
    assert errors(caplog) == []


async def test_a_handler_error_is_still_an_error(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    """Only the client's doing is demoted: a ConnectionResetError with the client still there is logged."""
    from hubbub.web.client_errors import client_disconnects

    class Alive:
        def is_closing(self) -> bool:
            return False

    class Request:
        transport = Alive()
        method, path, remote = "GET", "/", "127.0.0.1"

    async def failing(request: object) -> object:
        raise ConnectionResetError("the database went away")

    with pytest.raises(ConnectionResetError):
        await client_disconnects(Request(), failing)  # type: ignore[arg-type]
