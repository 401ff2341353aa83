"""The comet dialect's pages: ``/login.php``, ``/home.php``, ``/presence/popout.php``, ``/logout.php``.

Clients log in by submitting the first form of ``/login.php`` (``email``, ``pass``): good
credentials answer ``302 Found`` with hubbub's session cookie and ``c_user=<uid>``, bad ones the
form again with ``200`` (Miranda tells them apart by the status, §C.8). The home and pop-out
pages carry the markers the clients scrape (``codec.home_page``).
"""

from __future__ import annotations

import secrets
from typing import Final

from aiohttp import web

from hubbub.dialects.comet.markup import home_page, login_page
from hubbub.dialects.sechat.http import (
    SERVICE,
    SESSION_COOKIE,
    SITE,
    client_address,
    read_form,
    request_cookie,
    signed_in,
)
from hubbub.errors import InvalidCredentials, RateLimited, RemoteError

__all__ = ["PROVIDER_COOKIE", "USER_COOKIE", "page_routes"]

USER_COOKIE: Final = "c_user"
PROVIDER_COOKIE: Final = "prov"  # set beside the session cookie, as the sechat login does


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _found(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


def _set_cookie(request: web.Request, response: web.Response, name: str, value: str, max_age: int) -> None:
    domain = request.app[SERVICE].settings.comet_cookie_domain or None
    response.set_cookie(
        name,
        value,
        path="/",
        domain=domain,
        max_age=max_age,
        httponly=name != USER_COOKIE,  # Kopete and Miranda read c_user from their cookie jar
        samesite="Lax",
        secure=request.app[SITE].cookies_secure(request.secure),
    )


async def login_form(request: web.Request) -> web.Response:
    return _html(login_page())


async def login_submit(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        form = await read_form(request)
    except RemoteError as error:
        return _html(login_page(error=str(error)), 400)
    email = form.get("email", "")
    try:
        user = await service.accounts.authenticate(email, form.get("pass", ""), client=client_address(request))
    except (InvalidCredentials, RateLimited) as error:
        return _html(login_page(error=str(error), email=email))
    token, session = await service.accounts.open_session(user)
    response = _found("/home.php")
    max_age = session.expires_at - session.created_at
    _set_cookie(request, response, SESSION_COOKIE, token, max_age)
    _set_cookie(request, response, PROVIDER_COOKIE, secrets.token_hex(16), max_age)
    _set_cookie(request, response, USER_COOKIE, str(int(user.id)), max_age)
    return response


async def _signed_in_page(request: web.Request, title: str) -> web.Response:
    session = signed_in(request)
    if session is None:
        return _found("/login.php")
    return _html(
        home_page(
            base_url=f"{request.scheme}://{request.host}",
            uid=session.user.id,
            name=session.user.name,
            post_form_id=session.session.fkey,
            title=title,
        )
    )


async def home(request: web.Request) -> web.Response:
    return await _signed_in_page(request, "Home")


async def popout(request: web.Request) -> web.Response:
    return await _signed_in_page(request, "Chat")


async def logout(request: web.Request) -> web.Response:
    """``POST /logout.php`` (``confirm=1``, ``post_form_id``): end the session."""
    session = signed_in(request)
    if session is None:
        return _found("/login.php")
    try:
        form = await read_form(request)
    except RemoteError as error:
        return _html(login_page(error=str(error)), 400)
    if form.get("post_form_id") != session.session.fkey:  # a cross-site form must not end a session
        return _html(login_page(error="The post_form_id is missing or does not belong to this session"), 403)
    await request.app[SERVICE].accounts.close_session(request_cookie(request, SESSION_COOKIE) or "")
    response = _found("/login.php")
    domain = request.app[SERVICE].settings.comet_cookie_domain or None
    for name in (SESSION_COOKIE, PROVIDER_COOKIE, USER_COOKIE):
        response.del_cookie(name, path="/", domain=domain)
    return response


async def logout_form(request: web.Request) -> web.Response:
    """``GET /logout.php`` changes nothing: back to the page whose form posts it."""
    return _found("/home.php" if signed_in(request) is not None else "/login.php")


def page_routes() -> list[web.RouteDef]:
    return [
        web.get("/login.php", login_form),
        web.post("/login.php", login_submit),
        web.get("/home.php", home),
        web.get("/presence/popout.php", popout),
        web.post("/logout.php", logout),
        web.get("/logout.php", logout_form),
    ]
