"""multistreamer's JSON API on hubbub (streams.md §B.7): ``/api/v1/auth``, profile, users, accounts, streams.

Bodies, status codes and error bodies are the original's (``lib/multistreamer/api/v1.lua``):
errors are ``{"error": "..."}``, most with status 400 (the original answered 400 for
"unauthorized to use that stream"), a missing or bad token 401 ``endpoint requires
authorization``, editing a stream without metadata level 2 401 ``unauthorized to edit
stream``, and a POST whose ``Content-Type`` is not exactly ``application/json`` 400.
Tokens come in ``Authorization: Bearer <token>`` (or ``Authentication:``, which the wiki
named). Stream webhooks are managed under ``/api/v1/stream/:id/webhook`` (hubbub's; editors only).
The nginx-rtmp callbacks (``on_publish``, ``on_publish_done``) are here too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from hubbub.core import jsontext
from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import User
from hubbub.core.streams import ChatLevel
from hubbub.dialects.sechat.http import SERVICE, client_address, read_body
from hubbub.dialects.streams.bodies import account_json, stream_json, user_json, webhook_json
from hubbub.dialects.streams.openapi import openapi_document
from hubbub.errors import (
    BadRequest,
    BodyTooLarge,
    InvalidCredentials,
    NotAllowed,
    NotFound,
    RateLimited,
    RemoteError,
    SlowRequest,
)
from hubbub.service.service import Service
from hubbub.service.streams import STREAM_NOT_EDITABLE, ShareRequest
from hubbub.service.webhooks import NO_SUCH_WEBHOOK

__all__ = ["streams_api_routes"]

PREFIX: Final = "/api/v1"
NEEDS_AUTH: Final = "endpoint requires authorization"
JSON_ONLY: Final = "content-type must be application/json"
BODY_MAX_BYTES: Final = 64 * 1024
BODY_MAX_DEPTH: Final = 8

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    response = web.json_response({"error": message}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hubbub"'
    return response


def _bearer(request: web.Request) -> str | None:
    for header in ("Authorization", "Authentication"):
        scheme, _, token = request.headers.get(header, "").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def _authed(handler: Callable[[web.Request, Service, User], Awaitable[web.StreamResponse]]) -> Handler:
    """Bearer token first; service errors become the original's error bodies."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        service = request.app[SERVICE]
        token = _bearer(request)
        user = None if token is None else await service.stream_tokens.user_by_token(token)
        if user is None:
            return _error(401, NEEDS_AUTH)
        try:
            return await handler(request, service, user)
        except BodyTooLarge as error:
            return _error(413, str(error))
        except SlowRequest as error:
            return _error(408, str(error))
        except RateLimited as error:
            return _error(429, str(error))
        except NotAllowed as error:
            return _error(401 if str(error) == STREAM_NOT_EDITABLE else 400, str(error))
        except (NotFound, BadRequest, RemoteError) as error:
            return _error(400, str(error))

    return wrapped


async def _json_body(request: web.Request, *, exact_type: bool) -> Any:
    if exact_type and request.headers.get("Content-Type", "") != "application/json":
        raise BadRequest(JSON_ONLY)
    raw = await read_body(request, BODY_MAX_BYTES)
    if not raw.strip():
        return {}
    try:
        return jsontext.loads(raw, max_depth=BODY_MAX_DEPTH)
    except ValueError as error:
        raise BadRequest(f"the body is not JSON: {error}") from error


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def _id(request: web.Request) -> int:
    text = request.match_info.get("id", "")
    if not text.isdigit() or len(text) > 18:
        raise NotFound("unauthorized to use that stream")
    return int(text)


def _hook_id(request: web.Request) -> int:
    text = request.match_info.get("hook", "")
    if not text.isdigit() or len(text) > 18:
        raise NotFound(NO_SUCH_WEBHOOK)
    return int(text)


def _is_id(value: object) -> bool:
    """A positive 64-bit id (the stores' BIGINT); anything else names nothing."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _account_ids(value: Any) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest('accounts must be a list of {"id": ...}')
    ids: list[int] = []
    for item in value:
        account_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(account_id, int) or not _is_id(account_id):
            raise BadRequest("unauthorized to use that account")
        ids.append(account_id)
    return ids


def _shares(value: Any) -> list[ShareRequest] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest('shares must be a list of {"chat_level", "metadata_level", "user": {"id"}}')
    shares = []
    for item in value:
        try:
            user_id = item["user"]["id"]
            chat, meta = item.get("chat_level", 0), item.get("metadata_level", 0)
            if not _is_id(user_id) or any(isinstance(v, bool) or not isinstance(v, int) for v in (chat, meta)):
                raise TypeError
            shares.append(ShareRequest(UserId(user_id), ChatLevel(chat), meta))
        except (KeyError, TypeError, ValueError):
            raise BadRequest(
                'each share needs "user": {"id": <int>}, "chat_level" 0-2 and "metadata_level" 0-2'
            ) from None
    return shares


# handlers


async def auth(request: web.Request) -> web.Response:
    """``GET /api/v1/auth`` with HTTP Basic (a hubbub account's e-mail address and password)."""
    service = request.app[SERVICE]
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "basic":
            raise InvalidCredentials()
        email, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        if not sep:
            raise InvalidCredentials()
        user = await service.accounts.authenticate(email, password, client=client_address(request))
    except RateLimited as error:
        return _error(429, str(error))
    except (InvalidCredentials, binascii.Error, UnicodeDecodeError, ValueError):
        return _error(401, NEEDS_AUTH)
    return web.json_response({"token": await service.stream_tokens.token(user.id)})


@_authed
async def profile(request: web.Request, service: Service, me: User) -> web.Response:
    return web.json_response(user_json(me, await service.stream_tokens.token(me.id)))


@_authed
async def users(request: web.Request, service: Service, me: User) -> web.Response:
    everyone = await service.accounts.list_users()
    token = await service.stream_tokens.token(me.id)
    return web.json_response({"users": [user_json(u, token if u.id == me.id else None) for u in everyone]})


@_authed
async def list_accounts(request: web.Request, service: Service, me: User) -> web.Response:
    return web.json_response({"accounts": [account_json(a) for a in await service.network_accounts.accounts(me.id)]})


@_authed
async def get_account(request: web.Request, service: Service, me: User) -> web.Response:
    account = await service.network_accounts.account(me.id, _id(request))
    return web.json_response({"account": account_json(account)})


@_authed
async def create_account(request: web.Request, service: Service, me: User) -> web.Response:
    """``POST /api/v1/account`` (hubbub's: multistreamer made accounts by OAuth in its web UI)."""
    body = _object(await _json_body(request, exact_type=True))
    settings = body.get("settings") if isinstance(body.get("settings"), dict) else {}
    name = body.get("name", settings.get("name") if isinstance(settings, dict) else None)
    account = await service.network_accounts.create_account(
        me.id, network=body.get("network"), name=name, http_url=body.get("http_url"), settings=settings
    )
    return web.json_response({"account": account_json(account)})


@_authed
async def update_account(request: web.Request, service: Service, me: User) -> web.Response:
    body = _object(await _json_body(request, exact_type=True))
    settings = body.get("settings")
    name = settings.get("name") if isinstance(settings, dict) else None
    if isinstance(settings, dict):
        merged = dict(json.loads((await service.network_accounts.account(me.id, _id(request))).settings))
        merged.update({k: v for k, v in settings.items() if v is not None})
        for key in [k for k, v in settings.items() if v is None]:
            merged.pop(key, None)
        settings = merged
    account = await service.network_accounts.update_account(
        me.id, _id(request), name=name, http_url=body.get("http_url"), settings=settings
    )
    return web.json_response({"account": account_json(account)})


@_authed
async def delete_account(request: web.Request, service: Service, me: User) -> web.Response:
    await service.network_accounts.delete_account(me.id, _id(request))
    return web.json_response({"status": "success"})


def _room_id(request: web.Request) -> RoomId:
    text = request.match_info.get("id", "")
    if not text.isdigit() or len(text) > 18:
        raise NotFound("There is no such room")
    return RoomId(int(text))


@_authed
async def room_bridge(request: web.Request, service: Service, me: User) -> web.Response:
    """``GET``/``POST /api/v1/room/:id/bridge``: the IRC/Twitch accounts an ordinary room is bridged to
    (hubbub's; docs/irc-bridging.md). POST ``{"accounts": [{"id": …}]}`` replaces them; ``[]`` unbridges."""
    room_id = _room_id(request)
    if request.method == "POST":
        ids = _account_ids(_object(await _json_body(request, exact_type=True)).get("accounts"))
        if ids is None:
            raise BadRequest('accounts must be a list of {"id": ...}')
        await service.room_bridges.attach(me.id, room_id, ids)
    accounts = await service.room_bridges.accounts(me.id, room_id)
    return web.json_response({"accounts": [account_json(a) for a in accounts]})


@_authed
async def list_streams(request: web.Request, service: Service, me: User) -> web.Response:
    return web.json_response({"streams": [stream_json(v) for v in await service.streams.views(me.id)]})


@_authed
async def get_stream(request: web.Request, service: Service, me: User) -> web.Response:
    try:
        view = await service.streams.view(me.id, _id(request))
    except NotFound:
        return _error(400, "unauthorized to access that stream")
    return web.json_response({"stream": stream_json(view)})


@_authed
async def save_stream(request: web.Request, service: Service, me: User) -> web.Response:
    """``POST /api/v1/stream`` (create; ``name`` needed) or ``POST /api/v1/stream/:id`` (edit)."""
    body = _object(await _json_body(request, exact_type=True))
    accounts, shares = _account_ids(body.get("accounts")), _shares(body.get("shares"))
    if "id" in request.match_info:
        stream_id = _id(request)
        await service.streams.update_stream(
            me.id, stream_id, name=body.get("name"), account_ids=accounts, shares=shares
        )
    else:
        if body.get("name") is None:
            return _error(400, "name needed when making new stream")
        stream_id = (await service.streams.create_stream(me.id, body["name"], account_ids=accounts, shares=shares)).id
    return web.json_response({"stream": stream_json(await service.streams.view(me.id, stream_id))})


@_authed
async def patch_stream(request: web.Request, service: Service, me: User) -> web.Response:
    body = _object(await _json_body(request, exact_type=False))
    flags = {}
    for key in ("data_pulling", "data_pushing", "data_incoming"):
        value = body.get(key)
        if value is not None and not isinstance(value, bool):
            raise BadRequest(f"{key} must be true or false")
        flags[key] = value
    state = await service.streams.set_live(me.id, _id(request), **flags)
    return web.json_response(
        {
            "status": {
                "data_incoming": state.data_incoming,
                "data_pushing": state.data_pushing,
                "data_pulling": state.data_pulling,
            }
        }
    )


@_authed
async def delete_stream(request: web.Request, service: Service, me: User) -> web.Response:
    await service.streams.delete_stream(me.id, _id(request))
    return web.json_response({"status": "success"})


@_authed
async def post_message(request: web.Request, service: Service, me: User) -> web.Response:
    body = await _json_body(request, exact_type=False)
    try:
        await service.stream_chat.inject(me.id, _id(request), body)
    except NotFound:
        return _error(400, "unauthorized to use that stream")
    return web.json_response({"status": "ok"})


@_authed
async def list_webhooks(request: web.Request, service: Service, me: User) -> web.Response:
    """``GET /api/v1/stream/:id/webhook`` (hubbub's; multistreamer showed them in the stream object only)."""
    hooks = await service.webhooks.hooks(me.id, _id(request))
    return web.json_response({"webhooks": [webhook_json(hook) for hook in hooks]})


@_authed
async def save_webhook(request: web.Request, service: Service, me: User) -> web.Response:
    """``POST /api/v1/stream/:id/webhook`` (add: ``url`` and ``type`` needed) or ``.../webhook/:hook`` (change).

    The body: ``{"url", "type": "discord"|"raw", "notes", "events"}``, ``events`` a list of names or
    multistreamer's ``{"stream:start": true, ...}``; a new hook without ``events`` fires for all three.
    """
    body = _object(await _json_body(request, exact_type=True))
    fields = {key: body.get(key) for key in ("url", "type", "notes", "events")}
    stream_id = _id(request)
    if "hook" in request.match_info:
        hook = await service.webhooks.update(me.id, stream_id, _hook_id(request), **fields)
    else:
        hook = await service.webhooks.create(me.id, stream_id, **fields)
    return web.json_response({"webhook": webhook_json(hook)})


@_authed
async def delete_webhook(request: web.Request, service: Service, me: User) -> web.Response:
    await service.webhooks.delete(me.id, _id(request), _hook_id(request))
    return web.json_response({"status": "success"})


async def rtmp_callback(request: web.Request) -> web.Response:
    """nginx-rtmp's ``on_publish`` / ``on_publish_done``: a form with ``name`` (the stream key).

    2xx lets nginx accept the publish; anything else makes it refuse (so an unknown key, or a
    wrong ``?secret=`` when ``streams_rtmp_secret`` is set, cannot publish).
    """
    service = request.app[SERVICE]
    secret = service.settings.streams_rtmp_secret
    if secret and request.query.get("secret") != secret:
        return web.Response(status=403, text="Not authorized")
    form = await request.post()
    key = form.get("name")
    if not isinstance(key, str) or not key:
        return web.Response(status=400, text="name (the stream key) is missing")
    started = request.match_info["event"] == "on_publish"
    if not await service.streams.rtmp_publish(key, started=started):
        return web.Response(status=404, text="no stream has that key")
    return web.Response(text="OK")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def streams_api_routes() -> list[web.RouteDef]:
    return [
        web.get(f"{PREFIX}/openapi.json", openapi),
        web.get(f"{PREFIX}/auth", auth),
        web.get(f"{PREFIX}/profile", profile),
        web.get(f"{PREFIX}/user", users),
        web.get(f"{PREFIX}/users", users),
        web.get(f"{PREFIX}/account", list_accounts),
        web.post(f"{PREFIX}/account", create_account),
        web.get(f"{PREFIX}/account/{{id}}", get_account),
        web.post(f"{PREFIX}/account/{{id}}", update_account),
        web.delete(f"{PREFIX}/account/{{id}}", delete_account),
        web.get(f"{PREFIX}/stream", list_streams),
        web.post(f"{PREFIX}/stream", save_stream),
        web.get(f"{PREFIX}/stream/{{id}}", get_stream),
        web.post(f"{PREFIX}/stream/{{id}}", save_stream),
        web.patch(f"{PREFIX}/stream/{{id}}", patch_stream),
        web.delete(f"{PREFIX}/stream/{{id}}", delete_stream),
        web.post(f"{PREFIX}/stream/{{id}}/msg", post_message),
        web.get(f"{PREFIX}/stream/{{id}}/webhook", list_webhooks),
        web.post(f"{PREFIX}/stream/{{id}}/webhook", save_webhook),
        web.post(f"{PREFIX}/stream/{{id}}/webhook/{{hook}}", save_webhook),
        web.delete(f"{PREFIX}/stream/{{id}}/webhook/{{hook}}", delete_webhook),
        web.get(f"{PREFIX}/room/{{id}}/bridge", room_bridge),
        web.post(f"{PREFIX}/room/{{id}}/bridge", room_bridge),
        web.post("/rtmp/{event:on_publish|on_publish_done}", rtmp_callback),
    ]
