"""Room owners' actions on people, at Stack Exchange chat's paths: kick-mute and per-user access.

- ``POST /rooms/kickmute/{room}`` (``userId``, ``fkey``): kick-mute the user; each
  repeat kick from the same room lasts longer (``rules.KICK_DURATIONS_SECONDS``).
  Answers 200 ``text/plain`` ``The user has been kicked and cannot return for N minutes.``
- ``POST /rooms/setuseraccess/{room}`` (``aclUserId``, ``userAccess`` = ``read-only``,
  ``read-write``, ``owner`` or ``remove``, ``fkey``): grant or remove a user's access.
  Answers the JSON string ``"ok"``.

Refusals use the dialect's usual words: 403 ``You must be logged in to do that``,
403 ``The fkey parameter is missing or invalid``, 403 ``Only room owners can do that``,
403 ``Room owners and moderators cannot be kicked``, 404 for an unknown room (or a
private one the caller cannot read), 400 for a missing or bad field or an unknown
user. A refused request changes nothing: the service checks before it writes.

The web UI's forms add a same-site ``next`` path; with it a success answers 302
there instead (clients of Stack Exchange never send it).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel
from hubbub.dialects.sechat.codec import OK, Reply, parse_int, parse_room_id, text_reply
from hubbub.dialects.sechat.http import SERVICE, done_or_next, handles, signed_in_form
from hubbub.errors import BadRequest

__all__ = ["room_admin_routes"]

_LEVELS: Final[dict[str, AccessLevel | None]] = {
    "read-only": AccessLevel.READ_ONLY,
    "read-write": AccessLevel.READ_WRITE,
    "owner": AccessLevel.OWNER,
    "remove": None,
}


def _room_id(request: web.Request) -> RoomId:
    return parse_room_id(request.match_info["room_id"])


def _duration(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@handles("other")
async def kick_mute(request: web.Request) -> Reply:
    """``POST /rooms/kickmute/{room}`` (``userId``): kick-mute a user (owners and moderators)."""
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    room_id = _room_id(request)
    user_id = UserId(parse_int(form.get("userId"), "userId", minimum=1))
    seconds = await service.rooms.kick(me.user.id, room_id, user_id)
    return done_or_next(form, text_reply(f"The user has been kicked and cannot return for {_duration(seconds)}.", 200))


@handles("other")
async def set_user_access(request: web.Request) -> Reply:
    """``POST /rooms/setuseraccess/{room}`` (``aclUserId``, ``userAccess``): change one user's access."""
    service = request.app[SERVICE]
    me, form = await signed_in_form(request)
    room_id = _room_id(request)
    user_id = UserId(parse_int(form.get("aclUserId"), "aclUserId", minimum=1))
    wanted = form.get("userAccess", "")
    if wanted not in _LEVELS:
        raise BadRequest("userAccess must be read-only, read-write, owner or remove")
    await service.rooms.set_access(me.user.id, room_id, user_id, _LEVELS[wanted])
    return done_or_next(form, OK)


def room_admin_routes() -> list[web.RouteDef]:
    return [
        web.post(r"/rooms/kickmute/{room_id:\d+}", kick_mute),
        web.post(r"/rooms/setuseraccess/{room_id:\d+}", set_user_access),
    ]
