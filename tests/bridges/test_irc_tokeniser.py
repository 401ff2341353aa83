"""The IRC tokeniser the bridge relies on (irctokens) on the public parser test vectors (PyPI irc-parser-tests).

The bridge never parses IRC by hand; these vectors pin down that what it reads
(``msg-split``: tags, source, verb, params) and what it writes (``msg-join``: a line
built from atoms reads back as one of the accepted spellings) behave as every other
conforming IRC implementation does, and that sources split into nick, user and host
(``userhost-split``) as the bridge reads senders.
"""

from __future__ import annotations

from typing import Any

import pytest
from irctokens.hostmask import hostmask
from irctokens.line import build, tokenise
from parser_tests.data import msg_join, msg_split, userhost_split


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [str(case.get("input", case.get("desc", i)))[:60] for i, case in enumerate(cases)]


@pytest.mark.parametrize("case", msg_split["tests"], ids=_ids(msg_split["tests"]))
def test_msg_split(case: dict[str, Any]) -> None:
    line = tokenise(case["input"])
    atoms = case["atoms"]
    assert line.tags == atoms.get("tags")
    assert line.source == atoms.get("source")
    assert line.command == atoms["verb"].upper()
    assert line.params == atoms.get("params", [])


@pytest.mark.parametrize("case", msg_join["tests"], ids=_ids(msg_join["tests"]))
def test_msg_join(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    built = build(atoms["verb"], atoms.get("params", []), source=atoms.get("source"), tags=atoms.get("tags"))
    assert built.format() in case["matches"]


@pytest.mark.parametrize("case", userhost_split["tests"], ids=_ids(userhost_split["tests"]))
def test_userhost_split(case: dict[str, Any]) -> None:
    mask = hostmask(case["source"])
    atoms = case["atoms"]
    # irctokens gives "" where the vectors say no nick ("!ag@127.0.0.1"); the bridge treats an
    # empty nick as none and shows no line from it (IrcBridge._chat), so both read the same.
    nick = mask.nickname or None
    assert (nick, mask.username, mask.hostname) == (atoms.get("nick"), atoms.get("user"), atoms.get("host"))
