"""A bookmarked conversation's page: ``/rooms/{room}/conversation/{slug}``, as Stack Exchange links it.

The page is the transcript view of the bookmark's messages, titled with its
name; ``POST /conversation/new`` answers with this URL.
"""

from __future__ import annotations

from aiohttp import web

from hubbub.dialects.sechat.codec import parse_room_id
from hubbub.dialects.sechat.http import SERVICE, viewer
from hubbub.errors import NotFound
from hubbub.web.rendering import not_found, render
from hubbub.web.transcript_pages import monologues

__all__ = ["conversation_page_routes"]


async def conversation_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    me = viewer(request)
    try:
        room_id = parse_room_id(request.match_info["room_id"])
        view = await service.conversations.view(me, room_id, request.match_info["slug"])
    except NotFound:
        return not_found(request, "No such conversation.")
    starred = await service.queries.starred_by(me, [m.id for m in view.messages])
    return render(
        request,
        "transcript.html",
        title=f"{view.conversation.title} - {view.room.name}",
        room=view.room,
        monologues=monologues(view.messages, view.authors),
        highlight=None,
        starred=starred,
        heading=view.conversation.title,
        day=None,
        truncated=view.truncated,
    )


def conversation_page_routes() -> list[web.RouteDef]:
    return [web.get(r"/rooms/{room_id:\d+}/conversation/{slug}", conversation_page)]
