"""Real IRC servers from Debian for the bridge tests, on loopback ports, with configs written per test.

- ``ngircd`` (/usr/sbin/ngircd): a classic RFC 2812 server; PASS, optional TLS.
- ``inspircd`` (/usr/sbin/inspircd) linked to ``atheme-services`` (/usr/bin/atheme-services):
  the IRCv3 server (CAP 302, ``message-tags``, ``msgid``, ``server-time``) with SASL
  PLAIN answered by atheme's SaslServ against accounts registered with its NickServ.

Each server runs in the foreground as a child of the test, in a directory of its own;
``restart()`` stops it and starts it again on the same port (the reconnect tests). The
far side of every test is the ``irc`` library from PyPI (``FarClient``), a real IRC
client: it joins, says things, and collects what it hears.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import irc.client
import irc.client_aio
import pytest

from tests.ports import free_port

NGIRCD: Final = "/usr/sbin/ngircd"
INSPIRCD: Final = "/usr/sbin/inspircd"
ATHEME: Final = "/usr/bin/atheme-services"
START_TIMEOUT: Final = 40.0  # generous: two cores shared with other work


def need(binary: str, package: str) -> None:
    if not os.access(binary, os.X_OK):
        message = f"{binary} is missing: `make test` installs Debian's {package}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for localhost (openssl from Debian)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def wait_port(port: int, timeout: float = START_TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return


@dataclass
class Process:
    argv: list[str]
    cwd: Path
    port: int
    log: Path
    proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        await wait_port(self.port)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass
class IrcServer:
    """One running IRC server: where it listens, and how to stop or restart it."""

    name: str
    port: int
    tls_port: int | None
    processes: list[Process] = field(default_factory=list)
    ready: Callable[[], Any] | None = None

    async def start(self) -> None:
        try:
            for process in self.processes:
                await process.start()
            if self.ready is not None:
                await self.ready()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for process in reversed(self.processes):
            await process.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def logs(self) -> str:
        return "\n".join(p.log.read_text(errors="replace") for p in self.processes if p.log.exists())


def ngircd(directory: Path, *, password: str | None = None, tls: bool = False) -> IrcServer:
    need(NGIRCD, "ngircd")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    tls_port = free_port() if tls else None
    ssl_block = ""
    if tls:
        cert, key = self_signed(directory)
        ssl_block = f"[SSL]\n\tCertFile = {cert}\n\tKeyFile = {key}\n\tPorts = {tls_port}\n"
    (directory / "motd").write_text("hubbub test server\n")
    conf = directory / "ngircd.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            [Global]
            \tName = ngircd.test
            \tInfo = hubbub bridge tests
            \tListen = 127.0.0.1
            \tPorts = {port}
            \tMotdFile = {directory / "motd"}
            \tPidFile = {directory / "ngircd.pid"}
            \tServerUID = {os.getuid()}
            \tServerGID = {os.getgid()}
            {"	Password = " + password if password else ""}
            [Limits]
            \tMaxConnectionsIP = 0
            \tMaxNickLength = 30
            \tMaxPenaltyTime = 0
            \tPingTimeout = 120
            [Options]
            \tDNS = no
            \tIdent = no
            \tPAM = no
            """
        )
        + ssl_block
    )
    process = Process([NGIRCD, "--nodaemon", "--config", str(conf)], directory, port, directory / "ngircd.log")
    return IrcServer("ngircd", port, tls_port, [process])


class FarClient:
    """A real IRC client (PyPI ``irc``) on the far side: joins a channel, talks, collects what it hears."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.heard: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()  # (kind, nick, text)
        self.events: list[irc.client.Event] = []
        self._joined = asyncio.Event()
        self._welcome = asyncio.Event()
        self.reactor = irc.client_aio.AioReactor(loop=asyncio.get_running_loop())
        self.connection: irc.client_aio.AioConnection = self.reactor.server()
        for kind in ("pubmsg", "action", "join", "welcome", "nicknameinuse"):
            self.connection.add_global_handler(kind, self._on)

    def _on(self, connection: Any, event: irc.client.Event) -> None:
        self.events.append(event)
        source = event.source.nick if event.source else ""
        if event.type == "welcome":
            self._welcome.set()
        elif event.type == "nicknameinuse":
            connection.nick(connection.get_nickname() + "_")
        elif event.type == "join" and source == connection.get_nickname():
            self._joined.set()
        elif event.type == "pubmsg":
            self.heard.put_nowait(("text", source, event.arguments[0]))
        elif event.type == "action":
            self.heard.put_nowait(("emote", source, event.arguments[0]))

    async def connect(self, port: int, channel: str, *, password: str | None = None) -> FarClient:
        await self.connection.connect("127.0.0.1", port, self.nick, password=password)
        async with asyncio.timeout(15):
            await self._welcome.wait()
        self.connection.join(channel)
        async with asyncio.timeout(15):
            await self._joined.wait()
        return self

    def say(self, channel: str, text: str) -> None:
        self.connection.privmsg(channel, text)

    def act(self, channel: str, text: str) -> None:
        self.connection.action(channel, text)

    async def hear(self, timeout: float = 15) -> tuple[str, str, str]:
        async with asyncio.timeout(timeout):
            return await self.heard.get()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.disconnect("bye")


def have(binary: str) -> bool:
    return shutil.which(binary) is not None


LINK_PASSWORD: Final = "hubbub-link"


def inspircd(directory: Path) -> IrcServer:
    """InspIRCd with the IRCv3 modules, and atheme linked to it for SASL (its SaslServ, PLAIN)."""
    need(INSPIRCD, "inspircd")
    need(ATHEME, "atheme-services")
    directory.mkdir(parents=True, exist_ok=True)
    port, link_port = free_port(), free_port()
    (directory / "motd").write_text("hubbub test server\n")
    modules = "".join(
        f'<module name="{name}">\n'
        for name in (
            "spanningtree", "services_account", "sasl", "cap", "ircv3", "ircv3_ctctags", "ircv3_msgid",
            "ircv3_servertime",
        )
    )  # fmt: skip
    conf = directory / "inspircd.conf"
    conf.write_text(
        f"""<server name="irc.test" description="hubbub bridge tests" network="HubbubTest" id="1HB">
<admin name="tests" nick="tests" email="tests@localhost">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{link_port}" type="servers">
<connect name="main" allow="*" timeout="60" pingfreq="120" recvq="8192" softsendq="65536" hardsendq="1048576"
    localmax="1000" globalmax="1000" useident="no" limit="5000" threshold="100000" commandrate="1000000"
    fakelag="no" resolvehostnames="no">
<dns server="127.0.0.1" timeout="1">
<files motd="{directory / "motd"}">
<pid file="{directory / "inspircd.pid"}">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{directory / "inspircd-file.log"}">
<options maxtargets="20">
<limits maxnick="30" maxchan="64" maxline="512">
{modules}<sasl target="services.test">
<link name="services.test" ipaddr="127.0.0.1" port="{link_port}" allowmask="127.0.0.0/8"
    sendpass="{LINK_PASSWORD}" recvpass="{LINK_PASSWORD}">
<uline server="services.test" silent="yes">
"""
    )
    atheme_conf = directory / "atheme.conf"
    atheme_modules = "".join(
        f'loadmodule "modules/{name}";\n'
        for name in (
            "protocol/inspircd", "backend/opensex", "crypto/pbkdf2v2", "nickserv/main", "nickserv/register",
            "nickserv/identify", "saslserv/main", "saslserv/plain",
        )
    )  # fmt: skip
    (directory / "data").mkdir(exist_ok=True)
    atheme_conf.write_text(
        f"""{atheme_modules}
serverinfo {{
    name = "services.test"; desc = "hubbub test services"; numeric = "00A"; recontime = 1;
    netname = "HubbubTest"; hidehostsuffix = "users.test"; adminname = "tests"; adminemail = "tests@localhost";
    registeremail = "tests@localhost"; mta = "/bin/true"; loglevel = {{ error; info; }};
    maxlogins = 50; maxusers = 50; mdlimit = 30; emaillimit = 10; emailtime = 300; auth = none;
    casemapping = rfc1459;
}};
uplink "irc.test" {{ host = "127.0.0.1"; password = "{LINK_PASSWORD}"; port = {link_port}; }};
nickserv {{ nick = "NickServ"; user = "NickServ"; host = "services.test"; real = "Nickname Services";
    maxnicks = 5; expire = 30; }};
saslserv {{ nick = "SaslServ"; user = "SaslServ"; host = "services.test"; real = "SASL"; }};
general {{ flood_msgs = 0; flood_time = 10; ratelimit_uses = 0; ratelimit_period = 60; kline_time = 7;
    commit_interval = 5; language = "en"; uplink_sendq_limit = 1048576; immune_level = immune; }};
logfile "{directory / "atheme-file.log"}" {{ error; info; }};
"""
    )
    server = IrcServer("inspircd", port, None)
    server.processes = [
        Process(
            [INSPIRCD, "--nofork", "--runasroot", f"--config={conf}"], directory, port, directory / "inspircd.log"
        ),
        Process(
            [ATHEME, "-n", "-c", str(atheme_conf), "-D", str(directory / "data"), "-p", str(directory / "atheme.pid"),
             "-l", str(directory / "atheme.log")],
            directory, port, directory / "atheme.out",
        ),
    ]  # fmt: skip
    server.ready = lambda: wait_services(port)
    return server


async def wait_services(port: int) -> None:
    """Until atheme has linked: NickServ answers a registered client (SASL needs services present)."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            with contextlib.suppress(OSError):
                if "NOTICE" in await _converse(port, "probe", "PRIVMSG NickServ :HELP", ":NickServ!"):
                    return
            await asyncio.sleep(0.2)


async def _converse(port: int, nick: str, command: str, until: str) -> str:
    """Register as ``nick``, send ``command`` after the welcome, read until ``until`` shows (or EOF)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    text = ""
    try:
        writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        sent = False
        while until.lower() not in text.lower():
            data = await reader.read(65536)
            if not data:
                break
            text += data.decode(errors="replace")
            if not sent and " 001 " in text:
                writer.write(f"{command}\r\n".encode())
                sent = True
            if "PING" in text and not text.rstrip().endswith("PONG"):
                for token in [t for t in text.split("\r\n") if t.startswith("PING")]:
                    writer.write(f"PONG {token[5:]}\r\n".encode())
        writer.write(b"QUIT\r\n")
    finally:
        writer.close()
    return text


async def register_account(port: int, account: str, password: str) -> None:
    """Register ``account`` with atheme's NickServ (what SASL PLAIN then checks)."""
    async with asyncio.timeout(15):
        register = f"PRIVMSG NickServ :REGISTER {password} {account}@example.org"
        text = await _converse(port, account, register, "registered")
    assert "registered" in text.lower(), text
