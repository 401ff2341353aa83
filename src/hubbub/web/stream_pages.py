"""The streams pages: the list, a stream's chat page, the OBS widget, and the API token on the profile.

- ``/streams``: the viewer's streams and those shared with them, and a form to make one;
- ``/stream/<id>``: the stream's room as multistreamer's chat page showed it: every line
  with its network's badge, the live status, a box to talk (chat level 2);
- ``/stream/<id>/chat?token=<token>&widget``: the same chat alone, for an OBS browser
  source (``font_size``, ``hide_irc``, ``hide_pm``, ``from_bottom`` as multistreamer's
  widget configurator offered them); the token in the URL is what the socket uses;
- ``POST /stream/<id>/webhooks`` and ``POST /stream/<id>/webhooks/<hook>/delete`` (fkey): add or
  remove a webhook, for those who may edit the stream (the page shows them the hooks and a form);
- ``POST /users/token/reset`` (fkey): a new streams API token (the old one stops at once).

Both chat pages run ``static/streams.js``, which speaks the streams dialect to
``/ws/<id>`` on this page's own origin, exactly as the bundled multistreamer client did.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from hubbub.core.ids import UserId
from hubbub.core.streams import ChatLevel, is_access_token
from hubbub.core.webhooks import HookEvent, HookType
from hubbub.dialects.sechat.http import SERVICE, check_fkey, expected_fkey, read_form, signed_in
from hubbub.errors import InvalidFkey, NotAllowed, NotFound, RemoteError
from hubbub.web.rendering import redirect, render

__all__ = ["stream_page_routes"]

NOT_AUTHORIZED: Final = "The stream does not exist, or you do not have permission."
_FLAGS: Final = ("hide_irc", "hide_pm", "from_bottom", "show_picture")


def _stream_id(request: web.Request) -> int:
    return int(request.match_info["stream_id"])


async def streams_list(request: web.Request) -> web.Response:
    me = signed_in(request)
    if me is None:
        return redirect("/users/login?returnurl=/streams")
    views = await request.app[SERVICE].streams.views(me.user.id)
    return render(request, "streams.html", title="Streams", views=views, fkey=expected_fkey(request), error=None)


async def stream_create(request: web.Request) -> web.Response:
    me = signed_in(request)
    if me is None:
        return redirect("/users/login?returnurl=/streams")
    form = await read_form(request)
    service = request.app[SERVICE]
    try:
        check_fkey(request, form)
        stream = await service.streams.create_stream(me.user.id, form.get("name", ""))
    except RemoteError as error:
        views = await service.streams.views(me.user.id)
        return render(
            request, "streams.html", 400, title="Streams", views=views, fkey=expected_fkey(request), error=str(error)
        )
    return redirect(f"/stream/{stream.id}")


def _refused(request: web.Request) -> web.Response:
    return render(request, "error.html", 404, title="Not found", heading="Not found", detail=NOT_AUTHORIZED)


async def stream_page(request: web.Request) -> web.Response:
    me = signed_in(request)
    if me is None:
        return redirect(f"/users/login?returnurl=/stream/{request.match_info['stream_id']}")
    return await _render_stream(request, me.user.id)


async def _render_stream(
    request: web.Request, user_id: UserId, *, status: int = 200, hook_error: str | None = None
) -> web.Response:
    service = request.app[SERVICE]
    try:
        view = await service.streams.view(user_id, _stream_id(request))
    except RemoteError:
        return _refused(request)
    editor = view.metadata_level >= 2
    return render(
        request,
        "stream.html",
        status,
        title=view.stream.name,
        view=view,
        can_write=view.chat_level is ChatLevel.WRITE,
        widget_token=await service.stream_tokens.token(user_id) if editor else None,
        editor=editor,
        fkey=expected_fkey(request),
        hook_types=[str(t) for t in HookType],
        hook_events=[str(e) for e in HookEvent],
        hook_error=hook_error,
    )


async def webhook_add(request: web.Request) -> web.Response:
    """The page's form: url, type, notes and a checkbox per event (none ticked: the hook fires for none)."""
    return await _change_webhooks(request, remove=None)


async def webhook_remove(request: web.Request) -> web.Response:
    return await _change_webhooks(request, remove=int(request.match_info["hook"]))


async def _change_webhooks(request: web.Request, *, remove: int | None) -> web.Response:
    me = signed_in(request)
    if me is None:
        return redirect(f"/users/login?returnurl=/stream/{request.match_info['stream_id']}")
    service = request.app[SERVICE]
    stream_id = _stream_id(request)
    try:
        form = await read_form(request)
        check_fkey(request, form)
        if remove is not None:
            await service.webhooks.delete(me.user.id, stream_id, remove)
        else:
            await service.webhooks.create(
                me.user.id,
                stream_id,
                url=form.get("url", ""),
                type=form.get("type", ""),
                notes=form.get("notes", ""),
                events=[name for name in (str(e) for e in HookEvent) if form.get(f"event.{name}") == "on"],
            )
    except NotFound:
        return _refused(request)
    except (InvalidFkey, NotAllowed) as error:
        return render(request, "error.html", 403, title="Not allowed", heading="Not allowed", detail=str(error))
    except RemoteError as error:  # a bad url, type, notes; too many hooks
        return await _render_stream(request, me.user.id, status=400, hook_error=str(error))
    return redirect(f"/stream/{stream_id}#stream-webhooks")


async def stream_widget(request: web.Request) -> web.Response:
    """The widget: a token in the URL (OBS has no session), or the viewer's session."""
    service = request.app[SERVICE]
    token = request.query.get("token", "")
    user = await service.stream_tokens.user_by_token(token) if is_access_token(token) else None
    if user is None:
        session = signed_in(request)
        user = None if session is None else session.user
    if user is None:
        return _refused(request)
    try:
        view = await service.streams.view(user.id, _stream_id(request))
    except RemoteError:
        return _refused(request)
    font_size = request.query.get("font_size", "")
    return render(
        request,
        "stream_widget.html",
        title=view.stream.name,
        view=view,
        token=token if user is not None and is_access_token(token) else "",
        font_size=int(font_size) if font_size.isdigit() and 6 <= int(font_size) <= 96 else 16,
        flags={flag: flag in request.query for flag in _FLAGS},
    )


async def token_reset(request: web.Request) -> web.Response:
    me = signed_in(request)
    if me is None:
        return redirect("/users/login")
    form = await read_form(request)
    try:
        check_fkey(request, form)
    except RemoteError as error:
        return render(request, "error.html", 403, title="Not allowed", heading="Not allowed", detail=str(error))
    await request.app[SERVICE].stream_tokens.reset_token(me.user.id)
    return redirect(f"/users/{me.user.id}/{me.user.slug}#streams-token")


def stream_page_routes() -> list[web.RouteDef]:
    return [
        web.get("/streams", streams_list),
        web.post("/streams/new", stream_create),
        web.get(r"/stream/{stream_id:\d{1,18}}", stream_page),
        web.get(r"/stream/{stream_id:\d{1,18}}/chat", stream_widget),
        web.post(r"/stream/{stream_id:\d{1,18}}/webhooks", webhook_add),
        web.post(r"/stream/{stream_id:\d{1,18}}/webhooks/{hook:\d{1,18}}/delete", webhook_remove),
        web.post("/users/token/reset", token_reset),
    ]
