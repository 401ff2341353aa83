"""core/rules.py: message limits, the edit window, and who may read, talk, edit, star, pin and manage.

Numbers and texts come from shared/protocol/sechat.md §9 and shared/seeds/001 and 002.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hubbub.core.ids import MessageId, RoomId, UserId
from hubbub.core.models import AccessLevel, Kick, Message, Room, RoomAccess, Standing, User
from hubbub.core.rules import (
    EDIT_WINDOW_SECONDS,
    FLAG_VIEW_REPUTATION,
    KICK_DURATIONS_SECONDS,
    MAX_SINGLE_LINE_CHARS,
    MAX_SUSPENSION_SECONDS,
    MIN_REPUTATION_TO_TALK,
    NO_PERMISSION,
    can_be_pinged,
    can_post,
    can_read,
    check_about,
    check_conversation_title,
    check_message_text,
    ensure_can_delete,
    ensure_can_delete_conversation,
    ensure_can_edit,
    ensure_can_edit_profile,
    ensure_can_manage_room,
    ensure_can_pin,
    ensure_can_post,
    ensure_can_read,
    ensure_can_star,
    ensure_can_suspend,
    ensure_moderator,
    ensure_not_suspended,
    is_multiline,
    kick_duration,
    parse_reply,
)
from hubbub.errors import (
    AlreadyDeleted,
    BadRequest,
    EmptyMessage,
    HubbubError,
    Kicked,
    LowReputation,
    NotAllowed,
    NotFound,
    NotLoggedIn,
    NotYours,
    OwnMessage,
    Suspended,
    TooLate,
    TooLong,
)

NOW = 1_790_000_000
MAX_CHARS = 16_384
ROOM_ID = RoomId(7)


def make_user(
    user_id: int = 1,
    *,
    reputation: int = 100,
    moderator: bool = False,
    suspended_until: int | None = None,
) -> User:
    return User(
        id=UserId(user_id),
        name=f"user {user_id}",
        email=None,
        reputation=reputation,
        is_moderator=moderator,
        suspended_until=suspended_until,
    )


def make_room(access: RoomAccess = RoomAccess.PUBLIC) -> Room:
    return Room(id=ROOM_ID, name="Sandbox", access=access)


def make_message(*, author: int = 1, posted_at: int = NOW, deleted: bool = False) -> Message:
    return Message(
        id=MessageId(501),
        room_id=ROOM_ID,
        user_id=UserId(author),
        source="hi",
        content="hi",
        posted_at=posted_at,
        deleted=deleted,
    )


def standing(
    user: User | None,
    level: AccessLevel | None = None,
    *,
    kicked_until: int | None = None,
    at: int = NOW,
) -> Standing:
    """The standing ``service.context.standing_in`` builds at ``at``."""
    kick = None
    if kicked_until is not None:
        assert user is not None
        kick = Kick(room_id=ROOM_ID, user_id=user.id, count=1, until=kicked_until)
    return Standing(user=user, level=level, kick=kick, suspended=user is not None and user.is_suspended(at))


# --- constants --------------------------------------------------------------------------------


def test_protocol_constants() -> None:
    assert MAX_SINGLE_LINE_CHARS == 500
    assert EDIT_WINDOW_SECONDS == 120
    assert MIN_REPUTATION_TO_TALK == 20
    assert FLAG_VIEW_REPUTATION == 10_000
    assert NO_PERMISSION == "The room does not exist, or you do not have permission"


# --- message text -----------------------------------------------------------------------------


def test_is_multiline() -> None:
    assert not is_multiline("one line")
    assert is_multiline("two\nlines")
    assert is_multiline("trailing newline\n")


def test_single_line_of_exactly_500_characters_is_accepted() -> None:
    check_message_text("a" * 500, max_chars=MAX_CHARS)


def test_single_line_of_501_characters_is_refused() -> None:
    with pytest.raises(TooLong) as caught:
        check_message_text("a" * 501, max_chars=MAX_CHARS)
    assert caught.value.limit == 500
    assert caught.value.got == 501
    assert caught.value.single_line is True


def test_single_line_limit_counts_characters_not_bytes() -> None:
    check_message_text("é" * 500, max_chars=MAX_CHARS)
    check_message_text("\N{GRINNING FACE}" * 500, max_chars=MAX_CHARS)
    with pytest.raises(TooLong):
        check_message_text("é" * 501, max_chars=MAX_CHARS)


def test_single_line_limit_applies_even_when_max_chars_is_larger_or_smaller() -> None:
    with pytest.raises(TooLong):
        check_message_text("a" * 501, max_chars=10**6)
    # The multi-line cap does not shrink the single-line rule.
    check_message_text("a" * 500, max_chars=100)


def test_multi_line_message_over_500_characters_is_accepted() -> None:
    check_message_text("a" * 600 + "\n" + "b" * 600, max_chars=MAX_CHARS)


def test_multi_line_message_with_one_line_over_500_is_accepted() -> None:
    # Clients (SmokeDetector) insert a newline exactly to get past the single-line limit.
    check_message_text("a" * 501 + "\n", max_chars=MAX_CHARS)


def test_multi_line_message_up_to_max_chars_is_accepted_and_one_more_is_refused() -> None:
    text = "a\n" + "b" * (MAX_CHARS - 2)
    assert len(text) == MAX_CHARS
    check_message_text(text, max_chars=MAX_CHARS)
    with pytest.raises(TooLong) as caught:
        check_message_text(text + "c", max_chars=MAX_CHARS)
    assert caught.value.limit == MAX_CHARS
    assert caught.value.got == MAX_CHARS + 1
    assert caught.value.single_line is False


@pytest.mark.parametrize("text", ["", " ", "   ", "\t", "\n", "\n\n", " \n \t ", "\u3000"])
def test_empty_or_whitespace_message_is_refused(text: str) -> None:
    with pytest.raises(EmptyMessage):
        check_message_text(text, max_chars=MAX_CHARS)


def test_empty_check_comes_before_length_check() -> None:
    with pytest.raises(EmptyMessage):
        check_message_text(" " * 1000, max_chars=MAX_CHARS)


def test_message_errors_are_hubbub_errors_with_codes() -> None:
    with pytest.raises(HubbubError) as caught:
        check_message_text("", max_chars=MAX_CHARS)
    assert caught.value.code == "empty_message"
    with pytest.raises(HubbubError) as caught:
        check_message_text("a" * 501, max_chars=MAX_CHARS)
    assert caught.value.code == "too_long"


# --- reply prefix -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":123 text", (123, "text")),
        (":123 two words", (123, "two words")),
        (":123\ntext", (123, "\ntext")),  # stays multi-line
        (":123", (123, "")),
        (":123 ", (123, "")),
        (":123  text", (123, " text")),  # only one separating space is removed
        (":123\ttext", (123, "\ttext")),
        (":1 x", (1, "x")),
        (":" + "9" * 18 + " x", (int("9" * 18), "x")),
    ],
)
def test_reply_prefix_is_split_off(text: str, expected: tuple[int, str]) -> None:
    assert parse_reply(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "::123 text",
        ":abc text",
        ":123abc text",
        ":12.5 text",
        ": 123 text",
        " :123 text",
        "text :123",
        "123 text",
        ":",
        ":" + "9" * 19 + " too many digits",
        "",
        "plain message",
    ],
)
def test_text_without_a_reply_prefix_is_left_alone(text: str) -> None:
    assert parse_reply(text) == (None, text)


def test_reply_parent_is_a_message_id() -> None:
    parent, _ = parse_reply(":42 hi")
    assert parent == MessageId(42)
    assert isinstance(parent, int)


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("access", [RoomAccess.PUBLIC, RoomAccess.GALLERY])
def test_everyone_reads_public_and_gallery_rooms(access: RoomAccess) -> None:
    room = make_room(access)
    assert can_read(standing(None), room)
    assert can_read(standing(make_user(reputation=1)), room)
    ensure_can_read(standing(None), room)


def test_suspended_and_kicked_users_still_read_public_rooms() -> None:
    room = make_room()
    suspended = make_user(suspended_until=NOW + 3600)
    assert can_read(standing(suspended), room)
    kicked = make_user()
    assert can_read(standing(kicked, kicked_until=NOW + 60), room)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (None, False),
        (AccessLevel.REQUEST, False),
        (AccessLevel.READ_ONLY, True),
        (AccessLevel.READ_WRITE, True),
        (AccessLevel.OWNER, True),
    ],
)
def test_private_room_is_read_by_grantees_only(level: AccessLevel | None, expected: bool) -> None:
    assert can_read(standing(make_user(reputation=50_000), level), make_room(RoomAccess.PRIVATE)) is expected


def test_anonymous_visitors_do_not_read_private_rooms() -> None:
    room = make_room(RoomAccess.PRIVATE)
    assert not can_read(standing(None), room)
    with pytest.raises(NotFound) as caught:
        ensure_can_read(standing(None), room)
    assert str(caught.value) == NO_PERMISSION


def test_moderators_read_private_rooms_without_a_grant() -> None:
    assert can_read(standing(make_user(moderator=True)), make_room(RoomAccess.PRIVATE))


@pytest.mark.parametrize("level", [AccessLevel.READ_ONLY, AccessLevel.READ_WRITE, AccessLevel.OWNER])
def test_a_suspended_account_reads_what_visitors_read_until_the_suspension_ends(level: AccessLevel) -> None:
    suspended = make_user(suspended_until=NOW + 3600)
    private = make_room(RoomAccess.PRIVATE)
    assert not can_read(standing(suspended, level), private)
    assert can_read(standing(suspended, level, at=NOW + 3600), private)
    assert can_read(standing(suspended, level), make_room(RoomAccess.GALLERY))


@pytest.mark.parametrize("access", list(RoomAccess))
@pytest.mark.parametrize("level", [None, AccessLevel.REQUEST, AccessLevel.READ_ONLY])
@pytest.mark.parametrize("suspended_until", [None, NOW + 60])
def test_whoever_may_read_a_room_may_be_pinged_there_and_nobody_else(
    access: RoomAccess, level: AccessLevel | None, suspended_until: int | None
) -> None:
    """Issue 8, item 5: the ping carries the full text, so the rule is the reading rule."""
    room = make_room(access)
    member = standing(make_user(suspended_until=suspended_until), level)
    assert can_be_pinged(member, room) is can_read(member, room)
    assert not can_be_pinged(standing(None), room)


def test_moderators_and_the_operator_suspend_anyone_but_moderators() -> None:
    moderator, member = make_user(2, moderator=True), make_user(3)
    ensure_can_suspend(moderator, member, 60)
    ensure_can_suspend(None, member, MAX_SUSPENSION_SECONDS)
    ensure_moderator(None)
    with pytest.raises(NotAllowed, match="Only moderators can do that"):
        ensure_can_suspend(make_user(4), member, 60)
    with pytest.raises(NotAllowed, match="Only moderators can do that"):
        ensure_moderator(member)
    with pytest.raises(NotAllowed, match="Moderators cannot be suspended"):
        ensure_can_suspend(None, make_user(5, moderator=True), 60)
    for seconds in (0, -1, MAX_SUSPENSION_SECONDS + 1):
        with pytest.raises(BadRequest, match="A suspension lasts from 1 second to 365 days"):
            ensure_can_suspend(moderator, member, seconds)


def test_refused_private_read_says_the_room_does_not_exist() -> None:
    with pytest.raises(NotFound) as caught:
        ensure_can_read(standing(make_user()), make_room(RoomAccess.PRIVATE))
    assert str(caught.value) == "The room does not exist, or you do not have permission"


# --- posting ----------------------------------------------------------------------------------

ALLOWED = None


@pytest.mark.parametrize(
    ("access", "reputation", "level", "expected"),
    [
        # Public rooms: 20 reputation, or a read-write/owner grant.
        (RoomAccess.PUBLIC, 20, None, ALLOWED),
        (RoomAccess.PUBLIC, 21, None, ALLOWED),
        (RoomAccess.PUBLIC, 19, None, LowReputation),
        (RoomAccess.PUBLIC, 1, None, LowReputation),
        (RoomAccess.PUBLIC, 19, AccessLevel.READ_WRITE, ALLOWED),
        (RoomAccess.PUBLIC, 19, AccessLevel.OWNER, ALLOWED),
        (RoomAccess.PUBLIC, 19, AccessLevel.READ_ONLY, LowReputation),
        (RoomAccess.PUBLIC, 19, AccessLevel.REQUEST, LowReputation),
        (RoomAccess.PUBLIC, 20, AccessLevel.READ_ONLY, ALLOWED),
        (RoomAccess.PUBLIC, 20, AccessLevel.REQUEST, ALLOWED),
        # Gallery rooms: only read-write and owners talk, whatever the reputation.
        (RoomAccess.GALLERY, 100_000, None, NotAllowed),
        (RoomAccess.GALLERY, 100_000, AccessLevel.REQUEST, NotAllowed),
        (RoomAccess.GALLERY, 100_000, AccessLevel.READ_ONLY, NotAllowed),
        (RoomAccess.GALLERY, 1, AccessLevel.READ_WRITE, ALLOWED),
        (RoomAccess.GALLERY, 1, AccessLevel.OWNER, ALLOWED),
        # Private rooms: without any grant the room does not exist; read-only reads but does not talk.
        (RoomAccess.PRIVATE, 100_000, None, NotFound),
        (RoomAccess.PRIVATE, 100_000, AccessLevel.REQUEST, NotFound),
        (RoomAccess.PRIVATE, 100_000, AccessLevel.READ_ONLY, NotAllowed),
        (RoomAccess.PRIVATE, 1, AccessLevel.READ_WRITE, ALLOWED),
        (RoomAccess.PRIVATE, 1, AccessLevel.OWNER, ALLOWED),
    ],
)
def test_who_may_post(
    access: RoomAccess, reputation: int, level: AccessLevel | None, expected: type[Exception] | None
) -> None:
    room = make_room(access)
    who = standing(make_user(reputation=reputation), level)
    if expected is ALLOWED:
        ensure_can_post(who, room, NOW)
        assert can_post(who, room, NOW)
    else:
        with pytest.raises(expected) as caught:
            ensure_can_post(who, room, NOW)
        assert type(caught.value) is expected
        assert not can_post(who, room, NOW)


def test_read_only_grant_in_private_room_reads_but_does_not_post() -> None:
    room = make_room(RoomAccess.PRIVATE)
    who = standing(make_user(reputation=100_000), AccessLevel.READ_ONLY)
    assert can_read(who, room)
    assert not can_post(who, room, NOW)
    with pytest.raises(NotAllowed) as caught:
        ensure_can_post(who, room, NOW)
    assert str(caught.value) == NO_PERMISSION


def test_low_reputation_refusal_names_the_requirement() -> None:
    with pytest.raises(LowReputation) as caught:
        ensure_can_post(standing(make_user(reputation=19)), make_room(), NOW)
    assert caught.value.required == 20
    assert str(caught.value) == "You need 20 reputation points to talk in this room"


@pytest.mark.parametrize("access", list(RoomAccess))
def test_anonymous_visitors_never_post(access: RoomAccess) -> None:
    room = make_room(access)
    with pytest.raises(NotLoggedIn):
        ensure_can_post(standing(None), room, NOW)
    assert not can_post(standing(None), room, NOW)


@pytest.mark.parametrize("access", list(RoomAccess))
def test_moderators_post_everywhere(access: RoomAccess) -> None:
    who = standing(make_user(reputation=1, moderator=True))
    ensure_can_post(who, make_room(access), NOW)
    assert can_post(who, make_room(access), NOW)


def test_moderators_are_not_held_by_kicks() -> None:
    moderator = make_user(moderator=True)
    ensure_can_post(standing(moderator, kicked_until=NOW + 600), make_room(), NOW)


def test_kicked_user_with_time_left_may_not_post() -> None:
    user = make_user()
    who = standing(user, kicked_until=NOW + 60)
    with pytest.raises(Kicked) as caught:
        ensure_can_post(who, make_room(), NOW)
    assert caught.value.seconds_left == 60
    assert not can_post(who, make_room(), NOW)


def test_kick_overrides_a_read_write_or_owner_grant() -> None:
    user = make_user()
    for level in (AccessLevel.READ_WRITE, AccessLevel.OWNER):
        with pytest.raises(Kicked):
            ensure_can_post(standing(user, level, kicked_until=NOW + 1), make_room(RoomAccess.GALLERY), NOW)


def test_kick_ends_exactly_at_its_until_time() -> None:
    user = make_user()
    ensure_can_post(standing(user, kicked_until=NOW), make_room(), NOW)
    ensure_can_post(standing(user, kicked_until=NOW - 3600), make_room(), NOW)
    with pytest.raises(Kicked) as caught:
        ensure_can_post(standing(user, kicked_until=NOW + 1), make_room(), NOW)
    assert caught.value.seconds_left == 1


def test_kicked_user_in_private_room_without_access_still_gets_not_found() -> None:
    user = make_user()
    with pytest.raises(NotFound):
        ensure_can_post(standing(user, kicked_until=NOW + 60), make_room(RoomAccess.PRIVATE), NOW)


def test_suspended_user_may_not_post() -> None:
    until = NOW + 5 * 3600
    who = standing(make_user(reputation=100_000, suspended_until=until), AccessLevel.OWNER)
    with pytest.raises(Suspended) as caught:
        ensure_can_post(who, make_room(), NOW)
    assert caught.value.until == until
    assert caught.value.seconds_left == 5 * 3600
    assert str(caught.value) == "Your account is blocked, ending in 5 hours"
    assert not can_post(who, make_room(), NOW)


def test_suspension_ends_exactly_at_its_until_time() -> None:
    ensure_can_post(standing(make_user(suspended_until=NOW)), make_room(), NOW)
    ensure_can_post(standing(make_user(suspended_until=NOW - 1)), make_room(), NOW)
    with pytest.raises(Suspended):
        ensure_can_post(standing(make_user(suspended_until=NOW + 1)), make_room(), NOW)


def test_suspension_is_checked_before_a_kick() -> None:
    user = make_user(suspended_until=NOW + 3600)
    with pytest.raises(Suspended):
        ensure_can_post(standing(user, kicked_until=NOW + 60), make_room(), NOW)


def test_post_refusals_are_not_allowed_errors() -> None:
    # Dialects answer all of these the same way (sechat: 404 with the text), so they share a base.
    for error in (Kicked, Suspended, LowReputation):
        assert issubclass(error, NotAllowed)


# --- edit and delete --------------------------------------------------------------------------

Check = Callable[[User, Message, float], None]
CHANGES = pytest.mark.parametrize(("check", "action"), [(ensure_can_edit, "edit"), (ensure_can_delete, "delete")])


@CHANGES
@pytest.mark.parametrize("age", [0, 1, 60, 119, 120])
def test_author_changes_own_message_within_two_minutes(check: Check, action: str, age: int) -> None:
    check(make_user(1), make_message(author=1, posted_at=NOW - age), NOW)


@CHANGES
@pytest.mark.parametrize("age", [121, 120.5, 150, 3600])
def test_author_may_not_change_own_message_after_two_minutes(check: Check, action: str, age: float) -> None:
    with pytest.raises(TooLate) as caught:
        check(make_user(1), make_message(author=1, posted_at=NOW), NOW + age)
    assert caught.value.action == action
    assert str(caught.value) == f"It is too late to {action} this message"


@CHANGES
def test_moderators_change_any_message_at_any_time(check: Check, action: str) -> None:
    moderator = make_user(9, moderator=True)
    check(moderator, make_message(author=1, posted_at=NOW - 86_400 * 365), NOW)
    check(moderator, make_message(author=9, posted_at=NOW - 121), NOW)


@CHANGES
def test_nobody_else_changes_a_message(check: Check, action: str) -> None:
    with pytest.raises(NotYours) as caught:
        check(make_user(2, reputation=100_000), make_message(author=1, posted_at=NOW), NOW)
    assert caught.value.action == action
    assert str(caught.value) == f"You can only {action} your own messages"


@CHANGES
def test_not_yours_is_reported_before_too_late(check: Check, action: str) -> None:
    with pytest.raises(NotYours):
        check(make_user(2), make_message(author=1, posted_at=NOW - 3600), NOW)


@CHANGES
@pytest.mark.parametrize(
    ("actor", "posted_ago"),
    [
        (make_user(1), 0),  # own, in the window
        (make_user(1), 3600),  # own, too late
        (make_user(2), 0),  # somebody else's
        (make_user(2), 3600),  # somebody else's and too late
        (make_user(9, moderator=True), 3600),  # even a moderator
    ],
)
def test_already_deleted_takes_precedence(check: Check, action: str, actor: User, posted_ago: int) -> None:
    with pytest.raises(AlreadyDeleted) as caught:
        check(actor, make_message(author=1, posted_at=NOW - posted_ago, deleted=True), NOW)
    assert caught.value.action == action


# --- stars, pins, room management -------------------------------------------------------------


def test_anyone_stars_somebody_elses_message() -> None:
    ensure_can_star(make_user(2, reputation=1), make_message(author=1), NOW)


def test_own_message_cannot_be_starred() -> None:
    with pytest.raises(OwnMessage):
        ensure_can_star(make_user(1), make_message(author=1), NOW)


def test_deleted_message_cannot_be_starred_and_that_comes_first() -> None:
    with pytest.raises(AlreadyDeleted) as caught:
        ensure_can_star(make_user(1), make_message(author=1, deleted=True), NOW)
    assert caught.value.action == "star"
    with pytest.raises(AlreadyDeleted):
        ensure_can_star(make_user(2), make_message(author=1, deleted=True), NOW)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        (standing(make_user(), AccessLevel.OWNER), True),
        (standing(make_user(moderator=True)), True),
        (standing(make_user(moderator=True), AccessLevel.READ_ONLY), True),
        (standing(make_user(reputation=100_000)), False),
        (standing(make_user(), AccessLevel.READ_WRITE), False),
        (standing(make_user(), AccessLevel.READ_ONLY), False),
        (standing(make_user(), AccessLevel.REQUEST), False),
        (standing(None), False),
        (standing(None, AccessLevel.OWNER), False),
    ],
)
def test_pinning_and_managing_are_for_owners_and_moderators(who: Standing, allowed: bool) -> None:
    message = make_message(author=1)
    if allowed:
        ensure_can_pin(who, message, NOW)
        ensure_can_manage_room(who, NOW)
    else:
        with pytest.raises(NotAllowed) as caught:
            ensure_can_pin(who, message, NOW)
        assert str(caught.value) == "Only room owners can do that"
        with pytest.raises(NotAllowed):
            ensure_can_manage_room(who, NOW)


def test_owners_may_pin_their_own_messages() -> None:
    ensure_can_pin(standing(make_user(1), AccessLevel.OWNER), make_message(author=1), NOW)


def test_deleted_message_cannot_be_pinned_even_by_an_owner() -> None:
    with pytest.raises(AlreadyDeleted) as caught:
        ensure_can_pin(standing(make_user(), AccessLevel.OWNER), make_message(deleted=True), NOW)
    assert caught.value.action == "pin"
    # Deletion is reported before the permission check.
    with pytest.raises(AlreadyDeleted):
        ensure_can_pin(standing(make_user()), make_message(deleted=True), NOW)


def test_a_suspended_account_only_reads() -> None:
    """Suspended: no stars, pins, room management, edits, deletions or bookmark removals until it ends."""
    suspended = make_user(2, suspended_until=NOW + 60)
    owner = standing(suspended, AccessLevel.OWNER)
    own = make_message(author=2, posted_at=NOW)
    checks = [
        lambda: ensure_can_star(suspended, make_message(author=1), NOW),
        lambda: ensure_can_pin(owner, make_message(author=1), NOW),
        lambda: ensure_can_manage_room(owner, NOW),
        lambda: ensure_can_edit(suspended, own, NOW),
        lambda: ensure_can_delete(suspended, own, NOW),
        lambda: ensure_can_delete_conversation(owner, suspended.id, NOW),
        lambda: ensure_not_suspended(suspended, NOW),
    ]
    for check in checks:
        with pytest.raises(Suspended) as caught:
            check()
        assert caught.value.seconds_left == 60
    # Once it has ended, all of it is allowed again.
    later = NOW + 61
    ensure_can_star(suspended, make_message(author=1), later)
    ensure_can_manage_room(owner, later)
    ensure_not_suspended(suspended, later)


# --- kicks ------------------------------------------------------------------------------------


def test_kick_durations() -> None:
    assert KICK_DURATIONS_SECONDS == (60, 300, 1800, 3600)


@pytest.mark.parametrize(
    ("kick_count", "seconds"),
    [(1, 60), (2, 300), (3, 1800), (4, 3600), (5, 3600), (100, 3600), (0, 60), (-3, 60)],
)
def test_kick_duration_grows_and_the_last_one_repeats(kick_count: int, seconds: int) -> None:
    assert kick_duration(kick_count) == seconds


# --- bookmarked conversations ------------------------------------------------------------------


def test_conversation_titles_are_trimmed_and_bounded() -> None:
    assert check_conversation_title("  Ship \n date  ") == "Ship date"
    assert check_conversation_title("x" * 200) == "x" * 200
    for bad, reason in (("", "needs a title"), (" \t ", "needs a title"), ("x" * 201, "at most 200 characters")):
        with pytest.raises(BadRequest, match=reason):
            check_conversation_title(bad)


def test_who_may_remove_a_bookmark() -> None:
    creator, other = make_user(1), make_user(2)
    ensure_can_delete_conversation(standing(creator), creator.id, NOW)
    ensure_can_delete_conversation(standing(other, AccessLevel.OWNER), creator.id, NOW)
    ensure_can_delete_conversation(standing(make_user(3, moderator=True)), creator.id, NOW)
    for outsider in (standing(other), standing(other, AccessLevel.READ_WRITE), standing(None)):
        with pytest.raises(NotAllowed, match="bookmarked it or a room owner"):
            ensure_can_delete_conversation(outsider, creator.id, NOW)


# --- profiles ---------------------------------------------------------------------------------


def test_about_lines_are_trimmed_and_bounded() -> None:
    assert check_about("  bots \n and  tea ") == "bots and tea"
    assert check_about("") == ""
    assert check_about("x" * 200) == "x" * 200
    with pytest.raises(BadRequest, match="at most 200 characters"):
        check_about("x" * 201)


def test_who_may_edit_a_profile() -> None:
    ensure_can_edit_profile(make_user(1), UserId(1))
    ensure_can_edit_profile(make_user(2, moderator=True), UserId(1))
    with pytest.raises(NotAllowed, match="your own profile"):
        ensure_can_edit_profile(make_user(2), UserId(1))
