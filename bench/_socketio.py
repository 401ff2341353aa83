"""socket.io 4.8 on Node as bench/peers.py measures it: a room-broadcast server and Node client processes.

The packages come from npm (``socket.io`` and ``socket.io-client``) into a directory of their
own (``_peers_env``); the two scripts beside this file (``_socketio_server.js``,
``_socketio_client.js``) are copied next to that node_modules at each run and run with the
machine's ``node``. ``NodeClients`` drives one client process over JSON lines with the same
commands and answers as fanout.py's ``Child``, so fanout.py's measuring code measures these
sockets too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from array import array
from pathlib import Path
from typing import Any

from _common import pin_process
from _peers_env import PeerUnavailable, Processes, free_port, wait_until

__all__ = ["PACKAGES", "NodeClients", "SocketIoServer", "copy_scripts"]

PACKAGES = ("socket.io@4.8", "socket.io-client@4.8")
_HERE = Path(__file__).resolve().parent
SERVER_SCRIPT, CLIENT_SCRIPT = "_socketio_server.js", "_socketio_client.js"


def copy_scripts(install_dir: Path) -> None:
    """Put the current scripts beside the installed node_modules (Node resolves modules from there)."""
    for name in (SERVER_SCRIPT, CLIENT_SCRIPT):
        shutil.copyfile(_HERE / name, install_dir / name)


class SocketIoServer:
    """``node _socketio_server.js PORT`` in ``install_dir``, its output in ``log_path``."""

    name = "socket.io"

    def __init__(self, install_dir: Path, log_path: Path, processes: Processes, version: str) -> None:
        self.install_dir = install_dir
        self.log_path = log_path
        self.processes = processes
        self.version = version
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, cpus: set[int] | None, timeout: float = 30) -> None:
        self.port = free_port()
        self.log_path.write_bytes(b"")
        with open(self.log_path, "ab") as log:
            self.process = self.processes.popen(
                "socket.io server",
                ["node", SERVER_SCRIPT, str(self.port)],
                cwd=self.install_dir,
                env=None,
                log=log,
            )
        process = self.process
        wait_until(
            lambda: f"listening on {self.port}" in self.log_tail(),
            timeout,
            "socket.io server start",
            lambda: process.poll() is None,
        )
        if cpus:
            pin_process(self.pid, cpus)

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process.pid)
            self.process.wait(10)
            self.process = None


class NodeClients:
    """One ``node _socketio_client.js`` process: a ``fanout.Child`` look-alike over JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process, processes: Processes, log_path: Path) -> None:
        self.process = process
        self.processes = processes
        self.log_path = log_path

    @classmethod
    async def start(
        cls, what: str, install_dir: Path, processes: Processes, log_path: Path, cpus: set[int] | None
    ) -> NodeClients:
        log = open(log_path, "ab")  # noqa: ASYNC230, SIM115 (a small local file; the child keeps its own copy)
        try:
            process = await processes.spawn(what, ["node", CLIENT_SCRIPT], cwd=install_dir, stderr=log)
        finally:
            log.close()
        if cpus:
            pin_process(process.pid, cpus)
        return cls(process, processes, log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, command: str, /, **options: Any) -> None:
        """A command without an answer ("post")."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"command": command, "options": options}).encode() + b"\n")

    async def call(self, command: str, answer_within: float, /, **options: Any) -> Any:
        self.send(command, **options)
        assert self.process.stdin is not None and self.process.stdout is not None
        await self.process.stdin.drain()
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), answer_within)
        except TimeoutError:
            raise TimeoutError(f"node client did not answer {command!r} within {answer_within:.0f} s") from None
        if not line:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-600:]
            raise RuntimeError(f"node client exited during {command!r}: {tail}")
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer and len(answer) == 1:
            raise RuntimeError(f"node client, {command!r}: {answer['error']}")
        if command == "collect":  # as fanout.py's client process sends them: packed arrays
            answer["seqs"] = array("i", answer["seqs"]).tobytes()
            answer["times"] = array("d", answer["times"]).tobytes()
        return answer

    def stop(self) -> None:
        self.processes.stop(self.process.pid)


def require_node() -> str:
    """The machine's node version (``v20.x``), or PeerUnavailable."""
    try:
        result = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        raise PeerUnavailable(f"node is not usable: {error}") from error
    return result.stdout.strip()
