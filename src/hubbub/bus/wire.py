"""How a batch of events travels between nodes: one compact JSON message with its origin and send time.

``b"1 <origin> <json>"``: a version, the publishing bus's random id (so a node can
skip its own batches without decoding them) and ``{"t": unix time of publish,
"e": [[field, ...], ...]}`` with each event's fields in ``Event``'s declared
order. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from hubbub.core.events import Event, EventType

__all__ = ["WireError", "decode_batch", "encode_batch", "origin_of"]

VERSION: Final = b"1"
_FIELDS: Final = tuple(field.name for field in dataclasses.fields(Event))
_TYPE_INDEX: Final = _FIELDS.index("type")


class WireError(ValueError):
    """A bus message this version cannot read."""


def encode_batch(events: tuple[Event, ...], *, origin: str, published_at: float) -> bytes:
    rows = [[getattr(event, name) for name in _FIELDS] for event in events]
    body = json.dumps({"t": published_at, "e": rows}, separators=(",", ":"), ensure_ascii=False)
    return b"%s %s %s" % (VERSION, origin.encode("ascii"), body.encode("utf-8"))


def origin_of(message: bytes) -> bytes:
    """The publishing bus's id, without decoding the events."""
    return message.split(b" ", 2)[1] if message.startswith(VERSION + b" ") else b""


def decode_batch(message: bytes) -> tuple[tuple[Event, ...], float]:
    """The events of one message and when they were published.

    Raises:
        WireError: Another version, or not a batch at all.
    """
    parts = message.split(b" ", 2)
    if len(parts) != 3 or parts[0] != VERSION:
        raise WireError(f"not a version-{VERSION.decode()} hubbub batch")
    try:
        body: Any = json.loads(parts[2])
        rows = body["e"]
        events = []
        for row in rows:
            values = dict(zip(_FIELDS, row, strict=True))
            values["type"] = EventType(row[_TYPE_INDEX])
            events.append(Event(**values))
        return tuple(events), float(body["t"])
    except (ValueError, KeyError, TypeError) as error:
        raise WireError(f"malformed hubbub batch: {error}") from error
