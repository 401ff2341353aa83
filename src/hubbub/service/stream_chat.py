"""A stream's chat: lines typed on its socket, injected by the API, read by bridges; viewer counts.

A local line (account ``"0"``) is a message of the stream's room, posted with every rule
of posting, so sechat, the web UI and the SDK see the same conversation; the streams
dialect shows room messages as account-``"0"`` lines. Every other line shown (``/msg``,
a network's, an injected one) is one ``STREAM_CHAT`` event whose ``data`` is the streams
frame as it goes on the wire (streams.md §B.4, ``uuid`` never included), so fan-out
encodes it once.
Lines written *to* a network (an account other than ``"0"``) are not events: they are
handed to that network's bridge (``Writers``), and come back as that network's own
message when the network echoes them (§B.5, B.12 #9).

What multistreamer let anyone do and hubbub does not (§B.9): writing through a network
account, and asking for a writer, need chat level 2 on the stream **and** the account
to be the sender's own; anything else is dropped without an answer, as the original
answered nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import UserId
from hubbub.core.models import User
from hubbub.core.rules import check_message_text
from hubbub.core.streams import (
    LOCAL_ACCOUNT_ID,
    LOCAL_NETWORK,
    ChatLevel,
    NetworkAccount,
    Stream,
    escape_markdown,
    network,
    parse_chat_command,
)
from hubbub.errors import BadRequest, NotFound
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.messages import Messages
from hubbub.service.streams import STREAM_NOT_USABLE, levels
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["CHAT_KINDS", "StatusView", "StreamChat", "WriteRequest", "Writers"]

CHAT_KINDS: Final = frozenset({"text", "emote"})
INJECTED_MAX_BYTES: Final = 16_384  # one injected frame, as JSON


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """A line to send into ``target`` (a stream's account) from ``account`` (the sender's own)."""

    stream: Stream
    target: NetworkAccount
    account: NetworkAccount
    kind: str
    text: str
    sender: User


class Writers(Protocol):
    """The bridges, as the chat sees them (``bridges.manager`` implements it)."""

    def writer(self, stream: Stream, target: NetworkAccount, account: NetworkAccount) -> bool:
        """Make (or find) a writer from ``account`` into the stream's ``target``; True if there is one."""
        ...

    def write(self, request: WriteRequest) -> bool:
        """Send the line through an existing writer; False (dropped) when there is none."""
        ...

    def ready(self, stream_id: int, account_id: int) -> bool:
        """Whether the bridge for the stream's account is connected and reading (True where none runs)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusView:
    """What one user's ``status`` frame is built from (dialects/streams/codec.status_frame)."""

    stream: Stream
    user: User
    chat_level: ChatLevel
    attached: list[NetworkAccount]
    own_others: list[NetworkAccount]  # the user's accounts on the stream's networks, not attached
    viewcounts: dict[int, int]


def _ms(ctx: Context) -> int:
    return int(ctx.clock.now() * 1000)


def _as_int(value: object, default: int = 0) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if -(2**63) < number < 2**63 else None  # the stores' BIGINT


class StreamChat:
    def __init__(self, context: Context, messages: Messages) -> None:
        self._ctx = context
        self._messages = messages
        self.writers: Writers | None = None  # set by the composition root once the bridges exist

    async def access(self, user_id: UserId, stream_id: int) -> tuple[Stream, User, ChatLevel] | None:
        """The stream, the user and their chat level, or None when the user may not read it (or no stream)."""
        now = self._ctx.now()

        def read(tx: ReadTx) -> tuple[Stream, User, ChatLevel] | None:
            user = tx.user(user_id)
            stream = tx.stream(stream_id)
            if user is None or stream is None:
                return None
            chat, _ = levels(tx, stream, user, now)
            return None if chat is ChatLevel.NONE else (stream, user, chat)

        return await self._ctx.store.read(read)

    async def status(self, user_id: UserId, stream_id: int) -> StatusView | None:
        now = self._ctx.now()

        def read(tx: ReadTx) -> StatusView | None:
            user = tx.user(user_id)
            stream = tx.stream(stream_id)
            if user is None or stream is None:
                return None
            chat, _ = levels(tx, stream, user, now)
            if chat is ChatLevel.NONE:
                return None
            attached_ids = tx.stream_account_ids(stream.id)
            attached = list(tx.network_accounts_by_id(attached_ids).values())
            networks = {a.network for a in attached}
            others = [a for a in tx.network_accounts(user.id) if a.network in networks and a.id not in attached_ids]
            return StatusView(
                stream=stream,
                user=user,
                chat_level=chat,
                attached=sorted(attached, key=lambda a: a.id),
                own_others=others,
                viewcounts=tx.viewcounts(stream.id),
            )

        return await self._ctx.store.read(read)

    async def say(self, sender_id: UserId, stream_id: int, frame: Mapping[str, Any]) -> WriteRequest | None:
        """A ``text``/``emote`` frame from a stream socket (§B.5). A local line is posted in the stream's
        room, a ``/msg`` is an event for both users; a line for a network comes back as a ``WriteRequest``
        for its bridge; the rest is dropped (None).

        Raises:
            BadRequest, TooLong, EmptyMessage, RateLimited: a local line the rules refuse.
        """
        kind = frame.get("type")
        text = frame.get("text")
        if not isinstance(kind, str) or kind not in CHAT_KINDS or not isinstance(text, str):
            return None
        command = parse_chat_command(text)
        account_id = LOCAL_ACCOUNT_ID if command.local else _as_int(frame.get("account_id"))
        target_id = _as_int(frame.get("cur_stream_account_id"))
        if account_id is None or target_id is None:
            return None
        if account_id != LOCAL_ACCOUNT_ID:
            return await self._for_network(sender_id, stream_id, str(kind), command.text, account_id, target_id)
        if command.to is None:
            await self._in_room(sender_id, stream_id, kind, command.text)
        else:
            await self._private(sender_id, stream_id, kind, command.text, command.to)
        return None

    async def _private(self, sender_id: UserId, stream_id: int, kind: str, text: str, to: str) -> None:
        """``/msg <name> <text>``: one event for the sender's and the recipient's sockets, on any stream."""
        check_message_text(text, max_chars=self._ctx.settings.max_message_chars)
        ticket = await self._ctx.message_limiter.acquire(f"user:{sender_id}")
        timestamp = _ms(self._ctx)

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            sender = load_user(tx, sender_id)
            stream = tx.stream(stream_id)
            if stream is None or levels(tx, stream, sender, now)[0] is not ChatLevel.WRITE:
                raise NotFound(STREAM_NOT_USABLE)
            recipient = tx.user_by_name(to)
            if recipient is None:
                return  # multistreamer drops a /msg to nobody without a word (§B.9)
            body = {
                "type": kind,
                "text": text,
                "markdown": escape_markdown(text),
                "from": {"name": sender.name, "id": int(sender.id)},
                "to": {"name": recipient.name, "id": int(recipient.id)},
                "account_id": LOCAL_ACCOUNT_ID,
                "network": LOCAL_NETWORK.name,
                "timestamp": timestamp,
            }
            changes.append(
                NewEvent(
                    type=EventType.STREAM_CHAT,
                    time_stamp=now,
                    user_id=sender.id,
                    user_name=sender.name,
                    target_user_id=recipient.id,
                    data=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                )
            )

        try:
            await self._ctx.apply(work)
        except BaseException:
            await ticket.refund()
            raise

    async def _in_room(self, sender_id: UserId, stream_id: int, kind: str, text: str) -> None:
        """A local line is a message of the stream's room: sechat, the web UI and the SDK see it too, and
        every rule of posting applies. An emote is posted in italics (and shown back as an emote)."""
        stream = await self._ctx.store.read(lambda tx: tx.stream(stream_id))
        if stream is None:
            raise NotFound(STREAM_NOT_USABLE)
        await self._messages.post(sender_id, stream.room_id, f"*{text}*" if kind == "emote" else text)

    async def _for_network(
        self, sender_id: UserId, stream_id: int, kind: str, text: str, account_id: int, target_id: int
    ) -> WriteRequest | None:
        found = await self._writable(sender_id, stream_id, account_id, target_id)
        if found is None:
            return None
        stream, target, account, sender = found
        return WriteRequest(stream=stream, target=target, account=account, kind=kind, text=text, sender=sender)

    async def _writable(
        self, sender_id: UserId, stream_id: int, account_id: int, target_id: int
    ) -> tuple[Stream, NetworkAccount, NetworkAccount, User] | None:
        """The §B.9 check: write level on the stream, the from-account the sender's own, the target attached."""
        now = self._ctx.now()

        def read(tx: ReadTx) -> tuple[Stream, NetworkAccount, NetworkAccount, User] | None:
            sender = tx.user(sender_id)
            stream = tx.stream(stream_id)
            if sender is None or stream is None or levels(tx, stream, sender, now)[0] is not ChatLevel.WRITE:
                return None
            if target_id not in tx.stream_account_ids(stream.id):
                return None
            accounts = tx.network_accounts_by_id({account_id, target_id})
            account, target = accounts.get(account_id), accounts.get(target_id)
            if account is None or target is None or account.owner_id != sender.id:
                return None
            if account.network != target.network or not network(account.network).writable:
                return None
            return stream, target, account, sender

        return await self._ctx.store.read(read)

    async def request_writer(
        self, sender_id: UserId, stream_id: int, frame: Mapping[str, Any]
    ) -> tuple[int, int] | None:
        """A ``writer`` frame: (account_id, cur_stream_account_id) once a writer exists, else None."""
        account_id = _as_int(frame.get("account_id"), -1)
        target_id = _as_int(frame.get("cur_stream_account_id"), -1)
        if account_id is None or target_id is None or account_id <= 0 or target_id <= 0 or self.writers is None:
            return None
        found = await self._writable(sender_id, stream_id, account_id, target_id)
        if found is None:
            return None
        stream, target, account, _ = found
        return (account_id, target_id) if self.writers.writer(stream, target, account) else None

    def write(self, request: WriteRequest) -> bool:
        return self.writers is not None and self.writers.write(request)

    def bridge_ready(self, stream_id: int, account_id: int) -> bool:
        """What a status frame says of an attached account: its bridge's connection, True where none runs."""
        return self.writers is None or self.writers.ready(stream_id, account_id)

    async def inject(self, actor_id: UserId, stream_id: int, body: object) -> None:
        """``POST /api/v1/stream/:id/msg``: a frame from a bridge or bot, shown as sent (§B.7).

        hubbub checks what multistreamer did not: the body is a JSON object of at most
        ``INJECTED_MAX_BYTES``, its ``type`` is ``text`` or ``emote`` and its ``text`` a string;
        ``uuid`` is dropped, ``stream_id`` set, ``timestamp`` (ms) added when missing.

        Raises:
            NotFound: No such stream, or chat level below 2 (``unauthorized to use that stream``).
            BadRequest: A body that is no chat frame.
        """
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        kind = body.get("type")
        if not isinstance(kind, str) or kind not in CHAT_KINDS or not isinstance(body.get("text"), str):
            raise BadRequest('type must be "text" or "emote" and text a string')
        frame = {key: value for key, value in body.items() if key not in ("uuid", "event_id")}
        frame.setdefault("timestamp", _ms(self._ctx))
        data_probe = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        if len(data_probe.encode()) > INJECTED_MAX_BYTES:
            raise BadRequest(f"a message may take at most {INJECTED_MAX_BYTES} bytes")

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            actor = load_user(tx, actor_id)
            stream = tx.stream(stream_id)
            if stream is None or levels(tx, stream, actor, now)[0] is not ChatLevel.WRITE:
                raise NotFound(STREAM_NOT_USABLE)
            frame["stream_id"] = stream.id
            changes.append(
                NewEvent(
                    type=EventType.STREAM_CHAT,
                    time_stamp=now,
                    room_id=stream.room_id,
                    room_name=stream.name,
                    user_id=actor.id,
                    user_name=actor.name,
                    data=json.dumps(frame, separators=(",", ":"), ensure_ascii=False),
                )
            )

        await self._ctx.apply(work)

    async def from_network(
        self,
        stream_id: int,
        account_id: int,
        *,
        kind: str,
        text: str,
        from_name: str,
        from_id: int | str,
        picture: str | None = None,
    ) -> None:
        """A line a bridge read on its network, shown on the stream as that network's (§B.5)."""
        if kind not in CHAT_KINDS:
            raise BadRequest('kind must be "text" or "emote"')
        timestamp = _ms(self._ctx)

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            stream = tx.stream(stream_id)
            account = tx.network_account(account_id)
            if stream is None or account is None or account_id not in tx.stream_account_ids(stream_id):
                return  # detached or deleted while the line was on its way
            sender: dict[str, Any] = {"name": from_name, "id": from_id}
            if picture:
                sender["picture"] = picture
            body = {
                "type": kind,
                "stream_id": stream.id,
                "account_id": account.id,
                "network": account.network,
                "text": text,
                "markdown": escape_markdown(text),
                "from": sender,
                "timestamp": timestamp,
            }
            changes.append(
                NewEvent(
                    type=EventType.STREAM_CHAT,
                    time_stamp=now,
                    room_id=stream.room_id,
                    room_name=stream.name,
                    data=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                )
            )

        await self._ctx.apply(work)

    async def report_viewcount(self, stream_id: int, account_id: int, viewer_count: int) -> None:
        """A bridge's count of viewers; kept for ``viewcount`` requests, and pushed to every socket."""

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            stream = tx.stream(stream_id)
            if stream is None or account_id not in tx.stream_account_ids(stream_id):
                return
            tx.set_viewcount(stream_id, account_id, viewer_count, now)
            changes.append(
                NewEvent(
                    type=EventType.STREAM_VIEWCOUNT,
                    time_stamp=now,
                    room_id=stream.room_id,
                    data=json.dumps(
                        {
                            "type": "viewcountresult",
                            "viewer_count": viewer_count,
                            "stream_id": stream_id,
                            "account_id": account_id,
                        },
                        separators=(",", ":"),
                    ),
                )
            )

        await self._ctx.apply(work)
