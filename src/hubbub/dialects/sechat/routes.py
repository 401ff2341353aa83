"""The sechat dialect's form and JSON API over HTTP (sechat.md §4, §7).

Thin handlers: parse with the codec, call the service, answer with the codec.
The HTML pages that clients scrape live in ``hubbub.web.pages``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web

from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import RoomAccess
from hubbub.core.rules import NO_PERMISSION
from hubbub.dialects.sechat.codec import (
    OK,
    Action,
    Reply,
    RoomFrame,
    frame,
    history_record,
    json_reply,
    parse_history_request,
    parse_id_list,
    parse_int,
    parse_message_id,
    parse_poll_cursors,
    parse_room_id,
    text_reply,
)
from hubbub.dialects.sechat.http import (
    GATEWAY_PORT,
    SERVICE,
    SITE,
    Handler,
    check_fkey,
    handles,
    read_form,
    signed_in_form,
    viewer,
)
from hubbub.errors import BadRequest, Kicked, NotFound
from hubbub.service.messages import Messages

__all__ = ["sechat_routes", "socket_url"]


def _message_id(request: web.Request) -> MessageId:
    return parse_message_id(request.match_info["message_id"])


def _room_id(request: web.Request) -> RoomId:
    return parse_room_id(request.match_info["room_id"])


def websocket_base(request: web.Request) -> str:
    """``ws://<host the client used>:<gateway port>``, or the configured ``ws_public_url``.

    The host is the validated ``Host`` (``hubbub.hosts``), never the header's raw text.
    """
    site = request.app[SITE]
    return site.websocket_base(site.host(request.headers.get(hdrs.HOST)), request.app[GATEWAY_PORT][0])


def socket_url(request: web.Request, room_id: RoomId, token: str) -> str:
    """``<websocket base>/events/<room>/<token>``, with no query string (clients append
    ``?l=`` by string concatenation, sechat.md §5.2)."""
    return f"{websocket_base(request)}/events/{room_id}/{token}"


@handles("read")
async def room_events(request: web.Request) -> Reply:
    """``POST /chats/{room}/events``: the newest messages as type-1 records, plus the log's ``time``.

    A signed-in caller also enters the room (ChatExchange calls this "join").
    """
    service = request.app[SERVICE]
    form = await read_form(request)
    check_fkey(request, form)
    room_id = _room_id(request)
    settings = service.settings
    wanted = parse_history_request(
        form, default_count=settings.history_default_count, max_count=settings.history_max_count
    )
    me = viewer(request)
    if me is not None:
        with contextlib.suppress(Kicked):  # a kicked user may still read the room
            await service.rooms.join(me.id, room_id)
    history = await service.queries.history(me, room_id, count=wanted.count, before=wanted.before, after=wanted.after)
    events = [
        history_record(m, history.room, history.authors[m.user_id], history.posting_events.get(m.id, EventId(0)))
        for m in history.messages
        if m.user_id in history.authors
    ]
    now = service.context.now()
    return json_reply({"events": events, "time": history.last_event_id, "sync": now, "ms": 0})


@handles("read")
async def poll_events(request: web.Request) -> Reply:
    """``POST /events`` with ``r<room>=<since>``: events after each cursor, every asked room present.

    A poll none of whose rooms the caller may read (a member removed from the one room
    they polled) is refused the way Stack Exchange refuses a room one may not see.
    """
    service = request.app[SERVICE]
    form = await read_form(request)
    check_fkey(request, form)
    cursors = parse_poll_cursors(form)
    answer, _ = await service.queries.events_since(viewer(request), cursors, limit=service.settings.poll_max_events)
    if answer and not any(result.readable for result in answer.values()):
        raise NotFound(NO_PERMISSION)
    parts = {room_id: RoomFrame(result.events, result.cursor) for room_id, result in answer.items()}
    return Reply(200, frame(parts))


@handles("read")
async def ws_auth(request: web.Request) -> Reply:
    """``POST /ws-auth`` (``roomid``): a websocket URL for this user and room, which opens one socket, once."""
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    room_id = RoomId(parse_int(form.get("roomid"), "roomid", minimum=1))
    await service.rooms.join(me.user.id, room_id)
    token = await service.socket_tokens.issue(me, room_id)
    return json_reply({"url": socket_url(request, room_id, token)})


@handles("post")
async def post_message(request: web.Request) -> Reply:
    """``POST /chats/{room}/messages/new`` (``text``, optional ``parentId``) -> ``{"id", "time"}``."""
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    room_id = _room_id(request)
    text = form.get("text")
    if text is None:
        raise BadRequest("The text parameter is required")
    raw_parent = form.get("parentId")
    parent = MessageId(parse_int(raw_parent, "parentId")) if raw_parent and raw_parent != "0" else None
    posted = await service.messages.post(me.user.id, room_id, text.replace("\r\n", "\n"), parent_id=parent)
    if posted.message is None:
        return json_reply({"id": None, "time": None})
    return json_reply({"id": posted.message.id, "time": posted.message.posted_at})


@handles("edit")
async def edit_message(request: web.Request) -> Reply:
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    text = form.get("text")
    if text is None:
        raise BadRequest("The text parameter is required")
    await service.messages.edit(me.user.id, _message_id(request), text.replace("\r\n", "\n"))
    return OK


MessageOperation = Callable[[Messages], Callable[[UserId, MessageId], Awaitable[object]]]


def _message_action(action: Action, operation: MessageOperation, name: str, doc: str) -> Handler:
    """A form endpoint that applies one operation to the message in its path and answers ``"ok"``."""

    async def handler(request: web.Request) -> Reply:
        me, _ = await signed_in_form(request)
        await operation(request.app[SERVICE].messages)(me.user.id, _message_id(request))
        return OK

    handler.__name__, handler.__doc__ = name, doc
    return handles(action)(handler)


delete_message = _message_action(
    "delete", lambda m: m.delete, "delete_message", "``POST /messages/{id}/delete``: deletes (author, in the window)."
)
star_message = _message_action(
    "star", lambda m: m.toggle_star, "star_message", "``POST /messages/{id}/star``: toggles the caller's star."
)
owner_star_message = _message_action(
    "star", lambda m: m.toggle_pin, "owner_star_message", "``POST /messages/{id}/owner-star``: toggles the pin."
)
unowner_star_message = _message_action(
    "star", lambda m: m.unpin, "unowner_star_message", "``POST /messages/{id}/unowner-star``: unpins."
)
unstar_message = _message_action(
    "star", lambda m: m.clear_stars, "unstar_message", "``POST /messages/{id}/unstar``: clears every star and pin."
)


@handles("other")
async def acknowledge(request: web.Request) -> Reply:
    """``POST /messages/ack`` (``id``): the ping or reply about that message has been seen."""
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    ids = [MessageId(i) for i in parse_id_list(form.get("id"), "id")]
    await service.messages.acknowledge(me.user.id, ids)
    return OK


@handles("other")
async def leave_room(request: web.Request) -> Reply:
    service = request.app[SERVICE]
    me, _ = await signed_in_form(request)
    await service.rooms.leave(me.user.id, _room_id(request))
    return OK


@handles("other")
async def leave_all_rooms(request: web.Request) -> Reply:
    service = request.app[SERVICE]
    me, _ = await signed_in_form(request)
    await service.rooms.leave_all(me.user.id)
    return OK


@handles("other")
async def move_posts(request: web.Request) -> Reply:
    """``POST /admin/movePosts/{room}`` (``ids``, ``to``) -> the number of messages moved."""
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    ids = [MessageId(i) for i in parse_id_list(form.get("ids"), "ids")]
    target = RoomId(parse_int(form.get("to"), "to", minimum=1))
    moved = await service.messages.move(me.user.id, _room_id(request), ids, target)
    return json_reply(moved)


@handles("read")
async def pingable(request: web.Request) -> Reply:
    """``GET /rooms/pingable/{room}`` -> ``[[user id, name, last seen, last post], ...]``."""
    members = await request.app[SERVICE].queries.pingable(viewer(request), _room_id(request))
    return json_reply([[user.id, user.name, member.last_seen, member.last_post] for member, user in members])


def _tag_links(tags: Sequence[str]) -> str:
    return " ".join(
        f'<a rel="noopener noreferrer" class="tag" href="/rooms?tag={quote(t)}">{escape(t)}</a>' for t in tags
    )


@handles("read")
async def room_thumbs(request: web.Request) -> Reply:
    """``GET /rooms/thumbs/{room}``: name, description and tags as JSON."""
    view = await request.app[SERVICE].queries.room_view(viewer(request), _room_id(request), present=0)
    if not view.readable:
        raise NotFound("The room does not exist, or you do not have permission")
    room = view.room
    return json_reply(
        {
            "id": room.id,
            "name": room.name,
            "description": room.description,
            "isFavorite": False,
            "usage": None,
            "tags": _tag_links(room.tags),
        }
    )


def _email_hash(email: str | None, user_id: UserId) -> str:
    if email:
        return hashlib.md5(email.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"!/users/{user_id}/avatar.svg"


@handles("read")
async def user_info(request: web.Request) -> Reply:
    """``POST /user/info`` (``ids``, ``roomId``; no fkey needed) -> ``{"users": [...]}``."""
    form = await read_form(request)
    ids = [UserId(i) for i in parse_id_list(form.get("ids"), "ids")]
    raw_room = form.get("roomId")
    room_id = RoomId(parse_int(raw_room, "roomId", minimum=1)) if raw_room else None
    rows = await request.app[SERVICE].queries.users_in_room(viewer(request), ids, room_id)
    users: list[dict[str, Any]] = [
        {
            "id": user.id,
            "name": user.name,
            "email_hash": _email_hash(user.email, user.id),
            "reputation": user.reputation,
            "is_moderator": user.is_moderator,
            "is_owner": True if owner else None,
            "last_post": membership.last_post if membership is not None else user.last_post,
            "last_seen": membership.last_seen if membership is not None else user.last_seen,
        }
        for user, owner, membership in rows
    ]
    return json_reply({"users": users})


@handles("read")
async def message_text(request: web.Request) -> Reply:
    """``GET /message/{id}?plain=true|false``: the source, or the rendered HTML, as text/plain."""
    view = await request.app[SERVICE].queries.message(viewer(request), _message_id(request))
    plain = request.query.get("plain", "false").lower() == "true"
    return text_reply(view.message.source if plain else view.message.content, 200)


@handles("other")
async def save_room(request: web.Request) -> Reply:
    """``POST /rooms/save``: create a room, or edit it when ``roomId`` is given -> 302 to its info page.

    ``defaultAccess`` ``read-write`` makes a public room and ``read-only`` a gallery
    (the JS client's values); ``access`` may name ``public``, ``gallery`` or ``private``.
    """
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    raw_access = form.get("access") or {"read-write": "public", "read-only": "gallery"}.get(
        form.get("defaultAccess", ""), ""
    )
    try:
        access = RoomAccess(raw_access) if raw_access else None
    except ValueError:
        raise BadRequest("access must be public, gallery or private") from None
    name = form.get("name", "")
    description = form.get("description", "")
    tags = form.get("tags", "")
    raw_id = form.get("roomId") or form.get("id")
    if raw_id:
        room = await service.rooms.update_room(
            me.user.id,
            RoomId(parse_int(raw_id, "roomId", minimum=1)),
            name=name,
            description=description,
            tags=tags,
            access=access,
        )
    else:
        room = await service.rooms.create_room(
            name,
            description=description,
            tags=tags,
            access=access or RoomAccess.PUBLIC,
            owner_id=me.user.id,
        )
    return Reply(302, b"", None, location=f"/rooms/info/{room.id}")


def sechat_routes() -> list[web.RouteDef]:
    """Every form/JSON endpoint of the dialect; paths follow Stack Exchange chat."""
    return [
        web.post(r"/chats/{room_id:\d+}/events", room_events),
        web.post("/events", poll_events),
        web.post("/ws-auth", ws_auth),
        web.post(r"/chats/{room_id:\d+}/messages/new", post_message),
        web.post(r"/messages/{message_id:\d+}", edit_message),
        web.post(r"/messages/{message_id:\d+}/delete", delete_message),
        web.post(r"/messages/{message_id:\d+}/star", star_message),
        web.post(r"/messages/{message_id:\d+}/owner-star", owner_star_message),
        web.post(r"/messages/{message_id:\d+}/unowner-star", unowner_star_message),
        web.post(r"/messages/{message_id:\d+}/unstar", unstar_message),
        web.post("/messages/ack", acknowledge),
        web.post("/chats/leave/all", leave_all_rooms),
        web.post(r"/chats/leave/{room_id:\d+}", leave_room),
        web.post(r"/admin/movePosts/{room_id:\d+}", move_posts),
        web.get(r"/rooms/pingable/{room_id:\d+}", pingable),
        web.get(r"/rooms/thumbs/{room_id:\d+}", room_thumbs),
        web.post("/user/info", user_info),
        web.get(r"/message/{message_id:\d+}", message_text),
        web.post("/rooms/save", save_room),
    ]
