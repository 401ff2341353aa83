"""What every sechat HTTP handler needs: the signed-in user, the form, the fkey check, replies.

The session comes from the ``acct`` cookie that ``POST /users/login`` sets. A
session has one stable ``fkey``; every POST of a signed-in client must carry it
(``/user/info`` excepted: OakBot and sochat4j post it without one). Visitors who
are not signed in may send the anonymous fkey that their pages show, or none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDict, MultiDictProxy

from hubbub.cookie_header import cookie_value
from hubbub.core.addresses import ClientAddresses
from hubbub.core.direct import Activity
from hubbub.core.models import User
from hubbub.dialects.sechat.codec import Action, Reply, refusal
from hubbub.errors import BadRequest, BodyTooLarge, InvalidFkey, NotLoggedIn, RemoteError
from hubbub.hosts import Site
from hubbub.service.accounts import SignedIn
from hubbub.service.service import Service

__all__ = [
    "CLIENT_ADDRESSES",
    "GATEWAY_PORT",
    "SERVICE",
    "SESSION_COOKIE",
    "SITE",
    "Handler",
    "check_fkey",
    "client_address",
    "done_or_next",
    "expected_fkey",
    "handles",
    "mark_refused",
    "read_body",
    "read_form",
    "request_activity",
    "request_cookie",
    "require_user",
    "respond",
    "session_middleware",
    "signed_in",
    "signed_in_form",
    "viewer",
]

log = logging.getLogger("hubbub.sechat")

SERVICE: Final = web.AppKey("service", Service)
GATEWAY_PORT: Final = web.AppKey("gateway_port", list[int])  # one item, set once the gateway has bound
SITE: Final = web.AppKey("site", Site)  # hosts, own origin, Secure cookies (hubbub.hosts)
CLIENT_ADDRESSES: Final = web.AppKey("client_addresses", ClientAddresses)
SESSION_COOKIE: Final = "acct"
_SIGNED_IN: Final = web.RequestKey[SignedIn | None]("signed_in")
_REFUSED: Final = web.RequestKey[bool]("refused")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_cookie(request: web.Request, name: str) -> str | None:
    """The cookie ``name`` of a request, read as every port reads cookies (``hubbub.cookie_header``)."""
    return cookie_value("; ".join(request.headers.getall(hdrs.COOKIE, ())), name)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request_cookie(request, SESSION_COOKIE)
    service = request.app[SERVICE]
    session = await service.accounts.signed_in(token) if token else None
    request[_SIGNED_IN] = session
    response = await handler(request)
    # A request is a sighting of its user once it succeeded: a refused one changes nothing.
    if session is not None and response.status < 400 and not request.get(_REFUSED, False):
        try:
            await service.presence.touch(
                session.user.id, request_activity(request.method, request.path, request.headers)
            )
        except Exception:  # presence is best effort: a store hiccup must not fail the answered request
            log.exception("could not record presence")
    return response


def request_activity(method: str, path: str, headers: Mapping[str, str]) -> Activity:
    """What a signed-in request says about its user: opening a page or posting a message is
    activity; anything else (polls, reads, a bot's calls) only shows that a client is there."""
    if method == "POST" and path.endswith("/messages/new"):
        return Activity.ACTIVE
    if method == "GET" and "text/html" in headers.get("Accept", ""):
        return Activity.ACTIVE
    return Activity.SEEN


def mark_refused(request: web.Request) -> None:
    """The request was refused though its answer is a success status (a dialect's error envelope):
    it must change nothing, so it is no sighting for presence either."""
    request[_REFUSED] = True


def signed_in(request: web.Request) -> SignedIn | None:
    return request.get(_SIGNED_IN)


def viewer(request: web.Request) -> User | None:
    session = signed_in(request)
    return None if session is None else session.user


def require_user(request: web.Request) -> SignedIn:
    session = signed_in(request)
    if session is None:
        raise NotLoggedIn()
    return session


def expected_fkey(request: web.Request) -> str:
    session = signed_in(request)
    return session.session.fkey if session is not None else request.app[SERVICE].accounts.anonymous_fkey()


def check_fkey(request: web.Request, form: MultiDictProxy[str]) -> None:
    """Refuse a signed-in POST without its session's fkey, and any POST with a wrong one."""
    sent = form.get("fkey")
    if sent is None and signed_in(request) is None:
        return
    if sent != expected_fkey(request):
        raise InvalidFkey()


# What aiohttp raises for a body it cannot parse: bytes that are not in the body's charset
# (UnicodeDecodeError is a ValueError), a charset Python does not know (LookupError), multipart
# without a boundary or with broken parts (ValueError, RuntimeError for an unknown part encoding,
# HttpProcessingError for too many part headers), and a broken chunked or compressed body
# (RequestPayloadError). Each is the client's mistake, so each is a 400, never a server error.
_MALFORMED_BODY: Final = (ValueError, LookupError, RuntimeError, HttpProcessingError, RequestPayloadError)


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """The urlencoded (or multipart) form of a POST; only its text fields.

    Raises:
        BadRequest: The body cannot be decoded or parsed as a form.
        BodyTooLarge: Over ``max_form_bytes``, or too many fields.
        SlowRequest: The body arrived too slowly (``hubbub.web.server`` fails the read).
    """
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge as error:
        raise BodyTooLarge(error.text or "The request body is too large") from None
    except _MALFORMED_BODY as error:
        raise BadRequest(f"The form cannot be read: {_describe(error)}") from None
    return MultiDictProxy(MultiDict((key, value) for key, value in form.items() if isinstance(value, str)))


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body of a request, at most ``limit`` bytes.

    Raises:
        BodyTooLarge: Over ``limit`` (said by Content-Length, or found while reading).
        BadRequest: A broken chunked or compressed body.
        SlowRequest: The body arrived too slowly.
    """
    too_large = BodyTooLarge(f"The body may be at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None  # a chunked body over the app's client_max_size
    except RequestPayloadError as error:
        raise BadRequest(f"The body cannot be read: {_describe(error)}") from None
    if len(body) > limit:
        raise too_large
    return body


def _describe(error: BaseException) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"it is not valid {error.encoding}"
    if isinstance(error, LookupError):
        return f"unknown charset ({error})"
    return str(error) or type(error).__name__


async def signed_in_form(request: web.Request) -> tuple[SignedIn, MultiDictProxy[str]]:
    """The caller and the form of a POST that needs one: not signed in is refused before a bad fkey."""
    form = await read_form(request)
    me = require_user(request)
    check_fkey(request, form)
    return me, form


def done_or_next(form: MultiDictProxy[str], reply: Reply) -> Reply:
    """``reply``, or 302 to the form's same-site ``next`` path: the web UI's forms send one
    (clients of Stack Exchange never do). Any other ``next`` is ignored."""
    target = form.get("next", "")
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith(("//", "/\\")) or parts.scheme or parts.netloc:
        return reply
    return Reply(302, b"", None, location=target)


def client_address(request: web.Request) -> str:
    """The client behind this request, through trusted proxies (``hubbub.core.addresses``)."""
    addresses = request.app.get(CLIENT_ADDRESSES) or ClientAddresses()
    return addresses.of(request.remote, request.headers.getall("X-Forwarded-For", ()))


def respond(reply: Reply) -> web.Response:
    content_type, charset = None, None
    if reply.content_type is not None:
        content_type, _, params = reply.content_type.partition(";")
        if "charset=" in params:
            charset = params.split("charset=", 1)[1].strip()
    response = web.Response(status=reply.status, body=reply.body, content_type=content_type, charset=charset)
    if reply.location is not None:
        response.headers["Location"] = reply.location
    return response


def handles(action: Action) -> Callable[[Callable[[web.Request], Awaitable[Reply]]], Handler]:
    """Wrap a handler that returns a ``Reply``: refusals become the dialect's answer for ``action``."""

    def decorate(handler: Callable[[web.Request], Awaitable[Reply]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                reply = await handler(request)
            except RemoteError as error:
                reply = refusal(error, action)
            return respond(reply)

        wrapped.__name__ = handler.__name__
        wrapped.__doc__ = handler.__doc__
        return wrapped

    return decorate
