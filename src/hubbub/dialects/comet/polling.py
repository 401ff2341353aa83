"""One comet channel poll (``/x/<any>/<any>/p_<uid>=<seq>``), step by step, whatever carries it.

Two transports answer polls with the same rules: aiohttp's route (``routes.poll``), which holds a
task per poll, and the HTTP port's own poll connections (``hubbub.web.poll_connections``), which
hold none while they wait. Both drive a ``ChannelPoll``:

- ``start(session, c_user)``: sign-in check (§C.10 item 1), a presence sighting, a waiter slot,
  the first read of the channel. It returns the answer, or None: wait until an entry for this
  user is delivered (``future`` resolves; or, for a poll made with a ``sleeper``, its
  ``woken()`` is called) or the hold ends: at ``deadline`` (``time.monotonic``) on aiohttp's
  route, on the port's hold wheel in the same ``hold_range`` on the poll connections.
- ``woken()`` after that: re-read; the answer, or None to wait again (for the new ``future``,
  or the next ``sleeper.woken()``).
- ``expired()`` once the hold is over: ``continue``; ``gone()`` when the client left.
- ``close()`` gives the waiter slot back, exactly once, however the poll ended.
- ``reset(tail)`` then makes the same object the next poll's: a connection that carries polls
  one after another keeps one ``ChannelPoll`` (each would be one more object to outlive the
  garbage collector's young generations).

The state machine is the codec's ``PollSession`` (a ``ChannelPoll`` is one); answers are bytes,
rendered once per (user, seq, typing lapsed) and shared by every tab that polls the same entry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from hubbub.core.direct import Activity
from hubbub.core.ids import UserId
from hubbub.dialects.comet.codec import (
    Answer,
    PollInput,
    PollSession,
    PollState,
    continue_body,
    entry_object,
    msg_body,
    parse_poll_path,
    parse_user_id,
    refresh_body,
)
from hubbub.fanout.channels import ChannelWaiters, Sleeper
from hubbub.service.accounts import SignedIn
from hubbub.service.direct import ChannelRead
from hubbub.service.service import Service
from hubbub.settings import Settings

__all__ = ["MAX_HOLD_SECONDS", "ChannelPoll", "EncodedAnswers", "PollReply", "hold_range", "hold_seconds"]

log = logging.getLogger("hubbub.comet")

MAX_HOLD_SECONDS: Final = 55.0  # NATs drop idle HTTP at 60 s and Miranda gives up at 65 s (§C.3)
ENCODED_ENTRIES: Final = 4096  # rendered msg answers kept, so that tabs polling one seq share the bytes


def hold_range(settings: Settings) -> tuple[float, float]:
    """The shortest and longest hold (§C.10 item 4): the configured range, never over 55 s."""
    low = min(settings.comet_poll_timeout_min, MAX_HOLD_SECONDS)
    high = min(max(settings.comet_poll_timeout_max, low), MAX_HOLD_SECONDS)
    return low, high


def hold_seconds(settings: Settings) -> float:
    """How long this poll is held: uniform in ``hold_range``."""
    return random.uniform(*hold_range(settings))


class EncodedAnswers:
    """Rendered ``msg`` answers by (user, seq, typing lapsed), most recently used kept: entries never change."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[int, int, bool], bytes] = OrderedDict()

    def get(self, key: tuple[int, int, bool]) -> bytes | None:
        data = self._entries.get(key)
        if data is not None:
            self._entries.move_to_end(key)
        return data

    def put(self, key: tuple[int, int, bool], data: bytes) -> None:
        self._entries[key] = data
        while len(self._entries) > ENCODED_ENTRIES:
            self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class PollReply:
    """A poll's answer (always HTTP 200). ``refused``: a sign-in refusal in a success envelope,
    which must change nothing, not even presence."""

    body: bytes
    refused: bool = False


class ChannelPoll(PollSession):
    """One poll request's progress; see the module docstring for the order of calls.

    With a ``sleeper`` the poll is told of wake-ups by ``sleeper.woken()`` and ``future`` stays
    None; without one it waits for ``future``.
    """

    __slots__ = (
        "_encoded",
        "_service",
        "_sleeper",
        "_tail",
        "_target_seq",
        "_user_id",
        "_waiters",
        "_waiting",
        "deadline",
        "future",
    )

    def __init__(
        self,
        service: Service,
        waiters: ChannelWaiters,
        encoded: EncodedAnswers,
        tail: str,
        *,
        sleeper: Sleeper | None = None,
    ) -> None:
        super().__init__()
        self._service = service
        self._waiters = waiters
        self._encoded = encoded
        self._sleeper = sleeper
        self._tail = tail
        self._user_id: UserId | None = None
        self._target_seq: int | None = None
        self._waiting = False  # holds a waiter slot
        self.future: asyncio.Future[None] | None = None
        self.deadline = 0.0

    def reset(self, tail: str) -> None:
        """Make this (closed) poll the next one, for ``tail``, as if just made."""
        assert not self._waiting, "reset before close"
        self.state = PollState.START
        self._tail = tail
        self._user_id = None
        self._target_seq = None
        self.future = None
        self.deadline = 0.0

    async def start(self, session: SignedIn | None, c_user: str | None) -> PollReply | None:
        """The first answer, or None: wait (for ``future``, or ``sleeper.woken()``) until the hold ends."""
        target = parse_poll_path(self._tail)
        signed = (
            target is not None
            and session is not None
            and session.user.id == target.uid
            and parse_user_id(c_user) == target.uid
        )
        if not signed:
            self.step(PollInput.NOT_SIGNED_IN)
            return PollReply(refresh_body(), refused=True)
        assert target is not None and session is not None
        user_id = self._user_id = session.user.id
        self._target_seq = target.seq
        try:
            await self._service.presence.touch(user_id, Activity.ACTIVE if target.active else Activity.SEEN)
        except Exception:  # presence is best effort; the poll is answered regardless
            log.exception("could not record presence")
        self.deadline = time.monotonic() + hold_seconds(self._service.settings)
        # The slot and the wake-up before the read: an entry committed after it wakes this poll.
        self._waiting = self._waiters.acquire(user_id)
        if self._waiting:
            self._arm(user_id)
        read = await self._read()
        position = self._classify(read)
        if position is PollInput.NEXT and not self._waiting:
            position = PollInput.NO_ROOM  # over a waiter bound: answered ``continue`` at once
        return self._answer(self.step(position), read)

    async def woken(self) -> PollReply | None:
        """After a wake-up: the answer, or None to wait again (for the new ``future``)."""
        assert self._user_id is not None
        self.step(PollInput.WOKEN)
        self._arm(self._user_id)  # before the read, as in ``start``
        read = await self._read()
        return self._answer(self.step(self._classify(read)), read)

    def expired(self) -> PollReply:
        answer = self.step(PollInput.EXPIRED)
        assert answer is Answer.CONTINUE
        return PollReply(continue_body())

    def gone(self) -> None:
        """The client left while the poll was held: nothing is answered."""
        self.step(PollInput.GONE)

    def close(self) -> None:
        if self._waiting:
            self._waiting = False
            assert self._user_id is not None
            if self._sleeper is not None:
                self._waiters.unsleep(self._user_id, self._sleeper)
            self._waiters.release(self._user_id)
        self.future = None

    def _arm(self, user_id: UserId) -> None:
        if self._sleeper is None:
            self.future = self._waiters.current(user_id)
        else:
            self._waiters.sleep(user_id, self._sleeper)

    async def _read(self) -> ChannelRead:
        assert self._user_id is not None
        seq = self._target_seq
        return await self._service.direct.read_channel(self._user_id, seq if seq is not None else -1)

    def _classify(self, read: ChannelRead) -> PollInput:
        return self.classify(self._target_seq, read.head.first_seq, read.head.next_seq)

    def _answer(self, answer: Answer, read: ChannelRead) -> PollReply | None:
        if answer is Answer.WAIT:
            return None
        if answer is Answer.CONTINUE:
            return PollReply(continue_body())
        if answer is Answer.REFRESH_SEQ or read.entry is None:
            return PollReply(refresh_body(read.head.next_seq))
        assert self._user_id is not None
        now = self._service.context.clock.now()
        key = (int(self._user_id), read.entry.seq, read.entry.lapsed(now))
        data = self._encoded.get(key)
        if data is None:
            data = msg_body(self._user_id, entry_object(read.entry, now))
            self._encoded.put(key, data)
        return PollReply(data)
