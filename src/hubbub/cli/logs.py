"""Logging for ``hubbub serve``: one handler for every logger, text lines or JSON objects, repeated
lines limited and counted, third-party chatter kept at debug.

``log_format = "json"`` gives each record as one line ``{"time", "level",
"logger", "message"}`` plus ``"exception"`` when there is one, so a log pipeline
need not parse free text; the node's warnings about the bus (``lost the bus``,
``caught up ... from the store``) are records like any other.

Two libraries log a line per routine step at INFO: yoyo one per migration step
(about 40 on an empty data directory) and picows two per websocket connection (10,000
sockets, 20,000 lines). At hubbub's default level those only bury what an operator
needs; they show when ``log_level`` is ``debug``. Their warnings and errors always
show. hubbub itself reports migrations in one line (``hubbub.store.migrate``).

A client can make the same thing happen as often as it likes (a malformed request, a
subscribe past the limit, a connection refused), and a log line each time would let it
fill the disk and spend the server's time writing. ``RepeatLimiter`` sits in front of
the real handler and lets through at most ``burst`` records of one kind per ``window``
seconds; the rest are counted, and when the window is over one line says how many were
left out. Suppressed records are never formatted. A kind is one call site and message
template, whatever the logger: picows names a logger per connection.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hubbub.errors import ConfigError
from hubbub.settings import Settings

__all__ = ["MAX_KINDS", "ROUTINE_LOGGERS", "JsonFormatter", "RepeatLimiter", "configure_logging"]

# Loggers whose INFO lines are per-step or per-connection routine.
ROUTINE_LOGGERS: Final = ("yoyo", "picows")
MAX_KINDS: Final = 1024  # kinds of record tracked at once; the least recent is reported and dropped
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_Key = tuple[str, int, int, str]


@dataclass(slots=True)
class _Kind:
    started: float
    passed: int = 0
    suppressed: int = 0
    last: logging.LogRecord | None = None


class RepeatLimiter(logging.Handler):
    """Hands records to ``target``: per kind, ``burst`` per ``window`` seconds, then a count of the rest."""

    def __init__(
        self,
        target: logging.Handler,
        *,
        burst: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._target = target
        self._burst = max(1, burst)
        self._window = window
        self._clock = clock
        self._kinds: OrderedDict[_Key, _Kind] = OrderedDict()

    def emit(self, record: logging.LogRecord) -> None:
        now = self._clock()
        key = (record.pathname, record.lineno, record.levelno, str(record.msg))
        kind = self._kinds.get(key)
        if kind is not None and now - kind.started >= self._window:
            self._summarise(kind)
            kind = None
        if kind is None:
            kind = self._kinds[key] = _Kind(now)
            if len(self._kinds) > MAX_KINDS:
                _, oldest = self._kinds.popitem(last=False)
                self._summarise(oldest)
        else:
            self._kinds.move_to_end(key)
        if kind.passed < self._burst:
            kind.passed += 1
            self._target.handle(record)
        else:
            kind.suppressed += 1
            kind.last = record

    def report(self, *, everything: bool = False) -> None:
        """Say how many records were left out, for every kind whose window is over (or all of them)."""
        self.acquire()
        try:
            now = self._clock()
            for key, kind in list(self._kinds.items()):
                if everything or now - kind.started >= self._window:
                    self._summarise(kind)
                    del self._kinds[key]
        finally:
            self.release()

    def _summarise(self, kind: _Kind) -> None:
        last = kind.last
        if not kind.suppressed or last is None:
            return
        try:
            text = last.getMessage()
        except (TypeError, ValueError):  # a record whose arguments do not fit its message
            text = str(last.msg)
        summary = logging.makeLogRecord(
            {
                "name": last.name,
                "levelno": last.levelno,
                "levelname": last.levelname,
                "msg": "%d more like this left out of the log in %.0f s; the last: %s",
                "args": (kind.suppressed, self._clock() - kind.started, text.splitlines()[0] if text else ""),
            }
        )
        kind.suppressed, kind.last = 0, None
        self._target.handle(summary)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 - logging's name
        self._target.setFormatter(fmt)

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        self.report(everything=True)
        self._target.close()
        super().close()


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


def configure_logging(settings: Settings) -> RepeatLimiter:
    """Send every logger's records to stderr through a ``RepeatLimiter`` at ``log_level`` in
    ``log_format``, the routine loggers held at warning (unless that level is debug); returns the
    limiter (to ``report``).

    Raises:
        ConfigError: A ``log_format`` other than text or json, or an unknown ``log_level``.
    """
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format: expected text or json, got {settings.log_format!r}")
    threshold = logging.getLevelName(settings.log_level.upper())
    if not isinstance(threshold, int):
        raise ConfigError(f"log_level: expected debug, info, warning or error, got {settings.log_level!r}")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    limiter = RepeatLimiter(stream, burst=settings.log_repeat_burst, window=settings.log_repeat_window)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(limiter)
    root.setLevel(threshold)
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if threshold <= logging.DEBUG else logging.WARNING)
    return limiter
