"""irctokens, the gateway's IRC line tokeniser, on the public parser test vectors (PyPI ``irc-parser-tests``).

``msg-split``: each input line tokenises to its tags, source, verb and parameters;
``msg-join``: each set of atoms formats to one of the lines that mean it (what the
gateway's ``codec.render_line`` relies on).
"""

from __future__ import annotations

from typing import Any

import pytest
from irctokens.line import build, tokenise
from parser_tests import data

_SPLIT: list[dict[str, Any]] = data.msg_split["tests"]
_JOIN: list[dict[str, Any]] = data.msg_join["tests"]


@pytest.mark.parametrize("case", _SPLIT, ids=[case["input"][:60] for case in _SPLIT])
def test_msg_split_vectors(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    line = tokenise(case["input"])
    assert line.command == atoms["verb"].upper()
    assert line.params == atoms.get("params", [])
    assert line.source == atoms.get("source")
    assert (line.tags or None) == (atoms.get("tags") or None)


@pytest.mark.parametrize("case", _JOIN, ids=[case.get("desc", "")[:60] for case in _JOIN])
def test_msg_join_vectors(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    tags = atoms.get("tags")
    line = build(atoms["verb"], atoms.get("params", []), atoms.get("source"), tags)
    assert line.format() in case["matches"]


def test_there_are_vectors() -> None:
    assert len(_SPLIT) > 30 and len(_JOIN) > 5
