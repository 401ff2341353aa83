"""The signed-in user's own account page: changing one's password (``/users/password``).

``POST /users/password`` (``current``, ``password``, ``password2``, ``fkey``) needs the
current password; on success the user's other sessions end (they are logged out
and their sockets close, on every node: ``service.accounts.change_password``) and
the page answers 302 to itself with a notice. Refusals show the form again and
change nothing: 403 bad fkey or wrong current password, 400 a short password or
two new passwords that differ, 429 too many wrong current passwords.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from hubbub.dialects.sechat.http import SERVICE, check_fkey, expected_fkey, read_form, signed_in
from hubbub.errors import BadRequest, RateLimited, RemoteError
from hubbub.web.rendering import redirect, render

__all__ = ["account_routes"]

PASSWORD_PATH: Final = "/users/password"
CHANGED_NOTICE: Final = "Your password is changed. Every other session of yours has ended."


def _password_form(request: web.Request, status: int = 200, *, error: str | None = None) -> web.Response:
    notice = CHANGED_NOTICE if request.query.get("done") == "changed" and error is None else None
    return render(
        request,
        "password.html",
        status,
        title="Change password",
        fkey=expected_fkey(request),
        error=error,
        notice=notice,
    )


async def password_page(request: web.Request) -> web.Response:
    if signed_in(request) is None:
        return redirect(f"/users/login?returnurl={PASSWORD_PATH}")
    return _password_form(request)


async def password_submit(request: web.Request) -> web.Response:
    me = signed_in(request)
    if me is None:
        return redirect(f"/users/login?returnurl={PASSWORD_PATH}")
    form = await read_form(request)
    try:
        check_fkey(request, form)
        new = form.get("password", "")
        if new != form.get("password2", new):
            raise BadRequest("The two new passwords differ")
        await request.app[SERVICE].accounts.change_password(me, form.get("current", ""), new)
    except RemoteError as error:
        status = 429 if isinstance(error, RateLimited) else 400 if isinstance(error, BadRequest) else 403
        return _password_form(request, status, error=str(error))
    return redirect(f"{PASSWORD_PATH}?done=changed")


def account_routes() -> list[web.RouteDef]:
    return [web.get(PASSWORD_PATH, password_page), web.post(PASSWORD_PATH, password_submit)]
