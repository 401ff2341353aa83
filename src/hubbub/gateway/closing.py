"""RFC 6455's closing handshake: which status codes may travel, and how a server answers a peer's Close.

A server that receives a Close must send one back (§5.5.1), typically echoing the
status code. Some codes must never be put on the wire: 1005 ("no status") and 1006
("abnormal") only describe a close, below 1000 nothing is defined, and 1004, 1015
and 1016–2999 are reserved (§7.4.1, §7.4.2 and IANA's registry, which added
1012–1014). Echoing what picows reports for an empty Close (``NO_INFO``, 0) broke
the Node ``ws`` client, which treats any such code as a protocol error and, with no
error listener, exits the process.
"""

from __future__ import annotations

from typing import Final

from hubbub.fanout.connection import CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR

__all__ = ["CLOSE_INVALID_TEXT", "CLOSE_PROTOCOL_ERROR", "answer_to_close", "may_send"]

CLOSE_INVALID_TEXT: Final = 1007

# Status codes defined for use in Close frames (RFC 6455 §7.4.1 and the IANA registry).
_DEFINED: Final = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
# 3000–3999 are registered by libraries and frameworks, 4000–4999 are for applications (§7.4.2).
_REGISTERED_OR_PRIVATE: Final = range(3000, 5000)


def may_send(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame on the wire."""
    return code in _DEFINED or code in _REGISTERED_OR_PRIVATE


def answer_to_close(payload: bytes) -> int:
    """The status code to answer a peer's Close frame with, given that frame's payload.

    An empty Close is answered with 1000; a valid code is echoed; a one-byte payload or a
    code that must not be sent is a protocol error (1002), and a reason that is not UTF-8
    is invalid data (1007, §5.5.1 and §8.1).
    """
    if not payload:
        return CLOSE_NORMAL
    if len(payload) < 2:
        return CLOSE_PROTOCOL_ERROR
    code = int.from_bytes(payload[:2], "big")
    if not may_send(code):
        return CLOSE_PROTOCOL_ERROR
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return CLOSE_INVALID_TEXT
    return code
