"""Bot addressing and ``!`` commands (streams.md §B.6), with multistreamer's trailing-digit quirk fixed."""

from __future__ import annotations

from hubbub.core.bot_commands import Addressed, BangCommand, addressed_bot, bang_command, bot_names


def test_bot_names_are_network_and_account_slug_and_stay_distinct() -> None:
    assert bot_names([(3, "twitch", "JPRJR"), (5, "twitch", "jprjr"), (4, "irc", "Jo 2")]) == {
        "twitch-jprjr": 3,
        "twitch-jprjr-5": 5,
        "irc-jo-2": 4,
    }


def test_every_addressing_form_reaches_the_bot() -> None:
    bots = {"twitch-jprjr": 3}
    for line in ("twitch-jprjr: hello there", "Twitch-JPRJR, hello there", "@twitch-jprjr hello there"):
        assert addressed_bot(line, bots) == Addressed(3, "hello there")
    assert addressed_bot("twitch-jprjr hello", bots) is None  # no addressing punctuation: an ordinary line
    assert addressed_bot("nobody: hello", bots) is None
    assert addressed_bot("twitch-jprjr:", bots) is None  # nothing to write


def test_a_bot_whose_name_ends_in_a_digit_is_addressed_every_way() -> None:
    # multistreamer stripped one trailing non-letter and lower-cased: "@twitch-jprjr2" became "twitch-jprjr"
    # and missed the bot; only "twitch-jprjr2:" worked. Every form works here.
    bots = {"twitch-jprjr2": 7, "twitch-jprjr": 3}
    assert addressed_bot("@twitch-jprjr2 hi", bots) == Addressed(7, "hi")
    assert addressed_bot("twitch-jprjr2, hi", bots) == Addressed(7, "hi")
    assert addressed_bot("twitch-jprjr2: hi", bots) == Addressed(7, "hi")
    assert addressed_bot("@twitch-jprjr hi", bots) == Addressed(3, "hi")


def test_bang_commands() -> None:
    assert bang_command("!viewcount twitch-jo") == BangCommand("viewcount", ("twitch-jo",), True)
    assert bang_command("!HELP") == BangCommand("help", (), True)
    assert bang_command("!frob x") == BangCommand("frob", ("x",), False)
    assert bang_command("! spaced") is None
    assert bang_command("hello!") is None
