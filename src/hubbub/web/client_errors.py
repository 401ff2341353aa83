"""A client's broken or abandoned HTTP request is the client's doing: one line, never an ERROR with a traceback.

aiohttp logs both at ERROR with a traceback through its request handler's logger
("Error handling request"): a request its parser refuses (bad request line, bad
header, bad ``Content-Length`` ...) and a body the client stopped sending (the
handler's read raises ``ConnectionResetError``). Anyone can send either as often
as they like, and neither is something the server did wrong.

- ``ServerLog`` is the logger aiohttp's request handler is given: a refused request
  is logged at info (or at debug, where aiohttp chose debug), in one line, instead.
- ``client_disconnects`` is the outermost middleware: a request whose client has
  gone is logged at debug, and its answer (which nobody will read) is a plain 400.

Everything else still reaches the log as aiohttp writes it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from hubbub.dialects.sechat.http import Handler

__all__ = ["ServerLog", "client_disconnects", "describe"]

log = logging.getLogger("hubbub.http")

MAX_REASON_CHARS: Final = 200  # of a malformed request's description in the log


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's request-handler logger (``aiohttp.server``), minus tracebacks for malformed requests."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})

    def log(self, level: int, msg: object, *args: object, exc_info: Any = None, **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1] if exc_info else None
        if isinstance(error, BadHttpMessage):
            # aiohttp says "Error handling request from %s" with the client's address.
            source = f"from {args[0]}" if len(args) == 1 else str(msg) % args
            super().log(min(level, logging.INFO), "malformed request %s: %s", source, describe(error), **kwargs)
            return
        super().log(level, msg, *args, exc_info=exc_info, **kwargs)


def describe(error: BadHttpMessage) -> str:
    """aiohttp's several-line message (the problem, the offending line, a caret) as one short line."""
    lines = [line.strip() for line in (error.message or type(error).__name__).splitlines() if line.strip()]
    text = ": ".join([lines[0].rstrip(":"), *lines[1:2]])
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "\u2026"


@web.middleware
async def client_disconnects(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A handler that fails because its client went away (mid-body, typically) answers nobody."""
    try:
        return await handler(request)
    except ConnectionResetError:
        if request.transport is not None and not request.transport.is_closing():
            raise  # the client is still there: not its doing
        log.debug("%s %s from %s: the client left mid-request", request.method, request.path, request.remote)
        return web.Response(status=400, text="The request ended before it was complete")
