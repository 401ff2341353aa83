"""``hubbub bridges``: IRC and Twitch accounts attached to a room or a stream from the shell, secrets kept."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import _invoke, _last_line


def _setup(tmp_path: Path) -> None:
    owner = _invoke(
        "users", "create", "Owner", "--email", "o@example.org", "--password", "secretpw1", data_dir=tmp_path
    )
    assert owner.exit_code == 0 and _last_line(owner) == "1"
    room = _invoke("rooms", "create", "Lobby", "--owner", "1", data_dir=tmp_path)
    assert room.exit_code == 0 and _last_line(room) == "1"


def test_an_irc_account_bridges_a_room_and_its_password_is_never_printed(tmp_path: Path) -> None:
    _setup(tmp_path)
    added = _invoke(
        "bridges", "add-irc", "1", "--name", "lobby", "--server", "irc.example.org", "--nick", "relay",
        "--channel", "#lobby", "--auth", "sasl", "--room", "1", "--flood-rate", "0.5",
        env={"HUBBUB_IRC_PASSWORD": "s3cret-pw"}, data_dir=tmp_path,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "bridged to room 1" in added.output and _last_line(added) == "1"
    listed = _invoke("bridges", "list", "1", data_dir=tmp_path)
    assert listed.exit_code == 0 and "s3cret-pw" not in listed.output
    assert listed.output.startswith("1\tirc\tlobby\t{") and '"flood_rate": "0.5"' in listed.output
    twitch = _invoke("bridges", "add-twitch", "1", "--channel", "JprjrDev", "--anonymous", data_dir=tmp_path)
    assert twitch.exit_code == 0 and _last_line(twitch) == "2"
    assert "2\ttwitch\tjprjrdev\t" in _invoke("bridges", "list", "1", data_dir=tmp_path).output
    removed = _invoke("bridges", "remove", "1", "1", data_dir=tmp_path)
    assert removed.exit_code == 0
    assert _invoke("bridges", "list", "1", data_dir=tmp_path).output.count("\n") == 1


def test_bad_settings_and_rooms_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    _setup(tmp_path)
    bad = _invoke(
        "bridges", "add-irc", "1", "--name", "x", "--server", "irc.example.org", "--nick", "9lives",
        "--channel", "#c", data_dir=tmp_path,
    )  # fmt: skip
    assert bad.exit_code == 1 and "nick must be a valid IRC nickname" in bad.output
    no_room = _invoke(
        "bridges", "add-irc", "1", "--name", "x", "--server", "irc.example.org", "--nick", "relay",
        "--channel", "#c", "--room", "99", data_dir=tmp_path,
    )  # fmt: skip
    assert no_room.exit_code == 1
    both = _invoke(
        "bridges", "add-twitch", "1", "--channel", "c", "--anonymous", "--room", "1", "--stream", "1", data_dir=tmp_path
    )
    assert both.exit_code == 2
    assert _invoke("bridges", "list", "1", data_dir=tmp_path).output == ""
