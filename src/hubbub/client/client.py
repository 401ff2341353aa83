"""The asyncio client: log in, join rooms, post, edit, delete, star; the HTTP half of the SDK.

It speaks Stack Exchange chat's form API (docs/dialects/sechat.md), so the same
code talks to hubbub and to chat.stackexchange.com. Answers are read by the
sechat codec's reader (``hubbub.dialects.sechat.reading``); this module only moves
bytes and applies the client-side policy: retry on 409 after the wait the server
names (a bounded number of times), refuse over-long single-line messages before
sending, and turn refusals into typed errors.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Final, Protocol

import aiohttp

from hubbub.client import direct as direct_api
from hubbub.client.direct import Contact, Direct, DirectStream
from hubbub.client.errors import ClientClosed, DuplicateMessage, LoginFailed, NotLoggedIn, UnexpectedAnswer
from hubbub.core.rules import MAX_SINGLE_LINE_CHARS, is_multiline
from hubbub.dialects.sechat.codec import Action
from hubbub.dialects.sechat.reading import (
    parse_chat_page,
    parse_history_time,
    parse_json_string,
    parse_posted,
    parse_present_users,
    parse_rate_limit,
    parse_refusal,
)
from hubbub.errors import EmptyMessage, RateLimited, TooLong

if TYPE_CHECKING:
    from hubbub.client.stream import EventStream

__all__ = ["Client", "Room", "split_message"]

log = logging.getLogger("hubbub.client")

USER_AGENT: Final = "hubbub-client/0.1 (+https://github.com/hubbub)"
Sleep = Callable[[float], Awaitable[None]]


class _Stream(Protocol):
    async def aclose(self) -> None: ...


class Client:
    """One chat session (cookies + fkey) against one server.

    Args:
        base_url: The chat root, e.g. ``http://127.0.0.1:8080`` or ``https://chat.stackexchange.com``.
        login_url: Where ``/users/login`` lives when it is not on the chat root
            (``https://meta.stackexchange.com`` for chat.stackexchange.com).
        rate_limit_retries: How often one request is retried after a 409 before
            ``RateLimited`` is raised.
        timeout: Seconds for one HTTP request.
        sleep: How to wait (for 409 retries and reconnect back-off); tests pass a fake.
    """

    def __init__(
        self,
        base_url: str,
        *,
        login_url: str | None = None,
        rate_limit_retries: int = 5,
        timeout: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.login_url = (login_url or base_url).rstrip("/")
        self.rate_limit_retries = rate_limit_retries
        self.sleep = sleep
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._streams: weakref.WeakSet[_Stream] = weakref.WeakSet()  # closed with the client
        self.fkey: str | None = None
        self.user_id: int | None = None
        self.user_name: str | None = None

    async def __aenter__(self) -> Client:
        self.session  # noqa: B018 - opens the session now, inside the running loop
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The client's one HTTP session (opened on first use, inside the running loop).

        Raises:
            ClientClosed: After ``close()``. A closed client never opens a new session: one
                made behind its back would have no cookies and nobody to close it.
        """
        if self._closed or (self._session is not None and self._session.closed):
            raise ClientClosed()
        if self._session is None:
            # unsafe=True: keep cookies set by an IP-address host such as 127.0.0.1.
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the event streams this client opened, then the session. The client is unusable afterwards."""
        self._closed = True
        for stream in list(self._streams):
            await stream.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def login(self, email: str, password: str) -> None:
        """Log in with the site's login form, then read the chat fkey and who we are.

        Raises:
            LoginFailed: Wrong credentials, a CAPTCHA page, or no chat session afterwards.
        """
        async with self.session.get(f"{self.login_url}/users/login") as response:
            login_page = parse_chat_page(await response.text())
        form = {"email": email, "password": password, "fkey": login_page.fkey or ""}
        async with self.session.post(f"{self.login_url}/users/login", data=form, allow_redirects=False) as response:
            status = response.status
            await response.read()
        if status != 302:
            raise LoginFailed("Logging in failed: the e-mail address or password is incorrect (or a CAPTCHA was shown)")
        # The chat home page turns the login site's cookies into a chat session (Stack Exchange sets
        # chatusr/sechatusr there, as sechat 3 relies on); hubbub does the same.
        async with self.session.get(f"{self.base_url}/") as response:
            await response.read()
        await self.refresh_identity()

    async def refresh_identity(self) -> None:
        """Read the chat fkey and the signed-in user from ``/chats/join/favorite``.

        Also the way to use cookies copied from a browser: put them in
        ``client.session.cookie_jar`` and call this instead of ``login``.

        Raises:
            LoginFailed: The page shows no signed-in user.
        """
        async with self.session.get(f"{self.base_url}/chats/join/favorite") as response:
            page = parse_chat_page(await response.text())
        if not page.fkey or page.user_id is None:
            raise LoginFailed("The chat server did not accept the session (no fkey or user on its pages)")
        self.fkey, self.user_id, self.user_name = page.fkey, page.user_id, page.user_name

    async def post_form(
        self,
        path: str,
        form: Mapping[str, str | int] | None = None,
        *,
        action: Action,
        message_id: int = 0,
        expect_ok: bool | None = None,
    ) -> str:
        """POST a form with the fkey; retry on 409; return the body of a 200 answer.

        A 200 answer is a success when it is ``"ok"`` (``expect_ok``, the default for
        every action but ``post`` and ``read``) or, otherwise, whatever it is.

        Raises:
            RateLimited: Still limited after ``rate_limit_retries`` waits.
            RemoteError: Any other refusal, as its typed subclass.
        """
        if self.fkey is None:
            raise NotLoggedIn("Log in first: this client has no fkey")
        data = {key: str(value) for key, value in (form or {}).items()}
        data["fkey"] = self.fkey
        for attempt in range(self.rate_limit_retries + 1):
            async with self.session.post(self.base_url + path, data=data, allow_redirects=False) as response:
                status, body = response.status, await response.text()
            if status == 409:
                wait = parse_rate_limit(body) or 1
                if attempt == self.rate_limit_retries:
                    raise RateLimited(wait)
                log.info("rate limited on %s; retrying in %d s", path, wait)
                await self.sleep(wait)
                continue
            if expect_ok is None:
                expect_ok = action not in ("post", "read")
            if status == 200 and (not expect_ok or parse_json_string(body) == "ok"):
                return body
            raise parse_refusal(status, body, action, message_id=message_id)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def join(self, room_id: int) -> Room:
        """Enter a room (``POST /chats/{room}/events``) and note where its event log stands."""
        return Room(self, room_id, joined_at=await self.log_position(room_id))

    async def log_position(self, room_id: int) -> int:
        """The log's last event id now, read through ``POST /chats/{room}/events`` (which also enters the room)."""
        form: dict[str, str | int] = {"since": 0, "mode": "Messages", "msgCount": 1}
        return _history_time(await self.post_form(f"/chats/{room_id}/events", form, action="read"))

    async def edit(self, message_id: int, text: str) -> None:
        """Raises ``TooLate``, ``AlreadyDeleted``, ``NotYours``, ``NeverAssigned`` on refusal."""
        check_text(text)
        await self.post_form(f"/messages/{message_id}", {"text": text}, action="edit", message_id=message_id)

    async def delete(self, message_id: int) -> None:
        """Raises ``TooLate``, ``AlreadyDeleted``, ``NotYours``, ``NeverAssigned`` on refusal."""
        await self.post_form(f"/messages/{message_id}/delete", action="delete", message_id=message_id)

    async def star(self, message_id: int) -> None:
        """Toggle this account's star on a message (star it, or take the star back)."""
        await self.post_form(f"/messages/{message_id}/star", action="star", message_id=message_id)

    async def pin(self, message_id: int) -> None:
        """Toggle the pin of a message (room owners)."""
        await self.post_form(f"/messages/{message_id}/owner-star", action="star", message_id=message_id)

    async def move_messages(self, room_id: int, message_ids: list[int], to_room: int) -> int:
        """Move messages to another room (room owners); returns how many moved."""
        form: dict[str, str | int] = {"ids": ",".join(map(str, message_ids)), "to": to_room}
        body = await self.post_form(f"/admin/movePosts/{room_id}", form, action="other", expect_ok=False)
        try:
            return int(body)
        except ValueError:
            raise UnexpectedAnswer(200, body) from None

    async def acknowledge(self, message_id: int) -> None:
        """Mark the pings and replies about a message as read (``POST /messages/ack``)."""
        await self.post_form("/messages/ack", {"id": message_id}, action="other")

    # contacts and direct conversations (hubbub only: client/direct.py)

    async def contacts(self) -> list[Contact]:
        """Everyone this user has a relation with, by name: contacts (with presence and unread
        counts), requests both ways, and their own blocks."""
        return await direct_api.contacts(self)

    async def request_contact(self, user_id: int) -> str:
        """Ask ``user_id`` to be a contact (accepts at once if they had asked); returns the relation."""
        return await direct_api.contact_action(self, "request", user_id)

    async def accept_contact(self, user_id: int) -> str:
        return await direct_api.contact_action(self, "accept", user_id)

    async def remove_contact(self, user_id: int) -> str:
        """Cancel a request, decline theirs, end a contact, or lift one's own block."""
        return await direct_api.contact_action(self, "remove", user_id)

    async def block_contact(self, user_id: int) -> str:
        return await direct_api.contact_action(self, "block", user_id)

    async def direct(self, user_id: int) -> Direct:
        """The direct conversation with ``user_id``: ``send``, ``events``, ``history``, ``typing``.

        Like ``join`` for a room, it notes where the log stands: its first ``events()`` stream
        starts there, so nothing sent after this call is missed.
        """
        return Direct(self, user_id, opened_at=await direct_api.log_position(self))

    def direct_events(self, *, since: int | None = None) -> DirectStream:
        """Every direct event of this user (all conversations, contacts' presence), exactly once;
        after ``since``, or (by default) from where the log stands when iteration begins."""
        stream = DirectStream(self, since=since)
        self._streams.add(stream)
        return stream


def _history_time(body: str) -> int:
    try:
        return parse_history_time(body)
    except ValueError:
        raise UnexpectedAnswer(200, body) from None


def check_text(text: str) -> None:
    """Refuse what the server would refuse: empty text, or one line over 500 characters.

    Raises:
        EmptyMessage, TooLong
    """
    if not text.strip():
        raise EmptyMessage()
    if not is_multiline(text) and len(text) > MAX_SINGLE_LINE_CHARS:
        raise TooLong(MAX_SINGLE_LINE_CHARS, len(text), single_line=True)


def split_message(text: str, limit: int = MAX_SINGLE_LINE_CHARS) -> list[str]:
    """Cut one long line into parts of at most ``limit`` characters, at spaces where possible."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


class Room:
    """A room this client has joined. Get one from ``Client.join``."""

    def __init__(self, client: Client, room_id: int, *, joined_at: int) -> None:
        self.client = client
        self.id = room_id
        # Where the next events() stream starts: the log's last id when we joined, then the last
        # event any stream of this room handed out, so a new stream neither repeats nor skips.
        self.cursor = joined_at

    def __repr__(self) -> str:
        return f"Room({self.id})"

    async def send(self, text: str) -> int:
        """Post a message; returns its id.

        A single line may have 500 characters; longer ones are refused here, before
        sending (use ``send_long`` to split them). Messages with a newline are sent
        as they are; the server caps them.

        Raises:
            TooLong, EmptyMessage: Before sending.
            DuplicateMessage: The server dropped it as a repeat of the previous message.
            RemoteError: The server refused it (``NotFound``, ``NotAllowed``, ``RateLimited`` ...).
        """
        check_text(text)
        return await self._post(text)

    async def send_long(self, text: str) -> list[int]:
        """Post a long single line as several messages of at most 500 characters, in order."""
        if is_multiline(text):
            return [await self.send(text)]
        return [await self.send(part) for part in split_message(text)]

    async def reply(self, message_id: int, text: str) -> int:
        """Reply to a message (``:<id> text``, understood by every Stack Exchange chat server)."""
        full = f":{message_id} {text}"
        check_text(text)
        check_text(full)
        return await self._post(full)

    async def _post(self, text: str) -> int:
        body = await self.client.post_form(f"/chats/{self.id}/messages/new", {"text": text}, action="post")
        try:
            message_id = parse_posted(body)
        except ValueError:
            raise UnexpectedAnswer(200, body) from None
        if message_id is None:
            raise DuplicateMessage()
        return message_id

    async def edit(self, message_id: int, text: str) -> None:
        await self.client.edit(message_id, text)

    async def delete(self, message_id: int) -> None:
        await self.client.delete(message_id)

    async def star(self, message_id: int) -> None:
        await self.client.star(message_id)

    async def pin(self, message_id: int) -> None:
        await self.client.pin(message_id)

    async def leave(self) -> None:
        await self.client.post_form(f"/chats/leave/{self.id}", {"quiet": "true"}, action="other")

    async def present_users(self) -> list[int]:
        """The ids of the users the room's page shows as in the room now (this client's own included).

        Raises:
            UnexpectedAnswer: The page could not be read (e.g. 404: no such room, or not ours to see).
        """
        async with self.client.session.get(f"{self.client.base_url}/rooms/{self.id}") as response:
            body = await response.text()
            if response.status != 200:
                raise UnexpectedAnswer(response.status, body)
        return [int(user_id) for user_id in parse_present_users(body)]

    def events(self, *, since: int | None = None, idle_timeout: float = 45.0) -> EventStream:
        """Live events of this room, each exactly once and in id order, across reconnects.

        Args:
            since: Resume after this event id (e.g. one saved by an earlier run); by
                default after the last event an earlier stream of this room handed out,
                or from the moment the room was joined.
            idle_timeout: Seconds without any frame (the server sends keep-alives
                every 25) before the socket is presumed dead and replaced.
        """
        from hubbub.client.stream import EventStream

        stream = EventStream(self, since=self.cursor if since is None else since, idle_timeout=idle_timeout)
        self.client._streams.add(stream)
        return stream
