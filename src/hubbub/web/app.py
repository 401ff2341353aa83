"""Build the aiohttp application that serves hubbub's HTTP port.

Routes are listed explicitly (Starlette style): the sechat dialect's form API
(``dialects/sechat/routes.py`` and ``room_admin.py``) and the pages (``web/pages.py``).
The router collapses repeated slashes before matching, because ChatExchange requests
``//chats/leave/<room>`` and ``//rooms/<room>/`` (sechat.md §8.1).

Every HTML response carries a Content-Security-Policy that runs only scripts
served from this origin (no inline script, no ``eval``) and lets pages connect
to this origin and to the websocket gateway. The one inline style it allows is
the tag badge's, by its hash: message content carries it as Stack Exchange does.

A request whose ``Host`` is malformed or not one hubbub answers to (``allowed_hosts``,
``hubbub.hosts``) gets 400 before any handler runs, so no header or URL is ever built
from it; ``/healthz`` answers whatever the ``Host``, for load balancers that probe by address.
"""

from __future__ import annotations

import base64
import hashlib
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from aiohttp.web_urldispatcher import UrlDispatcher, UrlMappingMatchInfo

from hubbub.core.addresses import ClientAddresses, Networks
from hubbub.core.markup import TAG_BADGE_STYLE
from hubbub.dialects.sechat.conversations import conversation_routes
from hubbub.dialects.sechat.http import CLIENT_ADDRESSES, GATEWAY_PORT, SERVICE, SITE, Handler, session_middleware
from hubbub.dialects.sechat.profiles import profile_routes
from hubbub.dialects.sechat.room_admin import room_admin_routes
from hubbub.dialects.sechat.routes import sechat_routes, websocket_base
from hubbub.hosts import Site
from hubbub.service.service import Service
from hubbub.web.client_errors import client_disconnects
from hubbub.web.conversation_pages import conversation_page_routes
from hubbub.web.direct_api import direct_api_routes
from hubbub.web.direct_pages import direct_page_routes
from hubbub.web.operations import METRICS_ALLOWED, operations_routes
from hubbub.web.pages import TEMPLATES, page_routes, templates
from hubbub.web.rendering import page_refusals

__all__ = ["SlashCollapsingRouter", "allowed_host", "content_security_policy", "create_app", "security_headers"]

STATIC_DIR: Final = Path(__file__).parent / "static"
_SLASHES: Final = re.compile(r"/{2,}")
_ANY_HOST_PATHS: Final = frozenset({"/healthz"})
_ANY_HOST_PREFIXES: Final = web.AppKey("any_host_prefixes", tuple[str, ...])
# CSP 'unsafe-hashes' lets exactly this style attribute value apply, and no other inline style.
_BADGE_STYLE_SOURCE: Final = f"'sha256-{base64.b64encode(hashlib.sha256(TAG_BADGE_STYLE.encode()).digest()).decode()}'"


class SlashCollapsingRouter(UrlDispatcher):
    """Matches ``//a//b`` as ``/a/b`` without redirecting (a redirect would turn a POST into a GET)."""

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        path = request.rel_url.path
        if "//" in path:
            collapsed = request.rel_url.with_path(_SLASHES.sub("/", path))
            request = request.clone(rel_url=collapsed)
        return await super().resolve(request)


def _upgrades_to(endpoint: Handler) -> Middleware:
    """Send websocket upgrades, whatever their path, to ``endpoint`` instead of the page routes."""

    @web.middleware
    async def upgrades(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await endpoint(request)
        return await handler(request)

    return upgrades


def content_security_policy(request: web.Request) -> str:
    """The page policy: own scripts, styles and images only; fetches to this origin and the gateway."""
    socket = urlsplit(websocket_base(request))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'unsafe-hashes' {_BADGE_STYLE_SOURCE}",
            "img-src 'self' data:",
            f"connect-src 'self' {socket.scheme}://{socket.netloc}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


@web.middleware
async def allowed_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a malformed or unknown ``Host`` with 400 (websocket upgrades on this port included)."""
    if (
        request.path not in _ANY_HOST_PATHS
        and not request.path.startswith(request.app[_ANY_HOST_PREFIXES])
        and request.app[SITE].host(request.headers.get(hdrs.HOST)) is None
    ):
        return web.Response(
            status=400, text="Bad Request: this server does not answer to that Host header (allowed_hosts)"
        )
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give HTML responses the Content-Security-Policy; forbid MIME sniffing everywhere."""
    response = await handler(request)
    if response.content_type == "text/html" and not response.prepared:
        response.headers["Content-Security-Policy"] = content_security_policy(request)
        response.headers["Referrer-Policy"] = "same-origin"
    if not response.prepared:
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def create_app(
    service: Service,
    gateway_port: list[int],
    *,
    site: Site,
    socket_endpoint: Handler | None = None,
    extra_routes: Sequence[web.RouteDef] = (),
    client_addresses: ClientAddresses | None = None,
    metrics_allowed: Networks | None = None,
    any_host_prefixes: Sequence[str] = (),
) -> web.Application:
    """The HTTP application.

    Args:
        gateway_port: One item, the websocket gateway's bound port, filled in once it
            listens (``/ws-auth`` puts it in the URLs it returns).
        site: The hosts hubbub answers to and its own origin (the gateway's router
            checks ``Origin`` against the same one).
        socket_endpoint: Serves every websocket upgrade on this port (any path); the
            gateway's router decides which dialect gets it.
        extra_routes: Endpoints of other dialects (the realtime publish API ...).
        client_addresses: Whose ``X-Forwarded-For`` to believe (default: nobody's).
        metrics_allowed: Who may read ``/metrics`` (default: anyone).
        any_host_prefixes: Paths answered whatever the ``Host`` (comet's channel hosts are a
            wildcard such as ``0.channel01.<host>``), besides ``/healthz``.
    """
    middlewares: list[Middleware] = [allowed_host, security_headers, session_middleware, page_refusals]
    if socket_endpoint is not None:
        middlewares.insert(1, _upgrades_to(socket_endpoint))
    middlewares.insert(0, client_disconnects)  # outermost: a client that left is nobody's error
    with warnings.catch_warnings():
        # aiohttp 3 deprecates passing a router, but it is the only public hook that resolves a
        # rewritten path without a redirect; tests/web/test_paths.py guards the behaviour.
        warnings.simplefilter("ignore", DeprecationWarning)
        app = web.Application(
            router=SlashCollapsingRouter(),
            middlewares=middlewares,
            client_max_size=service.settings.max_form_bytes,
        )
    app[SERVICE] = service
    app[CLIENT_ADDRESSES] = client_addresses or ClientAddresses()
    app[METRICS_ALLOWED] = metrics_allowed or Networks()
    app[GATEWAY_PORT] = gateway_port
    app[SITE] = site
    app[_ANY_HOST_PREFIXES] = tuple(any_host_prefixes)
    app[TEMPLATES] = templates()
    app.add_routes(sechat_routes())
    app.add_routes(room_admin_routes())
    app.add_routes(conversation_routes())
    app.add_routes(profile_routes())
    app.add_routes(conversation_page_routes())
    app.add_routes(page_routes())
    app.add_routes(direct_api_routes())
    app.add_routes(direct_page_routes())
    app.add_routes(extra_routes)
    app.add_routes(operations_routes())
    app.router.add_static("/static", STATIC_DIR)
    return app
