"""The comet dialect's endpoints: the channel long poll and the ``/ajax/...`` form posts.

Thin: the codec parses and renders, the service decides, ``ChannelWaiters`` wakes polls. The
session is hubbub's own (the ``acct`` cookie ``/login.php`` sets, with ``c_user`` beside it,
``pages.py``); ``post_form_id`` is the session's fkey. A refused form post is answered with its
error envelope (HTTP 200, as the clients expect) and changes nothing, not even presence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from multidict import MultiDict

from hubbub.core.direct import Presence
from hubbub.dialects.comet.codec import (
    CONTENT_TYPE,
    BuddyInfo,
    CometError,
    ErrorCode,
    buddy_list_body,
    continue_body,
    error_body,
    parse_bool,
    parse_send,
    parse_typing,
    parse_user_id,
    reconnect_body,
    success_body,
)
from hubbub.dialects.comet.pages import USER_COOKIE, page_routes
from hubbub.dialects.comet.polling import ChannelPoll, EncodedAnswers, hold_seconds
from hubbub.dialects.sechat.http import SERVICE, mark_refused, read_form, request_cookie, signed_in
from hubbub.errors import BodyTooLarge, ConfigError, NotLoggedIn, RateLimited, RecipientOffline, RemoteError
from hubbub.fanout.channels import ChannelWaiters, woken_within
from hubbub.service.accounts import SignedIn
from hubbub.settings import Settings

__all__ = [
    "CHANNEL_WAITERS",
    "ENCODED_ANSWERS",
    "POLL_HEADERS",
    "POLL_PREFIX",
    "USER_COOKIE",
    "comet_routes",
    "hold_seconds",
]

log = logging.getLogger("hubbub.comet")

CHANNEL_WAITERS: Final = web.AppKey("channel_waiters", ChannelWaiters)
ENCODED_ANSWERS: Final = web.AppKey("comet_encoded", EncodedAnswers)
POLL_PREFIX: Final = "/x/"  # answered on any Host (the channel hosts are a wildcard, §C.1)
CONNECTION_CHECK_SECONDS: Final = (
    10.0  # a held poll whose client left is let go within this (aiohttp does not cancel it)
)
POLL_HEADERS: Final = {"Cache-Control": "no-cache, no-store"}
_OFFLINE_POLICIES: Final = frozenset({"error", "deliver"})

FormHandler = Callable[[web.Request, SignedIn, MultiDict[str]], Awaitable[bytes]]


def _javascript(data: bytes) -> web.Response:
    return web.Response(body=data, content_type=CONTENT_TYPE, charset="utf-8", headers=POLL_HEADERS)


def check_settings(settings: Settings) -> None:
    """Raises: ConfigError for an offline policy other than ``error`` or ``deliver``, or a bad hold."""
    if settings.comet_offline_policy not in _OFFLINE_POLICIES:
        raise ConfigError(f"comet_offline_policy: expected error or deliver, got {settings.comet_offline_policy!r}")
    if settings.comet_poll_timeout_min <= 0 or settings.comet_poll_timeout_max <= 0:
        raise ConfigError("comet_poll_timeout_min and comet_poll_timeout_max must be positive")


async def poll(request: web.Request) -> web.StreamResponse:
    """``GET /x/<any>/<any>/p_<uid>=<seq>``: refresh, continue, or the one entry at seq (``polling``).

    ``hubbub serve`` answers most polls on its own poll connections (``web.poll_connections``);
    this route serves the rest (a poll that follows another request on a connection, tests).
    """
    app = request.app
    channel = ChannelPoll(app[SERVICE], app[CHANNEL_WAITERS], app[ENCODED_ANSWERS], request.match_info["tail"])
    try:
        reply = await channel.start(signed_in(request), request_cookie(request, USER_COOKIE))
        while reply is None:
            assert channel.future is not None
            remaining = channel.deadline - time.monotonic()
            if await woken_within(channel.future, max(0.0, min(remaining, CONNECTION_CHECK_SECONDS))):
                reply = await channel.woken()
            elif remaining <= CONNECTION_CHECK_SECONDS:
                reply = channel.expired()
            elif request.transport is None or request.transport.is_closing():
                channel.gone()
                return _javascript(continue_body())  # nobody reads it
    finally:
        channel.close()
    if reply.refused:
        mark_refused(request)
    return _javascript(reply.body)


def _error_code(error: RemoteError) -> ErrorCode:
    if isinstance(error, NotLoggedIn):
        return ErrorCode.NOT_LOGGED_IN
    if isinstance(error, RateLimited):
        return ErrorCode.TOO_MANY
    if isinstance(error, RecipientOffline):
        return ErrorCode.OFFLINE
    return ErrorCode.UNEXPECTED


def _form_endpoint(
    handle: FormHandler, *, check_form_id: bool = True
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a form handler: session (1357001), ``post_form_id`` (1357004), errors as envelopes."""

    async def endpoint(request: web.Request) -> web.Response:
        try:
            session = signed_in(request)
            if session is None:
                raise CometError(ErrorCode.NOT_LOGGED_IN)
            try:
                fields = MultiDict(request.query)
                fields.update(await read_form(request))  # the seed sends some as a query string
            except BodyTooLarge:
                raise
            except RemoteError:
                raise CometError(ErrorCode.UNEXPECTED) from None
            if check_form_id and fields.get("post_form_id") != session.session.fkey:
                raise CometError(ErrorCode.CSRF)
            return _javascript(await handle(request, session, fields))
        except CometError as refused:
            mark_refused(request)
            return _javascript(error_body(refused.code))
        except BodyTooLarge:
            mark_refused(request)
            return web.Response(status=413, text="Request body too large")
        except RemoteError as error:
            mark_refused(request)
            return _javascript(error_body(_error_code(error)))

    return endpoint


async def _send(request: web.Request, session: SignedIn, fields: MultiDict[str]) -> bytes:
    service = request.app[SERVICE]
    form = parse_send(fields)
    await service.direct.send(
        session.user.id,
        form.to,
        form.text,
        client_id=form.msg_id,
        client_time=form.client_time,
        require_online=service.settings.comet_offline_policy == "error",
    )
    return success_body()


async def _typing(request: web.Request, session: SignedIn, fields: MultiDict[str]) -> bytes:
    form = parse_typing(fields)
    await request.app[SERVICE].direct.typing(session.user.id, form.to, form.typing)
    return success_body()


async def _settings(request: web.Request, session: SignedIn, fields: MultiDict[str]) -> bytes:
    """``visibility`` (appear offline or not) and ``focus_chat`` (the user read that conversation)."""
    service = request.app[SERVICE]
    visibility = fields.get("visibility")
    focus = fields.get("focus_chat")
    visible = None if visibility is None else parse_bool(visibility)
    focus_id = None if focus is None else parse_user_id(focus)
    if (visibility is not None and visible is None) or (focus is not None and focus_id is None):
        raise CometError(ErrorCode.UNEXPECTED)
    if focus_id is not None:
        await service.direct.mark_read(session.user.id, focus_id)
    if visible is not None:
        await service.presence.set_visible(session.user.id, visible)
    return success_body()


async def _buddy_list(request: web.Request, session: SignedIn, fields: MultiDict[str]) -> bytes:
    service = request.app[SERVICE]
    user = fields.get("user")
    if user is not None and parse_user_id(user) != session.user.id:
        raise CometError(ErrorCode.LOGIN_CHANGED)
    contacts = await service.contacts.list(session.user.id, contacts_only=True)
    available = {c.user.id: c.presence is Presence.IDLE for c in contacts if c.presence is not Presence.OFFLINE}
    previous = await service.presence.swap_buddy_snapshot(session.session.token_hash, available)
    base = f"{request.scheme}://{request.host}"
    infos = [BuddyInfo(c.user.id, c.user.name, f"{base}/users/{int(c.user.id)}/avatar.svg") for c in contacts]
    inbox = None
    if parse_bool(fields.get("notifications")):
        inbox = sum((await service.direct.unread_counts(session.user.id)).values())
    return buddy_list_body(
        available=available,
        previous=previous,
        infos=infos,
        time_ms=int(service.context.clock.now() * 1000),
        inbox_count=inbox,
    )


async def _reconnect(request: web.Request, session: SignedIn, fields: MultiDict[str]) -> bytes:
    read = await request.app[SERVICE].direct.read_channel(session.user.id, -1)
    return reconnect_body(read.head.next_seq)


def comet_routes(
    settings: Settings, waiters: ChannelWaiters
) -> tuple[list[web.RouteDef], Callable[[web.Application], None]]:
    """The routes, and a function installing what they need on the application.

    Raises:
        ConfigError: Bad comet settings.
    """
    check_settings(settings)

    def install(app: web.Application) -> None:
        app[CHANNEL_WAITERS] = waiters
        app[ENCODED_ANSWERS] = EncodedAnswers()

    routes = [
        web.get(POLL_PREFIX + "{tail:.*}", poll),
        web.post("/ajax/chat/send.php", _form_endpoint(_send)),
        web.post("/ajax/chat/typ.php", _form_endpoint(_typing)),
        web.post("/ajax/chat/settings.php", _form_endpoint(_settings)),
        web.post("/ajax/presence/update.php", _form_endpoint(_buddy_list)),
        web.get("/ajax/presence/reconnect.php", _form_endpoint(_reconnect, check_form_id=False)),
        *page_routes(),
    ]
    return routes, install
