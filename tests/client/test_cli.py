"""``hubbub say``, ``hubbub tail`` (in a real terminal) and the example bot, against a ``hubbub serve`` process."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubbub.cli.main import cli
from hubbub.client import Client, events
from tests.fakes import TIMEOUT

HUBBUB = [sys.executable, "-m", "hubbub"]
EXAMPLE_BOT = Path(__file__).resolve().parents[2] / "examples" / "echo_bot.py"
PASSWORD = "a long secret"
FAST_HASH = {"HUBBUB_PASSWORD_TIME_COST": "1", "HUBBUB_PASSWORD_MEMORY_KIB": "1024"}


@dataclass
class Served:
    url: str
    env: dict[str, str]

    def as_user(self, email: str, **extra: str) -> dict[str, str]:
        return {**self.env, "HUBBUB_URL": self.url, "HUBBUB_EMAIL": email, "HUBBUB_PASSWORD": PASSWORD, **extra}


def _hubbub(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUBBUB, *args], env=env, input=stdin, capture_output=True, text=True, timeout=TIMEOUT * 3, check=False
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("served")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_") and key != "XDG_CONFIG_HOME"
    }
    env.update(FAST_HASH, HUBBUB_DATA_DIR=str(data), XDG_CONFIG_HOME=str(data / "config"))
    for name, email in (
        ("Poster", "poster@example.org"),
        ("Watcher", "watcher@example.org"),
        ("Echo Bot", "bot@example.org"),
    ):
        created = _hubbub("users", "create", name, "--email", email, "--password", PASSWORD, env=env)
        assert created.returncode == 0, created.stderr
    assert _hubbub("rooms", "create", "Sandbox", env=env).returncode == 0
    server = subprocess.Popen(
        [*HUBBUB, "serve", "--port", "0", "--ws-port", "0"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    first = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
    assert match is not None, first
    yield Served(f"http://127.0.0.1:{match.group(1)}", env)
    server.send_signal(signal.SIGINT)
    server.wait(TIMEOUT)


class Terminal:
    """A process whose stdin, stdout and stderr are a pseudo-terminal, read as the user would see it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.output = ""

    def read_until(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + TIMEOUT
        while (match := re.search(pattern, self.output)) is None:
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not in {self.output!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the process closed the terminal
                    chunk = b""
                assert chunk, f"{pattern!r} not in {self.output!r} (terminal closed)"
                self.output += chunk.decode("utf-8", "replace")
        return match

    def finish(self) -> int:
        code = self.process.wait(TIMEOUT)
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk.decode("utf-8", "replace")
        os.close(self.master)
        return code


def test_the_commands_have_help() -> None:
    for command in ("tail", "say"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "--password" in result.output and "HUBBUB_EMAIL" in result.output


def test_say_posts_and_prints_the_id(served: Served) -> None:
    said = _hubbub("say", "1", "hello", "from", "say", env=served.as_user("poster@example.org"))
    assert said.returncode == 0, said.stderr
    message_id = int(said.stdout.strip().splitlines()[-1])
    with urllib.request.urlopen(f"{served.url}/message/{message_id}?plain=true", timeout=TIMEOUT) as response:
        assert response.read().decode() == "hello from say"
    piped = _hubbub("say", "1", "-", env=served.as_user("poster@example.org"), stdin="line one\nline two\n")
    assert piped.returncode == 0 and int(piped.stdout.split()[-1]) == message_id + 1


def test_say_reads_a_config_file_and_refuses_without_credentials(served: Served, tmp_path: Path) -> None:
    config = tmp_path / "client.toml"
    config.write_text(f'url = "{served.url}"\nemail = "poster@example.org"\npassword = "{PASSWORD}"\n')
    config.chmod(0o600)
    env = {**served.env, "HUBBUB_CLIENT_CONFIG": str(config)}
    said = _hubbub("say", "1", "configured", env=env)
    assert said.returncode == 0 and said.stdout.strip().isdigit(), said.stderr
    missing = _hubbub("say", "1", "nobody", env={**served.env, "HUBBUB_URL": served.url})
    assert missing.returncode == 2 and "no e-mail address" in missing.stderr
    wrong = _hubbub("say", "1", "x", env=served.as_user("poster@example.org", HUBBUB_PASSWORD="wrong password"))
    assert wrong.returncode == 1 and "Logging in failed" in wrong.stderr and "Traceback" not in wrong.stderr
    closed = _hubbub("say", "1", "x", env=served.as_user("poster@example.org", HUBBUB_URL="http://127.0.0.1:9"))
    assert closed.returncode == 1 and "cannot reach the server" in closed.stderr and "Traceback" not in closed.stderr
    too_long = _hubbub("say", "1", "y" * 501, env=served.as_user("poster@example.org"))
    assert too_long.returncode == 1 and "too long" in too_long.stderr
    words = " ".join(f"w{n}" for n in range(200))
    split = _hubbub("say", "--split", "1", words, env=served.as_user("poster@example.org"))
    assert split.returncode == 0 and len(split.stdout.split()) == 2


def test_tail_shows_the_room_live_in_a_terminal(served: Served) -> None:
    terminal = Terminal([*HUBBUB, "tail", "1"], served.as_user("watcher@example.org"))
    terminal.read_until("Ctrl-C quits")
    poster = served.as_user("poster@example.org")
    first = int(_hubbub("say", "1", "hello **terminal**", env=poster).stdout.split()[-1])
    line = terminal.read_until(r"\x1b\[(\d+)m\x1b\[1mPoster\x1b\[0m: hello terminal .*#(\d+)")
    assert int(line.group(2)) == first
    reply = int(_hubbub("say", "1", "--reply-to", str(first), "answering", env=poster).stdout.split()[-1])
    terminal.read_until(rf"Poster\x1b\[0m \x1b\[36m\(reply to #{first}\)\x1b\[0m: @Poster answering .*#{reply}")

    async def edit() -> None:
        async with Client(served.url) as client:
            await client.login("poster@example.org", PASSWORD)
            await client.edit(first, "hello again")

    asyncio.run(edit())
    terminal.read_until(r"Poster\x1b\[0m \x1b\[33m\(edited\)\x1b\[0m: hello again")
    terminal.process.send_signal(signal.SIGINT)
    assert terminal.finish() == 0
    assert "Traceback" not in terminal.output and "Error" not in terminal.output


def test_the_example_bot_answers_and_stops_on_sigterm(served: Served) -> None:
    bot = Terminal([sys.executable, str(EXAMPLE_BOT), "1"], served.as_user("bot@example.org"))
    bot.read_until("ready in rooms")

    async def talk() -> tuple[int, events.MessageEvent]:
        async with Client(served.url) as client:
            await client.login("watcher@example.org", PASSWORD)
            room = await client.join(1)
            stream = room.events()
            asked = await room.send("!echo is anyone there?")
            async with asyncio.timeout(TIMEOUT):
                async for event in stream:
                    if type(event) is events.MessageEvent and event.user_name == "Echo Bot":
                        await stream.aclose()
                        return asked, event
            raise AssertionError("no answer")

    asked, answer = asyncio.run(talk())
    assert answer.parent_id == asked and answer.text == "@Watcher is anyone there?"
    bot.process.send_signal(signal.SIGTERM)
    assert bot.finish() == 0
    assert "bot stopped" in bot.output and "Traceback" not in bot.output
