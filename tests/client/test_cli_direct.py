"""``hubbub contacts add``, ``hubbub say --to`` and ``hubbub tail --dm`` against a ``hubbub serve`` process."""

from __future__ import annotations

import signal

from click.testing import CliRunner

from hubbub.cli.main import cli
from tests.client.test_cli import HUBBUB, Served, Terminal, _hubbub, served

__all__ = ["served"]  # the module-scoped server fixture, shared with this module's tests


def _ids(served: Served) -> dict[str, int]:
    listed = _hubbub("users", "list", env=served.env)
    assert listed.returncode == 0, listed.stderr
    return {line.split("\t")[1]: int(line.split("\t")[0]) for line in listed.stdout.splitlines()}


def test_contacts_add_links_two_users_by_email_or_id(served: Served) -> None:
    ids = _ids(served)
    added = _hubbub("contacts", "add", "poster@example.org", str(ids["Watcher"]), env=served.env)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Poster and Watcher: contacts"
    listed = _hubbub("contacts", "list", "watcher@example.org", env=served.env)
    assert listed.stdout.split("\t")[:3] == [str(ids["Poster"]), "Poster", "contacts"]
    unknown = _hubbub("contacts", "add", "poster@example.org", "nobody@example.org", env=served.env)
    assert unknown.returncode == 1 and "There is no user 'nobody@example.org'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_say_to_and_tail_dm(served: Served) -> None:
    ids = _ids(served)
    assert _hubbub("contacts", "add", "poster@example.org", "watcher@example.org", env=served.env).returncode == 0
    terminal = Terminal([*HUBBUB, "tail", "--dm"], served.as_user("watcher@example.org"))
    terminal.read_until("Ctrl-C quits")
    said = _hubbub(
        "say", "--to", str(ids["Watcher"]), "hello", "in", "private", env=served.as_user("poster@example.org")
    )
    assert said.returncode == 0, said.stderr
    message_id = int(said.stdout.split()[-1])
    terminal.read_until(rf"Poster\x1b\[0m: hello in private .*#{message_id}")
    piped = _hubbub("say", "--to", str(ids["Poster"]), "-", env=served.as_user("watcher@example.org"), stdin="answer\n")
    assert piped.returncode == 0 and int(piped.stdout.split()[-1]) == message_id + 1
    terminal.read_until(rf"Watcher\x1b\[0m.*→ user {ids['Poster']}.*: answer")
    terminal.process.send_signal(signal.SIGINT)
    assert terminal.finish() == 0


def test_say_to_a_stranger_is_refused(served: Served) -> None:
    ids = _ids(served)
    refused = _hubbub("say", "--to", str(ids["Echo Bot"]), "hi", env=served.as_user("poster@example.org"))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr and refused.stderr.strip()


def test_usage_errors_name_what_is_missing() -> None:
    """Refused before logging in: no server needed."""
    for args, words in [
        (["say", "--to", "2", "--split", "x"], "for rooms"),
        (["say", "hello"], "ROOM"),
        (["tail"], "--dm"),
    ]:
        result = CliRunner().invoke(cli, args, env={"HUBBUB_EMAIL": "a@example.org", "HUBBUB_PASSWORD": "x"})
        assert result.exit_code == 2 and words in result.output, (args, result.output)
