"""Editing one's profile: ``POST /users/usermessage/{user id}`` (``message``), sechat 3.x's ``edit_bio``.

The text is the "about me" line shown on ``/users/{id}`` (at most 200 characters);
people edit their own, moderators anyone's. The answer is ``"ok"``.
"""

from __future__ import annotations

from aiohttp import web

from hubbub.dialects.sechat.codec import OK, Reply, parse_user_id
from hubbub.dialects.sechat.http import SERVICE, handles, signed_in_form

__all__ = ["profile_routes"]


@handles("other")
async def set_user_message(request: web.Request) -> Reply:
    me, form = await signed_in_form(request)
    user_id = parse_user_id(request.match_info["user_id"])
    await request.app[SERVICE].accounts.set_about(me.user.id, user_id, form.get("message", ""))
    return OK


def profile_routes() -> list[web.RouteDef]:
    return [web.post(r"/users/usermessage/{user_id:\d+}", set_user_message)]
