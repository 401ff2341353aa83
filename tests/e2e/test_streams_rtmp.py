"""Going live from video: Debian's nginx RTMP module calls hubbub's ``on_publish``/``on_publish_done``.

The operator's setup, on loopback: ``hubbub serve``, nginx with ``libnginx-mod-rtmp`` and a
generated configuration whose application calls hubbub, and ffmpeg pushing a few seconds
of its test pattern to ``rtmp://.../live/<stream key>``. A stream socket sees ``status`` go
live when the publish starts and offline when it ends; a key no stream has is refused.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.e2e.conftest import PASSWORD, _cli, serving
from tests.fakes import TIMEOUT
from tests.ports import free_port
from tests.postgres_server import skip_or_fail

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
PUBLISH_SECONDS = 3

_NGINX_CONF = """\
load_module {module};
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp_port};
        application live {{
            live on;
            record off;
            on_publish http://127.0.0.1:{http_port}/rtmp/on_publish;
            on_publish_done http://127.0.0.1:{http_port}/rtmp/on_publish_done;
        }}
    }}
}}
"""


def _tools() -> tuple[str, str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    ffmpeg = shutil.which("ffmpeg")
    if not Path(nginx).exists() or not RTMP_MODULE.exists() or ffmpeg is None:
        skip_or_fail("nginx, libnginx-mod-rtmp and ffmpeg are needed (`make test` installs them)")
    assert ffmpeg is not None
    return nginx, ffmpeg


@contextlib.contextmanager
def _nginx(binary: str, directory: Path, http_port: int) -> Iterator[int]:
    rtmp_port = free_port()
    directory.mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(module=RTMP_MODULE, dir=directory, rtmp_port=rtmp_port, http_port=http_port))
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(conf), "-g", "daemon off; master_process off;"],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "stderr.log").open("wb"),
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", rtmp_port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("nginx did not start:\n" + (directory / "error.log").read_text(errors="replace"))
            time.sleep(0.05)  # another process starting: nothing to wait on
        yield rtmp_port
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT)


def _publish(ffmpeg: str, url: str, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=160x120:rate=10:duration={seconds}",
            "-c:v",
            "flv",
            "-f",
            "flv",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def _next_status(ws: websocket.WebSocket) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv())
        if frame["type"] == "status":
            return frame


def test_an_rtmp_publish_takes_the_stream_live_and_back(tmp_path: Path) -> None:
    nginx, ffmpeg = _tools()
    data_dir = tmp_path / "hubbub"
    _cli(data_dir, "users", "create", "John", "--email", "john@example.org", "--password", PASSWORD)
    with serving(data_dir) as (_, http_port, ws_port):
        base = f"http://127.0.0.1:{http_port}"
        basic = base64.b64encode(f"john@example.org:{PASSWORD}".encode()).decode()
        token = requests.get(f"{base}/api/v1/auth", headers={"Authorization": f"Basic {basic}"}, timeout=TIMEOUT)
        auth = {"Authorization": f"Bearer {token.json()['token']}"}
        account = requests.post(
            f"{base}/api/v1/account", json={"network": "twitch", "name": "jd"}, headers=auth, timeout=TIMEOUT
        ).json()["account"]["id"]
        stream = requests.post(
            f"{base}/api/v1/stream",
            json={"name": "Show", "accounts": [{"id": account}]},
            headers=auth,
            timeout=TIMEOUT,
        ).json()["stream"]
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{ws_port}/ws/{stream['id']}?{auth_query(auth)}", timeout=TIMEOUT
        )
        try:
            with _nginx(nginx, tmp_path / "nginx", http_port) as rtmp_port:
                refused = _publish(ffmpeg, f"rtmp://127.0.0.1:{rtmp_port}/live/not-a-key", 1)
                assert refused.wait(timeout=3 * TIMEOUT) != 0  # hubbub said 404: nginx dropped the publisher
                publisher = _publish(ffmpeg, f"rtmp://127.0.0.1:{rtmp_port}/live/{stream['uuid']}", PUBLISH_SECONDS)
                live = _next_status(ws)
                assert live["status"] == {"data_pulling": False, "data_pushing": True, "data_incoming": True}
                assert live["accounts"][str(account)]["live"] is True
                assert publisher.wait(timeout=3 * TIMEOUT) == 0, publisher.stderr
                ended = _next_status(ws)
                assert ended["status"] == {"data_pulling": False, "data_pushing": False, "data_incoming": False}
                assert list(ended["accounts"]) == ["0"]
        finally:
            ws.close()
        shown = requests.get(f"{base}/api/v1/stream/{stream['id']}", headers=auth, timeout=TIMEOUT).json()
        assert shown["stream"]["live"] is False


def auth_query(auth: dict[str, str]) -> str:
    return "token=" + auth["Authorization"].removeprefix("Bearer ")
