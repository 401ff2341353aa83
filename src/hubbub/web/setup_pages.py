"""``/setup/{token}``: the one-time page that creates a new server's first account, an administrator.

``hubbub serve`` prints the link while no account exists (``service/first_run.py``).
The form is the sign-up form's, and success ends the same way: signed in, 302 to
``/``. A wrong, used or replaced token, or a server that has accounts, gets 404 with
the reason and no form.
"""

from __future__ import annotations

from aiohttp import web

from hubbub.dialects.sechat.http import SERVICE, check_fkey, expected_fkey, read_form
from hubbub.errors import BadRequest, NotFound, RemoteError
from hubbub.service.first_run import SETUP_PATH

# The account pages' own sign-in and refusal statuses, so a setup ends exactly as a sign-up does.
from hubbub.web.auth_pages import _sign_in, _signup_status
from hubbub.web.rendering import not_found, render

__all__ = ["setup_routes"]


def _setup_form(
    request: web.Request, status: int = 200, *, error: str | None = None, name: str = "", email: str = ""
) -> web.Response:
    return render(
        request,
        "setup.html",
        status,
        title="Create the administrator",
        action=request.path,
        fkey=expected_fkey(request),
        error=error,
        name=name,
        email=email,
    )


async def setup_page(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICE].first_run.check_token(request.match_info["token"])
    except NotFound as error:
        return not_found(request, str(error))
    return _setup_form(request)


async def setup_submit(request: web.Request) -> web.StreamResponse:
    """``POST /setup/{token}`` (``name``, ``email``, ``password``, ``password2``, ``fkey``).

    Success: the moderator account exists, is signed in, 302 to ``/``. Refusals show the
    form again (400 bad fields, 409 e-mail taken, 403 bad fkey, 503 too many passwords being
    hashed right now), or 404 for a dead link.
    """
    service = request.app[SERVICE]
    token = request.match_info["token"]
    form = await read_form(request)
    name, email = form.get("name", ""), form.get("email", "")
    password = form.get("password", "")
    try:
        await service.first_run.check_token(token)  # a dead link says so, whoever follows it
        check_fkey(request, form)
        if password != form.get("password2", password):
            raise BadRequest("The two passwords differ")
        user = await service.first_run.create_administrator(token, name, email=email, password=password)
    except NotFound as error:
        return not_found(request, str(error))
    except RemoteError as error:
        return _setup_form(request, _signup_status(error), error=str(error), name=name, email=email)
    return await _sign_in(request, user, "/")


def setup_routes() -> list[web.RouteDef]:
    return [
        web.get(SETUP_PATH + "{token}", setup_page),
        web.post(SETUP_PATH + "{token}", setup_submit),
    ]
