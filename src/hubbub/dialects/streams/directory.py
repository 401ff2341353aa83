"""Who may open which stream socket, in memory, so that the gateway port can refuse before the upgrade.

picows answers an upgrade synchronously, before the store could be asked; multistreamer
answered 403 ``Not authorized`` before upgrading (§B.2). The directory holds what that
answer needs, kept from the log like everything else: every user's API token (by its
SHA-256, never the token) and every stream's owner and shares, loaded once at start and
then updated by ``ACCESS_TOKEN_RESET``, ``STREAM_CHANGED`` and ``STREAM_DELETED`` as this
node's hub delivers them, so that every node answers the same. It is the quick answer
only: the store decides again when the socket opens (``StreamSockets.authorize``).
Its size is that of the tables it mirrors (one entry per token and per stream).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Final

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, UserId
from hubbub.core.streams import ChatLevel, hash_access_token
from hubbub.dialects.streams.codec import StreamSnapshot
from hubbub.store.base import ReadTx

__all__ = ["StreamDirectory"]

_KINDS: Final = frozenset({EventType.ACCESS_TOKEN_RESET, EventType.STREAM_CHANGED, EventType.STREAM_DELETED})


class _Access:
    __slots__ = ("owner_id", "shares")

    def __init__(self, owner_id: UserId, shares: dict[UserId, ChatLevel]) -> None:
        self.owner_id = owner_id
        self.shares = shares


class StreamDirectory:
    def __init__(self) -> None:
        self._user_by_hash: dict[str, UserId] = {}
        self._hash_by_user: dict[UserId, str] = {}
        self._streams: dict[int, _Access] = {}
        self._loaded = False
        self._early: list[Event] = []  # delivered before the load finished

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self, tx: ReadTx) -> EventId:
        """Fill the directory from one snapshot; returns the log position it reflects."""
        position = tx.last_event_id()
        for user_id, token in tx.access_tokens():
            self._set_token(user_id, hash_access_token(token))
        for stream in tx.list_streams():
            shares = {s.user_id: s.chat_level for s in tx.stream_shares(stream.id)}
            self._streams[stream.id] = _Access(stream.owner_id, shares)
        return position

    def loaded_at(self, position: EventId) -> None:
        """The load reflected the log up to ``position``: apply what was delivered after it, and go."""
        early, self._early = self._early, []
        for event in early:
            if event.id > position:
                self.apply(event)
        self._loaded = True

    def deliver(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.type not in _KINDS:
                continue
            if self._loaded:
                self.apply(event)
            else:
                self._early.append(event)

    def apply(self, event: Event) -> None:
        if event.type is EventType.ACCESS_TOKEN_RESET and event.target_user_id is not None and event.data:
            self._set_token(event.target_user_id, event.data)
        elif event.type is EventType.STREAM_CHANGED:
            snapshot = StreamSnapshot.from_event(event)
            if snapshot is not None:
                self._streams[snapshot.id] = _Access(snapshot.owner_id, dict(snapshot.shares))
        elif event.type is EventType.STREAM_DELETED and event.data:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self._streams.pop(int(json.loads(event.data)["id"]), None)

    def _set_token(self, user_id: UserId, token_hash: str) -> None:
        old = self._hash_by_user.pop(user_id, None)
        if old is not None:
            self._user_by_hash.pop(old, None)
        self._hash_by_user[user_id] = token_hash
        self._user_by_hash[token_hash] = user_id

    def user_for(self, token: str) -> UserId | None:
        return self._user_by_hash.get(hash_access_token(token))

    def token_is_current(self, user_id: UserId, token: str) -> bool:
        return self._hash_by_user.get(user_id) == hash_access_token(token)

    def chat_level(self, stream_id: int, user_id: UserId) -> ChatLevel:
        """The user's level on the stream; NONE for a stream that does not exist (no existence leak)."""
        access = self._streams.get(stream_id)
        if access is None:
            return ChatLevel.NONE
        if access.owner_id == user_id:
            return ChatLevel.WRITE
        return access.shares.get(user_id, ChatLevel.NONE)
