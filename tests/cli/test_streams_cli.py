"""``hubbub streams``: a stream made, shared, taken live and offline, its key and tokens, from the shell,
with the permissions of the user each command acts as."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import _invoke, _last_line


def _users(tmp_path: Path, *names: str) -> None:
    for number, name in enumerate(names, start=1):
        made = _invoke(
            "users", "create", name, "--email", f"{name.lower()}@example.org", "--password", "secretpw1",
            data_dir=tmp_path,
        )  # fmt: skip
        assert made.exit_code == 0 and _last_line(made) == str(number), made.output


def test_a_stream_is_made_shared_and_taken_live_and_offline(tmp_path: Path) -> None:
    _users(tmp_path, "Streamer", "Mod", "Viewer")
    made = _invoke("streams", "create", "streamer@example.org", "Friday Show", data_dir=tmp_path)
    assert made.exit_code == 0, made.output
    assert "created stream 'friday-show'" in made.output and _last_line(made) == "1"
    assert _invoke("streams", "list", "1", data_dir=tmp_path).output == "1\toffline\t-\t2\tFriday Show\t-\n"
    assert _invoke("streams", "list", "2", data_dir=tmp_path).output == ""  # nobody else sees it yet

    shared = _invoke("streams", "share", "1", "1", "mod@example.org", "--metadata-level", "2", data_dir=tmp_path)
    assert shared.exit_code == 0 and "Mod: chat level 2, metadata level 2 on stream 1" in shared.output
    viewer = _invoke("streams", "share", "1", "1", "3", "--chat-level", "1", data_dir=tmp_path)
    assert viewer.exit_code == 0
    assert _invoke("streams", "list", "3", data_dir=tmp_path).output == "1\toffline\t-\t1\tFriday Show\t-\n"

    started = _invoke("streams", "start", "2", "1", data_dir=tmp_path)  # an editor may take it live
    assert started.exit_code == 0 and "stream 1: live (data_pushing)" in started.output
    assert _invoke("streams", "list", "3", data_dir=tmp_path).output.startswith("1\tlive\tdata_pushing\t1\t")
    refused = _invoke("streams", "stop", "3", "1", data_dir=tmp_path)  # a viewer may not
    assert refused.exit_code == 1 and "unauthorized to use that stream" in refused.output
    assert "\tlive\t" in _invoke("streams", "list", "1", data_dir=tmp_path).output  # nothing changed
    stopped = _invoke("streams", "stop", "1", "1", data_dir=tmp_path)
    assert stopped.exit_code == 0 and "stream 1: offline (-)" in stopped.output

    unshared = _invoke("streams", "share", "1", "1", "3", "--chat-level", "0", data_dir=tmp_path)
    assert unshared.exit_code == 0
    assert _invoke("streams", "list", "3", data_dir=tmp_path).output == ""


def test_the_key_is_for_editors_and_a_reset_token_replaces_the_old_one(tmp_path: Path) -> None:
    _users(tmp_path, "Streamer", "Viewer")
    assert _invoke("streams", "create", "1", "Show", data_dir=tmp_path).exit_code == 0
    key = _invoke("streams", "key", "1", "1", data_dir=tmp_path)
    assert key.exit_code == 0 and len(_last_line(key)) == 32
    assert _invoke("streams", "share", "1", "1", "2", "--chat-level", "2", data_dir=tmp_path).exit_code == 0
    hidden = _invoke("streams", "key", "2", "1", data_dir=tmp_path)
    assert hidden.exit_code == 1 and _last_line(key) not in hidden.output
    unknown = _invoke("streams", "key", "2", "99", data_dir=tmp_path)
    assert unknown.exit_code == 1

    first = _last_line(_invoke("streams", "token", "2", data_dir=tmp_path))
    assert len(first) == 20 and first == first.upper()
    assert _last_line(_invoke("streams", "token", "2", data_dir=tmp_path)) == first  # stable until reset
    reset = _last_line(_invoke("streams", "token", "viewer@example.org", "--reset", data_dir=tmp_path))
    assert reset != first and _last_line(_invoke("streams", "token", "2", data_dir=tmp_path)) == reset


def test_only_the_owner_deletes_and_bad_input_changes_nothing(tmp_path: Path) -> None:
    _users(tmp_path, "Streamer", "Mod")
    assert _invoke("streams", "create", "1", "Show", data_dir=tmp_path).exit_code == 0
    nameless = _invoke("streams", "create", "1", "   ", data_dir=tmp_path)
    assert nameless.exit_code == 1
    no_account = _invoke("streams", "create", "1", "Other", "--account", "7", data_dir=tmp_path)
    assert no_account.exit_code == 1
    bad_level = _invoke("streams", "share", "1", "1", "2", "--chat-level", "3", data_dir=tmp_path)
    assert bad_level.exit_code == 2
    assert _invoke("streams", "share", "1", "1", "2", "--metadata-level", "2", data_dir=tmp_path).exit_code == 0
    not_owner = _invoke("streams", "delete", "2", "1", data_dir=tmp_path)
    assert not_owner.exit_code == 1
    assert _invoke("streams", "list", "1", data_dir=tmp_path).output.count("\n") == 1
    deleted = _invoke("streams", "delete", "1", "1", data_dir=tmp_path)
    assert deleted.exit_code == 0 and "deleted stream 1" in deleted.output
    assert _invoke("streams", "list", "1", data_dir=tmp_path).output == ""
    assert _invoke("streams", "list", "2", data_dir=tmp_path).output == ""
