"""The contacts panel (``/contacts``) and a direct conversation (``/direct/{user_id}``).

Both pages are shells for their scripts (static/direct/): what a script needs travels in one
``application/json`` block, read after the event cursor was taken, so the live feed
(``GET /direct/events?since=cursor``) can repeat what the page shows (the script drops repeats
by id) but never miss what came between. The JSON endpoints are in ``direct_api``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.dialects.sechat.codec import parse_user_id
from hubbub.dialects.sechat.http import SERVICE, expected_fkey, viewer
from hubbub.web.direct_api import presence_of
from hubbub.web.direct_records import contact_record, message_record, user_record
from hubbub.web.rendering import not_found, redirect, render

__all__ = ["direct_page_routes"]

_FIRST_PAGE = 50


async def contacts_page(request: web.Request) -> web.Response:
    me = viewer(request)
    if me is None:
        return redirect("/users/login?returnurl=/contacts")
    service = request.app[SERVICE]
    cursor = await service.queries.last_event_id()
    contacts = await service.contacts.list(me.id)
    unread = await service.direct.unread_counts(me.id)
    conversations = await service.direct.conversations(me.id)
    listed = {c.user.id for c in contacts}
    data: dict[str, Any] = {
        "me": user_record(me),
        "cursor": cursor,
        "contacts": [contact_record(c, unread.get(c.user.id, 0)) for c in contacts],
        # Conversations with people who are no longer contacts stay readable.
        "others": [
            {**user_record(c.other), "relation": c.relation.value, "unread": c.unread}
            for c in conversations
            if c.other.id not in listed
        ],
    }
    return render(request, "contacts.html", title="Contacts", data=data, contacts=contacts, fkey=expected_fkey(request))


async def conversation_page(request: web.Request) -> web.Response:
    me = viewer(request)
    raw = request.match_info["user_id"]
    if me is None:
        return redirect(f"/users/login?returnurl=/direct/{raw}")
    service = request.app[SERVICE]
    other = await service.queries.user(parse_user_id(raw))
    if other is None:
        return not_found(request, "No such user.")
    cursor = await service.queries.last_event_id()
    relation = await service.contacts.relation(me.id, other.id)
    messages = await service.direct.history(me.id, other.id, limit=_FIRST_PAGE)
    unread = await service.direct.unread_counts(me.id)
    data: dict[str, Any] = {
        "me": user_record(me),
        "other": user_record(other),
        "relation": relation.value,
        "presence": await presence_of(service, me.id, other.id),
        "cursor": cursor,
        "messages": [message_record(m) for m in messages],
        "hasOlder": len(messages) >= _FIRST_PAGE,
        "unread": sum(unread.values()),
    }
    return render(
        request,
        "direct.html",
        title=f"{other.name} - direct messages",
        other=other,
        relation=relation.value,
        messages=messages,
        data=data,
        fkey=expected_fkey(request),
    )


def direct_page_routes() -> list[web.RouteDef]:
    return [
        web.get("/contacts", contacts_page),
        web.get(r"/direct/{user_id:\d+}", conversation_page),
    ]
