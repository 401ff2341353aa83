"""Fan-out to IRC connections: the log's events as IRC lines, rendered once per channel name and tag style.

A hub ``Fanout`` (shared/DESIGN.md "encode once, send many"): for each event the lines are
rendered once per (channel name, ``TagStyle``) and the same bytes go to every connection
in the room. Only a highlight is personal: a mention of a user whose nick the text does
not hold gets ``<nick>: `` in front, for that user's connections only.

- ``MESSAGE_POSTED`` (rooms) and ``STREAM_CHAT`` (streams, and stream ``/msg``s to a user):
  PRIVMSG (``emote`` as CTCP ACTION), never back to the connection that sent it unless it
  asked for ``echo-message``;
- ``USER_ENTERED`` / ``USER_LEFT``: JOIN / PART of web and socket users, or KICK when the
  leaving is a kick (event 4 followed by 15 ``priv <n> created``). A user who leaves a room
  from anywhere, is kicked, or loses read access is parted from it on every IRC connection
  at once, before any later event of the room could reach them;
- ``STREAM_CHANGED`` / ``STREAM_DELETED``: a stream that goes live or offline changes its
  channel's topic; a share taken away or a deleted stream kicks the user out at once;
- ``SESSIONS_REVOKED`` (the password changed, every session ended): the user's IRC
  connections are closed, since they logged in with the old password.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from hubbub.core.events import Event, EventType
from hubbub.core.ids import RoomId, UserId
from hubbub.core.markup import emote_text, to_plain_text
from hubbub.core.streams import ChatLevel
from hubbub.dialects.irc.codec import TagStyle, render_chat, render_line
from hubbub.dialects.irc.connection import IrcConnection, Joined
from hubbub.dialects.irc.names import fold, hostmask, network_nick, nick_of
from hubbub.dialects.streams.codec import StreamSnapshot
from hubbub.fanout.sequencer import Batch

__all__ = ["ChatLine", "IrcDelivery", "chat_line"]


@dataclass(frozen=True, slots=True)
class ChatLine:
    """A chat line as IRC shows it: who from (a hostmask), the text, /me or not, when (ms)."""

    source: str
    text: str
    action: bool
    ms: int

    def render(self, target: str, style: TagStyle, msgid: int | None) -> bytes:
        return render_chat(
            source=self.source, target=target, text=self.text, action=self.action, style=style, ms=self.ms, msgid=msgid
        )


def chat_line(event: Event, server: str) -> ChatLine | None:
    """The chat line of a room message (event 1) or a stream's chat (``STREAM_CHAT``); None for others."""
    if event.type is EventType.MESSAGE_POSTED:
        if event.user_id is None:
            return None
        source = hostmask(nick_of(event.user_name or "", event.user_id), event.user_id, server)
        content = event.content or ""
        emote = emote_text(content)  # a /me is posted in italics: it goes back out as CTCP ACTION
        text = to_plain_text(content) if emote is None else emote
        return ChatLine(source, text, emote is not None, event.time_stamp * 1000)
    if event.type is not EventType.STREAM_CHAT:
        return None
    try:
        body: dict[str, Any] = json.loads(event.data or "{}")
        sender = body.get("from") or {}
        name, sender_id = str(sender.get("name", "")), sender.get("id")
        text, action = str(body.get("text", "")), body.get("type") == "emote"
        network = str(body.get("network", "irc"))
        ms = int(body.get("timestamp") or event.time_stamp * 1000)
    except (ValueError, TypeError, AttributeError):
        return None
    if body.get("account_id", 0) == 0 and isinstance(sender_id, int):
        source = hostmask(nick_of(name, sender_id), sender_id, server)
    else:
        source = f"{network_nick(name, network)}!{network}@{server}"
    return ChatLine(source, text, action, ms)


def _is_kick(batch: Batch, index: int, left: Event) -> Event | None:
    """The event 15 that makes this event 4 a kick (``Rooms.kick`` appends them together)."""
    for later in batch[index + 1 : index + 3]:
        if (
            later.type is EventType.ACCESS_LEVEL_CHANGED
            and later.room_id == left.room_id
            and later.target_user_id == left.user_id
            and (later.content or "").startswith("priv ")
        ):
            return later
    return None


class IrcDelivery:
    def __init__(self, server: str) -> None:
        self._server = server
        self._by_room: dict[RoomId, set[IrcConnection]] = {}
        self._by_user: dict[UserId, set[IrcConnection]] = {}

    # who is where

    def add_user(self, connection: IrcConnection, user_id: UserId) -> None:
        self._by_user.setdefault(user_id, set()).add(connection)

    def connections_of(self, user_id: UserId) -> list[IrcConnection]:
        return list(self._by_user.get(user_id, ()))

    def in_room(self, room_id: RoomId) -> list[IrcConnection]:
        return list(self._by_room.get(room_id, ()))

    @property
    def connections(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    def subscribe(self, connection: IrcConnection, joined: Joined) -> None:
        connection.add_channel(joined)
        self._by_room.setdefault(joined.room_id, set()).add(connection)

    def unsubscribe(self, connection: IrcConnection, joined: Joined) -> None:
        connection.drop_channel(joined)
        members = self._by_room.get(joined.room_id)
        if members is not None and joined.room_id not in connection.rooms:
            members.discard(connection)
            if not members:
                del self._by_room[joined.room_id]

    def remove(self, connection: IrcConnection) -> None:
        for joined in list(connection.rooms.values()):
            self.unsubscribe(connection, joined)
        if connection.user is not None:
            mine = self._by_user.get(connection.user.id)
            if mine is not None:
                mine.discard(connection)
                if not mine:
                    del self._by_user[connection.user.id]

    # the hub's Fanout

    def deliver(self, batch: Batch) -> int:
        writes = 0
        # A post's pings come just before its 1, in its own transaction; only those make its line a
        # highlight. An edit's pings of the same message come later (the hub may deliver the two
        # transactions together), and the edit is not sent over IRC.
        mentioned: dict[int, set[UserId]] = {}
        for index, event in enumerate(batch):
            kind = event.type
            if kind is EventType.USER_MENTIONED and event.message_id is not None and event.target_user_id:
                mentioned.setdefault(int(event.message_id), set()).add(event.target_user_id)
            elif kind is EventType.MESSAGE_POSTED:
                writes += self._message(event, mentioned.get(int(event.message_id or 0), set()))
            elif kind is EventType.STREAM_CHAT:
                writes += self._stream_chat(event)
            elif kind is EventType.USER_ENTERED:
                writes += self._entered(event)
            elif kind is EventType.USER_LEFT:
                writes += self._left(event, _is_kick(batch, index, event))
            elif kind in (EventType.STREAM_CHANGED, EventType.STREAM_DELETED):
                writes += self._stream_changed(event)
            elif kind is EventType.SESSIONS_REVOKED and event.target_user_id is not None:
                for connection in self.connections_of(event.target_user_id):
                    connection.session.error("the account's password changed; log in again")
                    connection.flush()
                    connection.close()
        return writes

    def _fan(
        self,
        room_id: RoomId,
        render: Callable[[str, TagStyle], bytes],
        *,
        skip: Callable[[IrcConnection], bool] | None = None,
        personal: Callable[[IrcConnection, Joined], bytes | None] | None = None,
    ) -> int:
        targets = self._by_room.get(room_id)
        if not targets:
            return 0
        cache: dict[Hashable, bytes] = {}
        writes = 0
        for connection in list(targets):
            joined = connection.rooms.get(room_id)
            if joined is None or (skip is not None and skip(connection)):
                continue
            data = personal(connection, joined) if personal is not None else None
            if data is None:
                key = (joined.name, connection.session.tag_style)
                data = cache.get(key)
                if data is None:
                    data = cache[key] = render(joined.name, connection.session.tag_style)
            connection.deliver(joined, data)
            writes += 1
        return writes

    def _own_echo(self, event: Event) -> Callable[[IrcConnection], bool]:
        def skip(connection: IrcConnection) -> bool:
            if connection.user is None or connection.user.id != event.user_id or event.room_id is None:
                return False
            waiting = connection.awaiting_echo.get(event.room_id, 0)
            if waiting <= 0:
                return False
            connection.awaiting_echo[event.room_id] = waiting - 1
            return "echo-message" not in connection.session.caps

        return skip

    def _message(self, event: Event, mentioned: set[UserId]) -> int:
        line = chat_line(event, self._server)
        if line is None or event.room_id is None:
            return 0

        def render(channel: str, style: TagStyle) -> bytes:
            return line.render(channel, style, event.id)

        def highlight(connection: IrcConnection, joined: Joined) -> bytes | None:
            user = connection.user
            if user is None or user.id not in mentioned:
                return None
            nick = connection.session.nick
            if fold(nick) in fold(line.text):
                return None
            return replace(line, text=f"{nick}: {line.text}").render(
                joined.name, connection.session.tag_style, event.id
            )

        return self._fan(event.room_id, render, skip=self._own_echo(event), personal=highlight if mentioned else None)

    def _stream_chat(self, event: Event) -> int:
        line = chat_line(event, self._server)
        if line is None:
            return 0
        if event.room_id is None:  # a /msg: to the recipient's IRC connections, as a private message
            writes = 0
            for connection in self.connections_of(event.target_user_id) if event.target_user_id else ():
                connection.send(line.render(connection.session.nick, connection.session.tag_style, event.id))
                writes += 1
            return writes

        def render(channel: str, style: TagStyle) -> bytes:
            return line.render(channel, style, event.id)

        return self._fan(event.room_id, render, skip=self._own_echo(event))

    def _mask(self, event: Event) -> str:
        user_id = event.user_id or 0
        return hostmask(nick_of(event.user_name or "", user_id), user_id, self._server)

    def _entered(self, event: Event) -> int:
        if event.room_id is None:
            return 0
        mask = self._mask(event)

        def render(channel: str, style: TagStyle) -> bytes:
            return render_line("JOIN", [channel], source=mask)

        return self._fan(event.room_id, render, skip=lambda c: c.user is not None and c.user.id == event.user_id)

    def _left(self, event: Event, kick: Event | None) -> int:
        room_id = event.room_id
        if room_id is None or event.user_id is None:
            return 0
        nick = nick_of(event.user_name or "", event.user_id)
        if kick is not None:
            actor = self._mask(kick)

            def render(channel: str, style: TagStyle) -> bytes:
                return render_line("KICK", [channel, nick, "kicked from the room"], source=actor)
        else:
            mask = self._mask(event)

            def render(channel: str, style: TagStyle) -> bytes:
                return render_line("PART", [channel, "left the room"], source=mask)

        writes = self._fan(room_id, render)
        for connection in self.connections_of(event.user_id):
            joined = connection.rooms.get(room_id)
            if joined is not None:
                self.unsubscribe(connection, joined)
        return writes

    def _stream_changed(self, event: Event) -> int:
        room_id = event.room_id
        if room_id is None:
            return 0
        snapshot = StreamSnapshot.from_event(event)
        writes = 0
        for connection in self.in_room(room_id):
            joined = connection.rooms.get(room_id)
            user = connection.user
            if joined is None or user is None or joined.stream_id is None:
                continue
            gone = event.type is EventType.STREAM_DELETED
            if gone or (snapshot is not None and snapshot.chat_level(user.id) is ChatLevel.NONE):
                why = "the stream was deleted" if gone else "no longer shared with you"
                line = render_line("KICK", [joined.name, connection.session.nick, why], source=self._server)
                connection.deliver(joined, line)
                self.unsubscribe(connection, joined)
                writes += 1
            elif snapshot is not None and snapshot.kind in ("start", "end"):
                topic = "Status: live" if snapshot.state.live else "Status: offline"
                connection.deliver(joined, render_line("TOPIC", [joined.name, topic], source=self._server))
                writes += 1
        return writes
