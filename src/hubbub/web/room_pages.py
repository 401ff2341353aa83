"""The rooms list, the favourites page, creating a room, and a room's info and settings page.

``/rooms/info/{id}`` is also scraped (sechat.md §4.1): its first ``h1`` is the
room name, the first ``.roomcard-xxl p`` the description, and the owner and user
cards keep their classes. The owners' forms come after those parts and post to
the dialect's own endpoints: ``/rooms/save``, ``/rooms/kickmute/{id}`` and
``/rooms/setuseraccess/{id}`` (``dialects/sechat/room_admin.py``).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from aiohttp import web

from hubbub.core.ids import RoomId
from hubbub.core.models import AccessLevel, RoomAccess
from hubbub.dialects.sechat.codec import parse_room_id
from hubbub.dialects.sechat.http import SERVICE, expected_fkey, signed_in, viewer
from hubbub.errors import NotFound
from hubbub.web.auth_pages import CHAT_USER_COOKIES
from hubbub.web.cookies import set_cookie
from hubbub.web.rendering import NO_ROOM, not_found, query_int, redirect, render

__all__ = ["room_routes"]

# A room's info page shows its newest bookmarks, a page at a time (``?bookmarks_before=<id>``
# for older ones), and offers its owners the people seen most recently: anyone who may post
# can bookmark, and anyone may enter, so neither list may cost the page in proportion to a room.
BOOKMARKS_LISTED: Final = 50
PEOPLE_LISTED: Final = 200

_NOTICES: Final = {
    "saved": "The room settings are saved.",
    "kicked": "The user was kicked from the room.",
    "access": "The user's access is changed.",
}


async def home(request: web.Request) -> web.Response:
    """``/`` and ``/rooms`` (``?q=`` words, ``?tag=``): the rooms, most recently active first, a page
    at a time (``?active=&before=``, the next page's place); signed-in users also get the chat-user cookies."""
    service = request.app[SERVICE]
    query = request.query.get("q", "").strip()[:200]
    tag = request.query.get("tag", "").strip().lower()[:50]
    before = query_int(request, "before", 0, minimum=0, maximum=2**62)
    below = (query_int(request, "active", 0, minimum=0, maximum=2**62), RoomId(before)) if before else None
    page = await service.browse.directory(viewer(request), query=query, tag=tag, below=below)
    filters = {key: value for key, value in (("q", query), ("tag", tag)) if value}
    most_active = "/rooms?" + urlencode(filters) if filters else "/rooms"
    older = None
    if page.older is not None:
        older = "/rooms?" + urlencode({**filters, "active": page.older[0], "before": page.older[1]})
    response = render(
        request,
        "home.html",
        title="Rooms",
        summaries=page.rooms,
        older=older,
        most_active=most_active if below is not None else None,
        query=query,
        tag=tag,
        needs_account=await service.first_run.needs_account(),
    )
    session = signed_in(request)
    if session is not None:
        # sechat v3 requires one of these on this very response (sechat.md §3.4 step 5).
        marker = session.session.token_hash[:32]
        for name in CHAT_USER_COOKIES:
            set_cookie(request, response, name, marker)
    return response


async def favorite(request: web.Request) -> web.Response:
    """``/chats/join/favorite``: where bots find their fkey and user id."""
    service = request.app[SERVICE]
    me = viewer(request)
    rooms = [] if me is None else await service.queries.joined_rooms(me)
    return render(request, "favorite.html", title="Favorite rooms", fkey=expected_fkey(request), rooms=rooms)


async def new_room(request: web.Request) -> web.StreamResponse:
    """``/rooms/new``: the form that creates a room through ``POST /rooms/save``."""
    if signed_in(request) is None:
        return redirect("/users/login?returnurl=/rooms/new")
    return render(request, "room_new.html", title="Create a room", fkey=expected_fkey(request), accesses=RoomAccess)


async def room_info(request: web.Request) -> web.Response:
    """``/rooms/info/{id}``: about the room; its owners also get the settings and user-access forms."""
    service = request.app[SERVICE]
    try:
        room_id = parse_room_id(request.match_info["room_id"])
        view = await service.queries.room_view(viewer(request), room_id)
    except NotFound:
        return not_found(request, NO_ROOM)
    if not view.readable:
        return not_found(request, NO_ROOM)
    is_owner = view.standing.is_owner
    before = query_int(request, "bookmarks_before", 0, minimum=0, maximum=2**62) or None
    conversations = await service.conversations.of_room(
        viewer(request), room_id, limit=BOOKMARKS_LISTED + 1, before=before
    )
    older = conversations[BOOKMARKS_LISTED - 1].id if len(conversations) > BOOKMARKS_LISTED else None
    grants = await service.browse.access_list(room_id) if is_owner else []
    people = []
    if is_owner:
        seen = await service.queries.recent_members(viewer(request), room_id, limit=PEOPLE_LISTED)
        known = {user.id for user, _ in grants}
        people = [user for _, user in seen if user.id not in known]
    return render(
        request,
        "room_info.html",
        title=view.room.name,
        room=view.room,
        view=view,
        is_owner=is_owner,
        grants=grants,
        people=people,
        conversations=conversations[:BOOKMARKS_LISTED],
        older_bookmarks=older,
        newer_bookmarks=before is not None,
        accesses=RoomAccess,
        levels=[AccessLevel.READ_ONLY, AccessLevel.READ_WRITE, AccessLevel.OWNER],
        fkey=expected_fkey(request),
        notice=_NOTICES.get(request.query.get("done", "")),
    )


def room_routes() -> list[web.RouteDef]:
    return [
        web.get("/", home),
        web.post("/", home),
        web.get("/rooms", home),
        web.get("/rooms/new", new_room),
        web.get("/chats/join/favorite", favorite),
        web.get(r"/rooms/info/{room_id:\d+}", room_info),
        web.get(r"/rooms/info/{room_id:\d+}/{slug}", room_info),
    ]
