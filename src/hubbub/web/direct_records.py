"""The JSON shapes of direct conversations, as the web UI's script and the SDK read them.

One place decides how a direct message, a contact and an event of a user's direct stream look
on the wire of ``/direct/...`` and ``/contacts...`` (docs/direct-messages.md, "Web and SDK").
Each event record carries its log ``id``: a reader resumes after the last id it handled, so
every event reaches it once (``GET /direct/events?since=``).
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from hubbub.core.direct import DirectMessage, DirectPayload, Presence, Relation, TypingPayload
from hubbub.core.events import Event, EventType
from hubbub.core.ids import UserId
from hubbub.core.models import User
from hubbub.errors import LocalError
from hubbub.service.contacts import Contact

__all__ = ["EVENT_KINDS", "contact_record", "event_record", "message_record", "user_record"]

EVENT_KINDS: Final = {
    EventType.DIRECT_MESSAGE: "message",
    EventType.TYPING: "typing",
    EventType.PRESENCE_CHANGED: "presence",
    EventType.CONTACT_CHANGED: "contact",
    EventType.DIRECT_READ: "read",
}


def user_record(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name}


def message_record(message: DirectMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "sender_id": message.sender_id,
        "recipient_id": message.recipient_id,
        "text": message.text,
        "html": message.html,
        "sent_ms": message.sent_ms,
        "client_id": message.client_id,
        "event_id": message.event_id,
    }


def contact_record(contact: Contact, unread: int) -> dict[str, Any]:
    return {
        **user_record(contact.user),
        "relation": contact.relation.value,
        "presence": contact.presence.value,
        "unread": unread,
    }


def event_record(event: Event, viewer_id: UserId) -> dict[str, Any] | None:
    """``event`` as ``viewer_id`` reads it; None for one that is not of a direct stream (or broken)."""
    kind = EVENT_KINDS.get(event.type)
    if kind is None or event.user_id is None:
        return None
    record: dict[str, Any] = {
        "id": event.id,
        "type": kind,
        "time": event.time_stamp,
        "user_id": event.user_id,
        "user_name": event.user_name,
        "target_user_id": event.target_user_id,
    }
    with contextlib.suppress(LocalError, ValueError, KeyError, TypeError):
        if event.type is EventType.DIRECT_MESSAGE and event.target_user_id is not None:
            payload = DirectPayload.of(event)
            record["message"] = {
                "id": payload.message_id,
                "sender_id": event.user_id,
                "recipient_id": event.target_user_id,
                "text": payload.text,
                "html": event.content or "",
                "sent_ms": payload.sent_ms,
                "client_id": payload.client_id,
                "event_id": event.id,
            }
            record["to_name"] = payload.to_name
        elif event.type is EventType.TYPING:
            record["typing"] = TypingPayload.of(event).typing
        elif event.type is EventType.PRESENCE_CHANGED:
            record["presence"] = Presence(event.data or "").value
        elif event.type is EventType.CONTACT_CHANGED:
            # The relation as the actor sees it; the other side reads its own from /contacts.json.
            record["relation"] = Relation(event.data or "").value if viewer_id == event.user_id else None
        elif event.type is EventType.DIRECT_READ:
            record["through"] = int(event.data or "0")
        return record
    return None
