"""Logging for ``hubbub serve``: text lines or JSON objects, and third-party chatter kept at debug.

``log_format = "json"`` gives each record as one line ``{"time", "level",
"logger", "message"}`` plus ``"exception"`` when there is one, so a log pipeline
need not parse free text; the node's warnings about the bus (``lost the bus``,
``caught up ... from the store``) are records like any other.

Two libraries log a line per routine step at INFO: yoyo one per migration step
(about 40 on an empty data directory) and picows two per websocket connection (10,000
sockets, 20,000 lines). At hubbub's default level those only bury what an operator
needs; they show when ``log_level`` is ``debug``. Their warnings and errors always
show. hubbub itself reports migrations in one line (``hubbub.store.migrate``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final

from hubbub.errors import ConfigError
from hubbub.settings import Settings

__all__ = ["ROUTINE_LOGGERS", "JsonFormatter", "configure_logging"]

# Loggers whose INFO lines are per-step or per-connection routine.
ROUTINE_LOGGERS: Final = ("yoyo", "picows")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Log to stderr at ``log_level`` in ``log_format``, with the routine loggers held at warning.

    Raises:
        ConfigError: A ``log_format`` other than text or json, or an unknown ``log_level``.
    """
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format: expected text or json, got {settings.log_format!r}")
    threshold = logging.getLevelName(settings.log_level.upper())
    if not isinstance(threshold, int):
        raise ConfigError(f"log_level: expected debug, info, warning or error, got {settings.log_level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=threshold, handlers=[handler], force=True)
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if threshold <= logging.DEBUG else logging.WARNING)
