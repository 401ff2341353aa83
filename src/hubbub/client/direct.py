"""Contacts and direct conversations in the SDK: ``client.contacts()``, ``client.direct(user_id)``.

They use hubbub's own JSON endpoints (docs/direct-messages.md, "Web and SDK"), which Stack
Exchange chat does not have: this half of the SDK talks to hubbub only.

``DirectStream`` is the live half, exactly once and in order across any number of cuts, the
way room streams are: the server answers ``GET /direct/events?since=ID&wait=1`` from its log
after ``since`` (holding the request while there is nothing), the stream remembers the id of
the last event it handed out and asks again from there after a failure, and drops anything at
or below it. A stream holds at most one answer (up to 500 events) in memory; a consumer that
stops reading stops the polling.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from hubbub.client.errors import ClientClosed, UnexpectedAnswer
from hubbub.dialects.sechat.reading import parse_refusal
from hubbub.errors import InvalidFkey, NotAllowed, NotFound, NotLoggedIn, RemoteError

if TYPE_CHECKING:
    from hubbub.client.client import Client

__all__ = ["Contact", "Direct", "DirectEvent", "DirectMessage", "DirectStream"]

log = logging.getLogger("hubbub.client.direct")

CONTACT_ACTIONS: Final = ("request", "accept", "remove", "block")
POLL_IDLE_SECONDS: Final = 90.0  # a held poll answers within 25 s by default; silence past this is a dead link
SEND_ATTEMPTS: Final = 5  # a send whose answer is lost is tried again with the same client id (stored once)
BACKOFF_INITIAL: Final = 0.1
BACKOFF_MAX: Final = 30.0
FATAL: Final = (NotLoggedIn, InvalidFkey, NotFound, NotAllowed)


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone the user has a relation with: ``contacts``, ``requested``, ``incoming`` or ``blocked``;
    ``presence`` (online / idle / offline) is real for contacts only."""

    user_id: int
    name: str
    relation: str
    presence: str
    unread: int


@dataclass(frozen=True, slots=True)
class DirectMessage:
    id: int
    sender_id: int
    recipient_id: int
    text: str
    html: str
    sent_ms: int
    client_id: str | None
    event_id: int

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> DirectMessage:
        return cls(
            id=int(record["id"]),
            sender_id=int(record["sender_id"]),
            recipient_id=int(record["recipient_id"]),
            text=str(record["text"]),
            html=str(record.get("html", "")),
            sent_ms=int(record.get("sent_ms", 0)),
            client_id=record.get("client_id"),
            event_id=int(record.get("event_id", 0)),
        )


@dataclass(frozen=True, slots=True)
class DirectEvent:
    """One event of the user's direct stream. ``kind`` is ``message`` (with ``message``),
    ``typing`` (``typing``), ``presence`` (``presence``), ``contact`` (``relation``, as the
    actor ``user_id`` now sees ``target_user_id``; None when someone else acted) or ``read``
    (``through``: the reader's marker)."""

    id: int
    kind: str
    time: int
    user_id: int
    user_name: str
    target_user_id: int | None
    message: DirectMessage | None = None
    typing: bool | None = None
    presence: str | None = None
    relation: str | None = None
    through: int | None = None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> DirectEvent:
        message = record.get("message")
        target = record.get("target_user_id")
        return cls(
            id=int(record["id"]),
            kind=str(record["type"]),
            time=int(record.get("time", 0)),
            user_id=int(record["user_id"]),
            user_name=str(record.get("user_name", "")),
            target_user_id=None if target is None else int(target),
            message=None if message is None else DirectMessage.of(message),
            typing=record.get("typing"),
            presence=record.get("presence"),
            relation=record.get("relation"),
            through=record.get("through"),
        )

    def concerns(self, me: int, other: int) -> bool:
        """Whether this event belongs to the conversation between ``me`` and ``other``."""
        if self.kind == "presence":
            return self.user_id == other
        ends = {self.user_id, self.target_user_id}
        return ends == {me, other} or (me == other and ends == {me})


async def get_json(client: Client, path: str, *, timeout: aiohttp.ClientTimeout | None = None) -> Any:
    """GET one of hubbub's JSON endpoints; a refusal raises its typed error."""
    async with client.session.get(client.base_url + path, allow_redirects=False, timeout=timeout) as response:
        status, body = response.status, await response.text()
        is_json = response.content_type == "application/json"
    if status != 200:
        raise parse_refusal(status, body, "other")
    if not is_json:
        raise UnexpectedAnswer(status, body)
    return _decode(status, body)


async def post_json(client: Client, path: str, form: Mapping[str, str]) -> Any:
    """POST a form with the fkey to one of hubbub's JSON endpoints (no 409 retry: a direct
    message is not resent behind the caller's back, except with its client id)."""
    if client.fkey is None:
        raise NotLoggedIn("Log in first: this client has no fkey")
    data = {**form, "fkey": client.fkey}
    async with client.session.post(client.base_url + path, data=data, allow_redirects=False) as response:
        status, body = response.status, await response.text()
    if status != 200:
        raise parse_refusal(status, body, "other")
    return _decode(status, body)


def _decode(status: int, body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise UnexpectedAnswer(status, body) from None


async def contacts(client: Client) -> list[Contact]:
    summary = await get_json(client, "/contacts.json")
    return [
        Contact(int(c["id"]), str(c["name"]), str(c["relation"]), str(c["presence"]), int(c.get("unread", 0)))
        for c in summary["contacts"]
    ]


async def contact_action(client: Client, action: str, user_id: int) -> str:
    if action not in CONTACT_ACTIONS:
        raise ValueError(f"unknown contact action {action!r}; one of {', '.join(CONTACT_ACTIONS)}")
    answer = await post_json(client, f"/contacts/{action}", {"user": str(user_id)})
    return str(answer["relation"])


async def log_position(client: Client) -> int:
    """Where the log stands now: a stream started from here sees what happens next."""
    return int((await get_json(client, "/contacts.json"))["cursor"])


class Direct:
    """The conversation with one user. Get one from ``Client.direct``."""

    def __init__(self, client: Client, user_id: int, *, opened_at: int | None = None) -> None:
        self.client = client
        self.user_id = user_id
        # Where the next events() starts: the log's last id when opened, then the last event
        # any stream of this conversation handed out, so a new stream neither repeats nor skips.
        self.cursor = opened_at

    def __repr__(self) -> str:
        return f"Direct({self.user_id})"

    async def send(self, text: str, *, client_id: str | None = None) -> DirectMessage:
        """Send a message; returns it as stored.

        A send whose answer is lost (a cut connection) is tried again with the same client
        id, which the server stores once, so a message is neither lost nor doubled.

        Raises:
            RemoteError: A refusal (``NotAllowed`` when not contacts, ``EmptyMessage`` /
                ``BadRequest``, ``TooLong``, ``RateLimited``, ``NotFound``).
        """
        key = client_id or "sdk" + secrets.token_hex(12)
        for attempt in range(SEND_ATTEMPTS):
            try:
                answer = await post_json(self.client, f"/direct/{self.user_id}/send", {"text": text, "client_id": key})
                return DirectMessage.of(answer["message"])
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await self.client.sleep(_backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def typing(self, typing: bool = True) -> None:
        await post_json(self.client, f"/direct/{self.user_id}/typing", {"typing": "1" if typing else "0"})

    async def history(self, *, before: int | None = None, limit: int = 50) -> list[DirectMessage]:
        """Up to ``limit`` (at most 200) messages before message id ``before``, oldest first."""
        query = f"?limit={limit}" + ("" if before is None else f"&before={before}")
        page = await get_json(self.client, f"/direct/{self.user_id}/history{query}")
        return [DirectMessage.of(m) for m in page["messages"]]

    async def mark_read(self, through: int | None = None) -> int:
        form = {} if through is None else {"through": str(through)}
        return int((await post_json(self.client, f"/direct/{self.user_id}/read", form))["read"])

    def events(self, *, since: int | None = None) -> DirectStream:
        """This conversation's events, exactly once and in order, across cuts: messages both ways,
        the other's typing and presence, contact changes between the two, read markers.

        Args:
            since: Resume after this event id (``stream.last_event_id`` of an earlier run); by
                default after the last event an earlier stream of this conversation handed out,
                or from when the conversation was opened (``Client.direct``).
        """
        stream = DirectStream(self.client, since=self.cursor if since is None else since, conversation=self)
        self.client._streams.add(stream)
        return stream


def _backoff(attempt: int) -> float:
    delay: float = min(BACKOFF_MAX, BACKOFF_INITIAL * 2**attempt)
    return delay * random.uniform(0.5, 1.0)


class DirectStream:
    """Async iterator over the user's direct events (or one conversation's); see the module docstring.

    ``last_event_id`` is the id of the last event handed out (or looked past): save it to
    resume later with ``events(since=...)``. ``polls`` counts the requests made so far,
    ``failed_polls`` those that got no answer and were asked again.
    """

    def __init__(
        self, client: Client, *, since: int | None, conversation: Direct | None = None, max_attempts: int | None = None
    ) -> None:
        self.client = client
        self.conversation = conversation
        self.last_event_id = since
        self.max_attempts = max_attempts  # consecutive failed polls; None: keep trying
        self.polls = 0
        self.failed_polls = 0  # polls that got no answer (a cut, a restart) and were asked again
        self._generator: AsyncGenerator[DirectEvent, None] | None = None
        self._closed = False

    def __aiter__(self) -> DirectStream:
        return self

    async def __anext__(self) -> DirectEvent:
        if self._closed:
            raise StopAsyncIteration
        if self._generator is None:
            self._generator = self._run()
        try:
            return await self._generator.__anext__()
        except asyncio.CancelledError:
            self._generator = None  # the next call starts over after last_event_id
            raise

    async def aclose(self) -> None:
        self._closed = True
        generator, self._generator = self._generator, None
        if generator is not None:
            await generator.aclose()

    def _keep(self, event: DirectEvent) -> bool:
        conversation = self.conversation
        if conversation is None:
            return True
        me = self.client.user_id
        return me is not None and event.concerns(me, conversation.user_id)

    async def _run(self) -> AsyncGenerator[DirectEvent, None]:
        if self.last_event_id is None:
            self.last_event_id = await log_position(self.client)
        failures = 0
        timeout = aiohttp.ClientTimeout(total=None, sock_read=POLL_IDLE_SECONDS, sock_connect=30)
        while not self._closed:
            try:
                self.polls += 1
                answer = await get_json(
                    self.client, f"/direct/events?since={self.last_event_id}&wait=1", timeout=timeout
                )
            except ClientClosed:
                return
            except FATAL:
                raise
            except (RemoteError, aiohttp.ClientError, TimeoutError, ValueError) as error:
                failures += 1
                self.failed_polls += 1
                if self.max_attempts is not None and failures >= self.max_attempts:
                    raise
                log.info("direct stream: poll failed (%s); retrying", error)
                await self.client.sleep(_backoff(failures - 1))
                continue
            failures = 0
            records = sorted(answer.get("events", ()), key=lambda r: int(r["id"]))
            for record in records:
                event = DirectEvent.of(record)
                if event.id <= self.last_event_id:
                    continue  # a repeat: already handed out
                self.last_event_id = event.id
                if self.conversation is not None:
                    self.conversation.cursor = event.id
                if self._keep(event):
                    yield event
            cursor = answer.get("cursor")
            if isinstance(cursor, int) and cursor > self.last_event_id:
                self.last_event_id = cursor
