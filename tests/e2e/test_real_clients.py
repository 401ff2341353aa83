"""Published Stack Exchange chat clients, unmodified, against a live ``hubbub serve``.

PyPI ChatExchange 0.0.4 and sechat 1.1.2 run with only their base URL redirected, exactly as
docs/dialects/sechat.md tells users to do it: ChatExchange gets ``Browser.chat_root`` replaced
and its login-page URLs re-hosted; sechat gets its hard-coded ``*.stackexchange.com`` URLs
rewritten in ``requests.Session.request``. Everything else is the libraries' own code: their
login flows, page scraping, form posts and websocket readers.

Each client logs in, joins a room, reads what is there, sends, edits, stars, deletes and
leaves, and the test checks what the server stored. Then each client's websocket reader must
deliver messages another user posts, edits and deletes over HTTP. The libraries are
synchronous and start threads of their own, so these tests are synchronous too: events reach
the test through a ``queue.Queue`` (no sleeping), stored state is polled with ``wait_for``,
and every thread and socket a library started is shut down before the test ends.
"""

from __future__ import annotations

import atexit
import queue
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import chatexchange.browser
import pytest
import requests
import sechat
from chatexchange import events as ce_events
from chatexchange.client import Client
from sechat.events import Events

from tests.e2e.conftest import LiveServer, wait_for
from tests.fakes import TIMEOUT

pytestmark = pytest.mark.real_client

# ChatExchange 0.0.4 sleeps this long after every send, edit and delete it performs
# (Client._BACKOFF_ADDER), so its queued actions take that much longer to reach the server.
CE_ACTION_TIMEOUT = TIMEOUT + Client._BACKOFF_ADDER
# Seconds between ChatExchange's POST /events polls (its default, 3, only makes the test slower).
POLL_INTERVAL = 0.2
# The hosts sechat 1.1.2 hard-codes (docs/dialects/sechat.md, "Pointing a client at hubbub").
SECHAT_HOSTS = re.compile(r"^https?://[^/]*(stackexchange\.com|stackoverflow\.com)")


def _next(events: queue.Queue[Any], wanted: Callable[[Any], bool], skip: Callable[[Any], bool]) -> Any:
    """The next event ``wanted`` accepts; events ``skip`` accepts may come first, nothing else may."""
    while True:
        event = events.get(timeout=TIMEOUT)
        if wanted(event):
            return event
        assert skip(event), f"unexpected event {event!r}"


# ---------------------------------------------------------------------------------------------
# ChatExchange 0.0.4


@pytest.fixture
def chatexchange_at(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ChatExchange at the live server: its chat root, and the login pages it fetches by URL."""
    base = live.base
    request = chatexchange.browser.Browser._request

    def rehosted(
        self: chatexchange.browser.Browser,
        method: str,
        url: str,
        data: Any = None,
        headers: Any = None,
        with_chat_root: bool = True,
    ) -> requests.Response:
        if not with_chat_root:
            url = re.sub(r"^https?://[^/]+", base, url)
        response: requests.Response = request(self, method, url, data, headers, with_chat_root)
        return response

    monkeypatch.setattr(chatexchange.browser.Browser, "chat_root", property(lambda self: base))
    monkeypatch.setattr(chatexchange.browser.Browser, "_request", rehosted)


def _stop_reader(watcher: chatexchange.browser.RoomSocketWatcher) -> None:
    """Stop ChatExchange's websocket reader thread, and wait for it.

    ChatExchange's own ``close()`` sends a close frame from the calling thread while its reader
    thread may be answering the server's close frame on the same socket; websocket-client does
    not guard that, so now and then one thread closes the socket under the other (EBADF in the
    reader). Shutting the socket down instead wakes the reader with "connection closed": it
    calls the websocket recovery hook once and returns, as ``killed`` is set.
    """
    watcher.killed = True
    watcher.ws.abort()
    watcher.thread.join(TIMEOUT)
    assert not watcher.thread.is_alive()


@pytest.fixture
def ce_client(live: LiveServer, chatexchange_at: None) -> Iterator[Client]:
    """A ChatExchange client logged in as the cast's ``ce``; logged out and its sender thread joined at the end."""
    account = live.users["ce"]
    client = Client("stackexchange.com")
    client.login(account.email, account.password)
    try:
        yield client
    finally:
        for socket_watcher in list(client._br.sockets.values()):  # left open by a failed test
            socket_watcher.on_websocket_closed = lambda room_id: None  # no reconnecting now
            _stop_reader(socket_watcher)
        for poller in list(client._br.polls.values()):
            poller.close()
            poller.thread.join(TIMEOUT + POLL_INTERVAL)
            assert not poller.thread.is_alive()
        client.logout()
        client._thread.join(TIMEOUT)
        assert not client._thread.is_alive()


def test_chatexchange_refuses_a_wrong_password(live: LiveServer, chatexchange_at: None) -> None:
    client = Client("stackexchange.com")
    # ChatExchange decides by whether any cookie named acct came back.
    with pytest.raises(chatexchange.browser.LoginError, match="acct"):
        client.login(live.users["ce"].email, "not the password")
    assert not client.logged_in


def test_chatexchange_logs_in_reads_sends_edits_stars_deletes_and_leaves(live: LiveServer, ce_client: Client) -> None:
    me, jon = live.users["ce"], live.users["jon"]
    room_id = live.rooms["ChatExchange Sandbox"]
    jon_session = live.signed_in("jon")
    greeting = jon_session.say(room_id, "hello from **Jon**")

    # Login scraped the identity from /chats/join/favorite.
    assert (ce_client.get_me().id, ce_client.get_me().name) == (me.id, me.name)

    room = ce_client.get_room(room_id)
    room.join()
    assert me.id in live.present(room_id)
    # The pages ChatExchange scrapes: /rooms/info, //rooms/<id>/, /rooms/pingable, /users/<id>.
    assert (room.name, room.description) == ("ChatExchange Sandbox", "ChatExchange Sandbox for tests")
    assert [(owner.id, owner.name) for owner in room.owners] == [(me.id, me.name)]
    assert set(room.get_current_user_ids()) == {me.id, jon.id}
    assert set(room.get_pingable_user_ids()) == {me.id, jon.id}
    profile = ce_client.get_user(jon.id)
    assert (profile.name, profile.is_moderator, profile.message_count) == ("Jon Skeet", False, 1)

    # Reading: the transcript page for content and author, the history page for the source.
    read = ce_client.get_message(greeting)
    assert read.content == "hello from <b>Jon</b>"
    assert (read.owner.id, read.owner.name) == (jon.id, "Jon Skeet")
    assert read.room.id == room_id
    assert read.content_source == "hello from **Jon**"
    assert read.edits == 0

    sent: queue.Queue[tuple[int, int]] = queue.Queue()
    ce_client.on_message_sent = lambda message_id, room: sent.put((message_id, room))
    room.send_message("hi from *ChatExchange*")
    message_id, to_room = sent.get(timeout=CE_ACTION_TIMEOUT)
    assert to_room == room_id
    stored = live.message(message_id)
    assert (stored["room_id"], stored["user_id"], stored["source"]) == (room_id, me.id, "hi from *ChatExchange*")
    assert stored["content"] == "hi from <i>ChatExchange</i>"

    mine = ce_client.get_message(message_id)
    mine.edit("hi again from ChatExchange")
    wait_for(lambda: live.message(message_id)["edits"] == 1, CE_ACTION_TIMEOUT)
    assert live.source(message_id) == "hi again from ChatExchange"

    read.star()
    assert live.stargazers(greeting) == {me.id}
    del read.starred_by_you  # scrape the transcript again: the server must show the star as ours
    assert (read.starred_by_you, read.stars) == (True, 1)

    read.pin()  # the room's owner pins
    assert live.message(greeting)["owner_stars"] == 1
    del read.pins  # scrape the history page again: it names who pinned, and the star shows the pin
    assert (read.pins, read.pinned, [user.id for user in read.pinners]) == (1, True, [me.id])
    read.cancel_stars()
    assert (live.message(greeting)["stars"], live.message(greeting)["owner_stars"]) == (0, 0)

    read.reply("thanks")  # ":<id> thanks"
    reply_id, _ = sent.get(timeout=CE_ACTION_TIMEOUT)
    reply = live.message(reply_id)
    assert (reply["parent_id"], reply["show_parent"], reply["source"]) == (greeting, 1, f":{greeting} thanks")
    assert live.unread(jon.id) == {reply_id}  # the reply is in his inbox
    assert ce_client.get_message(reply_id).parent.id == greeting  # the transcript's .reply-info link

    mine.delete()
    wait_for(lambda: live.message(message_id)["deleted"], CE_ACTION_TIMEOUT)
    assert live.message(message_id)["deleted_by"] == me.id

    room.leave()  # POST //chats/leave/<room>
    assert me.id not in live.present(room_id)
    assert [row["id"] for row in live.messages(room_id) if not row["deleted"]] == [greeting, reply_id]
    jon_session.close()


def _entering(event: ce_events.Event) -> bool:
    """Jon's first post in a room enters him into it (event 3), before the message itself."""
    return isinstance(event, ce_events.UserEntered)


def _ce_sees_posted_edited_and_deleted(live: LiveServer, room_id: int, received: queue.Queue[ce_events.Event]) -> None:
    """Jon posts, edits and deletes over HTTP; ChatExchange's watcher must hand over each event."""
    jon = live.users["jon"]
    jon_session = live.signed_in("jon")

    message_id = jon_session.say(room_id, "watch **this**")
    posted = _next(received, lambda e: isinstance(e, ce_events.MessagePosted), _entering)
    assert (posted.message.id, posted.content, posted.user.id, posted.user.name, posted.room.id) == (
        message_id,
        "watch <b>this</b>",
        jon.id,
        "Jon Skeet",
        room_id,
    )

    jon_session.edit(message_id, "watch that")
    edited = _next(received, lambda e: isinstance(e, ce_events.MessageEdited), _entering)
    assert (edited.message.id, edited.content, edited.data["message_edits"]) == (message_id, "watch that", 1)

    jon_session.delete(message_id)
    deleted = _next(received, lambda e: isinstance(e, ce_events.MessageDeleted), _entering)
    assert deleted.message.id == message_id
    assert deleted.content is None and deleted.message.deleted
    jon_session.close()


def test_chatexchange_watch_socket_receives_posted_edited_and_deleted(live: LiveServer, ce_client: Client) -> None:
    room_id = live.rooms["ChatExchange Socket"]
    received: queue.Queue[ce_events.Event] = queue.Queue()
    recoveries: list[str] = []
    # The default recovery re-joins and reopens the socket when it closes; the test closes it
    # on purpose at the end, so record instead (and require that it never happened before).
    ce_client.set_websocket_recovery(recoveries.append)

    room = ce_client.get_room(room_id)
    room.join()  # remembers the log position (the "time" of POST /chats/<room>/events) ...
    jon_session = live.signed_in("jon")
    early = jon_session.say(room_id, "said before the socket opened")
    jon_session.close()
    watcher = room.watch_socket(lambda event, client: received.put(event))  # ... and sends it as ?l=

    # What happened between joining and connecting is replayed first, so nothing is lost.
    replayed = _next(received, lambda e: isinstance(e, ce_events.MessagePosted), _entering)
    assert (replayed.message.id, replayed.content) == (early, "said before the socket opened")
    _ce_sees_posted_edited_and_deleted(live, room_id, received)
    assert recoveries == []  # the server never dropped the socket
    _stop_reader(watcher)
    assert recoveries == [str(room_id)]  # only the stop above
    room.leave()  # closes what is left of the socket, then POST //chats/leave/<room>
    assert str(room_id) not in ce_client._br.sockets
    assert ce_client.get_me().id not in live.present(room_id)


def test_chatexchange_watch_polling_receives_posted_edited_and_deleted(live: LiveServer, ce_client: Client) -> None:
    room_id = live.rooms["ChatExchange Polling"]
    received: queue.Queue[ce_events.Event] = queue.Queue()
    room = ce_client.get_room(room_id)
    room.join()
    watcher = room.watch_polling(lambda event, client: received.put(event), POLL_INTERVAL)  # POST /events

    _ce_sees_posted_edited_and_deleted(live, room_id, received)

    # Stop polling before leaving: the poller reads the room's cursor, which leaving discards.
    watcher.close()
    watcher.thread.join(TIMEOUT + POLL_INTERVAL)
    assert not watcher.thread.is_alive()
    room.leave()
    assert ce_client.get_me().id not in live.present(room_id)


# ---------------------------------------------------------------------------------------------
# sechat 1.1.2


@pytest.fixture
def sechat_at(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point sechat's hard-coded Stack Exchange URLs at the live server."""
    base = live.base
    request = requests.Session.request

    def rehosted(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        return request(self, method, SECHAT_HOSTS.sub(base, url), *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", rehosted)


@pytest.fixture
def sechat_bot(live: LiveServer, sechat_at: None) -> Iterator[sechat.Bot]:
    """A sechat bot logged in as the cast's ``sechat``; its room threads stopped and joined at the end."""
    account = live.users["sechat"]
    bot = sechat.Bot(useCookies=False)  # no cookie jar left in /tmp between runs
    try:
        bot.login(account.email, account.password)
        yield bot
    finally:
        # sechat registers leaveAllRooms to run at interpreter exit, when the URL rewriting is
        # gone and it would try the real chat.stackexchange.com.
        atexit.unregister(bot.leaveAllRooms)
        # Rooms joined without a socket have no thread, which leaveAllRooms(wait=True) trips
        # over; so stop them all without waiting, then wait for the threads there are.
        threads = [room.thread for room in bot.rooms.values() if room.thread is not None]
        bot.leaveAllRooms()
        for thread in threads:
            thread.join(TIMEOUT)
            assert not thread.is_alive()


def test_sechat_refuses_a_wrong_password(live: LiveServer, sechat_at: None) -> None:
    bot = sechat.Bot(useCookies=False)
    try:
        with pytest.raises(sechat.errors.LoginError):  # the validation step answered other than Login-OK
            bot.login(live.users["sechat"].email, "not the password")
        assert bot.userID is None
    finally:
        atexit.unregister(bot.leaveAllRooms)


def test_sechat_logs_in_reads_sends_edits_stars_deletes_and_leaves(live: LiveServer, sechat_bot: sechat.Bot) -> None:
    me, jon = live.users["sechat"], live.users["jon"]
    room_id = live.rooms["Sechat Sandbox"]
    jon_session = live.signed_in("jon")
    greeting = jon_session.say(room_id, "hello from **Jon**")
    assert sechat_bot.userID == me.id

    room = sechat_bot.joinRoom(room_id, autoConnect=False)  # the HTTP API only; the socket is the next test
    recent = room.getRecentMessages()
    assert [(e["event_type"], e["message_id"], e["content"], e["user_id"]) for e in recent] == [
        (1, greeting, "hello from <b>Jon</b>", jon.id)
    ]
    assert me.id in live.present(room_id)  # reading the room's events enters it

    message_id = room.send("hi from *sechat*")
    stored = live.message(message_id)
    assert (stored["room_id"], stored["user_id"], stored["source"]) == (room_id, me.id, "hi from *sechat*")

    room.edit(message_id, "hi again from sechat")  # raises unless the server answers exactly "ok"
    with pytest.raises(sechat.errors.OperationFailedError) as refused:
        room.edit(greeting, "not yours")
    assert refused.value.args[1] == b'"You can only edit your own messages"'
    assert (live.message(message_id)["edits"], live.source(message_id)) == (1, "hi again from sechat")

    room.star(greeting)
    assert live.stargazers(greeting) == {me.id}
    room.pin(greeting)  # the room's owner pins, unpins and clears the stars
    assert live.message(greeting)["owner_stars"] == 1
    room.unpin(greeting)
    assert live.message(greeting)["owner_stars"] == 0
    room.clearStars(greeting)
    assert (live.message(greeting)["stars"], live.stargazers(greeting)) == (0, set())

    room.bookmark(greeting, message_id, "Greetings and replies")  # POST /conversation/new
    [bookmark] = live.query("SELECT * FROM conversations WHERE room_id = ?", room_id)
    assert (bookmark["slug"], bookmark["first_message_id"], bookmark["last_message_id"], bookmark["created_by"]) == (
        "greetings-and-replies",
        greeting,
        message_id,
        me.id,
    )
    room.clearBookmark("Greetings and replies")  # by title, straight into the path
    assert live.query("SELECT * FROM conversations WHERE room_id = ?", room_id) == []

    room.delete(message_id)
    assert live.message(message_id)["deleted"]

    assert [e["message_id"] for e in room.getRecentMessages()] == [greeting]
    sechat_bot.leaveAllRooms()  # POST /chats/leave/all
    assert me.id not in live.present(room_id)
    jon_session.close()


def test_sechat_socket_receives_posted_edited_and_deleted(live: LiveServer, sechat_bot: sechat.Bot) -> None:
    me, jon = live.users["sechat"], live.users["jon"]
    room_id = live.rooms["Sechat Socket"]
    jon_session = live.signed_in("jon")
    received: queue.Queue[Any] = queue.Queue()

    room = sechat_bot.joinRoom(room_id)  # POST /ws-auth, then its reader thread on the socket
    assert room.thread is not None and room.thread.is_alive()
    assert me.id in live.present(room_id)
    for kind in (Events.MESSAGE, Events.EDIT, Events.DELETE, Events.JOIN, Events.REPLY):
        room.on(kind, received.put)

    def entering(event: Any) -> bool:
        return bool(event.event_type == Events.JOIN.value)

    message_id = jon_session.say(room_id, "watch **this**")
    posted = _next(received, lambda e: e.event_type == Events.MESSAGE.value, entering)
    assert (posted.message_id, posted.content, posted.user_id, posted.user_name, posted.room_id) == (
        message_id,
        "watch <b>this</b>",
        jon.id,
        "Jon Skeet",
        room_id,
    )

    jon_session.edit(message_id, "watch that")
    edited = _next(received, lambda e: e.event_type == Events.EDIT.value, entering)
    assert (edited.message_id, edited.content, edited.message_edits) == (message_id, "watch that", 1)

    jon_session.delete(message_id)
    deleted = _next(received, lambda e: e.event_type == Events.DELETE.value, entering)
    assert deleted.message_id == message_id
    assert "content" not in deleted._fields

    # A reply to the bot arrives as event 18 (beside its event 1); sechat acknowledges it
    # (POST /messages/ack) before handing it over, which must clear it from the bot's inbox.
    asked = room.send("who is there?")
    answer = jon_session.say(room_id, f":{asked} me")
    reply = _next(
        received, lambda e: e.event_type == Events.REPLY.value, lambda e: e.event_type == Events.MESSAGE.value
    )
    assert (reply.message_id, reply.parent_id, reply.target_user_id, reply.user_id) == (answer, asked, me.id, jon.id)
    assert live.query("SELECT unread FROM inbox WHERE user_id = ? AND message_id = ?", me.id, answer)[0]["unread"] == 0

    thread = room.thread
    sechat_bot.leaveRoom(room_id, wait=True)  # the reader thread posts /chats/leave/<room> as it stops
    assert isinstance(thread, threading.Thread) and not thread.is_alive()
    assert me.id not in live.present(room_id)
    jon_session.close()
