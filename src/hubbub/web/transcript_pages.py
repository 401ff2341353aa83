"""A room's past: message history, transcripts (around a message, and by UTC day), and search.

URL shapes follow Stack Exchange chat: ``/transcript/{room}`` is today,
``/transcript/{room}/{yyyy}/{m}/{d}`` one day, ``/transcript/message/{id}`` the
messages around one message (scraped by ChatExchange, sechat.md §4.1), and
``/search?q=&room=`` searches the message markdown.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Final

from aiohttp import web

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import Message, User
from hubbub.dialects.sechat.codec import parse_message_id, parse_room_id
from hubbub.dialects.sechat.http import SERVICE, viewer
from hubbub.errors import NotFound
from hubbub.web.rendering import NO_ROOM, not_found, query_int, redirect, render

__all__ = ["monologues", "transcript_routes"]

DAY_LIMIT: Final = 1000  # messages shown on one transcript day
SEARCH_PAGE: Final = 25
MAX_QUERY_CHARS: Final = 200


def monologues(messages: list[Message], users: Mapping[UserId, User]) -> list[tuple[User, list[Message]]]:
    """Consecutive messages by the same author, grouped as the transcript shows them."""
    groups: list[tuple[User, list[Message]]] = []
    for message in messages:
        author = users.get(message.user_id)
        if author is None:
            continue
        if groups and groups[-1][0].id == author.id:
            groups[-1][1].append(message)
        else:
            groups.append((author, [message]))
    return groups


async def message_history(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        view = await service.queries.message(viewer(request), parse_message_id(request.match_info["message_id"]))
    except NotFound:
        return not_found(request, "No such message.")
    return render(
        request,
        "history.html",
        title="Message history",
        view=view,
        room=view.room,
        author=view.author,
        message=view.message,
        revisions=list(reversed(view.revisions)),
        revision_authors=view.revision_authors,
    )


async def transcript_message(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        message_id = parse_message_id(request.match_info["message_id"])
        room, messages, users, starred = await service.queries.transcript_around(viewer(request), message_id)
    except NotFound:
        return not_found(request, "No such message.")
    return render(
        request,
        "transcript.html",
        title=f"{room.name} transcript",
        room=room,
        monologues=monologues(messages, users),
        highlight=message_id,
        starred=starred,
        heading=None,
        day=None,
    )


def _day_url(room_id: RoomId, day: datetime.date) -> str:
    return f"/transcript/{room_id}/{day.year}/{day.month}/{day.day}"


async def transcript_day(request: web.Request) -> web.StreamResponse:
    """``/transcript/{room}`` (today, UTC) or ``/transcript/{room}/{yyyy}/{m}/{d}``.

    ``/transcript/{room}?m=<id>`` (the link history pages carry) goes to that message.
    """
    service = request.app[SERVICE]
    try:
        room_id = parse_room_id(request.match_info["room_id"])
    except NotFound:
        return not_found(request, NO_ROOM)
    if "m" in request.query:
        try:
            message_id = parse_message_id(request.query["m"])
        except NotFound:
            return not_found(request, "No such message.")
        return redirect(f"/transcript/message/{message_id}#{message_id}")
    today = datetime.datetime.fromtimestamp(service.context.now(), tz=datetime.UTC).date()
    if "year" in request.match_info:
        try:
            day = datetime.date(*(int(request.match_info[part]) for part in ("year", "month", "day")))
        except ValueError:
            return not_found(request, "There is no such day.")
    else:
        day = today
    start = int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp())
    try:
        found = await service.browse.transcript_day(viewer(request), room_id, start, start + 86_400, limit=DAY_LIMIT)
    except NotFound:
        return not_found(request, NO_ROOM)
    latest = None
    if not found.messages:
        newest = await service.queries.history(viewer(request), room_id, count=1)
        if newest.messages:
            last_day = datetime.datetime.fromtimestamp(newest.messages[-1].posted_at, tz=datetime.UTC).date()
            latest = {"url": _day_url(room_id, last_day), "label": last_day.strftime("%A, %-d %B %Y")}
    previous = day - datetime.timedelta(days=1)
    following = day + datetime.timedelta(days=1)
    return render(
        request,
        "transcript.html",
        title=f"{found.room.name} transcript, {day.isoformat()}",
        room=found.room,
        monologues=monologues(found.messages, found.users),
        highlight=None,
        starred=found.starred,
        heading=day.strftime("%A, %-d %B %Y"),
        day={
            "iso": day.isoformat(),
            "previous": _day_url(room_id, previous) if day > datetime.date(1970, 1, 2) else None,
            "next": _day_url(room_id, following) if following <= today else None,
            "today": None if day == today else f"/transcript/{room_id}",
            "truncated": found.truncated,
            "latest": latest,
        },
    )


async def search(request: web.Request) -> web.Response:
    """``/search?q=<text>&room=<id>&before=<message id>``: messages containing the text, newest first.

    Each page looks through a bounded stretch of messages (``browse.SEARCH_SCAN``); its "older"
    link goes on from where it stopped.
    """
    service = request.app[SERVICE]
    text = request.query.get("q", "").strip()[:MAX_QUERY_CHARS]
    raw_room = request.query.get("room", "").strip()
    before = query_int(request, "before", 0, minimum=0, maximum=2**62) or None
    room = None
    room_id = None
    if raw_room:
        try:
            room_id = parse_room_id(raw_room)
            view = await service.queries.room_view(viewer(request), room_id, present=0)  # only the room
        except NotFound:
            return not_found(request, NO_ROOM)
        if not view.readable:
            return not_found(request, NO_ROOM)
        room = view.room
    results = None
    if text:
        try:
            results = await service.browse.search(
                viewer(request), text, room_id=room_id, limit=SEARCH_PAGE, before=MessageId(before) if before else None
            )
        except NotFound:
            return not_found(request, NO_ROOM)
    return render(
        request,
        "search.html",
        title=f"Search: {text}" if text else "Search",
        query=text,
        room=room,
        results=results,
        before=before,
    )


def transcript_routes() -> list[web.RouteDef]:
    return [
        web.get(r"/messages/{message_id:\d+}/history", message_history),
        web.get(r"/transcript/message/{message_id:\d+}", transcript_message),
        web.get(r"/transcript/message/{message_id:\d+}/{slug}", transcript_message),
        web.get(r"/transcript/{room_id:\d+}", transcript_day),
        web.get(r"/transcript/{room_id:\d+}/{year:\d{4}}/{month:\d{1,2}}/{day:\d{1,2}}", transcript_day),
        web.get("/search", search),
    ]
