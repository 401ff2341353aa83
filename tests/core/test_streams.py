"""core.streams: escape_markdown (streams.md §B.5, B.12 #7), chat commands, levels, tokens."""

from __future__ import annotations

import pytest

from hubbub.core.ids import UserId
from hubbub.core.models import AccessLevel, Standing, User
from hubbub.core.streams import (
    ChatLevel,
    access_for_chat_level,
    chat_level_of,
    escape_markdown,
    is_access_token,
    make_access_token,
    parse_chat_command,
)


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("a*b_c", "a\\*b\\_c"),
        ("<x>", "&lt;x&gt;"),
        ("http://x.y/z", "[http://x.y/z](http://x.y/z)"),
        ("see https://a.b/c?d=1 now.", "see [https://a.b/c?d=1](https://a.b/c?d=1) now\\."),
        ("!`{}[]()#+-.\\", "\\!\\`\\{\\}\\[\\]\\(\\)\\#\\+\\-\\.\\\\"),
        ("yay", "yay"),
        ("", ""),
        ("two  spaces", "two  spaces"),
    ],
)
def test_escape_markdown_table(text: str, markdown: str) -> None:
    assert escape_markdown(text) == markdown


def test_chat_commands() -> None:
    assert parse_chat_command("/msg bob hey there") == parse_chat_command("/msg bob hey there")
    pm = parse_chat_command("/msg bob hey there")
    assert (pm.to, pm.text, pm.local) == ("bob", "hey there", True)
    irc = parse_chat_command("/irc foo")
    assert (irc.to, irc.text, irc.local) == (None, "foo", True)
    plain = parse_chat_command("hello /msg x")
    assert (plain.to, plain.text, plain.local) == (None, "hello /msg x", False)


def _user(uid: int) -> User:
    return User(id=UserId(uid), name=f"u{uid}", email=None, reputation=1)


def test_chat_levels_map_onto_room_access() -> None:
    owner = UserId(1)
    assert chat_level_of(Standing(user=_user(1)), owner_id=owner) is ChatLevel.WRITE
    assert chat_level_of(Standing(user=_user(2)), owner_id=owner) is ChatLevel.NONE
    assert chat_level_of(Standing(user=None), owner_id=owner) is ChatLevel.NONE
    for level in ChatLevel:
        grant = access_for_chat_level(level)
        assert chat_level_of(Standing(user=_user(2), level=grant), owner_id=owner) is level
    assert access_for_chat_level(ChatLevel.WRITE) is AccessLevel.READ_WRITE
    suspended = Standing(user=_user(2), level=AccessLevel.READ_WRITE, suspended=True)
    assert chat_level_of(suspended, owner_id=owner) is ChatLevel.READ


def test_tokens_have_multistreamers_shape() -> None:
    token = make_access_token()
    assert is_access_token(token) and len(token) == 20 and token == token.upper()
    assert make_access_token() != token
    assert not is_access_token(token.lower())
