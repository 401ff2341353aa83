"""The HTML pages: what people see, and what Stack Exchange chat clients scrape.

Page structure follows sechat.md §3.8 and §4.1 exactly where clients read it:
the first ``.topbar-menu-links a`` is the signed-in user's ``/users/<id>/<slug>``
link, the login form is ``#login-form`` with the first ``fkey`` input, the
favourites page holds ``#content > form > input#fkey``, a room page has
``<textarea id="input">`` when the user may talk and its fkey input last, and the
history, transcript, room-info and profile pages carry the classes ChatExchange
and the JS client select.
"""

from __future__ import annotations

import datetime
import json
import secrets
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from markupsafe import Markup

from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import Message, User
from hubbub.core.rules import EDIT_WINDOW_SECONDS
from hubbub.dialects.sechat.codec import history_record
from hubbub.dialects.sechat.http import (
    SERVICE,
    SESSION_COOKIE,
    check_fkey,
    client_address,
    expected_fkey,
    read_form,
    require_user,
    signed_in,
    viewer,
)
from hubbub.errors import InvalidCredentials, NotFound, RateLimited, RemoteError
from hubbub.service.service import Service

__all__ = ["TEMPLATES", "page_routes", "redirect", "render", "templates"]

TEMPLATES: Final = web.AppKey("templates", jinja2.Environment)
PROVIDER_COOKIE: Final = "prov"
CHAT_USER_COOKIES: Final = ("chatusr", "sechatusr")


def _isotime(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).isoformat().replace("+00:00", "Z")


def _clocktime(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).strftime("%H:%M")


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("hubbub.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    environment.filters["isotime"] = _isotime
    environment.filters["clocktime"] = _clocktime
    return environment


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    environment = request.app[TEMPLATES]
    settings = request.app[SERVICE].settings
    html = environment.get_template(template).render(
        me=viewer(request), allow_signup=settings.allow_signup, title=context.pop("title", "hubbub"), **context
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")


def redirect(location: str) -> web.Response:
    """A 302 that can carry cookies (aiohttp deprecates returning ``HTTPFound``)."""
    return web.Response(status=302, headers={"Location": location})


def _not_found(request: web.Request, detail: str = "There is nothing here.") -> web.Response:
    return render(request, "error.html", 404, title="Not found", heading="Not found", detail=detail)


def _int(request: web.Request, key: str) -> int:
    return int(request.match_info[key])


def _safe_return(url: str | None) -> str:
    """Only same-site paths: ``/rooms/4`` yes, ``https://elsewhere``, ``//elsewhere`` no."""
    if not url:
        return "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return "/"
    return url


def _ago(now: int, then: int) -> str:
    """``5m ago`` style, as ChatExchange's ``parse_last_seen`` reads it."""
    if then <= 0:
        return "n/a"
    seconds = max(0, now - then)
    if seconds < 10:
        return "just now"
    for unit, size in (("y", 365 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


# accounts


async def login_page(request: web.Request) -> web.Response:
    return render(
        request,
        "login.html",
        title="Log in",
        login_fkey=expected_fkey(request),
        returnurl=_safe_return(request.query.get("returnurl")),
        error=None,
        email="",
    )


async def login_submit(request: web.Request) -> web.StreamResponse:
    """``POST /users/login``: 302 to ``/`` with ``acct``/``prov`` cookies, or the form again."""
    service = request.app[SERVICE]
    form = await read_form(request)
    email = form.get("email", "")
    try:
        user = await service.accounts.authenticate(email, form.get("password", ""), client=client_address(request))
    except (InvalidCredentials, RateLimited) as error:
        return render(
            request,
            "login.html",
            title="Log in",
            login_fkey=expected_fkey(request),
            returnurl=_safe_return(form.get("returnurl")),
            error=str(error),
            email=email,
        )
    token, session = await service.accounts.open_session(user)
    response = redirect(_safe_return(form.get("returnurl")))
    max_age = session.expires_at - session.created_at
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax", max_age=max_age)
    response.set_cookie(
        PROVIDER_COOKIE, secrets.token_hex(16), path="/", httponly=True, samesite="Lax", max_age=max_age
    )
    return response


async def login_track(request: web.Request) -> web.Response:
    """``POST /users/login-or-signup/validation/track``: sechat 1.x wants ``Login-OK`` for good credentials."""
    service = request.app[SERVICE]
    form = await read_form(request)
    try:
        await service.accounts.authenticate(
            form.get("email", ""), form.get("password", ""), client=client_address(request)
        )
    except (InvalidCredentials, RateLimited):
        return web.Response(text="Login-Failed", content_type="text/plain")
    return web.Response(text="Login-OK", content_type="text/plain")


async def universal_login(request: web.Request) -> web.Response:
    return web.Response(text="", content_type="text/plain")


async def logout_page(request: web.Request) -> web.StreamResponse:
    if signed_in(request) is None:
        return redirect("/")
    return render(request, "logout.html", title="Log out", fkey=expected_fkey(request))


async def logout_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        require_user(request)
        check_fkey(request, form)
    except RemoteError as error:
        return render(request, "error.html", 403, title="Log out", heading="Log out", detail=str(error))
    token = request.cookies.get(SESSION_COOKIE, "")
    await request.app[SERVICE].accounts.close_session(token)
    response = redirect("/")
    for name in (SESSION_COOKIE, PROVIDER_COOKIE, *CHAT_USER_COOKIES):
        response.del_cookie(name, path="/")
    return response


# rooms


async def home(request: web.Request) -> web.Response:
    """``/`` (and ``/rooms?tag=``): the rooms; for signed-in users also the chat-user cookies."""
    service = request.app[SERVICE]
    tag = request.query.get("tag", "").strip().lower()
    rooms = await service.queries.rooms(viewer(request))
    if tag:
        rooms = [room for room in rooms if tag in room.tags]
    response = render(request, "home.html", title="Rooms", rooms=rooms, tag=tag)
    session = signed_in(request)
    if session is not None:
        # sechat v3 requires one of these on this very response (sechat.md §3.4 step 5).
        marker = session.session.token_hash[:32]
        for name in CHAT_USER_COOKIES:
            response.set_cookie(name, marker, path="/", httponly=True, samesite="Lax")
    return response


async def favorite(request: web.Request) -> web.Response:
    """``/chats/join/favorite``: where bots find their fkey and user id."""
    service = request.app[SERVICE]
    me = viewer(request)
    rooms = []
    if me is not None:
        joined = await service.queries.rooms_of(me.id)
        rooms = [room for room in await service.queries.rooms(me) if room.id in joined]
    return render(request, "favorite.html", title="Favorite rooms", fkey=expected_fkey(request), rooms=rooms)


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


async def _viewer_stars(service: Service, me: User | None, ids: list[MessageId]) -> list[MessageId]:
    """Which of ``ids`` the viewer has starred (so the star buttons start in the right state)."""
    if me is None or not ids:
        return []
    return await service.context.store.read(lambda tx: [i for i in ids if tx.has_starred(i, me.id)])


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
        view = await service.queries.room_view(me, RoomId(_int(request, "room_id")))
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
            "starredByMe": await _viewer_stars(service, me, [m.id for m in messages + flagged]),
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


async def room_info(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        view = await service.queries.room_view(viewer(request), RoomId(_int(request, "room_id")))
    except NotFound:
        return _not_found(request, "The room does not exist, or you do not have permission.")
    if not view.readable:
        return _not_found(request, "The room does not exist, or you do not have permission.")
    return render(request, "room_info.html", title=view.room.name, room=view.room, view=view)


# users


async def profile(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        found = await service.queries.profile(UserId(_int(request, "user_id")))
    except NotFound:
        return _not_found(request, "No such user.")
    now = service.context.now()
    return render(
        request,
        "profile.html",
        title=found.user.name,
        user=found.user,
        profile=found,
        last_message=_ago(now, found.user.last_post),
        last_seen=_ago(now, found.user.last_seen),
    )


_AVATAR_COLOURS: Final = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


async def avatar(request: web.Request) -> web.Response:
    """A generated SVG avatar: the user's initials on a colour picked from their id."""
    service = request.app[SERVICE]
    user = await service.queries.user(UserId(_int(request, "user_id")))
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


# messages


async def message_history(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        view = await service.queries.message(viewer(request), MessageId(_int(request, "message_id")))
    except NotFound:
        return _not_found(request, "No such message.")
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


def _monologues(messages: list[Message], users: Mapping[UserId, User]) -> list[tuple[User, list[Message]]]:
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


async def transcript_message(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    message_id = MessageId(_int(request, "message_id"))
    try:
        room, messages, users, starred = await service.queries.transcript_around(viewer(request), message_id)
    except NotFound:
        return _not_found(request, "No such message.")
    return render(
        request,
        "transcript.html",
        title=f"{room.name} transcript",
        room=room,
        monologues=_monologues(messages, users),
        highlight=message_id,
        starred=starred,
        heading=None,
    )


def page_routes() -> list[web.RouteDef]:
    return [
        web.get("/users/login", login_page),
        web.post("/users/login", login_submit),
        web.post("/users/login-or-signup/validation/track", login_track),
        web.post("/users/login/universal/request", universal_login),
        web.get("/users/logout", logout_page),
        web.post("/users/logout", logout_submit),
        web.get("/", home),
        web.post("/", home),
        web.get("/rooms", home),
        web.get("/chats/join/favorite", favorite),
        web.get(r"/rooms/{room_id:\d+}", room_page),
        web.get(r"/rooms/{room_id:\d+}/", room_page),
        web.get(r"/rooms/{room_id:\d+}/{slug}", room_page),
        web.get(r"/rooms/info/{room_id:\d+}", room_info),
        web.get(r"/rooms/info/{room_id:\d+}/{slug}", room_info),
        web.get(r"/users/{user_id:\d+}", profile),
        web.get(r"/users/{user_id:\d+}/avatar.svg", avatar),
        web.get(r"/users/{user_id:\d+}/{slug}", profile),
        web.get(r"/messages/{message_id:\d+}/history", message_history),
        web.get(r"/transcript/message/{message_id:\d+}", transcript_message),
        web.get(r"/transcript/message/{message_id:\d+}/{slug}", transcript_message),
    ]
