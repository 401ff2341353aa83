"""dialects/realtime/routes.py: who a topic socket is signed in as, while its session lives.

The session cookie is looked up before the socket goes live; a logout the hub delivers in
between must not leave the socket signed in, and one delivered later signs it out at once.
Real service and store, no network.
"""

from __future__ import annotations

from hubbub.core.ids import EventId
from hubbub.dialects.realtime.routes import RealtimeRenderer, RealtimeSockets
from hubbub.dialects.sechat.http import SESSION_COOKIE
from hubbub.fanout.access import AccessWatch
from hubbub.fanout.connection import AUTHORIZED, Handshake
from hubbub.fanout.topics import TopicFanout
from hubbub.service.service import Service
from tests.conftest import PASSWORD
from tests.dialects.sechat.test_socket import FakeConnection


async def _sockets(service: Service) -> tuple[RealtimeSockets, TopicFanout, AccessWatch]:
    topics, access = TopicFanout(RealtimeRenderer()), AccessWatch(journal_size=100)
    access.begin(await service.queries.last_event_id())
    return RealtimeSockets(service=service, fanout=topics, access=access), topics, access


async def _deliver_since(service: Service, access: AccessWatch, since: EventId) -> None:
    events = await service.context.store.read(lambda tx: tx.events_after(since, limit=100))
    access.deliver(tuple(events))


async def test_a_logout_between_the_cookie_check_and_going_live_leaves_a_visitors_socket(service: Service) -> None:
    sockets, topics, access = await _sockets(service)
    user = await service.accounts.create_user("Member", email="member@example.org", password=PASSWORD)
    cookie, _ = await service.accounts.open_session(user)
    handshake = Handshake("/", {}, {}, {SESSION_COOKIE: cookie})
    assert sockets.accept(handshake) is None and await sockets.authorize(handshake) is None
    handshake.extra[AUTHORIZED] = True
    checked = await service.queries.last_event_id()
    await service.accounts.close_session(cookie)
    await _deliver_since(service, access, checked)
    connection = FakeConnection(handshake)
    sockets.opened(connection)
    [subscriber] = topics.all_subscribers()
    assert subscriber.user_id is None and not connection.closed


async def test_a_logout_signs_out_the_sockets_of_that_session_only(service: Service) -> None:
    sockets, topics, access = await _sockets(service)
    user = await service.accounts.create_user("Member", email="member@example.org", password=PASSWORD)
    connections = []
    for _ in range(2):
        cookie, _ = await service.accounts.open_session(user)
        handshake = Handshake("/", {}, {}, {SESSION_COOKIE: cookie})
        assert await sockets.authorize(handshake) is None
        handshake.extra[AUTHORIZED] = True
        connections.append((cookie, FakeConnection(handshake)))
        sockets.opened(connections[-1][1])
    assert sorted(s.user_id or 0 for s in topics.all_subscribers()) == [user.id, user.id]
    before = await service.queries.last_event_id()
    await service.accounts.close_session(connections[0][0])
    await _deliver_since(service, access, before)
    signed_in = {s.connection: s.user_id for s in topics.all_subscribers()}
    assert (signed_in[connections[0][1]], signed_in[connections[1][1]]) == (None, user.id)
