"""Actions on a user's profile: the "about me" line, and moderators' suspensions.

- ``POST /users/usermessage/{user id}`` (``message``), sechat 3.x's ``edit_bio``: the
  text is the "about me" line shown on ``/users/{id}`` (at most 200 characters);
  people edit their own, moderators anyone's. The answer is ``"ok"``.
- ``POST /users/suspend/{user id}`` (``hours``, 1 to 8760: ``rules.MAX_SUSPENSION_SECONDS``) and
  ``POST /users/unsuspend/{user id}``: moderators suspend a user or lift the
  suspension (``service.moderation``); the answer is ``"ok"``, or 302 to the web
  form's ``next``. Stack Exchange's own suspension form is not part of the chat
  wire, so these are hubbub's paths.

Refusals: 403 not logged in, bad fkey, ``Only moderators can do that``,
``Moderators cannot be suspended``; 404 no such user; 400 a bad ``hours`` or a user
who is not suspended. A refused request changes nothing.
"""

from __future__ import annotations

from aiohttp import web

from hubbub.core.ids import UserId
from hubbub.dialects.sechat.codec import OK, Reply, parse_int, parse_user_id
from hubbub.dialects.sechat.http import SERVICE, done_or_next, handles, signed_in_form

__all__ = ["profile_routes"]


def _user_id(request: web.Request) -> UserId:
    return parse_user_id(request.match_info["user_id"])


@handles("other")
async def set_user_message(request: web.Request) -> Reply:
    me, form = await signed_in_form(request)
    await request.app[SERVICE].accounts.set_about(me.user.id, _user_id(request), form.get("message", ""))
    return OK


@handles("other")
async def suspend_user(request: web.Request) -> Reply:
    """``POST /users/suspend/{id}`` (``hours``): suspend a user from now on; moderators only."""
    me, form = await signed_in_form(request)
    user_id = _user_id(request)
    hours = parse_int(form.get("hours"), "hours", minimum=1)  # the rule bounds the length
    await request.app[SERVICE].moderation.suspend(me.user.id, user_id, hours * 3600)
    return done_or_next(form, OK)


@handles("other")
async def unsuspend_user(request: web.Request) -> Reply:
    """``POST /users/unsuspend/{id}``: lift a user's suspension now; moderators only."""
    me, form = await signed_in_form(request)
    await request.app[SERVICE].moderation.unsuspend(me.user.id, _user_id(request))
    return done_or_next(form, OK)


def profile_routes() -> list[web.RouteDef]:
    return [
        web.post(r"/users/usermessage/{user_id:\d+}", set_user_message),
        web.post(r"/users/suspend/{user_id:\d+}", suspend_user),
        web.post(r"/users/unsuspend/{user_id:\d+}", unsuspend_user),
    ]
