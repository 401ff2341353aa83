"""JSON from peers, with the two bounds the standard library's parser lacks.

- **Nesting depth.** ``json.loads`` recurses once per ``[`` or ``{``: thirty thousand of them
  raise ``RecursionError`` (not ``ValueError``), and a value just under the interpreter's limit
  would fail again in every later ``json.dumps``. The depth is measured first, without recursion.
- **Valid Unicode.** ``json.loads`` turns a ``"\\ud800"`` escape (or, for bytes, UTF-8-encoded
  surrogates) into a lone surrogate, which no UTF-8 encoder accepts: the text would fail later,
  far from its cause, when it is stored or sent.

``loads`` refuses both (``TooDeep``, ``LoneSurrogate``), and text that is not JSON, including
``NaN``/``Infinity`` (Python accepts them; they are not JSON), each with a ``JsonRefused`` (a
``ValueError``) whose message names the problem. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final, NoReturn

__all__ = ["JsonRefused", "LoneSurrogate", "TooDeep", "loads", "nesting_depth"]

_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET: Final = re.compile(r"[\[\]{}]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class JsonRefused(ValueError):
    """The text is not JSON, or JSON that hubbub will not take; the message says why."""


class TooDeep(JsonRefused):
    """Arrays and objects nest deeper than allowed."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(f"The JSON nests {depth} levels deep; at most {limit} are allowed")
        self.depth, self.limit = depth, limit


class LoneSurrogate(JsonRefused):
    """A string holds half of a UTF-16 surrogate pair, which is not a Unicode character."""

    def __init__(self, code_point: int) -> None:
        super().__init__(f"The JSON holds a lone surrogate (\\u{code_point:04x}), which is not valid Unicode")
        self.code_point = code_point


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (``[]`` is 1), ignoring brackets inside strings."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _constant(name: str) -> NoReturn:
    raise JsonRefused(f"{name} is not JSON")


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded value, keys included; iterative, so depth costs no stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def loads(data: str | bytes, *, max_depth: int) -> Any:
    """Decode one JSON text whose arrays and objects nest at most ``max_depth`` deep.

    Raises:
        TooDeep: Nested deeper than ``max_depth`` (checked before parsing).
        LoneSurrogate: A string (or key) holds a lone surrogate.
        JsonRefused: Not JSON, not UTF-8/16/32, or using ``NaN``/``Infinity``.
    """
    if isinstance(data, bytes):
        try:
            # As json.loads does for bytes, so that both paths see the same text.
            text = data.decode(json.detect_encoding(data), "surrogatepass")
        except UnicodeDecodeError as error:
            raise JsonRefused(f"The text is not valid {error.encoding}") from None
    else:
        text = data
    # Only a text with more opening brackets than the limit can nest deeper than it: skip the scan otherwise.
    depth = nesting_depth(text) if text.count("[") + text.count("{") > max_depth else 0
    if depth > max_depth:
        raise TooDeep(depth, max_depth)
    try:
        value = json.loads(text, parse_constant=_constant)
    except JsonRefused:
        raise
    except ValueError as error:
        raise JsonRefused(f"The text is not JSON: {error}") from None
    for string in _strings(value):
        if (surrogate := _SURROGATE.search(string)) is not None:
            raise LoneSurrogate(ord(surrogate.group()))
    return value
