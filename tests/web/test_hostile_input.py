"""Hostile input on the HTTP port: every refusal is a 4xx, logs no traceback and changes nothing.

The requests are written byte for byte on raw sockets, because the point is what an ordinary
client library would never send: a ``0xFF`` byte in a form, an unknown charset, multipart
without a boundary, an undecodable cookie, ids no row can have, JSON nested 30,000 deep.
``test_every_route_survives_hostile_input`` walks the application's router, so a route added
later is swept too. Before and after, the whole database is read back: a refused request
must leave every table as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.web_urldispatcher import DynamicResource, PlainResource, StaticResource

from tests.conftest import Browser, Node
from tests.fakes import TIMEOUT

HUGE = "9" * 20  # beyond 64 bits
JUST_BEYOND = str(2**63)  # the first number a 64-bit id cannot hold
BAD_COOKIE = b"acct=\xff\xfe"
FORM = b"application/x-www-form-urlencoded"

# Every form field name an endpoint reads an id or a count from, all at once.
ID_FIELDS = "&".join(
    f"{name}={HUGE}"
    for name in (
        "roomid",
        "roomId",
        "ids",
        "id",
        "to",
        "userId",
        "aclUserId",
        "parentId",
        "firstMessageId",
        "lastMessageId",
        "msgCount",
        "before",
        "after",
        f"r{HUGE}",
    )
).encode()
HOSTILE_QUERY = (
    f"room={HUGE}&m={HUGE}&page={HUGE}&q=%FF%FE&plain=true&returnurl=%FF&l={HUGE}&tag=%FF&done=%FF&token=a-b-%C3%A9"
)


@dataclass(frozen=True)
class Body:
    """A request body with its content headers; ``name`` says what is wrong with it."""

    name: str
    content_type: bytes
    data: bytes
    extra_headers: bytes = b""


MULTIPART = b"multipart/form-data"
BODIES = (
    Body("0xFF in a urlencoded form", FORM, b"text=\xff&fkey=x"),
    Body("UTF-8-encoded surrogate in a form", FORM, b"text=\xed\xa0\x80"),
    Body("unknown charset", FORM + b"; charset=bogus-xx", b"text=hi"),
    Body("multipart without a boundary", MULTIPART, b"text=hi"),
    Body("multipart with a garbage body", MULTIPART + b"; boundary=zz", b"garbage, no boundary anywhere"),
    Body("multipart boundary that is not ASCII", MULTIPART + b"; boundary=\xff\xfe", b"--\xff\xfe\r\n"),
    Body(
        "multipart part in an unknown charset",
        MULTIPART + b"; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="text"\r\nContent-Type: text/plain; charset=bogus-xx\r\n'
        b"\r\nhi\r\n--zz--\r\n",
    ),
    Body(
        "multipart part that is not UTF-8",
        MULTIPART + b"; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="text"\r\n\r\n\xff\xfe\r\n--zz--\r\n',
    ),
    Body(
        "multipart part in an unknown transfer encoding",
        MULTIPART + b"; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="text"\r\nContent-Transfer-Encoding: bogus\r\n'
        b"\r\nhi\r\n--zz--\r\n",
    ),
    Body(
        "multipart part without a name",
        MULTIPART + b"; boundary=zz",
        b"--zz\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--zz--\r\n",
    ),
    Body(
        "nested multipart",
        MULTIPART + b"; boundary=zz",
        b'--zz\r\nContent-Type: multipart/mixed; boundary=yy\r\nContent-Disposition: form-data; name="a"\r\n'
        b"\r\n--yy\r\n\r\nx\r\n--yy--\r\n--zz--\r\n",
    ),
    Body("every id field 20 digits long", FORM, ID_FIELDS),
)


@dataclass(frozen=True)
class Answer:
    status: int
    head: bytes
    body: bytes


def raw_request(
    method: str,
    target: str,
    *,
    headers: bytes = b"",
    body: bytes | None = None,
    content_type: bytes | None = None,
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    if body is not None:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    head = b"\r\n".join(lines) + b"\r\n" + headers + b"\r\n"
    return head + (body or b"")


async def send(port: int, request: bytes) -> Answer:
    """Write one request on a fresh connection and read the answer until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
            upgraded = b" 101 " in head.split(b"\r\n", 1)[0]
            body = b"" if upgraded else await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return Answer(int(head.split(b" ", 2)[1]), head, body)


def database_rows(node: Node) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the node's database (read-only), to compare before and after."""
    url = node.runtime.settings.database
    if url.startswith("postgresql"):  # HUBBUB_TEST_ENGINE=postgresql: the test's own schema
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            tables = [
                str(row[0])
                for row in connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                )
            ]
            return {
                table: connection.execute(f'SELECT * FROM "{table}" AS t ORDER BY t::text').fetchall()
                for table in tables
            }
    path = node.runtime.settings.data_dir / "hubbub.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall() for table in tables}


def server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What was logged at ERROR or with a traceback (``caplog`` captures every logger)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info is not None]


def _targets(resource: web.AbstractResource) -> list[str]:
    """Paths that reach ``resource`` with hostile values in every variable part."""
    info = resource.get_info()
    if isinstance(resource, PlainResource):
        return [str(info["path"])]
    if isinstance(resource, StaticResource):
        prefix = str(info["prefix"])
        return [f"{prefix}/{HUGE}", f"{prefix}/%FF%FE", f"{prefix}/..%2F..%2Fpyproject.toml"]
    assert isinstance(resource, DynamicResource), resource
    formatter = str(info["formatter"])
    date = {"year": "9999", "month": "99", "day": "99"}
    targets = []
    for number in (HUGE, JUST_BEYOND, "0"):
        values = {name: date.get(name, number) for name in info["pattern"].groupindex}
        values.update({name: "%FF%FE" for name in values if name == "slug"})
        targets.append(formatter.format(**values))
    return targets


def _sweep(app: web.Application) -> Iterator[tuple[str, str]]:
    for resource in app.router.resources():
        methods = {route.method for route in resource} - {"HEAD"}
        for method in sorted(methods):
            for target in _targets(resource):
                yield method, target


UPGRADE = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def hostile_requests(app: web.Application, *, cookie: bytes, fkey: str, token: str) -> Iterator[tuple[str, bytes]]:
    """(label, request) for every route: a bad cookie, hostile queries or bodies, ids no row can have."""
    bad_cookie = b"Cookie: " + BAD_COOKIE + b"\r\n"
    for method, target in _sweep(app):
        yield f"{method} {target} bad cookie", raw_request(method, target, headers=bad_cookie)
        if method == "GET":
            query = f"{target}?{HOSTILE_QUERY}"
            yield f"GET {query}", raw_request("GET", query)
            yield f"GET {query} signed in", raw_request("GET", query, headers=cookie)
            continue
        for body in BODIES:
            for who, headers in (("visitor", b""), ("signed in", cookie)):
                request = raw_request(
                    method, target, headers=headers + body.extra_headers, body=body.data, content_type=body.content_type
                )
                yield f"{method} {target}: {body.name} ({who})", request
        if HUGE in target or JUST_BEYOND in target:
            # Signed in and past the fkey check, so the id in the path is what decides.
            form = f"fkey={fkey}".encode()
            yield (
                f"{method} {target} with fkey",
                raw_request(method, target, headers=cookie, body=form, content_type=FORM),
            )
    bearer = f"Authorization: Bearer {token}\r\n".encode()
    for name, data in (("nested 30,000 deep", b"[" * 30_000 + b"]" * 30_000), ("a lone surrogate", b'"\\ud800"')):
        body = b'{"topic": "sweep", "data": ' + data + b"}"
        yield f"publish {name}", raw_request("POST", "/api/v1/publish", headers=bearer, body=body)
    undecodable = b"Authorization: Bearer \xff\xfe\r\n"
    yield "publish, undecodable bearer", raw_request("POST", "/api/v1/publish", headers=undecodable, body=b"{}")
    for target in ("/?token=a-b-%C3%A9", f"/events/{HUGE}/x", "/events/1/%FF%FE", "/"):
        yield f"upgrade {target} bad cookie", raw_request("GET", target, headers=UPGRADE + bad_cookie)


async def test_every_route_survives_hostile_input(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    """Item 15 of issue 8: every route, every hostile input; no 5xx, no traceback, no change."""
    caplog.set_level(logging.INFO)
    signed = await node.signed_in("Sweeper")
    assert signed.user is not None
    room = await node.room(owner=signed.user)
    assert (await signed.post(f"/chats/{room}/messages/new", {"text": "hello"})).status == 200
    token, _ = await node.service.tokens.create("sweep", "publish")
    before = database_rows(node)

    requests = list(
        hostile_requests(node.runtime.http_app, cookie=_session_cookie(signed), fkey=signed.fkey, token=token)
    )
    failures = []
    for label, request in requests:
        answer = await send(node.runtime.http_port, request)
        if answer.status >= 500:
            failures.append((label, answer.status, answer.body[:120]))
    assert failures == []
    assert len(requests) > 500  # the sweep really walked the router
    assert database_rows(node) == before
    assert server_errors(caplog) == []


def _session_cookie(browser: Browser) -> bytes:
    jar = {cookie.key: cookie.value for cookie in browser.session.cookie_jar}
    return f"Cookie: acct={jar['acct']}\r\n".encode()


# The 500s the attack run of issue 8 (item 15) found, one by one, with the answer each gets now.
ROOM_GONE = b"The room does not exist, or you do not have permission"
REPORTED = [
    (
        "POST",
        "/users/login",
        Body("0xFF", FORM, b"email=a&password=\xff"),
        400,
        b"The form cannot be read: it is not valid utf-8",
    ),
    ("POST", "/chats/{room}/messages/new", Body("0xFF", FORM, b"text=\xff"), 400, b"it is not valid utf-8"),
    (
        "POST",
        "/chats/{room}/messages/new",
        Body("charset", FORM + b"; charset=bogus-xx", b"text=hi"),
        400,
        b"unknown charset",
    ),
    ("POST", "/chats/{room}/messages/new", Body("no boundary", MULTIPART, b"text=hi"), 400, b"boundary"),
    ("POST", "/chats/{room}/messages/new", Body("garbage", MULTIPART + b"; boundary=zz", b"junk"), 400, b"boundary"),
    ("GET", f"/rooms/{HUGE}", None, 404, b"The room does not exist, or you do not have permission."),
    ("GET", f"/rooms/info/{HUGE}", None, 404, b"The room does not exist, or you do not have permission."),
    ("GET", f"/transcript/{HUGE}", None, 404, b"The room does not exist, or you do not have permission."),
    ("GET", f"/users/{HUGE}", None, 404, b"No such user."),
    ("GET", f"/users/{HUGE}/avatar.svg", None, 404, b"No such user."),
    ("GET", f"/messages/{HUGE}/history", None, 404, b"No such message."),
    ("GET", f"/transcript/message/{HUGE}", None, 404, b"No such message."),
    ("GET", f"/rooms/{HUGE}/conversation/x", None, 404, b"No such conversation."),
    ("GET", f"/search?room={HUGE}", None, 404, b"The room does not exist, or you do not have permission."),
    ("POST", f"/chats/{HUGE}/messages/new", Body("fkey", FORM, b"text=hi&fkey={fkey}"), 404, ROOM_GONE),
    ("POST", f"/chats/{HUGE}/events", Body("fkey", FORM, b"fkey={fkey}"), 404, ROOM_GONE),
    ("GET", f"/message/{HUGE}", None, 404, b"No such message"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    REPORTED,
    ids=[f"{method} {path} {body.name if body else ''}".strip() for method, path, body, _, _ in REPORTED],
)
async def test_a_reported_500_is_a_4xx_that_changes_nothing(
    node: Node, caplog: pytest.LogCaptureFixture, method: str, path: str, body: Body | None, status: int, says: bytes
) -> None:
    caplog.set_level(logging.INFO)
    signed = await node.signed_in("Poster")
    room = await node.room()
    before = database_rows(node)
    data = None if body is None else body.data.replace(b"{fkey}", signed.fkey.encode())
    request = raw_request(
        method,
        path.replace("{room}", str(room)),
        headers=_session_cookie(signed),
        body=data,
        content_type=None if body is None else body.content_type,
    )
    answer = await send(node.runtime.http_port, request)
    assert answer.status == status, answer.body[:300]
    assert says in answer.body
    assert database_rows(node) == before
    assert server_errors(caplog) == []


async def test_an_undecodable_session_cookie_is_a_visitor(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    """``Cookie: acct=\\xff\\xfe`` used to break every page with a 500; now it is simply not a session."""
    caplog.set_level(logging.INFO)
    room = await node.room()
    port = node.runtime.http_port
    for path in ("/", f"/rooms/{room}", "/chats/join/favorite", "/users/login"):
        answer = await send(port, raw_request("GET", path, headers=b"Cookie: " + BAD_COOKIE + b"\r\n"))
        assert answer.status == 200, (path, answer.body[:200])
        assert b'href="/users/login' in answer.body  # the page of someone not signed in
    answer = await send(
        port,
        raw_request(
            "POST",
            f"/chats/{room}/messages/new",
            headers=b"Cookie: " + BAD_COOKIE + b"\r\n",
            body=b"text=hi",
            content_type=FORM,
        ),
    )
    assert answer.status == 403 and answer.body == b"You must be logged in to do that"
    assert server_errors(caplog) == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "The JSON nests 30001 levels deep; at most 32 are allowed"),
        (b'"\\ud800"', "The JSON holds a lone surrogate (\\ud800), which is not valid Unicode"),
        (b'{"\\udfff": 1}', "The JSON holds a lone surrogate (\\udfff), which is not valid Unicode"),
        (b'"\xed\xa0\x80"', "The JSON holds a lone surrogate (\\ud800), which is not valid Unicode"),
    ],
    ids=["nested 30,000 deep", "escaped lone surrogate", "surrogate in a key", "UTF-8-encoded surrogate"],
)
async def test_publish_refuses_deep_json_and_lone_surrogates(
    node: Node, caplog: pytest.LogCaptureFixture, data: bytes, error: str
) -> None:
    caplog.set_level(logging.INFO)
    token, _ = await node.service.tokens.create("tests", "publish")
    before = database_rows(node)
    body = b'{"topic": "feed", "data": ' + data + b"}"
    request = raw_request(
        "POST",
        "/api/v1/publish",
        headers=f"Authorization: Bearer {token}\r\n".encode(),
        body=body,
        content_type=b"application/json",
    )
    answer = await send(node.runtime.http_port, request)
    assert answer.status == 400
    assert json.loads(answer.body) == {"error": error}
    assert database_rows(node) == before
    assert server_errors(caplog) == []
