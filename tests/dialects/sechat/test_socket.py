"""dialects/sechat/socket.py: a socket being set up applies the access changes it missed.

Between the transaction that opens a socket URL (and lists the rooms the socket will
carry) and the moment the socket receives live events, the hub may deliver a leave or a
logout that the new socket would miss. These tests put such a change exactly there, with
a real service and store, and no network.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace

import pytest

from hubbub.core.ids import EventId, RoomId
from hubbub.core.models import User
from hubbub.dialects.sechat.socket import SechatRenderer, SechatSockets
from hubbub.fanout.access import AccessWatch
from hubbub.fanout.connection import (
    AUTHORIZED,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_TRY_AGAIN,
    Handshake,
    settled_handshake,
)
from hubbub.fanout.hub import Hub
from hubbub.fanout.rooms import RoomFanout
from hubbub.service.accounts import SignedIn
from hubbub.service.service import Service
from tests.conftest import PASSWORD


@dataclass(eq=False)
class FakeConnection:
    handshake: Handshake
    remote: str = "127.0.0.1"
    sent: list[bytes] = field(default_factory=list)
    closed: bool = False
    close_reason: tuple[int, str] | None = None

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self, code: int, reason: str) -> None:
        self.closed, self.close_reason = True, (code, reason)

    def settled(self) -> None:
        self.handshake = settled_handshake(self.handshake)


@dataclass
class Setup:
    service: Service
    sockets: SechatSockets
    rooms: RoomFanout
    access: AccessWatch
    user: User
    signed: SignedIn
    cookie: str


async def _setup(service: Service, *, begin: int = 0) -> Setup:
    rooms, access = RoomFanout(SechatRenderer()), AccessWatch(journal_size=100)
    access.begin(EventId(begin))
    hub = Hub(bus=service.context.bus, store=service.context.store, fanouts=[])  # never started: delivered by hand
    sockets = SechatSockets(service=service, hub=hub, fanout=rooms, access=access)
    user = await service.accounts.create_user("Member", email="member@example.org", password=PASSWORD)
    cookie, session = await service.accounts.open_session(user)
    return Setup(service, sockets, rooms, access, user, SignedIn(session, user), cookie)


async def _deliver_since(setup: Setup, since: EventId) -> None:
    """What the hub would do: hand the events committed after ``since`` to the fan-outs."""
    events = await setup.service.context.store.read(lambda tx: tx.events_after(since, limit=100))
    batch = tuple(events)
    setup.rooms.deliver(batch)
    setup.access.deliver(batch)


async def _authorized(setup: Setup, room: RoomId) -> FakeConnection:
    """An upgrade on the HTTP port: accepted and its URL opened in the store, not live yet."""
    token = await setup.service.socket_tokens.issue(setup.signed, room)
    handshake = Handshake(f"/events/{room}/{token}", {}, {}, {})
    assert setup.sockets.accept(handshake) is None
    assert await setup.sockets.authorize(handshake) is None
    handshake.extra[AUTHORIZED] = True
    return FakeConnection(handshake)


async def _open(setup: Setup, connection: FakeConnection) -> None:
    setup.sockets.opened(connection)
    await asyncio.gather(*setup.sockets._pending)


async def test_a_room_left_while_the_socket_opened_is_not_carried(service: Service) -> None:
    setup = await _setup(service)
    first, second = [await service.rooms.create_room(name) for name in ("First", "Second")]
    for room in (first, second):
        await service.rooms.join(setup.user.id, room.id)
    connection = await _authorized(setup, first.id)
    opened_at = await service.queries.last_event_id()
    await service.rooms.leave(setup.user.id, second.id)
    third = await service.rooms.create_room("Third")
    await service.rooms.join(setup.user.id, third.id)
    await _deliver_since(setup, opened_at)  # delivered before the socket went live
    await _open(setup, connection)
    [subscriber] = setup.rooms.subscribers_of(setup.user.id)
    assert subscriber.rooms == {first.id, third.id} and not connection.closed


async def test_a_live_socket_keeps_its_grant_not_the_upgrade_request_and_still_closes_on_logout(
    service: Service,
) -> None:
    setup = await _setup(service)
    room = await service.rooms.create_room("Den")
    await service.rooms.join(setup.user.id, room.id)
    connection = await _authorized(setup, room.id)
    connection.handshake = replace(
        connection.handshake, headers={"cookie": "acct=x", "user-agent": "a" * 200}, cookies={"acct": "x"}
    )
    await _open(setup, connection)
    handshake = connection.handshake
    assert (dict(handshake.headers), dict(handshake.cookies), dict(handshake.query)) == ({}, {}, {})
    assert set(handshake.extra) == {AUTHORIZED, "socket_grant"}  # the token's claims and the opening position are gone
    # What the grant is still for: a logout closes the live socket.
    position = await service.queries.last_event_id()
    await service.accounts.close_session(setup.cookie)
    await _deliver_since(setup, position)
    assert connection.close_reason is not None and connection.close_reason[0] == CLOSE_FORBIDDEN


async def test_a_logout_while_the_socket_opened_closes_it(service: Service) -> None:
    setup = await _setup(service)
    room = await service.rooms.create_room("Den")
    await service.rooms.join(setup.user.id, room.id)
    connection = await _authorized(setup, room.id)
    opened_at = await service.queries.last_event_id()
    await service.accounts.close_session(setup.cookie)
    await _deliver_since(setup, opened_at)
    await _open(setup, connection)
    assert connection.close_reason is not None and connection.close_reason[0] == CLOSE_FORBIDDEN
    assert setup.rooms.subscribers_of(setup.user.id) == []


async def test_a_socket_whose_setup_the_journal_no_longer_covers_is_asked_to_reconnect(service: Service) -> None:
    setup = await _setup(service, begin=10**6)
    room = await service.rooms.create_room("Den")
    await service.rooms.join(setup.user.id, room.id)
    connection = await _authorized(setup, room.id)
    await _open(setup, connection)
    assert connection.close_reason is not None and connection.close_reason[0] == CLOSE_TRY_AGAIN
    assert setup.rooms.subscribers_of(setup.user.id) == []


async def test_a_socket_whose_setup_fails_is_closed_and_forgotten(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A store failure while the socket is set up closes it (1011) and logs why, instead of
    leaving it half set up with the error dropped."""
    setup = await _setup(service)
    room = await service.rooms.create_room("Den")
    await service.rooms.join(setup.user.id, room.id)
    connection = await _authorized(setup, room.id)
    connection.handshake.query["l"] = "0"  # type: ignore[index]

    async def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(service.queries, "last_event_id", broken)
    with caplog.at_level(logging.ERROR, logger="hubbub.sechat"):
        await _open(setup, connection)
    assert connection.close_reason is not None and connection.close_reason[0] == CLOSE_INTERNAL_ERROR
    assert setup.rooms.subscribers_of(setup.user.id) == []
    assert setup.sockets.open_sockets == 0
    assert "setting up an event socket" in caplog.text
