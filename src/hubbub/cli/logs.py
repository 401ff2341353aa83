"""Logging for ``hubbub serve``: one format, and third-party chatter kept at debug.

Two libraries log a line per routine step at INFO: yoyo one per migration step
(about 40 on an empty data directory) and picows two per websocket connection (10,000
sockets, 20,000 lines). At hubbub's default level those only bury what an operator
needs; they show when ``log_level`` is ``debug``. Their warnings and errors always
show. hubbub itself reports migrations in one line (``hubbub.store.migrate``).
"""

from __future__ import annotations

import logging
import sys
from typing import Final

__all__ = ["ROUTINE_LOGGERS", "configure_logging"]

# Loggers whose INFO lines are per-step or per-connection routine.
ROUTINE_LOGGERS: Final = ("yoyo", "picows")


def configure_logging(level: str) -> None:
    """Log to stderr at ``level`` (a name such as ``info``), with the routine loggers held at warning."""
    threshold = logging.getLevelName(level.upper())
    logging.basicConfig(level=threshold, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if threshold <= logging.DEBUG else logging.WARNING)
