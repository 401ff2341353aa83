"""What every page handler shares: the Jinja environment, ``render``, redirects and small parsers.

Templates autoescape everything; the only HTML that reaches a page unescaped is a
message's ``content``, which the server's sanitiser produced (core/markup.py).
"""

from __future__ import annotations

import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from hubbub.dialects.sechat.codec import refusal
from hubbub.dialects.sechat.http import SERVICE, Handler, expected_fkey, viewer
from hubbub.errors import RemoteError
from hubbub.service.queries import PRESENT_COUNTED

__all__ = [
    "NO_ROOM",
    "TEMPLATES",
    "ago",
    "not_found",
    "page_refusals",
    "query_int",
    "redirect",
    "render",
    "safe_return",
    "templates",
]

TEMPLATES: Final = web.AppKey("templates", jinja2.Environment)
NO_ROOM: Final = "The room does not exist, or you do not have permission."


def _isotime(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).isoformat().replace("+00:00", "Z")


def _clocktime(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).strftime("%H:%M")


def _datetime(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _headcount(count: int, shown: int = 0) -> str:
    """People present beyond the ``shown`` ones, from a count taken up to ``PRESENT_COUNTED + 1``:
    "1000+" (or "900+" beyond 100 shown) when the count went over the cap."""
    if count > PRESENT_COUNTED:
        return f"{PRESENT_COUNTED - shown}+"
    return str(count - shown)


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("hubbub.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    environment.filters["isotime"] = _isotime
    environment.filters["clocktime"] = _clocktime
    environment.filters["datetime"] = _datetime
    environment.filters["headcount"] = _headcount
    return environment


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """The page ``template`` with the viewer, the sign-up switch, the title and ``page_fkey`` filled in."""
    environment = request.app[TEMPLATES]
    settings = request.app[SERVICE].settings
    html = environment.get_template(template).render(
        me=viewer(request),
        allow_signup=settings.allow_signup,
        title=context.pop("title", "hubbub"),
        path=request.path,
        page_fkey=expected_fkey(request),
        **context,
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")


def redirect(location: str) -> web.Response:
    """A 302 that can carry cookies (aiohttp deprecates returning ``HTTPFound``)."""
    return web.Response(status=302, headers={"Location": location})


def not_found(request: web.Request, detail: str = "There is nothing here.") -> web.Response:
    return render(request, "error.html", 404, title="Not found", heading="Not found", detail=detail)


_HEADINGS: Final = {400: "Bad request", 403: "Not allowed", 404: "Not found", 408: "Too slow", 413: "Too large"}


@web.middleware
async def page_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A refusal that a page handler did not answer itself, as the error page.

    Pages answer their usual refusals with their own words; this catches the rest, such as a
    form that cannot be read at all. The status is the one the sechat dialect gives the same
    error (``codec.refusal``), so a page and an API call refuse alike. Dialect endpoints answer
    their refusals before they get here.
    """
    try:
        return await handler(request)
    except RemoteError as error:
        status = refusal(error, "other").status
        heading = _HEADINGS.get(status, "Refused")
        return render(request, "error.html", status, title=heading, heading=heading, detail=str(error))


def query_int(request: web.Request, key: str, default: int, *, minimum: int = 1, maximum: int = 10**9) -> int:
    """An integer query parameter clamped to ``[minimum, maximum]``; junk gives ``default``."""
    raw = request.query.get(key, "")
    try:
        value = int(raw) if raw.strip() else default
    except ValueError:
        value = default
    return min(max(value, minimum), maximum)


def safe_return(url: str | None) -> str:
    """Only same-site paths: ``/rooms/4`` yes, ``https://elsewhere``, ``//elsewhere``, ``/\\x`` no."""
    if not url:
        return "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith(("//", "/\\")):
        return "/"
    return url


def ago(now: int, then: int) -> str:
    """``5m ago`` style, as ChatExchange's ``parse_last_seen`` reads it."""
    if then <= 0:
        return "n/a"
    seconds = max(0, now - then)
    if seconds < 10:
        return "just now"
    for unit, size in (("y", 365 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
