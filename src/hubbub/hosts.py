"""Who hubbub is on the web: the host names it answers to, its own origin, whether cookies need Secure.

Every rule that reads a ``Host`` or ``Origin`` header, or the public URLs, lives
here, so that the pages' Content-Security-Policy, the websocket URLs ``/ws-auth``
and ``/realtime/auth`` hand out, the Origin check on cookie-authenticated websockets
and the cookies' attributes all agree. Nothing a client sent is interpolated into a
header or URL before it went through ``parse_authority``.

- **Hosts.** A request's ``Host`` must be a host name, an IPv4 address or a
  bracketed IPv6 address, with an optional port (RFC 9110 §7.2), and the host must
  be one hubbub answers to: ``allowed_hosts``, plus the hosts of ``public_url`` and
  ``ws_public_url`` and the ``host`` it listens on (unless that is a wildcard
  address). ``allowed_hosts = "*"`` accepts any well-formed host.
- **Own origin.** ``public_url``'s origin, and ``http``/``https`` on any allowed host
  at the HTTP port hubbub listens on: the origins of the pages hubbub itself serves.
  Another port on the same host (another program on ``localhost``) is not hubbub.
- **Secure cookies** whenever hubbub is reached over TLS: ``public_url`` is
  ``https``, ``ws_public_url`` is ``wss``, the request itself came over TLS, or
  ``secure_cookies`` says so.

Pure: no I/O. ``app.py`` builds one ``Site`` from the settings and passes it on.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from hubbub.errors import ConfigError
from hubbub.settings import Settings

__all__ = ["Authority", "Origin", "Site", "parse_authority", "parse_origin"]

# A DNS-style host name (letters, digits, "-" and "_", which container names use) or a dotted IPv4
# address; RFC 3986 allows more in a reg-name (";", "'", "*", "%"...), but none of it names a host.
_LABEL: Final = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_MAX_HOST_CHARS: Final = 253
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}  # the schemes of pages; others have no origin of ours
_WILDCARD_ADDRESSES: Final = frozenset({"", "0.0.0.0", "[::]"})


@dataclass(frozen=True, slots=True)
class Authority:
    """A validated ``host[:port]``: the host lower-cased, without a trailing dot, IPv6 in brackets."""

    host: str
    port: int | None = None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Origin:
    """A web origin (RFC 6454): scheme, host and port, the port filled in when it was the scheme's default."""

    scheme: str
    host: str
    port: int


def _parse_host(text: str) -> str | None:
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        try:
            address = ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            return None
        # A zone id ("%25eth0") names an interface of the client's machine, never a host of ours.
        return None if address.scope_id is not None else f"[{address.compressed}]"
    host = text.lower().removesuffix(".")
    if len(host) > _MAX_HOST_CHARS or not _HOST_NAME.fullmatch(host):
        return None
    return host


# Every request's Host is parsed, and a node sees few distinct ones: the answers are kept
# (bounded: a client sending random hosts only evicts, and an answer is immutable).
@functools.lru_cache(maxsize=256)
def parse_authority(text: str) -> Authority | None:
    """A ``Host`` header value, or None when it is anything but ``host`` or ``host:port``."""
    text = text.strip()
    host_text, port = text, None
    if text.startswith("["):
        close = text.find("]")
        if close != -1 and close + 1 < len(text):
            host_text, rest = text[: close + 1], text[close + 1 :]
            if not rest.startswith(":"):
                return None
            port = _parse_port(rest[1:])
            if port is None:
                return None
    elif ":" in text:
        host_text, _, port_text = text.partition(":")
        port = _parse_port(port_text)
        if port is None:
            return None
    host = _parse_host(host_text)
    return None if host is None else Authority(host, port)


def _parse_port(text: str) -> int | None:
    if not _PORT.fullmatch(text):
        return None
    port = int(text)
    return port if 0 < port < 65_536 else None


def parse_origin(text: str) -> Origin | None:
    """An ``Origin`` header (``scheme://host[:port]``), or None for ``null``, another shape or scheme."""
    scheme, separator, rest = text.strip().partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in _DEFAULT_PORTS or "/" in rest.rstrip("/"):
        return None
    authority = parse_authority(rest.rstrip("/"))
    if authority is None:
        return None
    return Origin(scheme, authority.host, authority.port or _DEFAULT_PORTS[scheme])


def _public_url(name: str, value: str, schemes: tuple[str, str]) -> tuple[str, Authority] | None:
    """The scheme and authority of a ``*_public_url`` setting; None when it is unset."""
    if not value:
        return None
    parts = urlsplit(value.strip())
    authority = parse_authority(parts.netloc) if parts.netloc and "@" not in parts.netloc else None
    if parts.scheme.lower() not in schemes or authority is None or parts.query or parts.fragment:
        raise ConfigError(f"{name}: expected {schemes[0]}:// or {schemes[1]}:// and a host name, got {value!r}")
    return parts.scheme.lower(), authority


class Site:
    """hubbub's identity on the web, from the settings (see the module docstring for the rules).

    Raises:
        ConfigError: A malformed ``public_url``, ``ws_public_url`` or ``allowed_hosts`` entry.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._public = _public_url("public_url", settings.public_url, ("http", "https"))
        self._ws_public = _public_url("ws_public_url", settings.ws_public_url, ("ws", "wss"))
        self._any_host = False
        # In order of preference for the default host (a request without Host): the public URL's,
        # the address hubbub listens on, then the allowed hosts as listed.
        hosts: list[str] = [public[1].host for public in (self._public, self._ws_public) if public is not None]
        listening = parse_authority(f"[{settings.host}]" if ":" in settings.host else settings.host)
        if listening is not None and listening.host not in _WILDCARD_ADDRESSES:
            hosts.append(listening.host)
        for entry in (part.strip() for part in settings.allowed_hosts.split(",")):
            if entry == "*":
                self._any_host = True
                continue
            if not entry:
                continue
            # A bare IPv6 address ("::1") is accepted as well as its bracketed form.
            authority = parse_authority(f"[{entry}]" if entry.count(":") > 1 and "[" not in entry else entry)
            if authority is None or authority.port is not None:
                raise ConfigError(f"allowed_hosts: {entry!r} is not a host name or address (no port, no scheme)")
            hosts.append(authority.host)
        self._hosts = frozenset(hosts)
        self._default = Authority(hosts[0] if hosts else "localhost")
        # The HTTP port hubbub listens on; the composition root sets it once bound (port 0 picks one).
        self.http_port = settings.port

    def host(self, header: str | None) -> Authority | None:
        """The request's ``Host`` if hubbub answers to it, None if it is malformed or not allowed.

        A request without a ``Host`` (HTTP/1.0) is taken as addressed to hubbub's default host.
        """
        if header is None:
            return self._default
        authority = parse_authority(header)
        if authority is None or not (self._any_host or authority.host in self._hosts):
            return None
        return authority

    def websocket_base(self, host: Authority | None, gateway_port: int) -> str:
        """``ws_public_url``, or ``ws://<the host the client used>:<gateway port>``.

        ``host`` is what ``host()`` returned for the request (None: the default host).
        """
        if self._ws_public is not None:
            return self._settings.ws_public_url.strip().rstrip("/")
        return f"ws://{(host or self._default).host}:{gateway_port}"

    def is_own_origin(self, header: str) -> bool:
        """Whether an ``Origin`` header names a page hubbub itself serves."""
        origin = parse_origin(header)
        if origin is None:
            return False
        if self._public is not None:
            scheme, authority = self._public
            if origin == Origin(scheme, authority.host, authority.port or _DEFAULT_PORTS[scheme]):
                return True
        on_our_port = origin.scheme in ("http", "https") and origin.port == self.http_port
        return on_our_port and (self._any_host or origin.host in self._hosts)

    def may_use_cookies(self, origin: str | None) -> bool:
        """Whether a websocket upgrade may sign in with the cookies it carries.

        Browsers send ``Origin`` on every websocket upgrade (RFC 6455 §4.1), so an
        upgrade without one comes from a program holding the cookie itself; one from
        another origin's page must not act as the user whose cookies the browser attached.
        """
        return origin is None or self.is_own_origin(origin)

    def cookies_secure(self, request_is_tls: bool) -> bool:
        """Whether cookies set on this response get ``Secure``."""
        return (
            self._settings.secure_cookies
            or request_is_tls
            or (self._public is not None and self._public[0] == "https")
            or (self._ws_public is not None and self._ws_public[0] == "wss")
        )
