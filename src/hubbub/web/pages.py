"""The room screen and user pages; every other page lives in its own module.

``room_page`` serves ``/rooms/{id}``: people chat there, and clients scrape it
(sechat.md §3.8): ``<textarea id="input">`` when the user may talk, the fkey input
last, and the present users for ChatExchange. The account pages are in
``auth_pages``, the first-run setup page in ``setup_pages``, the rooms list and room
info in ``room_pages``, transcripts and search in ``transcript_pages``;
``page_routes`` gathers them all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from markupsafe import Markup

from hubbub.core.ids import EventId, UserId
from hubbub.core.models import Message, User
from hubbub.core.rules import EDIT_WINDOW_SECONDS
from hubbub.dialects.sechat.codec import history_record, parse_room_id, parse_user_id
from hubbub.dialects.sechat.http import SERVICE, expected_fkey, viewer
from hubbub.errors import NotFound
from hubbub.web.account_pages import account_routes
from hubbub.web.auth_pages import auth_routes
from hubbub.web.bridge_pages import bridge_routes
from hubbub.web.rendering import TEMPLATES, ago, not_found, redirect, render, templates
from hubbub.web.room_pages import room_routes
from hubbub.web.setup_pages import setup_routes
from hubbub.web.stream_pages import stream_page_routes
from hubbub.web.transcript_pages import transcript_routes

__all__ = ["TEMPLATES", "page_routes", "redirect", "render", "templates"]

_not_found = not_found


# the room screen


def _present_script(users: list[User]) -> Markup:
    """``{id: 1, name: ("x")},`` lines for ChatExchange 0.0.4's ``initPresent`` regexes.

    The block is a data block (not JavaScript): ``<`` is escaped so no name can end it.
    """
    lines = []
    for user in users:
        name = json.dumps(user.name).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        lines.append(f"{{id: {user.id}, name: ({name}), reputation: {user.reputation}}},")
    return Markup("\n".join(lines))


# How many recent messages the room screen scans for its starred and pinned sidebar.
_STARRED_SCAN: Final = 500


async def room_page(request: web.Request) -> web.Response:
    """``GET /rooms/{id}``: the chat screen, and the page bots scrape for the fkey and present users.

    What the page script (static/chat/) needs travels in one ``application/json`` block
    (no inline script runs): the newest messages as the same type-1 records
    ``/chats/{room}/events`` gives, the event cursor read in the same snapshot, the
    server's clock (the edit window and idle marks are judged by it, not the browser's),
    and the viewer's role.
    """
    service = request.app[SERVICE]
    me = viewer(request)
    try:
        view = await service.queries.room_view(me, parse_room_id(request.match_info["room_id"]))
    except NotFound:
        return _not_found(request, "The room does not exist, or you do not have permission.")
    messages: list[Message] = []
    authors: Mapping[UserId, User] = {}
    page_data: dict[str, Any] = {}
    if view.readable:
        room = view.room
        history = await service.queries.history(me, room.id, count=service.settings.history_default_count)
        messages = [m for m in history.messages if m.user_id in history.authors]
        authors = history.authors
        scan = await service.queries.history(me, room.id, count=min(_STARRED_SCAN, service.settings.history_max_count))
        flagged = [m for m in scan.messages if (m.stars or m.owner_stars) and m.user_id in scan.authors]
        page_data = {
            "room": {"id": room.id, "name": room.name},
            "me": None if me is None else {"id": me.id, "name": me.name},
            "canPost": view.can_post,
            "isOwner": view.standing.is_owner,
            "now": service.context.now(),
            "editWindow": EDIT_WINDOW_SECONDS,
            "lastEventId": history.last_event_id,
            "events": [
                history_record(m, room, authors[m.user_id], history.posting_events.get(m.id, EventId(0)))
                for m in messages
            ],
            "starred": [
                history_record(m, room, scan.authors[m.user_id], scan.posting_events.get(m.id, EventId(0)))
                for m in flagged
            ],
            "starredByMe": sorted(await service.queries.starred_by(me, [m.id for m in messages + flagged])),
            "present": [
                {"id": user.id, "name": user.name, "lastSeen": membership.last_seen}
                for membership, user in view.present
            ],
            "unread": 0 if me is None else await service.queries.unread_count(me.id),
        }
    present_users = [user for _, user in view.present]
    present_json = json.dumps([{"id": u.id, "name": u.name} for u in present_users])
    return render(
        request,
        "room.html",
        title=view.room.name if view.readable else "Private Room",
        room=view.room,
        view=view,
        messages=messages,
        authors=authors,
        present_script=_present_script(present_users),
        present_json=present_json,
        page_data=page_data,
        fkey=expected_fkey(request),
    )


# users


async def profile(request: web.Request) -> web.Response:
    """``/users/{id}``: what clients scrape, plus the owner's password link and moderators' suspension forms."""
    service = request.app[SERVICE]
    try:
        found = await service.queries.profile(parse_user_id(request.match_info["user_id"]))
    except NotFound:
        return _not_found(request, "No such user.")
    now = service.context.now()
    me = viewer(request)
    # Only the rooms this viewer may read: a private room's name is not for everyone.
    readable = await service.queries.readable_among(me, [room.id for room in found.rooms])
    user = found.user
    return render(
        request,
        "profile.html",
        title=user.name,
        user=user,
        profile=found,
        rooms=[room for room in found.rooms if room.id in readable],
        last_message=ago(now, user.last_post),
        last_seen=ago(now, user.last_seen),
        suspended_until=user.suspended_until if user.is_suspended(now) else None,
        moderating=me is not None and me.is_moderator and not user.is_moderator and me.id != user.id,
        fkey=expected_fkey(request),
        # The streams API token (multistreamer showed it on the profile page, with a reset button).
        streams_token=await service.stream_tokens.token(me.id) if me is not None and me.id == user.id else None,
    )


_AVATAR_COLOURS: Final = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


async def avatar(request: web.Request) -> web.Response:
    """A generated SVG avatar: the user's initials on a colour picked from their id."""
    service = request.app[SERVICE]
    try:
        user = await service.queries.user(parse_user_id(request.match_info["user_id"]))
    except NotFound:
        user = None
    if user is None:
        return _not_found(request, "No such user.")
    initials = "".join(word[0] for word in user.name.split()[:2]).upper() or "?"
    colour = _AVATAR_COLOURS[user.id % len(_AVATAR_COLOURS)]
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<rect width="64" height="64" fill="{colour}"/>'
        '<text x="32" y="41" font-family="sans-serif" font-size="26" text-anchor="middle" fill="#fff">'
        f"{Markup.escape(initials)}</text></svg>"
    )
    response = web.Response(text=svg, content_type="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def page_routes() -> list[web.RouteDef]:
    return [
        *auth_routes(),
        *setup_routes(),
        *account_routes(),
        *bridge_routes(),
        *room_routes(),
        web.get(r"/rooms/{room_id:\d+}", room_page),
        web.get(r"/rooms/{room_id:\d+}/", room_page),
        web.get(r"/rooms/{room_id:\d+}/{slug}", room_page),
        web.get(r"/users/{user_id:\d+}", profile),
        web.get(r"/users/{user_id:\d+}/avatar.svg", avatar),
        web.get(r"/users/{user_id:\d+}/{slug}", profile),
        *transcript_routes(),
        *stream_page_routes(),
    ]
