"""The HTTP port's limits, who may open a connection to it, and the plain answers it writes itself.

Each port counts its open connections per address (an IPv4 address, or an IPv6 /64, where one
host's addresses live); one more than ``http_max_connections_per_ip`` is answered ``503`` and
closed before anything is read. Trusted proxies carry many clients and are not counted. Both
kinds of connection the port has, aiohttp's (``web.server``) and the comet poll connections
(``web.poll_connections``), admit through ``admit`` here and share one ``AddressCounts``.
``HttpLimits`` also carries the time limits ``web.server`` applies to a connection once admitted.
What the port answers below any dialect (503 here, 408, 400, 431) is a ``plain_response``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Final, cast

from hubbub.core.addresses import AddressCounts, Networks, parse_networks
from hubbub.settings import Settings

__all__ = ["TOO_MANY_CONNECTIONS", "HttpLimits", "address_key", "admit", "plain_response"]


def plain_response(status: str, text: str, *extra: str) -> bytes:
    """A whole ``text/plain`` answer that closes the connection (``extra``: more header lines)."""
    body = text.encode("utf-8")
    head = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


TOO_MANY_CONNECTIONS: Final = plain_response(
    "503 Service Unavailable", "Too many connections from your address", "Retry-After: 10"
)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The HTTP port's connection limits (seconds, bytes per second, connections)."""

    head_timeout: float
    body_timeout: float
    body_min_rate: float
    keepalive_timeout: float
    max_connections_per_address: int  # 0: no cap
    # Trusted proxies carry many clients on their connections: the cap does not count them
    # (per-address limits that see the client behind them apply once a request is read).
    uncapped: Networks = field(default_factory=Networks)

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        """Raises: ConfigError for a ``trusted_proxies`` entry that is not an address or network."""
        return cls(
            head_timeout=settings.http_head_timeout,
            body_timeout=settings.http_body_timeout,
            body_min_rate=settings.http_body_min_rate,
            keepalive_timeout=settings.http_keepalive_timeout,
            max_connections_per_address=settings.http_max_connections_per_ip,
            uncapped=parse_networks("trusted_proxies", settings.trusted_proxies),
        )


def address_key(peername: Any) -> str | None:
    """Who a connection counts against: its IPv4 address, or its IPv6 /64; None when not IP."""
    if not isinstance(peername, tuple) or not peername:
        return None
    try:
        address = ipaddress.ip_address(str(peername[0]).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def admit(transport: asyncio.BaseTransport, limits: HttpLimits, counts: AddressCounts) -> tuple[bool, str | None]:
    """Count a new connection against its address's cap: (admitted, the address key counted).

    A connection over the cap is answered ``503`` and closed here, before anything is read.
    """
    peer = transport.get_extra_info("peername")
    from_proxy = isinstance(peer, tuple) and bool(peer) and str(peer[0]) in limits.uncapped
    key = None if from_proxy else address_key(peer)
    if key is not None and not counts.admit(key):
        # (A cast, not an isinstance check: uvloop's transports are not asyncio.Transport subclasses.)
        writer = cast(asyncio.WriteTransport, transport)
        writer.write(TOO_MANY_CONNECTIONS)
        writer.close()
        return False, None
    return True, key
