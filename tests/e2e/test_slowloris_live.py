"""Slowloris against ``hubbub serve``: slow connections are cut, one address is capped, /healthz stays fast.

Issue 8, item 12, reproduced the way it was found: hundreds of raw connections to the HTTP
port of the real server (uvloop, the CLI's wiring), each sending nothing, half a head, one
header byte at a time, or a body that stops. The server runs with one-second limits; the test
asserts only that every probe is closed before a generous bound derived from them, and that
/healthz, measured in the same test before the probe and while it is held, stays responsive.
The numbers are printed for the record.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import aiohttp

from tests.e2e.conftest import serving
from tests.slowclients import DRIPPED_HEAD, PARTIAL_HEAD, Probe, bound, cut_off, form_post, is_408

LIMIT = 2.0  # http_head_timeout and http_body_timeout of the server under test
CAP = 100  # http_max_connections_per_ip
PER_KIND = 80  # probes of each kind, each kind from its own loopback address (under the cap)


async def test_slowloris_probes_are_cut_and_healthz_stays_responsive(tmp_path: Path) -> None:
    settings = {
        "http_head_timeout": str(LIMIT),
        "http_body_timeout": str(LIMIT),
        "http_body_min_rate": "200",
        "http_max_connections_per_ip": str(CAP),
    }
    with serving(tmp_path, settings) as (_, port, _):
        base = f"http://127.0.0.1:{port}"
        probes: list[Probe] = []
        async with aiohttp.ClientSession() as session:

            async def healthz() -> float:
                started = time.perf_counter()
                async with session.get(base + "/healthz") as response:
                    assert await response.text() == "ok"
                return time.perf_counter() - started

            try:
                await healthz()  # the session's connection, opened outside the measurement
                baseline = [await healthz() for _ in range(100)]

                async def opened(source: str) -> list[Probe]:
                    batch = [await Probe.open(port, source) for _ in range(PER_KIND)]
                    probes.extend(batch)
                    return batch

                # The cap first, while the listen backlog is not crowded by the probe below.
                capped = [await Probe.open(port, "127.0.0.6") for _ in range(CAP)]
                probes.extend(capped)
                over = await Probe.open(port, "127.0.0.6")
                probes.append(over)
                refused = await over.closed(within=bound(LIMIT))

                silent = await opened("127.0.0.2")
                partial = await opened("127.0.0.3")
                for probe in partial:
                    probe.writer.write(PARTIAL_HEAD)
                slow_bodies = await opened("127.0.0.4")
                for probe in slow_bodies:
                    probe.writer.write(form_post("/chats/1/messages/new", 10_000) + b"text=")
                dripping = await opened("127.0.0.5")
                drips = [asyncio.create_task(p.drip(DRIPPED_HEAD, every=0.1, within=bound(LIMIT))) for p in dripping]

                under_probe = [await healthz() for _ in range(100)]
                cut = await asyncio.gather(
                    *(p.closed(within=bound(LIMIT)) for p in capped + silent + partial + slow_bodies), *drips
                )
            finally:
                for probe in probes:
                    probe.close()

    assert refused.startswith(b"HTTP/1.1 503 ")
    assert cut[: CAP + PER_KIND] == [b""] * (CAP + PER_KIND)  # capped and silent: nothing asked, nothing answered
    assert all(is_408(answer) for answer in cut[CAP + PER_KIND : CAP + 3 * PER_KIND])
    assert all(cut_off(probe, answer) for probe, answer in zip(dripping, cut[CAP + 3 * PER_KIND :], strict=True))
    held = 4 * PER_KIND  # besides the capped connections, cut meanwhile
    worst, base_worst = max(under_probe), max(baseline)
    print(
        f"\n/healthz with {held} slow connections held: worst {worst * 1000:.1f} ms, "
        f"median {statistics.median(under_probe) * 1000:.2f} ms; unloaded baseline: worst "
        f"{base_worst * 1000:.1f} ms, median {statistics.median(baseline) * 1000:.2f} ms"
    )
    # Responsive compared with the baseline: a stalled server shows seconds, not milliseconds.
    assert worst < max(20 * base_worst, base_worst + 1.0)
