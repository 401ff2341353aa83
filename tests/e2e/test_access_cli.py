"""The operator's ``hubbub users suspend`` reaches a running server's open sockets, in log order.

The command writes to the server's database from another process; the server learns of it
from the log when its next event arrives, and reads the missing ids before delivering that
event: the suspended user's socket gets event 29 and leaves the private room before anything
posted afterwards could reach it.
"""

from __future__ import annotations

import json
from typing import Any

import websocket

from tests.e2e.conftest import LiveServer, _cli
from tests.fakes import TIMEOUT


def _until_marker(ws: websocket.WebSocket, marker: int) -> dict[int, list[dict[str, Any]]]:
    seen: dict[int, list[dict[str, Any]]] = {}
    while True:
        frame = json.loads(ws.recv())
        for key, part in frame.items():
            seen.setdefault(int(key[1:]), []).extend(part.get("e", []))
        if any(e["event_type"] == 1 and e.get("message_id") == marker for events in seen.values() for e in events):
            return seen


def test_a_suspension_from_the_command_line_reaches_open_sockets_first(live: LiveServer) -> None:
    owner, member = live.signed_in("ce"), live.signed_in("jon")
    lobby = live.rooms["ChatExchange Sandbox"]
    saved = owner.http.post(
        live.base + "/rooms/save",
        data={"name": "Back Office", "description": "", "access": "private", "fkey": owner.fkey},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert saved.status_code == 302, saved.text
    room = int(saved.headers["Location"].rsplit("/", 1)[1])
    owner.post(f"/rooms/setuseraccess/{room}", aclUserId=member.account.id, userAccess="read-write")
    for session in (owner, member):
        session.post(f"/chats/{lobby}/events")
    url = member.post("/ws-auth", roomid=room).json()["url"]
    ws = websocket.create_connection(url, timeout=TIMEOUT)
    try:
        _cli(live.data_dir, "users", "suspend", str(member.account.id), "--hours", "1")
        secret = owner.say(room, "for members only")
        marker = owner.say(lobby, "marker")
        seen = _until_marker(ws, marker)
    finally:
        ws.close()
    assert [e["event_type"] for e in seen[room]] == [29, 4]
    assert secret not in [e.get("message_id") for e in seen[room]]
    _cli(live.data_dir, "users", "unsuspend", str(member.account.id))
    for session in (owner, member):
        session.close()
