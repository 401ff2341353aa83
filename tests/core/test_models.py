"""core/models.py: slugs, kick-mute countdowns, suspensions and who counts as a room owner."""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import AccessLevel, Kick, Room, RoomAccess, Standing, User, compact_slug, slugify

NOW = 1_790_000_000


def make_user(*, name: str = "Bot Name", moderator: bool = False, suspended_until: int | None = None) -> User:
    return User(
        id=UserId(42), name=name, email=None, reputation=1, is_moderator=moderator, suspended_until=suspended_until
    )


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Tavern on the Meta!", "tavern-on-the-meta"),
        ("Bot Name", "bot-name"),
        ("  leading and trailing  ", "leading-and-trailing"),
        ("C# & C++ -- Lounge", "c-c-lounge"),
        ("Zoë's Café", "zoe-s-cafe"),
        ("ALL CAPS", "all-caps"),
        ("already-a-slug", "already-a-slug"),
        ("under_score", "under-score"),
        ("room 42", "room-42"),
        ("---", ""),
        ("日本語", ""),
        ("", ""),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ("sechat test bookmark", "sechattestbookmark"),
        ("sechat-test-bookmark", "sechattestbookmark"),
        ("sechattestbookmark", "sechattestbookmark"),
        ("C# & C++ -- Lounge", "cclounge"),
        ("Zoë's Café 2", "zoescafe2"),
        ("日本語", ""),
    ],
)
def test_compact_slug_is_the_slug_without_hyphens(text: str, compact: str) -> None:
    assert compact_slug(text) == compact == slugify(text).replace("-", "")


def test_compact_slug_matches_what_sechat_3_computes_from_ascii_titles() -> None:
    """sechat v3 ``Room.bookmark``: lower case, spaces to hyphens, then every non-alphanumeric dropped."""
    for title in ["sechat test bookmark", "Ship date!", "Q&A: round 2", "under_score", "  padded  "]:
        assert compact_slug(title) == "".join(filter(str.isalnum, title.lower().replace(" ", "-")))


def test_slugify_output_is_url_safe() -> None:
    for text in ["a/b?c#d", "<script>", "x\ny", "tab\there", "百 mixed 字"]:
        assert all(c.isascii() and (c.isalnum() or c == "-") for c in slugify(text))


def test_user_and_room_slugs_fall_back_to_the_id() -> None:
    assert make_user(name="Jon Skeet").slug == "jon-skeet"
    assert make_user(name="日本語").slug == "user42"
    assert Room(id=RoomId(7), name="Sandbox").slug == "sandbox"
    assert Room(id=RoomId(7), name="!!!").slug == "room7"


def test_room_defaults_to_public() -> None:
    assert Room(id=RoomId(1), name="x").access is RoomAccess.PUBLIC


def test_access_level_values_are_event_15_words() -> None:
    # Event 15's content is "Access now <level>" (seed 002).
    assert [level.value for level in AccessLevel] == ["read-only", "read-write", "owner", "request"]
    assert [access.value for access in RoomAccess] == ["public", "gallery", "private"]


def test_users_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_user().name = "x"  # type: ignore[misc]


# --- suspension -------------------------------------------------------------------------------


def test_is_suspended() -> None:
    assert not make_user().is_suspended(NOW)
    assert make_user(suspended_until=NOW + 1).is_suspended(NOW)
    assert make_user(suspended_until=NOW + 1).is_suspended(NOW + 0.5)
    assert not make_user(suspended_until=NOW).is_suspended(NOW)
    assert not make_user(suspended_until=NOW - 1).is_suspended(NOW)


# --- kicks ------------------------------------------------------------------------------------


def kick(until: int) -> Kick:
    return Kick(room_id=RoomId(1), user_id=UserId(2), count=1, until=until)


@pytest.mark.parametrize(
    ("now", "left"),
    [
        (NOW - 60, 60),
        (NOW - 1, 1),
        (NOW - 59.5, 60),  # partial seconds round up: never say 0 while still kicked
        (NOW - 0.5, 1),
        (NOW - 0.01, 1),
        (NOW, 0),
        (NOW + 1, 0),
        (NOW + 3600, 0),
    ],
)
def test_kick_seconds_left(now: float, left: int) -> None:
    assert kick(NOW).seconds_left(now) == left


def test_kick_seconds_left_is_an_int() -> None:
    assert isinstance(kick(NOW).seconds_left(NOW - 12.3), int)


# --- standing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("standing", "is_owner"),
    [
        (Standing(user=make_user(), level=AccessLevel.OWNER), True),
        (Standing(user=make_user(moderator=True)), True),
        (Standing(user=make_user(moderator=True), level=AccessLevel.READ_ONLY), True),
        (Standing(user=make_user()), False),
        (Standing(user=make_user(), level=AccessLevel.READ_WRITE), False),
        (Standing(user=make_user(), level=AccessLevel.READ_ONLY), False),
        (Standing(user=make_user(), level=AccessLevel.REQUEST), False),
        (Standing(user=None), False),
        (Standing(user=None, level=AccessLevel.OWNER), False),
    ],
)
def test_standing_is_owner(standing: Standing, is_owner: bool) -> None:
    assert standing.is_owner is is_owner


def test_standing_defaults() -> None:
    standing = Standing(user=None)
    assert standing.level is None
    assert standing.kick is None
    assert standing.owner_ids == frozenset()
