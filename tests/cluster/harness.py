"""Several real ``hubbub serve`` processes sharing one database and one Redis, behind Debian's nginx.

``Cluster`` starts N nodes exactly as an operator would (the installed ``hubbub``
command, settings in ``HUBBUB_*`` variables, loopback ports chosen up front so a
restarted node comes back where nginx expects it), then nginx with a configuration
generated from ``examples/nginx/hubbub.conf``, the file docs/deployment.md
shows. Clients talk to nginx; tests may also talk to one node directly. Every
process is stopped at the end (SIGTERM, then SIGKILL), whatever happened.

The database is ``database_url`` (the tests' fixtures give a PostgreSQL schema of
their own), or without one a SQLite file the nodes share (several processes on one
machine can).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest
import requests

from tests.fakes import TIMEOUT
from tests.ports import free_port

HUBBUB: Final = Path(sys.executable).with_name("hubbub")
NGINX_TEMPLATE: Final = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "hubbub.conf"
STOP_TIMEOUT: Final = 10.0
PASSWORD: Final = "cluster test password"

# Only what a test run needs around the shared template: its own pid, logs and temporary files.
_NGINX_MAIN: Final = """\
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/hubbub.conf;
}}
"""


def nginx_config(http_ports: list[int], gateway_ports: list[int], http_listen: str, gateway_listen: str) -> str:
    """The deployment's nginx file for these nodes: the template with its @...@ lines filled in."""

    def servers(ports: list[int]) -> str:
        return "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=1s;" for port in ports)

    return (
        NGINX_TEMPLATE.read_text()
        .replace("@HTTP_SERVERS@", servers(http_ports))
        .replace("@GATEWAY_SERVERS@", servers(gateway_ports))
        .replace("@HTTP_LISTEN@", http_listen)
        .replace("@GATEWAY_LISTEN@", gateway_listen)
    )


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 3 * TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=TIMEOUT).status_code == 200:
                return
        # Another process is starting: nothing to await on but its port.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.05)
    raise RuntimeError(f"{url} did not become ready:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


@dataclass
class NodeProcess:
    index: int
    http_port: int
    ws_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, sockets dropped mid-frame."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        _stop(self.process)


@dataclass
class Cluster:
    directory: Path
    size: int
    bus_url: str
    redis_prefix: str
    database_url: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeProcess] = field(default_factory=list)
    http_port: int = 0
    gateway_port: int = 0
    _nginx: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.directory / 'shared.sqlite3'}"
        self.http_port, self.gateway_port = free_port(), free_port()
        for index in range(self.size):
            log = self.directory / f"node{index}.log"
            self.nodes.append(NodeProcess(index, free_port(), free_port(), log))

    # what clients use

    @property
    def base(self) -> str:
        """nginx's HTTP address: what every client is given."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}"

    def environment(self, node: NodeProcess | None = None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
        env.update(
            {
                "HUBBUB_DATA_DIR": str(self.directory / (f"node{node.index}" if node else "cli")),
                "HUBBUB_DATABASE": self.database_url,
                "HUBBUB_BUS": self.bus_url,
                "HUBBUB_REDIS_PREFIX": self.redis_prefix,
                "HUBBUB_WS_PUBLIC_URL": self.ws_base,
                "HUBBUB_TRUSTED_PROXIES": "127.0.0.1",
                "HUBBUB_LOG_LEVEL": "warning",
                "HUBBUB_LOG_FORMAT": "json",
                "HUBBUB_PASSWORD_TIME_COST": "1",
                "HUBBUB_PASSWORD_MEMORY_KIB": "1024",
                "HUBBUB_BUS_RECONNECT_SECONDS": "0.2",
                "HUBBUB_BUS_TIMEOUT_SECONDS": "2",
                # Generous limits unless a test sets its own: these tests post fast from few addresses.
                "HUBBUB_MESSAGE_RATE_BURST": "100000",
                "HUBBUB_MESSAGE_RATE_PER_SECOND": "100000",
                "HUBBUB_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
                "HUBBUB_LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE": "100000",
                "HUBBUB_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE": "100000",
            }
        )
        env.update({f"HUBBUB_{name.upper()}": value for name, value in self.settings.items()})
        return env

    def cli(self, *args: str) -> str:
        """Run ``hubbub <args>`` against the cluster's database and Redis; what it printed."""
        done = subprocess.run(
            [str(HUBBUB), *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=3 * TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def create_user(self, name: str, *, moderator: bool = False) -> tuple[int, str]:
        """A user made with the CLI before or while nodes run; returns (id, e-mail)."""
        email = f"{name.lower().replace(' ', '.')}@example.org"
        extra = ["--moderator"] if moderator else []
        printed = self.cli("users", "create", name, "--email", email, "--password", PASSWORD, *extra)
        return int(printed.split()[-1]), email

    def create_room(self, name: str, *args: str) -> int:
        return int(self.cli("rooms", "create", name, *args).split()[-1])

    # life cycle

    def start(self) -> None:
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            reason = "nginx is not installed (Debian: apt-get install nginx; `make test` installs it)"
            if os.environ.get("CI"):
                pytest.fail(reason)  # CI runs make test, which installs it: these tests must run there
            pytest.skip(reason)
        self.cli("users", "list")  # creates the schema once, before nodes race to it
        for node in self.nodes:
            self.start_node(node, wait=False)
        for node in self.nodes:
            assert node.process is not None
            _wait_until_ready(node.base + "/readyz", node.process, node.log)
        self._start_nginx()

    def start_node(self, node: NodeProcess, *, wait: bool = True) -> None:
        """Start (or restart, on the same ports) one node."""
        command = [str(HUBBUB), "serve", "--host", "127.0.0.1", "--port", str(node.http_port)]
        command += ["--ws-port", str(node.ws_port)]
        with node.log.open("ab") as log:
            node.process = subprocess.Popen(
                command, env=self.environment(node), stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL
            )
        if wait:
            _wait_until_ready(node.base + "/readyz", node.process, node.log)

    def _start_nginx(self) -> None:
        conf_dir = self.directory / "nginx"
        conf_dir.mkdir(exist_ok=True)
        (conf_dir / "hubbub.conf").write_text(
            nginx_config(
                [n.http_port for n in self.nodes],
                [n.ws_port for n in self.nodes],
                f"127.0.0.1:{self.http_port}",
                f"127.0.0.1:{self.gateway_port}",
            )
        )
        (conf_dir / "nginx.conf").write_text(_NGINX_MAIN.format(dir=conf_dir))
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        log = conf_dir / "stderr.log"
        with log.open("ab") as stderr:
            # One process, in the foreground, as the user running the tests (no workers switching users).
            self._nginx = subprocess.Popen(
                [
                    binary,
                    "-p",
                    str(conf_dir),
                    "-c",
                    str(conf_dir / "nginx.conf"),
                    "-g",
                    "daemon off; master_process off;",
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
        _wait_until_ready(self.base + "/healthz", self._nginx, conf_dir / "error.log")

    def stop(self) -> None:
        _stop(self._nginx)
        self._nginx = None
        for node in self.nodes:
            node.stop()

    def log_records(self, index: int) -> list[dict[str, str]]:
        """Node ``index``'s log (JSON lines) as records; lines that are not JSON (a crash) are skipped."""
        records = []
        for line in self.nodes[index].log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        return records

    def logs(self) -> str:
        return "\n".join(f"--- node {n.index}\n{n.log.read_text()[-4000:]}" for n in self.nodes if n.log.exists())
