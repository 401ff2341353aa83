"""Who is on the other end: a request's client address, through the proxies the operator trusts.

Every per-address rule (login and sign-up limits, websocket connections per
address, who may read ``/metrics``) asks ``ClientAddresses.of`` on both ports, so
a deployment behind a load balancer limits the clients rather than the balancer.
``X-Forwarded-For`` is believed only as far as it was written by a trusted proxy:
reading it from the right, every hop that is a trusted proxy is skipped, and the
first that is not is the client. A peer that is not a trusted proxy is the client
whatever the header says (anyone can send one).

``AddressCounts`` is the one count of open connections per address that both ports' caps keep
(``http_max_connections_per_ip``, ``ws_max_connections_per_ip``; 0 means no cap for either).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from hubbub.errors import ConfigError

__all__ = ["UNKNOWN_ADDRESS", "AddressCounts", "ClientAddresses", "Networks", "parse_networks"]

UNKNOWN_ADDRESS: Final = "unknown"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class Networks:
    """A set of addresses and networks ("10.0.0.0/8, 127.0.0.1, ::1")."""

    networks: tuple[Network, ...] = ()

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        parsed = _address(address)
        return parsed is not None and any(parsed in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


def parse_networks(name: str, text: str) -> Networks:
    """Raises: ConfigError naming the setting ``name`` and the entry that is not an address or network."""
    networks: list[Network] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {entry!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return Networks(tuple(networks))


@dataclass(frozen=True, slots=True)
class ClientAddresses:
    trusted_proxies: Networks = field(default_factory=Networks)

    def of(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address, from the socket's ``peer`` and the ``X-Forwarded-For`` header lines."""
        parsed = _address(peer) if peer else None
        if parsed is None:
            return peer or UNKNOWN_ADDRESS
        client = parsed
        if not self.trusted_proxies or str(parsed) not in self.trusted_proxies:
            return str(client)
        hops = [hop for line in forwarded_for for hop in line.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:  # not written by a proxy: stop at the last hop one of ours vouched for
                break
            client = address
            if str(address) not in self.trusted_proxies:
                break
        return str(client)


class AddressCounts:
    """Open connections per address key; an address with none has no entry (the map stays small)."""

    def __init__(self, limit: int) -> None:
        """``limit``: connections an address may hold at once (0: no cap)."""
        self._limit = limit
        self._open: dict[str, int] = {}

    def admit(self, key: str) -> bool:
        """Count one more for ``key``; False (nothing counted) when it holds ``limit`` already."""
        count = self._open.get(key, 0)
        if self._limit and count >= self._limit:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def open_from(self, key: str) -> int:
        """How many ``key`` holds now."""
        return self._open.get(key, 0)
