"""What both websocket servers share: routing by path, the origin allowlist, per-address limits.

A ``SocketHandler`` is one dialect's websocket endpoint (sechat's event socket,
the realtime feed). Servers build the ``Handshake`` with ``SocketRouter.handshake``
and call ``accept`` before upgrading (it may refuse with an HTTP status), then
``opened``/``received``/``closed`` as the socket lives. The
checks that need the store (``authorize``) run before the upgrade where the server
can wait for them (aiohttp, on the HTTP port), and right after it where it cannot
(picows answers upgrades synchronously): then the handler runs them itself from
``opened`` and closes the socket if they refuse.

Cookies reach a handler only from hubbub's own pages or from programs that send no
``Origin`` (``Site.may_use_cookies``): a page on another origin that opens a socket
gets an anonymous one, whatever cookies the browser attached. Token-authenticated
sockets (``/ws-auth`` URLs, ``?token=``) do not depend on the origin.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol
from urllib.parse import parse_qsl, urlsplit

from hubbub.cookie_header import parse_cookies
from hubbub.core.addresses import AddressCounts, ClientAddresses
from hubbub.fanout.connection import AUTHORIZED, Connection, Handshake, Refusal
from hubbub.hosts import Site

__all__ = ["WEBSOCKET_VERSION", "GatewayLimits", "SocketHandler", "SocketRouter", "collect_headers", "parse_handshake"]

FORWARDED_FOR: Final = "x-forwarded-for"

log = logging.getLogger("hubbub.gateway")

WEBSOCKET_VERSION: Final = "13"  # RFC 6455; the drafts' 7 and 8 are not spoken
# RFC 6455 §4.4: a version the server does not speak is refused (426 is the example it gives)
# with the versions it does speak in Sec-WebSocket-Version.
_WRONG_VERSION: Final = Refusal(
    426, "This server speaks websocket version 13 only", {"Sec-WebSocket-Version": WEBSOCKET_VERSION}
)


class SocketHandler(Protocol):
    def accept(self, handshake: Handshake) -> Refusal | None:
        """Check the upgrade before it happens (tokens, paths), without I/O; None accepts it."""
        ...

    async def authorize(self, handshake: Handshake) -> Refusal | None:
        """The checks that need the store (one-shot socket URLs, session cookies); None accepts.

        A server that can wait before answering the upgrade awaits it then and sets
        ``handshake.extra[AUTHORIZED]``; otherwise the handler awaits it after ``opened``.
        """
        ...

    def opened(self, connection: Connection) -> None: ...

    def received(self, connection: Connection, text: str) -> None: ...

    def closed(self, connection: Connection) -> None: ...


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    send_buffer_bytes: int
    max_frame_bytes: int
    max_connections_per_ip: int
    allowed_origins: frozenset[str] | None  # None: any origin
    socket_send_buffer_bytes: int = 0  # 0: the kernel's default
    socket_receive_buffer_bytes: int = 0  # 0: the kernel's default
    close_timeout: float = 10.0  # seconds a closing connection may take to flush, before it is cut
    client_addresses: ClientAddresses = field(default_factory=ClientAddresses)  # whose X-Forwarded-For counts

    def tune(self, raw: socket.socket | None) -> None:
        """Cap the kernel's buffers for one accepted websocket.

        The send buffer, so that a stalled peer holds a known amount of memory; the
        receive buffer, so that one read hands the server a bounded number of frames
        (auto-tuned, it grows to megabytes under a flood, and every frame of a read is
        handled before anyone else gets the event loop).
        """
        if raw is None:
            return
        if self.socket_send_buffer_bytes > 0:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_send_buffer_bytes)
        if self.socket_receive_buffer_bytes > 0:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.socket_receive_buffer_bytes)


def collect_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased request headers; a repeated header counts once (Origin, sometimes), except
    ``X-Forwarded-For``, whose lines are joined in order (each proxy may add one)."""
    headers: dict[str, str] = {}
    forwarded: list[str] = []
    for name, value in items:
        lowered = name.lower()
        if lowered == FORWARDED_FOR:
            forwarded.append(value)
        else:
            headers.setdefault(lowered, value)
    if forwarded:
        headers[FORWARDED_FOR] = ", ".join(forwarded)
    return headers


def parse_handshake(
    target: str, headers: Mapping[str, str], *, secure: bool = False, with_cookies: bool = True
) -> Handshake:
    """Build a ``Handshake`` from a request target (path and query) and lower-cased headers.

    ``with_cookies=False`` leaves the cookies out, the ``Cookie`` header too (an upgrade
    from another origin's page), so no handler can read them by another way.
    """
    parts = urlsplit(target)
    if not with_cookies:
        headers = {name: value for name, value in headers.items() if name != "cookie"}
    return Handshake(
        path=parts.path or "/",
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        cookies=parse_cookies(headers.get("cookie")),
        secure=secure,
    )


class SocketRouter:
    """Picks the handler for a path; enforces origins and connections per address."""

    def __init__(self, routes: Sequence[tuple[str, SocketHandler]], limits: GatewayLimits, site: Site) -> None:
        # Longest prefix first; "/" matches only the root itself.
        self._routes = sorted(routes, key=lambda route: len(route[0]), reverse=True)
        self.limits = limits
        self._site = site
        self._per_address = AddressCounts(limits.max_connections_per_ip)

    def handshake(self, target: str, headers: Mapping[str, str], *, secure: bool = False) -> Handshake:
        """The ``Handshake`` of an upgrade; its cookies only if ``Site.may_use_cookies`` allows them."""
        with_cookies = self._site.may_use_cookies(headers.get("origin"))
        return parse_handshake(target, headers, secure=secure, with_cookies=with_cookies)

    def handler_for(self, path: str) -> SocketHandler | None:
        for prefix, handler in self._routes:
            if (prefix == "/" and path == "/") or (prefix != "/" and path.startswith(prefix)):
                return handler
        return None

    def accept(self, handshake: Handshake) -> tuple[SocketHandler | None, Refusal | None]:
        if handshake.headers.get("sec-websocket-version", "").strip() != WEBSOCKET_VERSION:
            return None, _WRONG_VERSION
        handler = self.handler_for(handshake.path)
        if handler is None:
            return None, Refusal(404, "Not Found")
        allowed = self.limits.allowed_origins
        if allowed is not None:
            origin = handshake.headers.get("origin", "").rstrip("/")
            if origin not in allowed:
                return None, Refusal(403, "Origin not allowed")
        return handler, handler.accept(handshake)

    @staticmethod
    async def authorize(handler: SocketHandler, handshake: Handshake) -> Refusal | None:
        """Run the handler's store checks now, before the upgrade is answered."""
        refusal = await handler.authorize(handshake)
        if refusal is None:
            handshake.extra[AUTHORIZED] = True
        return refusal

    def client_address(self, peer: str | None, handshake: Handshake) -> str:
        """Who opened this socket, through trusted proxies: every per-address limit counts this."""
        forwarded = handshake.headers.get(FORWARDED_FOR)
        return self.limits.client_addresses.of(peer, (forwarded,) if forwarded else ())

    def admit(self, remote: str) -> bool:
        """Count a new connection from ``remote``; False when that address has too many."""
        if not self._per_address.admit(remote):
            log.warning("refusing a websocket from %s: %d open already", remote, self._per_address.open_from(remote))
            return False
        return True

    def release(self, remote: str) -> None:
        self._per_address.release(remote)

    def connections_from(self, remote: str) -> int:
        return self._per_address.open_from(remote)
