"""A raw IRC line client for gateway tests: send lines, read until a line matches (bounded in time)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable

from irctokens.line import Line, tokenise

from tests.fakes import TIMEOUT


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seen: list[Line] = []

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    def send(self, *lines: str) -> None:
        for line in lines:
            self.writer.write(line.encode("utf-8") + b"\r\n")

    def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)

    async def line(self) -> Line | None:
        """The next line, or None once the server closed the connection."""
        async with asyncio.timeout(TIMEOUT):
            raw = await self.reader.readline()
        if not raw:
            return None
        line = tokenise(raw.rstrip(b"\r\n"))
        self.seen.append(line)
        return line

    async def until(self, match: Callable[[Line], bool]) -> list[Line]:
        """Lines up to and including the first that matches (fails on close or timeout)."""
        got: list[Line] = []
        while True:
            line = await self.line()
            assert line is not None, f"closed before a match; got {[g.format() for g in got]}"
            got.append(line)
            if match(line):
                return got

    async def until_command(self, *commands: str) -> list[Line]:
        return await self.until(lambda line: line.command in commands)

    async def closed(self) -> list[Line]:
        """Every line up to the server's close."""
        got: list[Line] = []
        while (line := await self.line()) is not None:
            got.append(line)
        return got

    async def login(self, nick: str, password: str, *, email: str | None = None, caps: str = "") -> list[Line]:
        if caps:
            self.send(f"CAP REQ :{caps}")
        self.send(
            f"PASS :{email}:{password}" if email else f"PASS :{password}", f"NICK {nick}", "USER u 0 * :Real Name"
        )
        if caps:
            self.send("CAP END")
        return await self.until_command("376", "422", "464")

    async def sasl(self, login: str, password: str, nick: str = "guest") -> list[Line]:
        self.send("CAP LS 302", f"NICK {nick}", "USER u 0 * :Real Name", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
        await self.until(lambda line: line.command == "AUTHENTICATE")
        token = base64.b64encode(f"\0{login}\0{password}".encode()).decode()
        self.send(f"AUTHENTICATE {token}")
        got = await self.until_command("903", "904")
        if got[-1].command == "903":
            self.send("CAP END")
            got += await self.until_command("376", "422")
        return got

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
