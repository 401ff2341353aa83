"""Bookmarking conversations: ``POST /conversation/new``, ``POST /conversation/delete/{room}/{slug}``.

sechat v3 (sechat.md §4.2) requires the answer to ``new`` to be a JSON object with a truthy ``ok``;
hubbub adds the bookmark's id, slug and page URL. ``delete`` answers ``"ok"`` and
takes the slug, or the title (sechat 1.x puts the title in the path).
"""

from __future__ import annotations

from aiohttp import web

from hubbub.core.ids import MessageId, RoomId
from hubbub.dialects.sechat.codec import OK, Reply, json_reply, parse_int, parse_room_id
from hubbub.dialects.sechat.http import SERVICE, handles, signed_in_form

__all__ = ["conversation_routes"]


@handles("other")
async def new_conversation(request: web.Request) -> Reply:
    """``roomId``, ``firstMessageId``, ``lastMessageId``, ``title`` -> ``{"ok": true, "id", "slug", "url"}``."""
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    room_id = RoomId(parse_int(form.get("roomId"), "roomId", minimum=1))
    first = MessageId(parse_int(form.get("firstMessageId"), "firstMessageId", minimum=1))
    last = MessageId(parse_int(form.get("lastMessageId"), "lastMessageId", minimum=1))
    conversation = await service.conversations.create(me.user.id, room_id, first, last, form.get("title", ""))
    url = f"/rooms/{room_id}/conversation/{conversation.slug}"
    return json_reply({"ok": True, "id": conversation.id, "slug": conversation.slug, "url": url})


@handles("other")
async def delete_conversation(request: web.Request) -> Reply:
    service = request.app[SERVICE]
    me, _ = await signed_in_form(request)
    room_id = parse_room_id(request.match_info["room_id"])
    await service.conversations.delete(me.user.id, room_id, request.match_info["slug"])
    return OK


def conversation_routes() -> list[web.RouteDef]:
    return [
        web.post("/conversation/new", new_conversation),
        web.post(r"/conversation/delete/{room_id:\d+}/{slug}", delete_conversation),
    ]
