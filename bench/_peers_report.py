"""bench/peers.py's tables: a row per system, its ratio to hubbub, client-bound rates marked as lower bounds.

A rate whose phase kept its clients at >= 90% of a core (``CLIENT_BOUND``) measures the clients
as much as the server: it is printed as ">= rate", and so is its ratio to hubbub. A system that
failed to install or start, or a phase that did not complete, is printed as such with the reason
under the table; each print function returns True when something failed.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from _common import fmt_ms, fmt_rate, percentile, print_table
from _peers_run import Posting
from fanout import Phase, Result

__all__ = ["print_fanout", "print_posting", "print_summary"]

CLIENT_BOUND = 0.9


def _ratio(value: float, hubbub: float, lower_bound: bool = False) -> str:
    if math.isnan(value) or math.isnan(hubbub) or hubbub <= 0:
        return "-"
    return (">=" if lower_bound else "") + f"{value / hubbub:.2f}x"


def _rate(value: float, lower_bound: bool) -> str:
    return (">=" if lower_bound and not math.isnan(value) else "") + fmt_rate(value)


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def print_posting(args: argparse.Namespace, results: Sequence[Posting]) -> bool:
    print(f"\n=== posting: {args.users} clients, each waiting for its answer; {args.messages} posts per system ===")
    hubbub = results[0].phase
    hubbub_rate = hubbub.rate if hubbub is not None and hubbub.completed else float("nan")
    rows, notes, failed = [], [], False
    for result in results:
        phase = result.phase
        if phase is None:
            failed = True
            rows.append([result.system, result.version, "FAILED", *["-"] * 8, "see the note below"])
            notes.append(f"{result.system}: {result.failure}")
            continue
        window = phase.seconds or float("nan")
        client_cpu = phase.client_cpu / window
        bound = client_cpu >= CLIENT_BOUND
        complete = phase.completed and phase.ok == result.total
        failed |= not complete
        rows.append(
            [
                result.system,
                result.version,
                f"{phase.ok}/{result.total}" + ("" if phase.completed else " (timed out)"),
                f"{phase.seconds:.2f}",
                _rate(phase.rate, bound),
                _ratio(phase.rate, hubbub_rate, bound),
                fmt_ms(percentile(phase.latencies, 0.50)),
                fmt_ms(percentile(phase.latencies, 0.99)),
                _pct(phase.server_cpu / window),
                f"{1e6 * phase.server_cpu / max(1, phase.ok):,.0f}",
                _pct(client_cpu),
                ", ".join(f"{k}: {v}" for k, v in phase.errors.items()) or "0",
            ]
        )
        if bound:
            notes.append(f"{result.system}: client CPU {client_cpu:.0%}: client-bound, posts/s is a lower bound")
    header = ["system", "version", "posts", "seconds", "posts/s", "vs hubbub", "p50 ms", "p99 ms"]
    print_table([*header, "server CPU", "server us/post", "client CPU", "errors"], rows)
    for note in notes:
        print(f"  note: {note}")
    return failed


def _phase_row(version: str, result: Result, phase: Phase, hub: Phase) -> list[str]:
    bound = phase.client_cpu >= CLIENT_BOUND
    rate = phase.rate if phase.complete else float("nan")
    hub_rate = hub.rate if hub.complete else float("nan")
    p99 = percentile(phase.latencies, 0.99)
    shown = _rate(phase.rate, bound) if phase.complete else f"({fmt_rate(phase.rate)})"
    return [
        result.server,
        version,
        phase.name,
        f"{phase.delivered}/{phase.expected}",
        f"{phase.seconds:.2f}" if phase.delivered else "-",
        shown,
        _ratio(rate, hub_rate, bound),
        fmt_ms(percentile(phase.latencies, 0.5)),
        fmt_ms(p99),
        _ratio(p99, percentile(hub.latencies, 0.99)) if phase.complete else "-",
        _pct(phase.server_cpu),
        _pct(phase.client_cpu),
        f"{result.rss_per_conn / 1024:.1f}" if not math.isnan(result.rss_per_conn) else "-",
    ]


FANOUT_HEADER = [
    "system",
    "version",
    "phase",
    "deliveries",
    "seconds",
    "deliveries/s",
    "vs hubbub",
    "p50 ms",
    "p99 ms",
    "p99 vs hubbub",
    "server CPU",
    "client CPU",
    "KiB/receiver",
]


def print_fanout(args: argparse.Namespace, n: int, results: Sequence[tuple[str, Result]]) -> bool:
    hub = results[0][1]
    names = ["saturating", *(["paced"] if args.paced_rate > 0 else [])]
    rows, failed = [], False
    for version, result in results:
        if not result.phases:
            failed = True
            rows.append([result.server, version, "FAILED", *["-"] * 10])
        for name in names:
            if name in result.phases:
                phase = result.phases[name]
                failed |= not phase.complete
                rows.append(_phase_row(version, result, phase, hub.phase(name)))
    saturating = f"a post every {n / args.offered_rate * 1000:.1f} ms"
    paced = f", paced: every {n / args.paced_rate * 1000:.1f} ms" if args.paced_rate > 0 else ""
    print(f"saturating: {saturating}{paced}; deliveries in parentheses: the phase did not complete")
    print_table(FANOUT_HEADER, rows)
    for _, result in results:
        for phase in result.phases.values():
            if phase.client_cpu >= CLIENT_BOUND:
                result.notes.append(f"{phase.name}: client CPU {phase.client_cpu:.0%}: client-bound, a lower bound")
        if result.disconnected:
            result.notes.append(f"{result.disconnected} receivers were dropped or had a poll fail during the run")
        for note in result.notes:
            print(f"  note ({result.server}): {note}")
    return failed


def print_summary(sizes: Sequence[list[Any]]) -> None:
    """Saturating deliveries/s and paced p99 of every system at every size, with the ratios to hubbub."""
    rows = []
    for n, results in sizes:
        hub = results[0][1]
        for _, result in results:
            saturating, paced = result.phase("saturating"), result.phase("paced")
            bound = saturating.client_cpu >= CLIENT_BOUND
            status = "incomplete" if result.phases else "FAILED"
            rows.append(
                [
                    str(n),
                    result.server,
                    _rate(saturating.rate, bound) if saturating.complete else status,
                    _ratio(saturating.rate, hub.phase("saturating").rate, bound) if saturating.complete else "-",
                    fmt_ms(percentile(paced.latencies, 0.99)) if paced.complete else "-",
                    _ratio(percentile(paced.latencies, 0.99), percentile(hub.phase("paced").latencies, 0.99))
                    if paced.complete
                    else "-",
                ]
            )
    print("\n=== fan-out summary ===")
    print_table(["N", "system", "saturating deliveries/s", "vs hubbub", "paced p99 ms", "p99 vs hubbub"], rows)
