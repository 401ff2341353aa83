"""The closing handshake on both websocket ports (RFC 6455 §5.5.1, §7.4).

A peer's Close frame is answered with a Close frame whose code a peer may receive
(``hubbub.gateway.closing``). The gateway (picows) answers an empty Close, which the
Node ``ws`` client's ``close()`` sends, with 1000; it echoes a valid code and answers
a code that must never be on the wire (1005, 1006, 999 ...) with 1002. Before, it
echoed picows's NO_INFO, 0, which made ``ws`` raise "invalid status code 0" and
crash a Node process at every ``room.leave()``. aiohttp, on the HTTP port, answers
every Close it accepts with 1000 (the RFC allows that as well as an echo) and refuses
the codes it knows to be invalid with 1002; whatever it answers must be sendable.

The client here writes raw frames on a socket, so the test sees exactly the bytes of
the server's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from base64 import b64encode

import pytest

from hubbub.gateway.closing import answer_to_close, may_send
from tests.conftest import Node
from tests.fakes import TIMEOUT

KEY = b64encode(b"0123456789abcdef").decode()
MASK = b"\x0a\x0b\x0c\x0d"
CLOSE = 0x8


@pytest.fixture(params=["gateway", "http"])
def server(request: pytest.FixtureRequest) -> str:
    """Which websocket server: the picows gateway, or the endpoint on aiohttp's HTTP port."""
    return str(request.param)


@pytest.fixture
def port(server: str, node: Node) -> int:
    return node.runtime.ws_port if server == "gateway" else node.runtime.http_port


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 §5.2, §5.3); control payloads are under 126 bytes."""
    assert len(payload) < 126
    masked = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + MASK + masked


async def open_socket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket to the realtime feed at ``/``, upgraded by hand."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def next_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The opcode and payload of the server's next frame (servers never mask)."""
    async with asyncio.timeout(TIMEOUT):
        first, second = await reader.readexactly(2)
        assert not second & 0x80, "a server must not mask its frames"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        return first & 0x0F, await reader.readexactly(length)


async def answer_to_close_from(port: int, payload: bytes) -> bytes:
    """Open a socket, send a Close frame carrying ``payload``; the payload of the server's Close."""
    reader, writer = await open_socket(port)
    try:
        writer.write(client_frame(CLOSE, payload))
        while True:
            opcode, answer = await next_server_frame(reader)
            if opcode == CLOSE:
                return answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def code_of(answer: bytes) -> int | None:
    """The status code of a Close payload; None for an empty one."""
    assert len(answer) != 1, answer
    return struct.unpack("!H", answer[:2])[0] if answer else None


async def test_an_empty_close_is_answered_with_1000(port: int) -> None:
    """What the Node ``ws`` client sends on ``close()``; the answer must never carry code 0."""
    assert code_of(await answer_to_close_from(port, b"")) == 1000


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1008, 1011, 1014, 3000, 4999])
async def test_a_valid_code_is_echoed_or_answered_with_1000(server: str, port: int, code: int) -> None:
    answer = code_of(await answer_to_close_from(port, close_payload(code, b"bye")))
    assert answer == (code if server == "gateway" else 1000)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
async def test_a_code_that_must_not_be_sent_is_never_sent_back(server: str, port: int, code: int) -> None:
    answer = code_of(await answer_to_close_from(port, close_payload(code)))
    assert answer is not None and may_send(answer)
    if server == "gateway":
        assert answer == 1002


async def test_a_one_byte_close_payload_is_a_protocol_error(port: int) -> None:
    """A Close body, if any, starts with a two-byte code (§5.5.1)."""
    assert code_of(await answer_to_close_from(port, b"\x03")) == 1002


async def test_a_reason_that_is_not_utf8_is_answered_with_a_sendable_code(server: str, port: int) -> None:
    answer = code_of(await answer_to_close_from(port, close_payload(1000, b"\xff\xfe")))
    assert answer is not None and may_send(answer)
    if server == "gateway":
        assert answer == 1007


# --- the rule itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        (b"", 1000),
        (b"\x03", 1002),
        (close_payload(1001), 1001),
        (close_payload(1013, b"try again"), 1013),
        (close_payload(4000, "fin \u2713".encode()), 4000),
        (close_payload(0), 1002),
        (close_payload(1005), 1002),
        (close_payload(1006), 1002),
        (close_payload(5000), 1002),
        (close_payload(1000, b"\xc3"), 1007),
    ],
)
def test_answer_to_close(payload: bytes, answer: int) -> None:
    assert answer_to_close(payload) == answer


def test_may_send_matches_the_registry() -> None:
    sendable = [code for code in range(65536) if may_send(code)]
    assert sendable == [1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)]
