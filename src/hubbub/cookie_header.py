"""The ``Cookie`` request header read into names and values: one lenient reading for every port.

Three places read it: the HTTP routes (every signed-in request's ``acct``), the websocket
gateway's handshake, and the HTTP port's own comet poll connections. Before this module the
last two used ``http.cookies.SimpleCookie``, which gives up on the whole header at the first
pair it does not like (``a=b c``, an unterminated quote, a bare ``b`` between semicolons): a
cookie another application on the same host set made a signed-in user anonymous on sockets
and polls, while the same request over HTTP was signed in. Browsers send what servers set,
so one bad neighbour must cost only its own pair.

The reading (RFC 6265 §5.4 as browsers send it): pairs separated by ``;``, each split at its
first ``=``, names and values stripped of spaces, a value's surrounding double quotes
dropped (no escapes are undone: hubbub's own values never need them). A pair without ``=``
or with an empty name is skipped. A name given twice keeps its last value, as aiohttp's
reading does.
"""

from __future__ import annotations

__all__ = ["cookie_value", "parse_cookies"]


def _pairs(header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in header.split(";"):
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        pairs.append((name, value))
    return pairs


def parse_cookies(header: str | None) -> dict[str, str]:
    """Every cookie of a ``Cookie`` header (none: no header)."""
    return dict(_pairs(header)) if header else {}


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of the cookie ``name`` in a ``Cookie`` header, or None.

    Cheaper than ``parse_cookies`` when only one is wanted (every signed-in request's session):
    a header that does not mention the name is not split at all.
    """
    if not header or name not in header:
        return None
    found = None
    for key, value in _pairs(header):
        if key == name:
            found = value
    return found
