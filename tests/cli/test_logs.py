"""cli/logs.py: repeated log lines are limited per kind and counted, with a fake clock."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hubbub.cli.logs import MAX_KINDS, ROUTINE_LOGGERS, RepeatLimiter, configure_logging
from tests.fakes import FakeClock
from tests.fakes import test_settings as settings_for


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(record.getMessage())


def record(msg: str = "refusing %s", *args: object, line: int = 1, level: int = logging.WARNING) -> logging.LogRecord:
    if not args and "%s" in msg:
        args = ("1.2.3.4",)
    return logging.LogRecord("hubbub.test", level, "/src/hubbub/x.py", line, msg, args, None)


def limiter(burst: int = 3, window: float = 60.0) -> tuple[RepeatLimiter, Collect, FakeClock]:
    clock, target = FakeClock(), Collect()
    return RepeatLimiter(target, burst=burst, window=window, clock=clock.now), target, clock


def test_a_burst_passes_and_the_rest_is_counted_when_the_window_ends() -> None:
    repeats, target, clock = limiter()
    for n in range(1000):
        repeats.handle(record("refusing %s", f"10.0.0.{n}"))
    assert target.lines == ["refusing 10.0.0.0", "refusing 10.0.0.1", "refusing 10.0.0.2"]
    clock.advance(30)
    repeats.report()
    assert len(target.lines) == 3  # the window is not over yet
    clock.advance(31)
    repeats.report()
    assert target.lines[3] == "997 more like this left out of the log in 61 s; the last: refusing 10.0.0.999"
    assert target.records[3].levelno == logging.WARNING and target.records[3].name == "hubbub.test"
    repeats.handle(record())  # a new window
    assert target.lines[4] == "refusing 1.2.3.4"


def test_the_count_is_also_given_by_the_next_line_of_its_kind_after_the_window() -> None:
    repeats, target, clock = limiter(burst=1)
    for _ in range(5):
        repeats.handle(record())
    clock.advance(61)
    repeats.handle(record("refusing %s", "5.6.7.8"))
    assert target.lines == [
        "refusing 1.2.3.4",
        "4 more like this left out of the log in 61 s; the last: refusing 1.2.3.4",
        "refusing 5.6.7.8",
    ]


def test_kinds_are_call_sites_and_templates_not_loggers() -> None:
    """picows names a logger per connection: those lines are still one kind."""
    repeats, target, _ = limiter(burst=1)
    for fd in range(10):
        made = record("Disconnected", line=7)
        made.name = f"picows.gateway.{fd}"
        repeats.handle(made)
    repeats.handle(record("refusing %s", line=8))
    repeats.handle(record("other %s", line=8))
    repeats.handle(record("refusing %s", line=8, level=logging.ERROR))
    assert target.lines == ["Disconnected", "refusing 1.2.3.4", "other 1.2.3.4", "refusing 1.2.3.4"]


def test_suppressed_records_are_never_formatted() -> None:
    repeats, target, _ = limiter(burst=1)

    class Costly:
        formatted = 0

        def __str__(self) -> str:
            Costly.formatted += 1
            return "costly"

    for _ in range(100):
        repeats.handle(record("value %s", Costly()))
    assert Costly.formatted == 1
    assert target.lines == ["value costly"]


def test_everything_is_reported_when_closing() -> None:
    repeats, target, _ = limiter(burst=1)
    for _ in range(3):
        repeats.handle(record())
    repeats.close()
    assert target.lines[-1].startswith("2 more like this left out of the log")


def test_the_kinds_tracked_are_bounded() -> None:
    repeats, target, _ = limiter(burst=1)
    for line in range(MAX_KINDS + 10):
        repeats.handle(record(line=line))
        repeats.handle(record(line=line))  # one suppressed each
    # The oldest kinds were dropped, each reporting its count as it went.
    summaries = [text for text in target.lines if text.startswith("1 more like this")]
    assert len(summaries) == 10


@pytest.mark.parametrize(("level", "routine"), [("info", logging.WARNING), ("debug", logging.NOTSET)])
def test_serve_sends_every_logger_through_the_limiter(tmp_path: Path, level: str, routine: int) -> None:
    """One handler at the root for every logger; yoyo's and picows's routine INFO lines only at debug."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {name: logging.getLogger(name).level for name in ROUTINE_LOGGERS})
    try:
        repeats = configure_logging(settings_for(tmp_path, log_level=level, log_repeat_burst=2))
        assert root.handlers == [repeats]
        assert root.level == logging.getLevelName(level.upper())
        assert [logging.getLogger(name).level for name in ROUTINE_LOGGERS] == [routine, routine]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, former in saved[2].items():
            logging.getLogger(name).setLevel(former)
