"""Ordering under concurrency (comet.md §C.11 item 16), on SQLite and PostgreSQL.

Several senders post direct messages to one user at once while readers long-poll that user's
channel, each resuming from the seq after the last answer it got; more readers start at every
seq already written. Every reader must see every entry exactly once, in commit order (event
ids increasing along the channel), and every answer for a seq must be the same bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hubbub.core.ids import UserId
from tests.conftest import Node, NodeFactory
from tests.dialects.comet.driver import FacebookChat, parse_json
from tests.dialects.comet.test_live import _chat
from tests.fakes import TIMEOUT, eventually

SENDERS = 4
PER_SENDER = 12
TOTAL = SENDERS * PER_SENDER


@pytest.fixture(params=["sqlite", "postgresql"])
async def race_node(request: pytest.FixtureRequest, make_node: NodeFactory) -> AsyncIterator[Node]:
    database = "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    yield await make_node(database=database, comet_poll_timeout_min=20.0, comet_poll_timeout_max=20.0)


async def _read_from(chat: FacebookChat, start: int, seen: dict[int, bytes]) -> list[tuple[int, bytes]]:
    """Long-poll from ``start`` until ``TOTAL`` entries were read; each answer's (seq, bytes)."""
    got: list[tuple[int, bytes]] = []
    seq = start
    path_for = chat.message_url
    while seq < TOTAL:
        path, host = path_for(seq)
        async with chat.agent.get(path, headers={"Host": host}) as response:
            data = await response.read()
        answer = parse_json(data.decode())
        if answer["t"] == "continue":
            continue
        assert answer["t"] == "msg", (seq, data)
        assert len(answer["ms"]) == 1
        got.append((seq, data))
        seen.setdefault(seq, data)
        seq += 1
    return got


async def test_concurrent_senders_and_resuming_readers_miss_nothing(race_node: Node) -> None:
    node = race_node
    reader = await _chat(node, "Reader")
    senders = [await _chat(node, f"Sender {i}") for i in range(SENDERS)]
    chats = [reader, *senders]
    try:
        for sender in senders:
            await node.service.contacts.link(UserId(sender.uid), UserId(reader.uid))
        seen: dict[int, bytes] = {}

        async def send_all(sender: FacebookChat) -> None:
            for i in range(PER_SENDER):
                answer = await sender.send_message(reader.uid, f"{sender.uid}:{i}")
                assert answer["error"] == 0, answer

        async def late_readers() -> list[list[tuple[int, bytes]]]:
            """Start a reader at every seq as soon as it exists."""
            started: list[asyncio.Task[list[tuple[int, bytes]]]] = []
            for seq in range(TOTAL):
                await eventually(lambda seq=seq: seq in seen)
                started.append(asyncio.create_task(_read_from(reader, seq, seen)))
            return await asyncio.gather(*started)

        async with asyncio.timeout(TIMEOUT * 6):
            live = [asyncio.create_task(_read_from(reader, 0, seen)) for _ in range(3)]
            late = asyncio.create_task(late_readers())
            await asyncio.gather(*(send_all(s) for s in senders))
            live_results = await asyncio.gather(*live)
            late_results = await late

        for result in (*live_results, *late_results):
            start = result[0][0]
            assert [seq for seq, _ in result] == list(range(start, TOTAL))  # nothing missed or doubled
            assert all(data == seen[seq] for seq, data in result)  # one answer per seq, byte for byte
        texts = [parse_json(seen[seq].decode())["ms"][0]["msg"]["text"] for seq in range(TOTAL)]
        assert sorted(texts) == sorted(f"{s.uid}:{i}" for s in senders for i in range(PER_SENDER))
        for sender in senders:  # each sender's messages in the order sent
            mine = [t for t in texts if t.startswith(f"{sender.uid}:")]
            assert mine == [f"{sender.uid}:{i}" for i in range(PER_SENDER)]
        entries = [await node.service.direct.read_channel(UserId(reader.uid), seq) for seq in range(TOTAL)]
        event_ids = [e.entry.event.id for e in entries if e.entry is not None]
        assert event_ids == sorted(event_ids) and len(event_ids) == TOTAL  # commit order
    finally:
        for chat in chats:
            await chat.close()
