"""Where bench/peers.py installs the peers it measures, and the record of every process it starts.

Each peer is installed from its registry with its ordinary client into a directory of its own
under the work directory (a fresh temporary one unless ``--work-dir`` names one to reuse):
Synapse into a virtual environment with pip, socket.io into a node_modules with npm. An install
that fails (no network, no node) raises ``PeerUnavailable`` with the reason; the bench then
reports that peer as failed and measures the others.

Every process the bench starts goes through ``Processes``, in a session of its own (so Ctrl-C in
the terminal does not reach it before the bench has stopped it in order), and ``stop_all`` ends
each of them by its own process group id, however the bench ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PeerUnavailable",
    "Processes",
    "directory_size",
    "free_port",
    "install_npm",
    "install_pip",
    "installed",
    "wait_until",
]

INSTALLED = ".installed.json"  # written after a successful install: what, which version, when


class PeerUnavailable(Exception):
    """A peer could not be installed or started; the message says why, for the report."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers that need a port number up front)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def directory_size(path: Path) -> int:
    """Bytes in the files under ``path`` (what an install put on disk)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def wait_until(check: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool]) -> None:
    """Poll ``check`` until it holds; PeerUnavailable when ``timeout`` passes or ``alive`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            raise PeerUnavailable(f"{what}: the process exited")
        time.sleep(0.2)
    raise PeerUnavailable(f"{what}: not ready within {timeout:.0f} s")


def _run(argv: Sequence[str], *, cwd: Path, timeout: float, what: str, env: Mapping[str, str] | None = None) -> str:
    try:
        result = subprocess.run(
            list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as error:
        raise PeerUnavailable(f"{what}: {error.filename} not found") from error
    except subprocess.TimeoutExpired as error:
        raise PeerUnavailable(f"{what}: no result within {timeout:.0f} s (no network?)") from error
    if result.returncode != 0:
        raise PeerUnavailable(f"{what} failed (exit {result.returncode}): {_reason(result.stderr or result.stdout)}")
    return result.stdout


_TELLING = re.compile(r"^(ERROR:|npm error (code|errno|network|request|syscall)\b)")
_UNREACHABLE = re.compile(r"Connection refused|ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|Name or service|timed out")


def _reason(output: str) -> str:
    """The lines of an installer's output that say why it failed, not its whole log."""
    lines = output.strip().splitlines()
    telling = [line.strip() for line in lines if _TELLING.match(line.strip())][:4] or lines[-4:]
    hint = "the registry could not be reached (no network?): " if _UNREACHABLE.search(output) else ""
    return hint + " | ".join(telling)


def installed(directory: Path) -> dict[str, Any] | None:
    """What a previous install left in ``directory`` (None when nothing finished there)."""
    try:
        return dict(json.loads((directory / INSTALLED).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _record(directory: Path, what: str, version: str, seconds: float) -> dict[str, Any]:
    record = {"what": what, "version": version, "seconds": round(seconds, 1), "bytes": directory_size(directory)}
    (directory / INSTALLED).write_text(json.dumps(record), encoding="utf-8")
    return record


def install_pip(directory: Path, requirement: str, module: str, *, timeout: float) -> dict[str, Any]:
    """A virtual environment in ``directory`` with ``requirement`` from PyPI; returns the install record."""
    began = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    python = directory / "bin" / "python"
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(directory)], cwd=directory, timeout=120, what="python -m venv")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", requirement],
        cwd=directory,
        timeout=timeout,
        what=f"pip install {requirement}",
    )
    version = _run(
        [str(python), "-c", f"import {module}; print({module}.__version__)"],
        cwd=directory,
        timeout=60,
        what=f"import {module}",
    ).strip()
    return _record(directory, requirement, version, time.monotonic() - began)


def install_npm(directory: Path, packages: Sequence[str], probe: str, *, timeout: float) -> dict[str, Any]:
    """``npm install packages`` into ``directory``; ``probe`` is the package whose version is recorded."""
    began = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    package_json = directory / "package.json"
    if not package_json.exists():
        package_json.write_text(json.dumps({"name": "hubbub-bench-peers", "private": True}), encoding="utf-8")
    _run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *packages],
        cwd=directory,
        timeout=timeout,
        what=f"npm install {' '.join(packages)}",
    )
    manifest = directory / "node_modules" / probe / "package.json"
    version = str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    return _record(directory, " ".join(packages), version, time.monotonic() - began)


class Processes:
    """Every process the bench started; each leads a process group of its own, ended by that group's id."""

    def __init__(self) -> None:
        self._pids: dict[int, str] = {}  # pid -> what it is, for messages

    def popen(
        self, what: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None, log: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        try:
            process = subprocess.Popen(
                list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        except OSError as error:
            raise PeerUnavailable(f"{what}: cannot start {argv[0]}: {error}") from error
        self._pids[process.pid] = what
        return process

    async def spawn(
        self, what: str, argv: Sequence[str], *, cwd: Path, stderr: IO[bytes]
    ) -> asyncio.subprocess.Process:
        """A child that talks JSON lines on its stdin and stdout (the Node clients)."""
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                limit=256 * 2**20,  # one "collect" answer carries every receive time of a phase
            )
        except OSError as error:
            raise PeerUnavailable(f"{what}: cannot start {argv[0]}: {error}") from error
        self._pids[process.pid] = what
        return process

    def stop(self, pid: int, timeout: float = 15) -> None:
        """SIGTERM to the process's group, SIGKILL after ``timeout``; waits for the process to go."""
        if self._pids.pop(pid, None) is None:
            return
        for sig, grace in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _running(pid):
                time.sleep(0.05)
            if not _running(pid):
                break

    def stop_all(self) -> None:
        for pid in list(self._pids):
            self.stop(pid)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
