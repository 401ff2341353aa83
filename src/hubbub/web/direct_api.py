"""The JSON endpoints of contacts and direct conversations, for the web UI's script and the SDK.

Reads are GETs; every change is a POST carrying the session's ``fkey`` (``signed_in_form``), and
a refusal is answered as the room screen's API answers one (``sechat.codec.refusal``: plain
text with 403/404/409/400) after changing nothing. The service does the work and holds every
rule (docs/direct-messages.md).

``GET /direct/events?since=ID&wait=1`` is the live feed: the caller's direct-stream events after
log id ``since`` (messages both ways, typing to them, contact changes, read markers, presence of
their contacts), oldest first, with the ``cursor`` to send next. With ``wait=1`` and nothing new
it holds the request until something is (``fanout.direct_watch``, fed by the hub from every
node through the bus) or ``direct_poll_hold_seconds`` pass. The store answers, never the
wake-up, and the cursor is a log id: a client that resumes after a cut gets every event once.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from hubbub.core.direct import Presence, may_see_presence
from hubbub.core.ids import EventId, UserId
from hubbub.core.models import User
from hubbub.dialects.sechat.codec import Reply, json_reply, parse_user_id
from hubbub.dialects.sechat.http import SERVICE, done_or_next, handles, require_user, signed_in_form
from hubbub.errors import BadRequest, NotFound
from hubbub.fanout.direct_watch import DirectWatch
from hubbub.service.direct import Conversation
from hubbub.service.service import Service
from hubbub.web.direct_records import contact_record, event_record, message_record, user_record

__all__ = ["DIRECT_WATCH", "direct_api_routes", "parse_cursor"]

DIRECT_WATCH: Final = web.AppKey("direct_watch", DirectWatch)
_CONTACT_ACTIONS: Final = ("request", "accept", "remove", "block")
_HISTORY_PAGE: Final = 50


def parse_cursor(raw: str | None, name: str = "since") -> int:
    """A non-negative log or message id from a query or form field.

    Raises:
        BadRequest: Missing, not a decimal number, or out of range.
    """
    text = (raw or "").strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest(f"{name} must be a whole number of at least 0")
    return int(text)


async def _other(service: Service, raw: str) -> User:
    user = await service.queries.user(parse_user_id(raw))
    if user is None:
        raise NotFound("There is no such user")
    return user


def _conversation_record(conversation: Conversation) -> dict[str, Any]:
    return {
        **user_record(conversation.other),
        "relation": conversation.relation.value,
        "unread": conversation.unread,
        "last": message_record(conversation.last),
    }


@handles("other")
async def contacts_json(request: web.Request) -> Reply:
    """``GET /contacts.json``: the caller's contacts, requests and blocks with presence and unread counts."""
    me = require_user(request).user
    service = request.app[SERVICE]
    cursor = await service.queries.last_event_id()  # first: events after it may repeat what follows, never miss
    contacts = await service.contacts.list(me.id)
    unread = await service.direct.unread_counts(me.id)
    conversations = await service.direct.conversations(me.id)
    return json_reply(
        {
            "me": user_record(me),
            "contacts": [contact_record(c, unread.get(c.user.id, 0)) for c in contacts],
            "conversations": [
                {
                    **user_record(c.other),
                    "relation": c.relation.value,
                    "unread": c.unread,
                    "last": message_record(c.last),
                }
                for c in conversations
            ],
            "cursor": cursor,
        }
    )


@handles("other")
async def contact_action(request: web.Request) -> Reply:
    """``POST /contacts/{action}`` with ``user`` (an id): request, accept, remove or block; with a
    same-site ``next``, a 302 there instead of the JSON answer."""
    action = request.match_info["action"]
    session, form = await signed_in_form(request)
    service = request.app[SERVICE]
    if action not in _CONTACT_ACTIONS:
        raise NotFound(f"There is no contact action {action!r}")
    other = await service.queries.find_user(form.get("user", ""))
    act = {
        "request": service.contacts.request,
        "accept": service.contacts.accept,
        "remove": service.contacts.remove,
        "block": service.contacts.block,
    }[action]
    relation = await act(session.user.id, other.id)
    # A form without script (the profile page's "Add as contact") names where to go next.
    return done_or_next(form, json_reply({"user": user_record(other), "relation": relation.value}))


@handles("other")
async def events(request: web.Request) -> Reply:
    """``GET /direct/events?since=ID[&wait=1]``: see the module docstring."""
    me = require_user(request).user
    service = request.app[SERVICE]
    since = EventId(parse_cursor(request.query.get("since")))
    watch = request.app.get(DIRECT_WATCH)
    found = await service.direct.events_after(me.id, since)
    if not found and request.query.get("wait") == "1" and watch is not None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + service.settings.direct_poll_hold_seconds
        contacts = await service.contacts.contact_ids(me.id)
        while not found:
            # Registered before the read: whatever commits after the read wakes this waiter.
            async with watch.register(me.id, contacts) as wake:
                found = await service.direct.events_after(me.id, since)
                remaining = deadline - loop.time()
                if found or wake is None or remaining <= 0 or not await wake.wait(remaining):
                    break
        transport = request.transport
        if transport is None or transport.is_closing():
            # The client left while the poll was held: no answer, and (a status of 400 or more)
            # no sighting, so a closed tab does not keep its user online.
            return Reply(499, b"", None)
    records = [r for r in (event_record(e, me.id) for e in found) if r is not None]
    cursor = found[-1].id if found else since
    return json_reply({"events": records, "cursor": cursor})


@handles("other")
async def history(request: web.Request) -> Reply:
    """``GET /direct/{user_id}/history?before=MESSAGE_ID&limit=N``: older messages, oldest first."""
    me = require_user(request).user
    service = request.app[SERVICE]
    other = await _other(service, request.match_info["user_id"])
    before = parse_cursor(request.query["before"], "before") if "before" in request.query else None
    limit = parse_cursor(request.query.get("limit") or str(_HISTORY_PAGE), "limit")
    if limit < 1:
        raise BadRequest("limit must be at least 1")
    messages = await service.direct.history(me.id, other.id, before=before, limit=limit)
    return json_reply({"messages": [message_record(m) for m in messages], "has_older": len(messages) >= limit})


@handles("other")
async def send(request: web.Request) -> Reply:
    """``POST /direct/{user_id}/send`` with ``text`` and an optional ``client_id`` (retries are kept once)."""
    session, form = await signed_in_form(request)
    service = request.app[SERVICE]
    other = await _other(service, request.match_info["user_id"])
    client_id = form.get("client_id") or None
    sent = await service.direct.send(session.user.id, other.id, form.get("text", ""), client_id=client_id)
    return json_reply({"message": message_record(sent.message), "duplicate": sent.duplicate})


@handles("other")
async def typing(request: web.Request) -> Reply:
    """``POST /direct/{user_id}/typing`` with ``typing`` 1 (started) or 0 (stopped)."""
    session, form = await signed_in_form(request)
    service = request.app[SERVICE]
    other = await _other(service, request.match_info["user_id"])
    flag = form.get("typing", "")
    if flag not in ("0", "1"):
        raise BadRequest("typing must be 1 or 0")
    await service.direct.typing(session.user.id, other.id, flag == "1")
    return json_reply({"typing": flag == "1"})


@handles("other")
async def mark_read(request: web.Request) -> Reply:
    """``POST /direct/{user_id}/read`` with an optional ``through`` message id (default: all)."""
    session, form = await signed_in_form(request)
    service = request.app[SERVICE]
    other = await _other(service, request.match_info["user_id"])
    through = parse_cursor(form["through"], "through") if form.get("through") else None
    marker = await service.direct.mark_read(session.user.id, other.id, through)
    return json_reply({"read": marker})


async def presence_of(service: Service, viewer_id: UserId, other_id: UserId) -> str | None:
    """The other user's presence as the viewer may see it (None: not theirs to see)."""
    relation = await service.contacts.relation(viewer_id, other_id)
    if not may_see_presence(relation):
        return None
    states = await service.presence.states({other_id})
    return states.get(other_id, Presence.OFFLINE).value


def direct_api_routes() -> list[web.RouteDef]:
    return [
        web.get("/contacts.json", contacts_json),
        web.post("/contacts/{action}", contact_action),
        web.get("/direct/events", events),
        web.get(r"/direct/{user_id:\d+}/history", history),
        web.post(r"/direct/{user_id:\d+}/send", send),
        web.post(r"/direct/{user_id:\d+}/typing", typing),
        web.post(r"/direct/{user_id:\d+}/read", mark_read),
    ]
