"""Streams: streams and their shares, live state, bridge leases (core/streams.py).

Tokens are in ``stream_tokens``, network accounts in ``network_accounts``.

Every change is an event in the one log, in the transaction that makes it:
``STREAM_CHANGED`` (created, renamed, accounts or shares changed, live or offline; its
``data`` is the stream as the streams socket directory needs it), ``STREAM_DELETED`` and,
for a share's chat level, the room's own
``ACCESS_LEVEL_CHANGED`` (15), so that every transport drops a reader whose share
was taken away exactly as it drops one who lost a room.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel, RoomAccess, User
from hubbub.core.rules import ensure_not_suspended
from hubbub.core.streams import (
    STREAM_NAME_MAX,
    ChatLevel,
    LiveState,
    NetworkAccount,
    Stream,
    StreamShare,
    access_for_chat_level,
    chat_level_of,
    stream_slug,
)
from hubbub.core.webhooks import Webhook
from hubbub.errors import BadRequest, NotAllowed, NotFound
from hubbub.service.context import Changes, Context, load_user, standing_in
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["ShareRequest", "StreamView", "Streams", "editable", "stream_changed", "stream_data"]

STREAM_NOT_FOUND = "unauthorized to access that stream"
STREAM_NOT_USABLE = "unauthorized to use that stream"
STREAM_NOT_EDITABLE = "unauthorized to edit stream"
ACCOUNT_NOT_USABLE = "unauthorized to use that account"


@dataclass(frozen=True, slots=True)
class ShareRequest:
    user_id: UserId
    chat_level: ChatLevel
    metadata_level: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamView:
    """A stream as one viewer may see it: its accounts, shares, and the viewer's own levels."""

    stream: Stream
    accounts: Sequence[NetworkAccount]
    shares: Sequence[StreamShare]
    share_names: dict[UserId, str]
    chat_level: ChatLevel
    metadata_level: int
    webhooks: Sequence[Webhook] = ()  # only for those who may edit the stream (metadata level 2)


def stream_data(stream: Stream, accounts: Sequence[NetworkAccount], shares: Sequence[StreamShare], kind: str) -> str:
    """``STREAM_CHANGED.data``: what a node needs to authorize sockets and render status without a read
    (``dialects.streams.codec.StreamSnapshot`` reads it)."""
    return json.dumps(
        {
            "kind": kind,
            "id": stream.id,
            "owner_id": stream.owner_id,
            "name": stream.name,
            "status": {
                "data_pulling": stream.state.data_pulling,
                "data_pushing": stream.state.data_pushing,
                "data_incoming": stream.state.data_incoming,
            },
            "accounts": [
                {"id": a.id, "name": a.name, "network": a.network, "http_url": a.http_url}
                for a in sorted(accounts, key=lambda a: a.id)
            ],
            "shares": {str(s.user_id): int(s.chat_level) for s in shares},
        },
        separators=(",", ":"),
    )


def stream_changed(stream: Stream, tx: ReadTx, actor: UserId | None, kind: str, now: int) -> NewEvent:
    return NewEvent(
        type=EventType.STREAM_CHANGED,
        time_stamp=now,
        room_id=stream.room_id,
        room_name=stream.name,
        user_id=actor,
        data=stream_data(
            stream,
            list(tx.network_accounts_by_id(tx.stream_account_ids(stream.id)).values()),
            tx.stream_shares(stream.id),
            kind,
        ),
    )


def levels(tx: ReadTx, stream: Stream, user: User, now: int) -> tuple[ChatLevel, int]:
    """The user's chat level and metadata level on the stream (owner: 2 and 2)."""
    room = tx.room(stream.room_id)
    if room is None:
        return ChatLevel.NONE, 0
    chat = chat_level_of(standing_in(tx, room, user, now), owner_id=stream.owner_id)
    if user.id == stream.owner_id:
        return chat, 2
    share = tx.stream_share(stream.id, user.id)
    return chat, (0 if share is None else share.metadata_level)


def editable(tx: ReadTx, actor: User, stream_id: int, now: int, refusal: str) -> Stream:
    """The stream, if ``actor`` may edit it (metadata level 2).

    Raises:
        NotFound: No such stream, or none of the actor's business (``unauthorized to use that stream``).
        NotAllowed: The actor may see it but not edit it (``refusal``).
    """
    stream = tx.stream(stream_id)
    if stream is None:
        raise NotFound(STREAM_NOT_USABLE)
    chat, meta = levels(tx, stream, actor, now)
    if meta < 2:
        if chat is ChatLevel.NONE and meta == 0:
            raise NotFound(STREAM_NOT_USABLE)
        raise NotAllowed(refusal)
    return stream


def clean_name(name: object, limit: int) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name must be a non-empty string")
    name = " ".join(name.split())
    if len(name) > limit:
        raise BadRequest(f"name may have at most {limit} characters")
    return name


class Streams:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    # streams

    async def create_stream(
        self,
        owner_id: UserId,
        name: object,
        *,
        account_ids: Sequence[int] | None = None,
        shares: Sequence[ShareRequest] | None = None,
    ) -> Stream:
        """A new stream: a private room the owner owns, with these accounts and shares.

        Raises:
            BadRequest: No name, or an account the owner may not use, or a share for no user.
        """
        clean = clean_name(name, STREAM_NAME_MAX)

        def work(tx: WriteTx, changes: Changes, now: int) -> Stream:
            owner = load_user(tx, owner_id)
            ensure_not_suspended(owner, now)
            room = tx.insert_room(
                name=clean, description="", tags=("stream",), access=RoomAccess.PRIVATE, created_by=owner.id, now=now
            )
            tx.set_access_level(room.id, owner.id, AccessLevel.OWNER, now)
            stream = tx.insert_stream(
                room_id=room.id,
                owner_id=owner.id,
                name=clean,
                slug="",
                stream_key=secrets.token_hex(16),
                now=now,
            )
            stream = replace(stream, slug=stream_slug(clean, stream.id))
            tx.update_stream(stream)
            self._apply_accounts(tx, stream, owner, account_ids)
            self._apply_shares(tx, changes, stream, owner, shares, now)
            changes.append(stream_changed(stream, tx, owner.id, "update", now))
            return stream

        return await self._ctx.apply(work)

    async def update_stream(
        self,
        actor_id: UserId,
        stream_id: int,
        *,
        name: object | None = None,
        account_ids: Sequence[int] | None = None,
        shares: Sequence[ShareRequest] | None = None,
    ) -> Stream:
        """Rename a stream, replace its accounts or update its shares (metadata level 2).

        Raises:
            NotFound: No such stream, or the actor may not see it.
            NotAllowed: The actor may see it but not edit it (``unauthorized to edit stream``).
            BadRequest: A bad name, account or share.
        """
        clean = None if name is None else clean_name(name, STREAM_NAME_MAX)

        def work(tx: WriteTx, changes: Changes, now: int) -> Stream:
            actor = load_user(tx, actor_id)
            stream = editable(tx, actor, stream_id, now, STREAM_NOT_EDITABLE)
            if clean is not None and clean != stream.name:
                stream = replace(stream, name=clean, slug=stream_slug(clean, stream.id), updated_at=now)
                tx.update_stream(stream)
                room = tx.room(stream.room_id)
                if room is not None:
                    tx.update_room(replace(room, name=clean, last_activity=now))
            self._apply_accounts(tx, stream, actor, account_ids)
            self._apply_shares(tx, changes, stream, actor, shares, now)
            changes.append(stream_changed(stream, tx, actor.id, "update", now))
            return stream

        return await self._ctx.apply(work)

    async def delete_stream(self, actor_id: UserId, stream_id: int) -> None:
        """Delete a stream (its owner only). Its room stays, readable by nobody but the owner."""

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            actor = load_user(tx, actor_id)
            stream = tx.stream(stream_id)
            if stream is None or stream.owner_id != actor.id:
                raise NotFound(STREAM_NOT_USABLE)
            for share in tx.stream_shares(stream.id):
                self._grant(tx, changes, stream, actor, share.user_id, None, now)
            tx.delete_stream(stream.id)
            changes.append(
                NewEvent(
                    type=EventType.STREAM_DELETED,
                    time_stamp=now,
                    room_id=stream.room_id,
                    room_name=stream.name,
                    user_id=actor.id,
                    data=json.dumps({"id": stream.id}),
                )
            )

        await self._ctx.apply(work)

    async def set_live(
        self,
        actor_id: UserId | None,
        stream_id: int,
        *,
        data_pulling: bool | None = None,
        data_pushing: bool | None = None,
        data_incoming: bool | None = None,
    ) -> LiveState:
        """Change the live flags (metadata level 2; None as actor: the RTMP server's callback). One
        ``STREAM_CHANGED`` event (kind ``start``, ``end`` or ``update``) when anything changed."""

        def work(tx: WriteTx, changes: Changes, now: int) -> LiveState:
            if actor_id is None:
                stream = tx.stream(stream_id)
                if stream is None:
                    raise NotFound(STREAM_NOT_USABLE)
            else:
                stream = editable(tx, load_user(tx, actor_id), stream_id, now, STREAM_NOT_USABLE)
            old = stream.state
            new = LiveState(
                data_pulling=old.data_pulling if data_pulling is None else data_pulling,
                data_pushing=old.data_pushing if data_pushing is None else data_pushing,
                data_incoming=old.data_incoming if data_incoming is None else data_incoming,
            )
            if new == old:
                return old
            stream = replace(stream, state=new, updated_at=now)
            tx.update_stream(stream)
            kind = "update" if new.live == old.live else ("start" if new.live else "end")
            changes.append(stream_changed(stream, tx, actor_id, kind, now))
            return new

        return await self._ctx.apply(work)

    async def rtmp_publish(self, stream_key: str, *, started: bool) -> bool:
        """nginx-rtmp's ``on_publish`` / ``on_publish_done`` for a stream key: video in means live.

        Returns False for a key no stream has (nginx then refuses the publish).
        """
        stream = await self._ctx.store.read(lambda tx: tx.stream_by_key(stream_key))
        if stream is None:
            return False
        await self.set_live(None, stream.id, data_incoming=started, data_pushing=started)
        return True

    @staticmethod
    def _apply_accounts(tx: WriteTx, stream: Stream, actor: User, account_ids: Sequence[int] | None) -> None:
        if account_ids is None:
            return
        found = tx.network_accounts_by_id(account_ids)
        for account_id in account_ids:
            account = found.get(account_id)
            # The stream's owner's accounts only: a shared editor cannot attach their own.
            if account is None or account.owner_id not in (actor.id, stream.owner_id):
                raise BadRequest(ACCOUNT_NOT_USABLE)
        tx.set_stream_accounts(stream.id, account_ids)

    def _apply_shares(
        self,
        tx: WriteTx,
        changes: Changes,
        stream: Stream,
        actor: User,
        shares: Sequence[ShareRequest] | None,
        now: int,
    ) -> None:
        if shares is None:
            return
        for share in shares:
            if share.user_id == stream.owner_id:
                raise BadRequest("the owner of a stream cannot be given a share of it")
            if tx.user(share.user_id) is None:
                raise BadRequest(f"There is no user with id {share.user_id}")
            if share.metadata_level not in (0, 1, 2):
                raise BadRequest("metadata_level must be 0, 1 or 2")
            tx.set_stream_share(
                StreamShare(
                    stream_id=stream.id,
                    user_id=share.user_id,
                    chat_level=share.chat_level,
                    metadata_level=share.metadata_level,
                )
            )
            self._grant(tx, changes, stream, actor, share.user_id, access_for_chat_level(share.chat_level), now)

    @staticmethod
    def _grant(
        tx: WriteTx, changes: Changes, stream: Stream, actor: User, user_id: UserId, level: AccessLevel | None, now: int
    ) -> None:
        """Map a chat level onto the stream room's grant; event 15 when it changes."""
        if tx.access_level(stream.room_id, user_id) is level:
            return
        tx.set_access_level(stream.room_id, user_id, level, now)
        changes.append(
            NewEvent(
                type=EventType.ACCESS_LEVEL_CHANGED,
                time_stamp=now,
                room_id=RoomId(stream.room_id),
                room_name=stream.name,
                user_id=actor.id,
                user_name=actor.name,
                target_user_id=user_id,
                content=f"Access now {level.value if level is not None else 'none'}",
            )
        )

    # bridge leases (bridges/manager.py): which node of a cluster runs a bridge

    async def claim_bridge(self, name: str, holder: str, ttl: int) -> bool:
        return await self._ctx.apply(lambda tx, changes, now: tx.claim_lease(name, holder, now, ttl))

    async def release_bridge(self, name: str, holder: str) -> None:
        await self._ctx.apply(lambda tx, changes, now: tx.release_lease(name, holder))

    # reading

    async def view(self, viewer_id: UserId, stream_id: int) -> StreamView:
        """The stream if the viewer has any level on it.

        Raises:
            NotFound: No such stream, or none of the viewer's business (the same answer).
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> StreamView:
            viewer = load_user(tx, viewer_id)
            stream = tx.stream(stream_id)
            view = None if stream is None else _view(tx, stream, viewer, now)
            if view is None:
                raise NotFound(STREAM_NOT_FOUND)
            return view

        return await self._ctx.store.read(read)

    async def views(self, viewer_id: UserId) -> list[StreamView]:
        """The viewer's own streams, then those shared with them, in id order."""
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[StreamView]:
            viewer = load_user(tx, viewer_id)
            owned = tx.list_streams(owner_id=viewer.id)
            shared = tx.streams_by_id([s.stream_id for s in tx.shares_of_user(viewer.id)])
            found = [_view(tx, stream, viewer, now) for stream in [*owned, *sorted(shared.values(), key=_id)]]
            return [view for view in found if view is not None]

        return await self._ctx.store.read(read)


def _id(stream: Stream) -> int:
    return stream.id


def _view(tx: ReadTx, stream: Stream, viewer: User, now: int) -> StreamView | None:
    chat, meta = levels(tx, stream, viewer, now)
    if chat is ChatLevel.NONE and meta == 0:
        return None
    shares = tx.stream_shares(stream.id)
    names = {user_id: user.name for user_id, user in tx.users([s.user_id for s in shares]).items()}
    accounts = tx.network_accounts_by_id(tx.stream_account_ids(stream.id))
    return StreamView(
        stream=stream,
        accounts=[accounts[key] for key in sorted(accounts)],
        shares=shares,
        share_names=names,
        chat_level=chat,
        metadata_level=meta,
        webhooks=tx.stream_webhooks(stream.id) if meta >= 2 else (),
    )
