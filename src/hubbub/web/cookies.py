"""How hubbub sets cookies: one function, so every cookie gets the same attributes.

``Path=/``, ``HttpOnly``, ``SameSite=Lax`` and no ``Domain`` (sechat.md §3.8: clients
look the ``acct`` and ``prov`` cookies up for the host they logged in to), and
``Secure`` whenever hubbub is reached over TLS (``Site.cookies_secure``): on plain
HTTP a Secure cookie would never come back, over TLS one without it could leak to an
``http://`` request.
"""

from __future__ import annotations

from aiohttp import web

from hubbub.dialects.sechat.http import SITE

__all__ = ["set_cookie"]


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, *, max_age: int | None = None
) -> None:
    """Set cookie ``name`` on ``response``, with hubbub's attributes for ``request``."""
    response.set_cookie(
        name,
        value,
        path="/",
        httponly=True,
        samesite="Lax",
        max_age=max_age,
        secure=request.app[SITE].cookies_secure(request.secure),
    )
