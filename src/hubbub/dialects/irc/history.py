"""The resumable view of the log: IRCv3 ``draft/chathistory`` on the gateway (docs/irc.md, "Replay").

A line's ``msgid`` is its event id, the log's own order, so a client that reconnects asks
``CHATHISTORY AFTER #chan msgid=<last id it saw> <n>`` and gets exactly what it missed, in
order, each line once, page after page. ``LATEST * <n>`` gives the newest ``n`` lines (with
``msgid=`` or ``timestamp=``: the newest after that point). Rooms are read through
``queries`` (the viewer's own view, the visibility rules of every transport); a stream's
chat through the store after ``stream_chat.access`` said the user may read it.
"""

from __future__ import annotations

import functools
from typing import Final

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId
from hubbub.core.markup import emote_text, to_plain_text
from hubbub.core.models import User
from hubbub.dialects.irc.codec import HistoryQuery
from hubbub.dialects.irc.connection import IrcConnection
from hubbub.dialects.irc.delivery import ChatLine, chat_line
from hubbub.dialects.irc.names import ChannelTarget, hostmask, nick_of
from hubbub.errors import RemoteError
from hubbub.service.service import Service
from hubbub.store.base import ReadTx

__all__ = ["HistoryReader"]

SCAN_PAGE: Final = 500  # events read per step while looking for a channel's lines


def _stream_after(room_id: RoomId, after: EventId, tx: ReadTx) -> list[Event]:
    return tx.events_after(after, room_ids=[room_id], limit=SCAN_PAGE)


def _stream_latest(room_id: RoomId, count: int, tx: ReadTx) -> list[Event]:
    return tx.latest_events([room_id], limit=count)


class HistoryReader:
    def __init__(self, service: Service, server: str) -> None:
        self._service = service
        self._server = server
        self._batches = 0

    async def answer(
        self, connection: IrcConnection, user: User, query: HistoryQuery, target: ChannelTarget | None
    ) -> None:
        session = connection.session
        if target is None:
            session.history_failed(query.subcommand, query.channel, "No such channel")
            return
        try:
            lines = await self._lines(user, target, query)
        except RemoteError:
            session.history_failed(query.subcommand, target.name, "No such channel")
            return
        style = session.tag_style
        self._batches += 1
        session.history(
            target.name, [line.render(target.name, style, msgid) for msgid, line in lines], f"h{self._batches}"
        )

    async def _lines(self, user: User, target: ChannelTarget, query: HistoryQuery) -> list[tuple[int, ChatLine]]:
        room_id = RoomId(target.room_id)
        if query.subcommand == "AFTER" and query.after_id is not None:
            return await self._after(user, target, EventId(query.after_id), query.limit)
        if target.stream_id is not None:
            found = await self._service.stream_chat.access(user.id, target.stream_id)
            if found is None:
                raise RemoteError("no such stream")
            events = await self._service.context.store.read(
                functools.partial(_stream_latest, room_id, query.limit * 4 + 50)
            )
            lines: list[tuple[int, ChatLine]] = [
                (int(e.id), line) for e in events if (line := chat_line(e, self._server)) is not None
            ]
        else:
            history = await self._service.queries.history(user, room_id, count=query.limit + 50)
            lines = []
            for message in history.messages:
                author = history.authors.get(message.user_id)
                event_id = history.posting_events.get(message.id)
                if author is None or event_id is None or message.deleted:
                    continue
                source = hostmask(nick_of(author.name, author.id), author.id, self._server)
                emote = emote_text(message.content)  # a /me, posted in italics
                text = to_plain_text(message.content) if emote is None else emote
                lines.append((int(event_id), ChatLine(source, text, emote is not None, message.posted_at * 1000)))
        lines.sort(key=lambda pair: pair[0])
        if query.subcommand == "AFTER" and query.at_ms is not None:
            return [pair for pair in lines if pair[1].ms > query.at_ms][: query.limit]
        if query.after_id is not None:
            lines = [pair for pair in lines if pair[0] > query.after_id]
        if query.at_ms is not None:
            lines = [pair for pair in lines if pair[1].ms > query.at_ms]
        return lines[-query.limit :]

    async def _after(self, user: User, target: ChannelTarget, after: EventId, limit: int) -> list[tuple[int, ChatLine]]:
        room_id = RoomId(target.room_id)
        through = await self._service.queries.last_event_id()
        lines: list[tuple[int, ChatLine]] = []
        cursor = after
        if target.stream_id is not None:
            if await self._service.stream_chat.access(user.id, target.stream_id) is None:
                raise RemoteError("no such stream")
            while cursor < through and len(lines) < limit:
                page = await self._service.context.store.read(functools.partial(_stream_after, room_id, cursor))
                if not page:
                    break
                for event in page:
                    if event.type is EventType.STREAM_CHAT and event.room_id == room_id:
                        line = chat_line(event, self._server)
                        if line is not None:
                            lines.append((event.id, line))
                cursor = EventId(page[-1].id)
            return lines[:limit]
        while cursor < through and len(lines) < limit:
            view = await self._service.queries.view_after(user, {room_id}, cursor, through=through, limit=SCAN_PAGE)
            for event in view.events:
                if event.type is EventType.MESSAGE_POSTED and event.room_id == room_id:
                    line = chat_line(event, self._server)
                    if line is not None:
                        lines.append((event.id, line))
            if view.cursor <= cursor:
                break
            cursor = view.cursor
        return lines[:limit]
