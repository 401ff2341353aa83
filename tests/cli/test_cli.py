"""The ``hubbub`` command line: users, rooms, tokens, settings resolution, and serve."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest
import requests
import websocket
from bs4 import BeautifulSoup
from click.testing import CliRunner, Result

from hubbub.cli.main import _first_run_message, cli
from hubbub.settings import Settings
from tests.fakes import TIMEOUT

FAST_HASH = {"HUBBUB_PASSWORD_TIME_COST": "1", "HUBBUB_PASSWORD_MEMORY_KIB": "1024"}


def _invoke(*args: str, env: dict[str, str] | None = None, data_dir: Path | None = None) -> Result:
    arguments = list(args) + (["--data-dir", str(data_dir)] if data_dir is not None else [])
    return CliRunner().invoke(cli, arguments, env={**FAST_HASH, **(env or {})}, catch_exceptions=False)


def _last_line(result: Result) -> str:
    return result.output.strip().splitlines()[-1]


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_command_has_help() -> None:
    paths = _command_paths(cli)
    assert ("streams", "token") in paths and ("bridges", "add-irc") in paths  # the walk finds nested ones
    for args in paths:
        result = _invoke(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_create_and_list_users_and_rooms(tmp_path: Path) -> None:
    created = _invoke(
        "users",
        "create",
        "Jon Skeet",
        "--email",
        "jon@example.org",
        "--password",
        "secretpw1",
        "--reputation",
        "5000",
        "--moderator",
        data_dir=tmp_path,
    )
    assert created.exit_code == 0, created.output
    assert _last_line(created) == "1"
    room = _invoke(
        "rooms",
        "create",
        "C#",
        "--description",
        "Sharp",
        "--access",
        "gallery",
        "--owner",
        "1",
        "--tags",
        "csharp dotnet",
        data_dir=tmp_path,
    )
    assert room.exit_code == 0 and _last_line(room) == "1"
    users = _invoke("users", "list", data_dir=tmp_path)
    assert users.output.splitlines() == ["1\tJon Skeet\tjon@example.org\t5000\tmoderator"]
    rooms = _invoke("rooms", "list", data_dir=tmp_path)
    assert rooms.output.splitlines() == ["1\tC#\tgallery\t0\tcsharp dotnet"]


def test_the_data_dir_comes_from_the_environment_too(tmp_path: Path) -> None:
    env = {"HUBBUB_DATA_DIR": str(tmp_path / "from-env")}
    result = _invoke("rooms", "create", "Sandbox", env=env)
    assert result.exit_code == 0 and _last_line(result) == "1"
    assert (tmp_path / "from-env" / "hubbub.sqlite3").is_file()
    assert _invoke("rooms", "list", env=env).output.startswith("1\tSandbox")


def test_refusals_exit_non_zero_with_the_reason(tmp_path: Path) -> None:
    ok = _invoke("users", "create", "A", "--email", "a@example.org", "--password", "secretpw1", data_dir=tmp_path)
    assert ok.exit_code == 0
    again = _invoke("users", "create", "B", "--email", "A@example.org", "--password", "secretpw1", data_dir=tmp_path)
    assert again.exit_code == 1 and "already exists" in again.output
    short = _invoke("users", "create", "C", "--email", "c@example.org", "--password", "short", data_dir=tmp_path)
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    no_owner = _invoke("rooms", "create", "R", "--owner", "99", data_dir=tmp_path)
    assert no_owner.exit_code == 1 and "no user with id 99" in no_owner.output
    bad_access = _invoke("rooms", "create", "R", "--access", "secret", data_dir=tmp_path)
    assert bad_access.exit_code == 2
    assert _invoke("users", "list", data_dir=tmp_path).output.count("\n") == 1


def test_password_from_the_environment_or_a_prompt(tmp_path: Path) -> None:
    from_env = _invoke(
        "users", "create", "A", "--email", "a@example.org", env={"HUBBUB_PASSWORD": "secretpw1"}, data_dir=tmp_path
    )
    assert from_env.exit_code == 0
    prompted = CliRunner().invoke(
        cli,
        ["users", "create", "B", "--email", "b@example.org", "--data-dir", str(tmp_path)],
        input="secretpw2\nsecretpw2\n",
        env=FAST_HASH,
    )
    assert prompted.exit_code == 0 and _last_line(prompted) == "2"


def _user(tmp_path: Path, name: str, *extra: str) -> str:
    email = f"{name.lower()}@example.org"
    created = _invoke("users", "create", name, "--email", email, "--password", "secretpw1", *extra, data_dir=tmp_path)
    assert created.exit_code == 0, created.output
    return _last_line(created)


def test_suspend_and_unsuspend_a_user(tmp_path: Path) -> None:
    member, moderator = _user(tmp_path, "Member"), _user(tmp_path, "Mod", "--moderator")
    suspended = _invoke("users", "suspend", member, "--hours", "2", data_dir=tmp_path)
    assert suspended.exit_code == 0, suspended.output
    assert re.fullmatch(rf"suspended user {member} until \d{{4}}-\d\d-\d\d \d\d:\d\d UTC\n", suspended.output)
    listed = _invoke("users", "list", data_dir=tmp_path).output.splitlines()
    assert re.fullmatch(rf"{member}\tMember\tmember@example.org\t20\tsuspended until .+ UTC", listed[0])
    lifted = _invoke("users", "unsuspend", member, data_dir=tmp_path)
    assert lifted.exit_code == 0 and lifted.output == f"lifted the suspension of user {member}\n"
    assert (
        _invoke("users", "list", data_dir=tmp_path).output.splitlines()[0]
        == f"{member}\tMember\tmember@example.org\t20"
    )
    refusals = [
        (["users", "unsuspend", member], "Member is not suspended"),
        (["users", "suspend", moderator, "--days", "1"], "Moderators cannot be suspended"),
        (["users", "suspend", "99", "--days", "1"], "There is no user with id 99"),
        (["users", "suspend", member, "--days", "366"], "A suspension lasts from 1 second to 365 days"),
    ]
    for args, reason in refusals:
        refused = _invoke(*args, data_dir=tmp_path)
        assert refused.exit_code == 1 and reason in refused.output, (args, refused.output)
    for args in (["users", "suspend", member], ["users", "suspend", member, "--hours", "1", "--days", "1"]):
        assert _invoke(*args, data_dir=tmp_path).exit_code == 2  # exactly one length is needed
    assert _invoke("users", "list", data_dir=tmp_path).output.splitlines()[0].endswith("\t20")


def test_set_password(tmp_path: Path) -> None:
    member = _user(tmp_path, "Member")
    changed = _invoke("users", "set-password", member, "--password", "another secret", data_dir=tmp_path)
    assert (
        changed.exit_code == 0 and changed.output == f"set the password of user {member}; their sessions have ended\n"
    )
    prompted = CliRunner().invoke(
        cli,
        ["users", "set-password", member, "--data-dir", str(tmp_path)],
        input="third secret\nthird secret\n",
        env=FAST_HASH,
    )
    assert prompted.exit_code == 0, prompted.output
    short = _invoke("users", "set-password", member, "--password", "short", data_dir=tmp_path)
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    nobody = _invoke("users", "set-password", "99", "--password", "long enough", data_dir=tmp_path)
    assert nobody.exit_code == 1 and "There is no user with id 99" in nobody.output


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    created = _invoke("tokens", "create", "--name", "smoke detector", data_dir=tmp_path)
    assert created.exit_code == 0
    token = _last_line(created)
    assert token.startswith("hbb_") and len(token) > 30
    assert _invoke("tokens", "list", data_dir=tmp_path).output.split("\t")[:3] == ["1", "smoke detector", "publish"]
    assert _invoke("tokens", "revoke", "1", data_dir=tmp_path).exit_code == 0
    assert _invoke("tokens", "list", data_dir=tmp_path).output.rstrip().endswith("revoked")
    missing = _invoke("tokens", "revoke", "7", data_dir=tmp_path)
    assert missing.exit_code == 1 and "No live token with id 7" in missing.output


def test_a_bad_config_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "hubbub.toml").write_text("no_such_setting = 1\n")
    result = _invoke("rooms", "list", data_dir=tmp_path)
    assert result.exit_code == 2 and "unknown settings no_such_setting" in result.output


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_serve_runs_and_the_cli_writes_beside_it(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = {**os.environ, **FAST_HASH, "HUBBUB_DATA_DIR": str(tmp_path), "HUBBUB_LOG_LEVEL": "warning"}
    database: list[str] = []
    if engine == "postgresql":  # the server is told by flag, the other commands by environment
        url: str = request.getfixturevalue("postgres_url")
        database, env["HUBBUB_DATABASE"] = ["--database", url], url
    server = subprocess.Popen(
        [sys.executable, "-m", "hubbub", "serve", "--port", "0", "--ws-port", "0", *database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        second = server.stdout.readline()
        http = re.search(r"http listening on (http://127\.0\.0\.1:\d+)", first)
        ws = re.search(r"websocket gateway listening on ws://127\.0\.0\.1:(\d+)", second)
        assert http and ws, (first, second)
        base = http.group(1)
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "hubbub",
                "users",
                "create",
                "Bot",
                "--email",
                "bot@example.org",
                "--password",
                "secretpw1",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT * 3,
            check=True,
        )
        assert created.stdout.strip().splitlines()[-1] == "1"
        # Several at once, beside the server: each waits its turn for the file, none fails "locked".
        together = [
            subprocess.Popen(
                [sys.executable, "-m", "hubbub", "users", "create", f"Bot{n}", "--email", f"bot{n}@example.org"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**env, "HUBBUB_PASSWORD": "secretpw1"},
            )
            for n in range(4)
        ]
        outputs = [process.communicate(timeout=TIMEOUT * 3) for process in together]
        assert [process.returncode for process in together] == [0, 0, 0, 0], outputs
        assert sorted(out.strip().splitlines()[-1] for out, _ in outputs) == ["2", "3", "4", "5"]
        session = requests.Session()
        login = session.post(
            f"{base}/users/login",
            data={"email": "bot@example.org", "password": "secretpw1"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert login.status_code == 302 and "acct" in session.cookies
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=TIMEOUT) == 0
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("hubbub serve did not stop on SIGTERM")
        finally:
            server.stdout and server.stdout.close()
            server.stderr and server.stderr.close()


def test_serve_on_an_empty_data_dir_says_how_to_get_in_and_logs_no_routine_lines(tmp_path: Path) -> None:
    """The first run as a newcomer meets it: default log level, nothing in the data directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    env.update(FAST_HASH, HUBBUB_DATA_DIR=str(tmp_path / "data"))
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "hubbub", "serve", "--port", "0", "--ws-port", "0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout or ()], daemon=True)
    reader.start()
    try:
        printed: list[str] = []
        with contextlib.suppress(queue.Empty):
            while len(printed) < 7:  # the three listening lines, then the first-run message
                printed.append(lines.get(timeout=TIMEOUT))
        http = re.search(r"http listening on (http://127\.0\.0\.1:\d+)", printed[0])
        ws = re.search(r"websocket gateway listening on ws://127\.0\.0\.1:(\d+)", printed[1])
        assert http and ws, printed
        message = "".join(printed[3:])
        link = re.search(r"(http://127\.0\.0\.1:\d+/setup/[A-Za-z0-9_-]{40,})\n", message)
        assert link and "no account exists yet" in message and "hubbub users create" in message, message
        assert link.group(1).startswith(http.group(1))

        # Ten sockets open and close: the gateway writes no line for any of them.
        for _ in range(10):
            websocket.create_connection(f"ws://127.0.0.1:{ws.group(1)}/", timeout=TIMEOUT).close()
        session = requests.Session()
        form = BeautifulSoup(session.get(link.group(1), timeout=TIMEOUT).text, "html.parser").select_one("#setup-form")
        assert form is not None
        created = session.post(
            link.group(1),
            data={
                "name": "First Admin",
                "email": "admin@example.org",
                "password": "secretpw1",
                "password2": "secretpw1",
                "fkey": form.select_one("input[name=fkey]")["value"],  # type: ignore[index]
            },
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert created.status_code == 302 and "acct" in session.cookies
        listed = _invoke("users", "list", env={"HUBBUB_DATA_DIR": str(tmp_path / "data")})
        assert listed.output.split("\t")[1:2] == ["First Admin"] and "moderator" in listed.output
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=TIMEOUT) == 0
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("hubbub serve did not stop on SIGTERM")
        finally:
            reader.join(TIMEOUT)
            server.stdout and server.stdout.close()
    log = stderr_path.read_text()
    # Migrations in one line, not yoyo's step-by-step; no line per websocket connection.
    assert "applying step" not in log and "yoyo" not in log, log
    assert re.search(r"INFO hubbub\.store: database schema: applied \d+ migration\(s\), 0001\.initial-schema", log), log
    assert "picows" not in log and "New connection" not in log and "Disconnected" not in log, log
    assert len(log.splitlines()) <= 4, log


@pytest.mark.parametrize(
    ("overrides", "link"),
    [
        ({"public_url": "https://chat.example.org/"}, "https://chat.example.org/setup/TOKEN"),
        ({"host": "0.0.0.0"}, "http://127.0.0.1:8080/setup/TOKEN"),
        ({"host": "chat.internal"}, "http://chat.internal:8080/setup/TOKEN"),
        ({"host": "::1"}, "http://[::1]:8080/setup/TOKEN"),
    ],
)
def test_the_first_run_link_names_where_people_open_hubbub(
    tmp_path: Path, overrides: dict[str, str], link: str
) -> None:
    settings = dataclasses.replace(Settings(data_dir=tmp_path), **overrides)
    assert f"        {link}\n" in _first_run_message(settings, 8080, "TOKEN")


def test_an_unknown_sqlite_synchronous_mode_is_a_usage_error_and_makes_no_database(tmp_path: Path) -> None:
    (tmp_path / "hubbub.toml").write_text('sqlite_synchronous = "fast"\n')
    result = _invoke("rooms", "list", data_dir=tmp_path)
    assert result.exit_code == 2
    assert "sqlite_synchronous: expected normal or full, got 'fast'" in result.output
    assert not (tmp_path / "hubbub.sqlite3").exists()
