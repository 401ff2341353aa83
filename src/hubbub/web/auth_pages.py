"""Signing up, logging in and logging out: the account pages (sechat.md §3.8 for the login form).

The login form is ``#login-form`` holding the page's first ``fkey`` input; good
credentials answer 302 with the ``acct`` and ``prov`` cookies, bad ones the form
again with status 200, as every client library expects. Sign-up creates the
account through the service (starting reputation ``new_user_reputation``) and
signs the new user in the same way.
"""

from __future__ import annotations

import secrets
from typing import Final

from aiohttp import web

from hubbub.core.models import User
from hubbub.dialects.sechat.http import (
    SERVICE,
    SESSION_COOKIE,
    check_fkey,
    client_address,
    expected_fkey,
    read_form,
    request_cookie,
    require_user,
    signed_in,
)
from hubbub.errors import BadRequest, Busy, Conflict, InvalidCredentials, RateLimited, RemoteError
from hubbub.web.cookies import set_cookie
from hubbub.web.rendering import not_found, redirect, render, safe_return

__all__ = ["CHAT_USER_COOKIES", "PROVIDER_COOKIE", "auth_routes"]

PROVIDER_COOKIE: Final = "prov"
CHAT_USER_COOKIES: Final = ("chatusr", "sechatusr")


async def _sign_in(request: web.Request, user: User, location: str) -> web.Response:
    """Open a session for ``user`` and answer 302 to ``location`` with the session cookies."""
    service = request.app[SERVICE]
    token, session = await service.accounts.open_session(user)
    response = redirect(location)
    max_age = session.expires_at - session.created_at
    set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)
    set_cookie(request, response, PROVIDER_COOKIE, secrets.token_hex(16), max_age=max_age)
    return response


# logging in


def _login_form(request: web.Request, *, returnurl: str, error: str | None = None, email: str = "") -> web.Response:
    return render(
        request,
        "login.html",
        title="Log in",
        login_fkey=expected_fkey(request),
        returnurl=returnurl,
        error=error,
        email=email,
    )


async def login_page(request: web.Request) -> web.Response:
    return _login_form(request, returnurl=safe_return(request.query.get("returnurl")))


async def login_submit(request: web.Request) -> web.StreamResponse:
    """``POST /users/login``: 302 to ``/`` with ``acct``/``prov`` cookies, or the form again."""
    service = request.app[SERVICE]
    form = await read_form(request)
    email = form.get("email", "")
    returnurl = safe_return(form.get("returnurl"))
    try:
        user = await service.accounts.authenticate(email, form.get("password", ""), client=client_address(request))
    except (InvalidCredentials, RateLimited) as error:
        return _login_form(request, returnurl=returnurl, error=str(error), email=email)
    return await _sign_in(request, user, returnurl)


async def login_track(request: web.Request) -> web.Response:
    """``POST /users/login-or-signup/validation/track``: sechat 1.x wants ``Login-OK`` for good credentials."""
    service = request.app[SERVICE]
    form = await read_form(request)
    try:
        await service.accounts.authenticate(
            form.get("email", ""), form.get("password", ""), client=client_address(request)
        )
    except (InvalidCredentials, RateLimited):
        return web.Response(text="Login-Failed", content_type="text/plain")
    return web.Response(text="Login-OK", content_type="text/plain")


async def universal_login(request: web.Request) -> web.Response:
    return web.Response(text="", content_type="text/plain")


# signing up


def _signup_form(
    request: web.Request, status: int = 200, *, error: str | None = None, name: str = "", email: str = ""
) -> web.Response:
    return render(
        request,
        "signup.html",
        status,
        title="Sign up",
        fkey=expected_fkey(request),
        returnurl=safe_return(request.query.get("returnurl")),
        error=error,
        name=name,
        email=email,
    )


def _signup_status(error: RemoteError) -> int:
    for kind, status in ((Conflict, 409), (Busy, 503), (RateLimited, 429), (BadRequest, 400)):
        if isinstance(error, kind):
            return status
    return 403


async def signup_page(request: web.Request) -> web.Response:
    if not request.app[SERVICE].settings.allow_signup:
        return not_found(request, "Sign-up is closed on this server.")
    return _signup_form(request)


async def signup_submit(request: web.Request) -> web.StreamResponse:
    """``POST /users/signup`` (``name``, ``email``, ``password``, ``password2``, ``fkey``).

    Success: 302 to ``returnurl`` (default ``/``), signed in. Refusals show the form
    again: 400 bad fields, 409 e-mail taken, 403 bad fkey, 429 too many attempts,
    503 too many passwords being hashed right now (that attempt is not counted).
    """
    service = request.app[SERVICE]
    if not service.settings.allow_signup:
        return not_found(request, "Sign-up is closed on this server.")
    form = await read_form(request)
    name, email = form.get("name", ""), form.get("email", "")
    password = form.get("password", "")
    try:
        check_fkey(request, form)
        if password != form.get("password2", password):
            raise BadRequest("The two passwords differ")
        # Sign-ups draw on the tightest login bucket, so one client cannot create accounts in bulk.
        ticket = await service.context.login_limits.per_address_account.acquire(f"signup:{client_address(request)}")
        try:
            user = await service.accounts.create_user(name, email=email, password=password)
        except Busy:
            await ticket.refund()
            raise
    except RemoteError as error:
        return _signup_form(request, _signup_status(error), error=str(error), name=name, email=email)
    return await _sign_in(request, user, safe_return(form.get("returnurl")))


# logging out


async def logout_page(request: web.Request) -> web.StreamResponse:
    if signed_in(request) is None:
        return redirect("/")
    return render(request, "logout.html", title="Log out", fkey=expected_fkey(request))


async def logout_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        require_user(request)
        check_fkey(request, form)
    except RemoteError as error:
        return render(request, "error.html", 403, title="Log out", heading="Log out", detail=str(error))
    token = request_cookie(request, SESSION_COOKIE) or ""
    await request.app[SERVICE].accounts.close_session(token)
    response = redirect("/")
    for name in (SESSION_COOKIE, PROVIDER_COOKIE, *CHAT_USER_COOKIES):
        response.del_cookie(name, path="/")
    return response


def auth_routes() -> list[web.RouteDef]:
    return [
        web.get("/users/login", login_page),
        web.post("/users/login", login_submit),
        web.post("/users/login-or-signup/validation/track", login_track),
        web.post("/users/login/universal/request", universal_login),
        web.get("/users/signup", signup_page),
        web.post("/users/signup", signup_submit),
        web.get("/users/logout", logout_page),
        web.post("/users/logout", logout_submit),
    ]
