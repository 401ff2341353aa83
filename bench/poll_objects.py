"""Objects the garbage collector tracks per held comet poll, counted, not timed.

A full (generation-2) collection walks every tracked object, so at 10,000 held polls its pause is
set by how many objects a held poll keeps, and how often it comes by how many fresh ones each
re-poll leaves to survive into the old generation (docs/dialects/comet.md, "Where polls are
served"). This bench counts both, deterministically:

1. The bench writes N users, each with a session, straight into a fresh SQLite file
   (``longpoll._prepare_hubbub``), and runs hubbub's ``Runtime`` in this process on uvloop, so
   that ``gc.get_objects()`` sees the server's objects; one client process (plain asyncio
   streams) opens one kept-alive connection per user.
2. Round 0: every connection polls ``seq=-1`` and is answered ``refresh`` at once: connections,
   sessions and presence exist, nothing is held. Round 1: every connection polls the next seq,
   which is held (``comet_poll_timeout_min = max = --hold`` s). Round 2 (after every round-1 poll
   ran its hold and was answered ``continue``): every connection polls again. Round 3: one
   direct message to each user answers its poll, and the client then polls the next seq.
3. Between rounds, with the loop quiet, ``gc.collect()`` and ``len(gc.get_objects())``; for
   rounds 2 and 3 also the objects alive then that did not exist before the round (the earlier
   ones are kept alive while counting, so no id is reused), by type.

Output: tracked objects per held poll (everything since before the first connection, and held
over connected and idle), the objects each re-poll and each wake-up plus re-poll leave alive that
were not there before, and the most common types among them. Only survivors are counted: an
object that dies young never reaches the old generation a full collection walks.

    .venv/bin/python bench/poll_objects.py [--polls 2000] [--hold 10] [--types 12]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import PYTHON, print_table, raise_nofile_limit, run_uvloop
from hubbub.app import Runtime
from hubbub.core.ids import UserId
from hubbub.settings import Settings
from longpoll import _prepare_hubbub

# --- the client process -------------------------------------------------------------------------


async def _client(port: int, users: list[tuple[int, str]]) -> None:
    """One kept-alive connection per user; a line ``poll`` on stdin polls each at its seq, and
    ``answered <round>`` is printed once every connection's poll of that round was answered
    (an answer ``msg`` moves on, as clients do: the next round polls seq + 1)."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    seqs = {uid: -1 for uid, _ in users}
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in users]
    rounds = 0

    async def one(uid: int, token: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            f"GET /x/0/false/p_{uid}={seqs[uid]} HTTP/1.1\r\nHost: 0.channel01.bench.invalid\r\n"
            f"Cookie: acct={token}; c_user={uid}\r\n\r\n".encode()
        )
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        answer = json.loads((await reader.readexactly(length))[9:])
        if answer["t"] == "refresh":
            seqs[uid] = int(answer["seq"])
        elif answer["t"] == "msg":
            seqs[uid] += 1

    while (await stdin.readline()).strip() == b"poll":
        await asyncio.gather(*(one(uid, token, r, w) for (uid, token), (r, w) in zip(users, connections, strict=True)))
        print(f"answered {rounds}", flush=True)
        rounds += 1
    for _, writer in connections:
        writer.close()


# --- counting -----------------------------------------------------------------------------------


def _tracked() -> list[Any]:
    gc.collect()
    return gc.get_objects()


def _new_since(before: list[Any]) -> Counter[str]:
    """Objects alive now that were not in ``before`` (which keeps those alive: no id is reused)."""
    known = {id(obj) for obj in before}
    known.add(id(before))
    now = _tracked()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in now if id(o) not in known)


async def _measure(
    args: argparse.Namespace, data_dir: Path, users: list[tuple[int, str]], sender_id: int
) -> dict[str, Any]:
    n = len(users)
    settings = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        ws_port=0,
        log_level="warning",
        comet_poll_timeout_min=args.hold,
        comet_poll_timeout_max=args.hold,
        comet_max_waiters=n + 100,
        comet_offline_policy="deliver",
        http_max_connections_per_ip=0,
        message_rate_burst=1_000_000,
        message_rate_per_second=1_000_000,
    )
    spec = data_dir.parent / "users.json"
    spec.write_text(json.dumps(users))
    runtime = Runtime(settings)
    await runtime.start()
    assert runtime.channel_waiters is not None and runtime.service is not None
    waiters, service = runtime.channel_waiters, runtime.service
    client = await asyncio.create_subprocess_exec(
        PYTHON,
        __file__,
        "--client",
        str(runtime.http_port),
        str(spec),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert client.stdin is not None and client.stdout is not None
    stdin, stdout = client.stdin, client.stdout

    async def until(condition: Callable[[], bool], what: str, limit: float) -> None:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > limit:
                raise RuntimeError(f"{what}: not after {limit:.0f} s ({waiters.waiting} polls held)")
            await asyncio.sleep(0.05)

    async def answered() -> None:
        async with asyncio.timeout(args.hold + 120):
            line = await stdout.readline()
        if not line.startswith(b"answered"):
            raise RuntimeError(f"the client said {line!r}")

    async def poll_round() -> None:
        stdin.write(b"poll\n")
        await stdin.drain()
        await until(lambda: waiters.waiting == n, "every poll held", 120)
        await asyncio.sleep(0.2)  # the last heads' tasks finish

    try:
        counts: dict[str, Any] = {"polls": n}
        start = _tracked()
        counts["start"] = len(start)
        stdin.write(b"poll\n")  # round 0: refresh, nothing held
        await stdin.drain()
        await answered()
        await asyncio.sleep(0.2)
        counts["idle"] = len(_tracked())
        started = time.monotonic()
        await poll_round()  # round 1: held
        counts["held_types"] = _new_since(start)
        del start
        held = _tracked()
        counts["held"] = len(held)
        if time.monotonic() - started > args.hold / 2:
            raise RuntimeError(f"holding {n} polls took over half of --hold; give a longer --hold")
        await answered()  # every round-1 poll ran its hold: continue
        await asyncio.sleep(0.2)
        await poll_round()  # round 2: re-polled
        counts["repoll"] = _new_since(held)
        del held
        before = _tracked()
        sender = UserId(sender_id)
        for index, (uid, _) in enumerate(users):  # round 3: each poll woken by a message, then re-polled
            await service.direct.send(sender, UserId(uid), f"m{index}", client_id=str(index + 1))
        await answered()
        await poll_round()  # at the next seq
        counts["wake"] = _new_since(before)
        del before
        return counts
    finally:
        stdin.close()
        await client.wait()
        await runtime.stop()


def _report(counts: dict[str, Any], types: int) -> None:
    n = counts["polls"]
    repoll: Counter[str] = counts["repoll"]
    wake: Counter[str] = counts["wake"]
    print(
        f"{n} held polls; tracked objects: {counts['start']} before, "
        f"{counts['idle']} connected and idle, {counts['held']} held"
    )
    print_table(
        ["per held poll", "objects"],
        [
            ["all (connection, session, presence, poll)", f"{(counts['held'] - counts['start']) / n:.2f}"],
            ["held, over connected and idle (a keep-alive timer each)", f"{(counts['held'] - counts['idle']) / n:.2f}"],
            ["left alive by a re-poll (after continue)", f"{sum(repoll.values()) / n:.2f}"],
            ["left alive by a wake-up and re-poll", f"{sum(wake.values()) / n:.2f}"],
        ],
    )
    phases = (("held poll, since before it connected", counts["held_types"]), ("re-poll", repoll))
    for title, counter in (*phases, ("wake-up and re-poll", wake)):
        print(f"\nobjects per {title}, by type:")
        print_table(["type", "per poll"], [[name, f"{c / n:.2f}"] for name, c in counter.most_common(types)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=2000, help="held polls (one user and connection each)")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds a poll is held (all alike)")
    parser.add_argument("--types", type=int, default=12, help="object types listed per phase")
    parser.add_argument("--client", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        users = [(int(uid), str(token)) for uid, token in json.loads(Path(args.client[1]).read_text())]
        asyncio.run(_client(int(args.client[0]), users))
        return
    raise_nofile_limit()
    with tempfile.TemporaryDirectory(prefix="hubbub-pollobjects-") as temporary:
        data_dir = Path(temporary) / "data"
        users, sender = _prepare_hubbub(data_dir, args.polls)
        counts = run_uvloop(_measure(args, data_dir, users, sender[0]))
    _report(counts, args.types)


if __name__ == "__main__":
    main()
