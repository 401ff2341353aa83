"""Ordinary rooms bridged to IRC or Twitch channels (docs/irc-bridging.md).

A stream is a room with network accounts attached; a bridged ordinary room is the same
thing made from a room that already exists: ``attach`` puts a stream row over the room
(its owner's, live from the start, so the bridge manager runs its readers at once) and
attaches the accounts. Its stream key starts with ``ROOM_BRIDGE_KEY`` and is never shown,
so no RTMP publish can end it; attaching no accounts removes the bridge and leaves the
room as it was.

What differs from a stream is where the lines go, because an ordinary room is read in
the web UI and by Stack Exchange chat clients, which show messages, not stream frames:

- a line read on IRC is posted in the room as a message of the account's *relay user*
  (made once per account, named ``<network>-<account>`` as multistreamer named its
  bots, with an address under ``.invalid`` and a random password nobody knows):
  ``**nick**: text``, or ``*nick text*`` for an emote, the nick and text escaped so they
  show as typed;
- a message posted in the room by anyone but a relay user is written to every attached
  channel as ``<name> text`` (one line per line; long lines split by the bridge).

Relay users' own posts are never written out, and the bridge never echoes what it wrote
into a bridged room, so nothing loops.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace

from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import AccessLevel, User, slugify
from hubbub.core.streams import LiveState, NetworkAccount, Stream, escape_markdown, stream_slug
from hubbub.errors import BadRequest, NotAllowed
from hubbub.service.accounts import Accounts
from hubbub.service.context import Changes, Context, load_room, load_user, standing_in
from hubbub.service.streams import stream_changed
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["ROOM_BRIDGE_KEY", "ROOM_NETWORKS", "RoomBridges", "is_room_bridge", "relay_email", "relay_text"]

ROOM_BRIDGE_KEY = "room-bridge-"
ID_LIMIT = 1 << 63
ROOM_NETWORKS = frozenset({"irc", "twitch"})
RELAY_NAME_MAX = 30
NOT_ROOM_OWNER = "Only an owner of the room can bridge it"
ACCOUNT_NOT_USABLE = "unauthorized to use that account"


def is_room_bridge(stream: Stream) -> bool:
    return stream.stream_key.startswith(ROOM_BRIDGE_KEY)


def relay_email(account_id: int) -> str:
    return f"bridge-{account_id}@bridges.invalid"


def relay_text(kind: str, nick: str, text: str) -> str:
    """What a line read on the network becomes in the room (Markdown that shows it as typed)."""
    if kind == "emote":
        return f"*{escape_markdown(nick)} {escape_markdown(text)}*"
    return f"**{escape_markdown(nick)}**: {escape_markdown(text)}"


class RoomBridges:
    def __init__(self, context: Context, accounts: Accounts) -> None:
        self._ctx = context
        self._accounts = accounts

    async def attach(self, actor_id: UserId, room_id: RoomId, account_ids: Sequence[int]) -> Stream | None:
        """Bridge the room to these accounts' channels (replacing the ones it had); none: unbridge it.

        Raises:
            NotFound: No such room (or none the actor may see).
            NotAllowed: The actor does not own the room, or it is a stream's own room.
            BadRequest: An account that is not the actor's, or of a network rooms are not bridged to.
        """
        ids = list(dict.fromkeys(account_ids))
        if any(not 0 < i < ID_LIMIT for i in ids):
            raise BadRequest(ACCOUNT_NOT_USABLE)  # no account has such an id (and no database column holds it)
        accounts = await self._check(actor_id, room_id, ids)
        relays = {account.id: await self._relay_user(account) for account in accounts}
        del relays  # made before the unit of work: a password hash is no work for a transaction

        def work(tx: WriteTx, changes: Changes, now: int) -> Stream | None:
            actor = load_user(tx, actor_id)
            room = load_room(tx, room_id)
            self._ensure_owner(tx, room_id, actor, now)
            stream = tx.stream_of_room(room.id)
            if stream is not None and not is_room_bridge(stream):
                raise NotAllowed("That room is a stream's; attach accounts to the stream instead")
            if not ids:
                if stream is not None:
                    tx.set_stream_accounts(stream.id, [])
                    tx.delete_stream(stream.id)
                    changes.append(
                        NewEvent(
                            type=EventType.STREAM_DELETED,
                            time_stamp=now,
                            room_id=room.id,
                            room_name=room.name,
                            user_id=actor.id,
                            data=f'{{"id":{stream.id}}}',
                        )
                    )
                return None
            if stream is None:
                stream = tx.insert_stream(
                    room_id=room.id,
                    owner_id=actor.id,
                    name=room.name,
                    slug="",
                    stream_key=ROOM_BRIDGE_KEY + secrets.token_hex(16),
                    now=now,
                )
                stream = replace(
                    stream, slug=stream_slug(room.name, stream.id), state=LiveState(data_pushing=True), updated_at=now
                )
                tx.update_stream(stream)
            tx.set_stream_accounts(stream.id, ids)
            changes.append(stream_changed(stream, tx, actor.id, "start", now))
            return stream

        return await self._ctx.apply(work)

    async def _check(self, actor_id: UserId, room_id: RoomId, ids: list[int]) -> list[NetworkAccount]:
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[NetworkAccount]:
            actor = load_user(tx, actor_id)
            load_room(tx, room_id)
            self._ensure_owner(tx, room_id, actor, now)
            found = tx.network_accounts_by_id(ids)
            for account_id in ids:
                account = found.get(account_id)
                if account is None or account.owner_id != actor.id:
                    raise BadRequest(ACCOUNT_NOT_USABLE)
                if account.network not in ROOM_NETWORKS:
                    raise BadRequest(f"rooms are bridged to {' and '.join(sorted(ROOM_NETWORKS))} accounts only")
            return [found[i] for i in ids]

        return await self._ctx.store.read(read)

    @staticmethod
    def _ensure_owner(tx: ReadTx, room_id: RoomId, actor: User, now: int) -> None:
        room = load_room(tx, room_id)
        standing = standing_in(tx, room, actor, now)
        if not (standing.level is AccessLevel.OWNER or actor.is_moderator):
            raise NotAllowed(NOT_ROOM_OWNER)

    async def _relay_user(self, account: NetworkAccount) -> User:
        existing = await self._ctx.store.read(lambda tx: tx.user_by_email(relay_email(account.id)))
        if existing is not None:
            return existing
        name = f"{account.network}-{slugify(account.name) or account.id}"[:RELAY_NAME_MAX]
        return await self._accounts.create_user(name, email=relay_email(account.id), password=secrets.token_urlsafe(24))

    async def accounts(self, actor_id: UserId, room_id: RoomId) -> list[NetworkAccount]:
        """The accounts the room is bridged to (its owners only).

        Raises:
            NotFound, NotAllowed: As ``attach``.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[NetworkAccount]:
            actor = load_user(tx, actor_id)
            self._ensure_owner(tx, room_id, actor, now)
            stream = tx.stream_of_room(room_id)
            if stream is None or not is_room_bridge(stream):
                return []
            found = tx.network_accounts_by_id(tx.stream_account_ids(stream.id))
            return [found[key] for key in sorted(found)]

        return await self._ctx.store.read(read)

    async def relay_user(self, account_id: int) -> User | None:
        return await self._ctx.store.read(lambda tx: tx.user_by_email(relay_email(account_id)))

    async def bridged_room(self, room_id: RoomId) -> Stream | None:
        """The room's bridge, if it is a bridged ordinary room."""
        stream = await self._ctx.store.read(lambda tx: tx.stream_of_room(room_id))
        return stream if stream is not None and is_room_bridge(stream) else None

    async def message_source(self, message_id: int) -> str | None:
        """What the author typed, for writing it out (None: deleted meanwhile)."""
        message = await self._ctx.store.read(lambda tx: tx.message(MessageId(message_id)))
        return None if message is None or message.deleted else message.source
