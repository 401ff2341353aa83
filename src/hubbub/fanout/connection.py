"""What fan-out and the dialects need of an open websocket, whatever library serves it.

``Connection`` is implemented by ``hubbub.gateway`` (picows on the gateway port,
aiohttp on the HTTP port). Sending never blocks and never queues without bound:
a connection whose unsent bytes exceed its limit closes itself with code 1008
("slow consumer") instead of growing memory or slowing anyone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final, Protocol

__all__ = [
    "AUTHORIZED",
    "CLOSE_FORBIDDEN",
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_TOO_BIG",
    "CLOSE_TRY_AGAIN",
    "Connection",
    "Handshake",
    "Refusal",
    "settled_handshake",
]

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001  # server shutting down, or a silent client timed out
CLOSE_PROTOCOL_ERROR: Final = 1002  # a frame RFC 6455 forbids (unmasked, reserved bits set ...)
CLOSE_POLICY: Final = 1008  # slow consumer, too many subscriptions
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011  # the server failed to serve this socket (its log says why)
CLOSE_TRY_AGAIN: Final = 1013
# The socket's URL, session or access is gone: HTTP 403's counterpart once the upgrade is done
# (RFC 6455 §7.4.2 leaves 4000-4999 to applications). Queued frames are sent before the close.
CLOSE_FORBIDDEN: Final = 4403

# ``Handshake.extra`` key: the handler's ``authorize`` already ran, before the upgrade was answered.
AUTHORIZED: Final = "authorized"
_NOTHING: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Handshake:
    """The upgrade request, as every dialect sees it."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # first value of each header, names lower-case
    cookies: Mapping[str, str]  # empty when another origin's page opened the socket (gateway.router)
    secure: bool = False
    # What accept() learnt (the user a token names ...), for the handler's later callbacks.
    extra: dict[str, object] = field(default_factory=dict)


def settled_handshake(handshake: Handshake) -> Handshake:
    """``handshake`` without the request's headers, cookies and query (``Connection.settled``)."""
    return replace(handshake, headers=_NOTHING, cookies=_NOTHING, query=_NOTHING)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An upgrade turned down before any websocket exists: an HTTP status, a short text, extra headers."""

    status: int
    reason: str
    headers: Mapping[str, str] = field(default_factory=dict)


class Connection(Protocol):
    """An open websocket: send text frames, close, and know who it is."""

    @property
    def handshake(self) -> Handshake: ...

    @property
    def remote(self) -> str:
        """The peer's address."""
        ...

    @property
    def closed(self) -> bool: ...

    def send(self, data: bytes) -> None:
        """Queue one text frame (UTF-8 JSON bytes). Closes the connection if it is too far behind."""
        ...

    def ping(self, payload: bytes) -> None:
        """Send a websocket ping frame (the streams dialect pings silent clients)."""
        ...

    @property
    def last_inbound(self) -> float:
        """When (``time.monotonic()``) the peer last sent any frame: text, ping or pong."""
        ...

    def close(self, code: int, reason: str) -> None: ...

    def settled(self) -> None:
        """The dialect has read what it needs of the upgrade request (headers, cookies, query):
        an idle socket need not keep them. ``handshake.path`` and ``handshake.extra`` stay."""
        ...
