"""The npm ``chatexchange`` package (samliew/chatexchange 0.6.5, Node.js) against a live ``hubbub serve``.

The package is installed from the npm registry with the machine's own ``npm ci``, pinned by
``tests/e2e/node/package-lock.json``, into ``<venv>/node-clients`` (once; again only when the
lock file changes). ``tests/e2e/node/chatexchange_driver.js`` runs it in a ``node`` process
and takes one JSON command per line: it redirects only the package's hard-coded Stack Exchange
hosts (as the Python real-client tests do) and leaves everything else to the package: its login
flow, page scraping, form posts and websocket reader. Errors the package does not handle stay
unhandled, so a websocket ``error`` event ends the process as it ends a bot; each test checks
the process exits cleanly.

The package has no way to edit a message, so the edit is made by another user and the package's
socket must deliver it. Without node, the tests are skipped; npm's registry is the only download.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, wait_for
from tests.fakes import TIMEOUT

pytestmark = pytest.mark.real_client

NODE_DIR = Path(__file__).with_name("node")
DRIVER = NODE_DIR / "chatexchange_driver.js"
CLIENTS = Path(sys.prefix) / "node-clients"  # inside the test venv: made by `make test`, removed by `make clean`
INSTALL_TIMEOUT = 300.0
# The package's answer to a delete whose body is not the bare text ok. Stack Exchange, like hubbub,
# quotes it ("ok"), so the package reports UNKNOWN there too (sechat.md §4.2).
DELETE_STATUS_UNKNOWN = 4


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``chatexchange`` and its dependencies, installed by ``npm ci`` from the committed lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the npm chatexchange package (apt-get install nodejs npm)")
    lock = (NODE_DIR / "package-lock.json").read_bytes()
    stamp = CLIENTS / ".lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        CLIENTS.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NODE_DIR / name, CLIENTS / name)
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        stamp.write_text(digest)
    return CLIENTS / "node_modules"


class Driver:
    """One ``node`` process running the package; ``call`` sends a command and waits for its answer."""

    def __init__(self, node_modules: Path, base: str, stderr: Path) -> None:
        self._stderr_path = stderr
        self._stderr = stderr.open("w")
        self.process = subprocess.Popen(
            ["node", str(DRIVER), str(node_modules), base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, name="npm-chatexchange-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            if "event" in message:
                self.events.put(message["event"])
            else:
                self._replies.put(message)
        self._replies.put(None)  # the process closed its output: it exited

    @property
    def stderr(self) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text()

    def call(self, op: str, **args: Any) -> Any:
        """Run one command; its value, or an AssertionError with the package's error (or the crash)."""
        self._next_id += 1
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"id": self._next_id, "op": op, "args": args}) + "\n")
        self.process.stdin.flush()
        reply = self._replies.get(timeout=TIMEOUT)
        assert reply is not None, f"node exited during {op} ({self.process.wait(TIMEOUT)}):\n{self.stderr}"
        assert reply["reply"] == self._next_id, reply
        assert reply["ok"], f"{op} failed in the package:\n{reply['error']}"
        return reply["value"]

    def next_event(self, event_type: int, *, skip: tuple[int, ...] = (3,)) -> dict[str, Any]:
        """The next websocket event of ``event_type``; others listed in ``skip`` may come first."""
        while True:
            event = self.events.get(timeout=TIMEOUT)
            if event.get("eventType") == event_type:
                return event
            assert event.get("eventType") in skip, f"unexpected event {event!r}"

    def finish(self) -> int:
        """Ask the process to end (it exits when nothing is left open) and return its exit code."""
        self.call("quit")
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(TIMEOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


@pytest.fixture
def npm_client(live: LiveServer, node_modules: Path, tmp_path: Path) -> Iterator[Driver]:
    driver = Driver(node_modules, live.base, tmp_path / "node-stderr.txt")
    try:
        yield driver
    finally:
        driver.stop()


def test_npm_chatexchange_logs_in_joins_sends_sees_edits_deletes_and_leaves(
    live: LiveServer, npm_client: Driver
) -> None:
    me, jon = live.users["npm"], live.users["jon"]
    room_id = live.rooms["Node Sandbox"]

    # Login: /users/login's fkey, the POST, the acct cookie; the identity from /chats/join/favorite.
    assert npm_client.call("login", email=me.email, password=me.password) == {"id": me.id}
    profile = npm_client.call("profile", user=jon.id)  # /users/<id>: h1, .user-status, the counts
    assert (profile["name"], profile["isModerator"], profile["roomCount"]) == ("Jon Skeet", False, 0)

    assert npm_client.call("join", room=room_id) is True  # POST /chats/<room>/events, for its time
    assert me.id in live.present(room_id)
    assert npm_client.call("watch", room=room_id) is True  # POST /ws-auth, then the socket with ?l=<time>

    jon_session = live.signed_in("jon")
    said = jon_session.say(room_id, "said while watching **this**")
    posted = npm_client.next_event(1)
    assert (posted["messageId"], posted["content"], posted["userId"], posted["userName"], posted["roomId"]) == (
        said,
        "said while watching <b>this</b>",
        jon.id,
        "Jon Skeet",
        room_id,
    )
    # /rooms/info/<room>: #room-usercards, names from .user-header's title.
    users = npm_client.call("users", room=room_id)
    assert sorted((u["id"], u["name"], u["isModerator"]) for u in users) == sorted(
        [(me.id, "Node Bot", False), (jon.id, "Jon Skeet", False)]
    )

    mine = npm_client.call("send", room=room_id, text="hello from *npm*")
    stored = live.message(mine)
    assert (stored["room_id"], stored["user_id"], stored["source"]) == (room_id, me.id, "hello from *npm*")
    own = npm_client.next_event(1)
    assert (own["messageId"], own["content"], own["userId"]) == (mine, "hello from <i>npm</i>", me.id)

    jon_session.edit(said, "said and edited")
    edited = npm_client.next_event(2)
    assert (edited["messageId"], edited["content"]) == (said, "said and edited")

    # /transcript/message/<id>: .message.highlight, .room-name a, the signature's user link.
    transcript = npm_client.call("transcript", message=mine)
    assert transcript == {
        "content": "hello from npm",
        "edited": False,
        "roomId": room_id,
        "roomName": "Node Sandbox",
        "userId": me.id,
    }

    assert npm_client.call("delete", message=mine) == DELETE_STATUS_UNKNOWN
    wait_for(lambda: bool(live.message(mine)["deleted"]))
    assert npm_client.next_event(10)["messageId"] == mine

    # room.leave() closes the socket with an empty close frame, then POSTs /chats/leave/<room>.
    # Answering that frame with code 0 made ws raise "invalid status code 0" and end the process.
    assert npm_client.call("leave", room=room_id) is True
    closed = npm_client.events.get(timeout=TIMEOUT)
    assert closed == {"closed": {"room": room_id, "code": 1000, "reason": ""}}
    assert me.id not in live.present(room_id)
    assert npm_client.finish() == 0, npm_client.stderr
    assert npm_client.stderr == ""
    jon_session.close()
