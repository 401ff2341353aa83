"""The signed-in user's bridges page (``/users/bridges``): IRC and Twitch accounts, and where they are attached.

``GET`` lists the user's ``irc`` and ``twitch`` accounts (settings shown without the
password, which no page ever renders back), their streams and the rooms they bridge,
with forms to add an account, attach it to one of their streams or bridge a room they
own, detach it, or delete it. ``POST`` takes ``action`` and the fields of that form
(plus ``fkey``); it calls the same service as the JSON API (``/api/v1/account``,
``/api/v1/stream``, ``/api/v1/room/:id/bridge``) and the CLI, so the checks are theirs.
A refusal shows the page again with the reason (400, 403 for a bad fkey) and changes
nothing; success answers 302 to the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from hubbub.core.ids import RoomId, UserId
from hubbub.core.irc_accounts import AUTH_MODES, IRC_NETWORKS
from hubbub.dialects.sechat.http import SERVICE, check_fkey, expected_fkey, read_form, signed_in
from hubbub.errors import BadRequest, InvalidFkey, RemoteError
from hubbub.service.room_bridges import is_room_bridge
from hubbub.service.service import Service
from hubbub.web.rendering import redirect, render

__all__ = ["bridge_routes"]

BRIDGES_PATH: Final = "/users/bridges"
SECRET_KEYS: Final = frozenset({"password"})
_IRC_FIELDS: Final = (
    "server", "port", "tls", "tls_verify", "nick", "channel", "auth", "sasl_username", "password", "flood_burst",
    "flood_rate",
)  # fmt: skip
_TWITCH_FIELDS: Final = ("channel", "nick", "password", "server", "port", "tls")


def _number(form: Mapping[str, str], key: str) -> int:
    text = form.get(key, "").strip()
    if not text.isdigit() or len(text) > 18:
        raise BadRequest(f"{key.replace('_', ' ')} must be a number")
    return int(text)


async def _page(service: Service, user_id: UserId) -> dict[str, Any]:
    accounts = [a for a in await service.network_accounts.accounts(user_id) if a.network in IRC_NETWORKS]
    views = await service.streams.views(user_id)
    streams = [v for v in views if v.stream.owner_id == user_id and not is_room_bridge(v.stream)]
    rows = []
    for account in accounts:
        settings = {k: v for k, v in json.loads(account.settings).items() if k not in SECRET_KEYS}
        attached = [v.stream for v in views if any(a.id == account.id for a in v.accounts)]
        rows.append(
            {
                "account": account,
                "settings": settings,
                "has_password": "password" in json.loads(account.settings),
                "streams": [s for s in attached if not is_room_bridge(s)],
                "rooms": [s for s in attached if is_room_bridge(s)],
            }
        )
    return {"rows": rows, "streams": [v.stream for v in streams]}


async def _show(request: web.Request, status: int = 200, *, error: str | None = None) -> web.Response:
    me = signed_in(request)
    assert me is not None
    context = await _page(request.app[SERVICE], me.user.id)
    return render(
        request,
        "bridges.html",
        status,
        title="Bridges",
        fkey=expected_fkey(request),
        error=error,
        auth_modes=AUTH_MODES,
        **context,
    )


async def bridges_page(request: web.Request) -> web.Response:
    if signed_in(request) is None:
        return redirect(f"/users/login?returnurl={BRIDGES_PATH}")
    return await _show(request)


async def _act(service: Service, user_id: UserId, form: Mapping[str, str]) -> None:
    action = form.get("action", "")
    if action in ("add-irc", "add-twitch"):
        network = "irc" if action == "add-irc" else "twitch"
        fields = _IRC_FIELDS if network == "irc" else _TWITCH_FIELDS
        settings = {key: form[key].strip() for key in fields if form.get(key, "").strip()}
        name = form.get("name", "").strip() or settings.get("channel", "").removeprefix("#")
        await service.network_accounts.create_account(user_id, network=network, name=name, settings=settings)
    elif action == "delete":
        await service.network_accounts.delete_account(user_id, _number(form, "account_id"))
    elif action == "attach-stream":
        account_id, stream_id = _number(form, "account_id"), _number(form, "stream_id")
        view = await service.streams.view(user_id, stream_id)
        ids = [a.id for a in view.accounts if a.id != account_id] + [account_id]
        await service.streams.update_stream(user_id, stream_id, account_ids=ids)
    elif action == "detach-stream":
        account_id, stream_id = _number(form, "account_id"), _number(form, "stream_id")
        view = await service.streams.view(user_id, stream_id)
        await service.streams.update_stream(
            user_id, stream_id, account_ids=[a.id for a in view.accounts if a.id != account_id]
        )
    elif action in ("bridge-room", "unbridge-room"):
        account_id, room_id = _number(form, "account_id"), RoomId(_number(form, "room_id"))
        current = [a.id for a in await service.room_bridges.accounts(user_id, room_id) if a.id != account_id]
        await service.room_bridges.attach(user_id, room_id, current + ([account_id] if action == "bridge-room" else []))
    else:
        raise BadRequest("Unknown action")


async def bridges_submit(request: web.Request) -> web.Response:
    me = signed_in(request)
    if me is None:
        return redirect(f"/users/login?returnurl={BRIDGES_PATH}")
    form = await read_form(request)
    try:
        check_fkey(request, form)
        await _act(request.app[SERVICE], me.user.id, form)
    except InvalidFkey as error:
        return await _show(request, 403, error=str(error))
    except RemoteError as error:
        return await _show(request, 400, error=str(error))
    return redirect(BRIDGES_PATH)


def bridge_routes() -> list[web.RouteDef]:
    return [web.get(BRIDGES_PATH, bridges_page), web.post(BRIDGES_PATH, bridges_submit)]
