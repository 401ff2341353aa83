"""core/jsontext.py: JSON from peers with a nesting bound and valid Unicode, without recursion."""

from __future__ import annotations

import json

import pytest

from hubbub.core.jsontext import JsonRefused, LoneSurrogate, TooDeep, loads, nesting_depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[["', 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["]", "\\"[", [[]]]', 3),  # brackets in strings, escaped quotes included, do not count
        ("[[]][[[]]]", 3),
        ("[" * 30_000 + "]" * 30_000, 30_000),
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, None, True]}, "\U0001f600 and \u2028", [[[[1]]]], "x" * 100_000, {"[": "{"}],
)
def test_loads_takes_ordinary_json(value: object) -> None:
    text = json.dumps(value)
    assert loads(text, max_depth=4) == value
    assert loads(text.encode("utf-8"), max_depth=4) == value
    assert loads(text.encode("utf-16"), max_depth=4) == value  # as json.loads detects the encoding


def test_the_depth_limit_is_inclusive() -> None:
    assert loads("[[[1]]]", max_depth=3) == [[[1]]]
    with pytest.raises(TooDeep) as refused:
        loads("[[[[1]]]]", max_depth=3)
    assert str(refused.value) == "The JSON nests 4 levels deep; at most 3 are allowed"


def test_thirty_thousand_levels_are_refused_before_parsing() -> None:
    """json.loads would raise RecursionError, which is not a ValueError (issue 8, item 15)."""
    with pytest.raises(TooDeep) as refused:
        loads(b"[" * 30_000 + b"]" * 30_000, max_depth=32)
    assert refused.value.depth == 30_000
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    ("data", "code_point"),
    [
        ('"\\ud800"', 0xD800),
        ('["ok", {"k": "x\\udfffy"}]', 0xDFFF),
        ('{"\\udc00": 1}', 0xDC00),
        ('"\\ude00\\ud83d"', 0xDE00),  # a pair in the wrong order is two lone halves
        (b'"\xed\xa0\x80"', 0xD800),  # UTF-8-encoded surrogate: json.loads decodes bytes with surrogatepass
    ],
)
def test_a_lone_surrogate_is_refused(data: str | bytes, code_point: int) -> None:
    with pytest.raises(LoneSurrogate) as refused:
        loads(data, max_depth=4)
    assert refused.value.code_point == code_point
    assert str(refused.value) == f"The JSON holds a lone surrogate (\\u{code_point:04x}), which is not valid Unicode"


def test_a_surrogate_pair_is_one_character() -> None:
    assert loads('"\\ud83d\\ude00"', max_depth=1) == "\U0001f600"


@pytest.mark.parametrize("text", ["", "[1,", "NaN", "[Infinity]", "-Infinity", "{'a': 1}", b"\xff\xfe\x00", b"\x80"])
def test_what_is_not_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads(text, max_depth=4)
    assert not isinstance(refused.value, TooDeep | LoneSurrogate)
