"""The HTTP port's connections, as long as they carry comet long polls: answered here, not by aiohttp.

A comet client holds one poll (``GET /x/<any>/<any>/p_<uid>=<seq>``) open all the time, for up
to 55 s each. Through aiohttp each held poll kept a request object, its headers, a handler task
and the frames of the middleware chain: about 21 KiB and ~100 objects the garbage collector
walks on every full collection (bench/longpoll.py). A ``PollConnection`` is the connection's
protocol from its first byte instead:

- while the connection's requests are polls, each head is parsed by httptools (framed at its
  blank line: a poll has no body), the ``acct`` session looked up, and the poll driven by
  ``dialects.comet.polling.ChannelPoll`` — the same rules as aiohttp's route; while it waits it
  holds no task, no future and no timer: the connection is registered as its user's sleeper in
  ``ChannelWaiters`` and held in the port's ``HoldWheel`` (``web.poll_holds``), and the one
  ``ChannelPoll`` it keeps serves each of its polls in turn;
- the first request that is anything else hands the connection, with every byte read so far,
  to a ``GuardedRequestHandler`` (aiohttp) for good; this protocol then only passes the
  transport's calls through.

The HTTP port's protections hold here too: the per-address connection cap (counted once,
passed on at the hand-over), the head timeout (408), the keep-alive idle timeout, a bounded head
(431) and no pipelined bytes beyond one head while a poll is held. Polls are answered on any
``Host`` (the channel hosts are a wildcard, comet.md §C.1).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final, cast
from urllib.parse import unquote

import httptools

from hubbub.cookie_header import parse_cookies
from hubbub.core.addresses import AddressCounts
from hubbub.dialects.comet.codec import CONTENT_TYPE, PollState
from hubbub.dialects.comet.pages import USER_COOKIE
from hubbub.dialects.comet.polling import ChannelPoll, EncodedAnswers, PollReply, hold_range
from hubbub.dialects.comet.routes import POLL_HEADERS, POLL_PREFIX
from hubbub.dialects.sechat.http import SESSION_COOKIE
from hubbub.fanout.channels import ChannelWaiters
from hubbub.service.service import Service
from hubbub.web.poll_holds import HoldWheel
from hubbub.web.port_limits import HttpLimits, admit, plain_response

__all__ = ["MAX_HEAD_BYTES", "PollConnection", "PollPort"]

log = logging.getLogger("hubbub.comet")

MAX_HEAD_BYTES: Final = 16 * 1024  # aiohttp's own limits allow 8 KiB a line; a poll's head is far smaller
_POLL_START: Final = b"GET " + POLL_PREFIX.encode()
_BLANK_LINE: Final = b"\r\n\r\n"
# The context a connection's timer callbacks run in: hubbub sets no context variables, and a copy
# of the current context for each would be one more object for the collector.
_NO_CONTEXT: Final = contextvars.Context()


_BAD_REQUEST: Final = plain_response("400 Bad Request", "Bad Request: this is not a request a comet poll can be")
_HEAD_TOO_LARGE: Final = plain_response("431 Request Header Fields Too Large", "Request Header Fields Too Large")
_TIMED_OUT: Final = plain_response("408 Request Timeout", "The request head did not arrive in time")
_SERVER_ERROR: Final = plain_response("500 Internal Server Error", "Internal Server Error")
_POLL_HEAD: Final = "".join(
    [
        "HTTP/1.1 200 OK\r\n",
        f"Content-Type: {CONTENT_TYPE}; charset=utf-8\r\n",
        *(f"{name}: {value}\r\n" for name, value in POLL_HEADERS.items()),
        "X-Content-Type-Options: nosniff\r\n",
    ]
).encode()


def _answer(reply: PollReply, *, keep_alive: bool) -> bytes:
    tail = b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"
    return b"%sContent-Length: %d\r\n%s%s" % (_POLL_HEAD, len(reply.body), tail, reply.body)


class _Head:
    """One request head, as httptools parses it (its callbacks)."""

    __slots__ = ("body", "cookie", "keep_alive", "parser", "url")

    def __init__(self) -> None:
        self.url = b""
        self.cookie = ""
        self.body = False
        self.keep_alive = False
        self.parser = httptools.HttpRequestParser(self)

    def on_headers_complete(self) -> None:
        # Asked here: once the message is complete the parser has begun the next one and forgotten
        # this one's Connection header.
        self.keep_alive = self.parser.should_keep_alive()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"cookie":
            self.cookie = f"{self.cookie}; {value.decode('latin-1')}" if self.cookie else value.decode("latin-1")
        elif lowered == b"transfer-encoding" or (lowered == b"content-length" and value.strip() != b"0"):
            self.body = True


class PollPort:
    """What the poll connections of one HTTP port answer with, and every one of them still open."""

    def __init__(self, service: Service, waiters: ChannelWaiters, encoded: EncodedAnswers) -> None:
        self.service = service
        self.waiters = waiters
        self.encoded = encoded
        self.open: set[PollConnection] = set()
        self.holds = HoldWheel()
        self.hold_range = hold_range(service.settings)

    def connection(self, limits: HttpLimits, counts: AddressCounts, handover: Handover) -> PollConnection:
        """The protocol for one accepted connection (``GuardedSite`` asks)."""
        return PollConnection(self, limits=limits, counts=counts, handover=handover)

    def close_all(self) -> None:
        """Shutting down: close every connection still serving polls (held ones get no answer)."""
        for connection in list(self.open):
            connection.close()
        self.holds.close()


# Makes aiohttp's protocol for a connection taken over mid-way: (transport, its counted address).
Handover = Callable[[asyncio.Transport, "str | None"], asyncio.Protocol]


class PollConnection(asyncio.Protocol):
    """One accepted connection of the HTTP port; see the module docstring."""

    __slots__ = (
        "_address",
        "_buffer",
        "_channel",
        "_closed",
        "_counts",
        "_handover",
        "_hold",
        "_idle",
        "_inner",
        "_keep_alive",
        "_limits",
        "_poll",
        "_port",
        "_rewoken",
        "_task",
        "_timer",
        "transport",
    )

    def __init__(self, port: PollPort, *, limits: HttpLimits, counts: AddressCounts, handover: Handover) -> None:
        self._port = port
        self._limits = limits
        self._counts = counts
        self._address: str | None = None  # counted against the per-address cap; passed on at the hand-over
        self._handover = handover
        self._idle = False  # between requests, on the keep-alive clock
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._inner: asyncio.Protocol | None = None
        self._channel: ChannelPoll | None = None  # the poll being answered
        self._poll: ChannelPoll | None = None  # kept between polls, to serve the next one
        self._task: asyncio.Task[None] | None = None  # while it reads the store
        self._rewoken = False  # woken while the task read: read again rather than wait
        self._hold = 0  # the tick of the port's HoldWheel the poll's hold ends on
        self._timer: asyncio.TimerHandle | None = None  # head or keep-alive, whichever applies
        self._keep_alive = True
        self._closed = False

    # the transport's calls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        admitted, self._address = admit(transport, self._limits, self._counts)
        if not admitted:
            self._closed = True  # refused before anything is read
            return
        self._port.open.add(self)
        self._set_timer(self._limits.head_timeout, self._head_timed_out)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        self._buffer += data
        if self._channel is None:
            self._next_request()
        elif len(self._buffer) > MAX_HEAD_BYTES:
            self._fail(_HEAD_TOO_LARGE)  # pipelined bytes behind a held poll, without bound

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        return None  # the transport closes; a held poll is let go in connection_lost

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)
            return
        self._closed = True
        self._port.open.discard(self)
        self._cancel_timer()
        channel, self._channel = self._channel, None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()  # it was reading the store for this poll: nobody is left to answer
        elif channel is not None and channel.state is PollState.WAITING:
            self._port.holds.discard(self._hold, self)
            channel.gone()  # it was held
        if channel is not None:
            channel.close()
        self._poll = None  # (it refers back to this connection, its sleeper)
        self._release_address()

    def close(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.close()

    # requests

    def _next_request(self) -> None:
        """Serve the next head in the buffer if it is a poll's; hand anything else to aiohttp."""
        buffer = self._buffer
        while buffer[:2] == b"\r\n":  # empty lines before a request line begin nothing (RFC 9112 §2.2)
            del buffer[:2]
        if not buffer:
            return
        if self._idle:
            self._idle = False
            self._set_timer(self._limits.head_timeout, self._head_timed_out)  # a head has begun: its own time
        if not buffer.startswith(_POLL_START[: len(buffer)]):
            self._hand_over()
            return
        end = buffer.find(_BLANK_LINE)
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                self._fail(_HEAD_TOO_LARGE)
            return
        raw = bytes(buffer[: end + len(_BLANK_LINE)])
        if len(buffer) == len(raw):
            self._buffer = bytearray()  # not the emptied one: it keeps its allocation for the poll's life
        else:
            del buffer[: end + len(_BLANK_LINE)]
        head = _Head()
        try:
            head.parser.feed_data(raw)
        except httptools.HttpParserUpgrade:
            self._buffer[:0] = raw  # an upgrade is no poll: aiohttp answers it
            self._hand_over()
            return
        except httptools.HttpParserError:
            self._fail(_BAD_REQUEST)
            return
        if head.body:
            self._fail(_BAD_REQUEST)  # framed at its blank line, a poll cannot carry a body
            return
        self._keep_alive = head.keep_alive
        self._cancel_timer()
        path = unquote(httptools.parse_url(head.url).path.decode("latin-1"))
        tail = path[len(POLL_PREFIX) :]
        port = self._port
        low, high = port.hold_range
        now = time.monotonic()
        self._hold = port.holds.tick_between(now + low, now + high)  # counted from the head's arrival
        channel = self._poll
        if channel is None:
            channel = self._poll = ChannelPoll(port.service, port.waiters, port.encoded, tail, sleeper=self)
        else:
            channel.reset(tail)
        # Taken now, not in the task: bytes that arrive before it runs must wait behind this poll.
        self._channel = channel
        self._rewoken = False
        self._task = asyncio.get_running_loop().create_task(self._start(channel, parse_cookies(head.cookie)))

    async def _start(self, channel: ChannelPoll, cookies: dict[str, str]) -> None:
        port = self._port

        async def first() -> PollReply | None:
            token = cookies.get(SESSION_COOKIE)
            session = await port.service.accounts.signed_in(token) if token else None
            return await channel.start(session, cookies.get(USER_COOKIE))

        await self._step(first())

    async def _step(self, step: Coroutine[Any, Any, PollReply | None]) -> None:
        """Run one step of the poll (its first read, or the read after a wake-up), then go on."""
        try:
            reply = await step
        except Exception:
            log.exception("a comet poll failed")
            self._task = None
            self._fail(_SERVER_ERROR)
            return
        self._task = None
        self._go_on(reply)

    def _go_on(self, reply: PollReply | None) -> None:
        channel = self._channel
        if self._closed or channel is None:
            return
        if reply is not None:
            self._reply(reply)
        elif self._rewoken:
            self._rewoken = False  # something was delivered while it read: look again at once
            self._task = asyncio.get_running_loop().create_task(self._step(channel.woken()))
        else:
            self._port.holds.add(self._hold, self)  # (a hold whose end has passed ends at once)

    def woken(self) -> None:
        """``ChannelWaiters``: something for this poll's user was delivered (once per ``sleep``)."""
        channel = self._channel
        if self._closed or channel is None:
            return
        if self._task is not None:
            self._rewoken = True  # the task is reading: it reads again when it is done
            return
        self._port.holds.discard(self._hold, self)
        self._task = asyncio.get_running_loop().create_task(self._step(channel.woken()))

    def hold_ended(self) -> None:
        """``HoldWheel``: the held poll's hold is over."""
        channel = self._channel
        if channel is None or self._task is not None:
            return
        self._reply(channel.expired())

    def _reply(self, reply: PollReply) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
        assert self.transport is not None
        self.transport.write(_answer(reply, keep_alive=self._keep_alive))
        if not self._keep_alive:
            self.transport.close()
            return
        self._idle = True
        self._set_timer(self._limits.keepalive_timeout, self.close)
        self._next_request()  # a head that came while the poll was held

    # the hand-over and the end

    def _hand_over(self) -> None:
        """From here on aiohttp serves this connection (with the bytes read so far)."""
        assert self.transport is not None
        self._cancel_timer()
        self._port.open.discard(self)
        address, self._address = self._address, None
        inner = self._inner = self._handover(self.transport, address)
        data, self._buffer = bytes(self._buffer), bytearray()
        if data:
            inner.data_received(data)

    def _fail(self, answer: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(answer)
            self.transport.close()

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._buffer.strip(b"\r\n"):
            self._fail(_TIMED_OUT)  # part of a head came: say why
        else:
            self.close()  # nothing came (browsers open spare connections)

    def _release_address(self) -> None:
        address, self._address = self._address, None
        if address is not None:
            self._counts.release(address)

    # the one timer

    def _set_timer(self, delay: float, callback: Callable[[], None]) -> None:
        """One timer at a time: the head's or the keep-alive idle's (a hold ends on the port's
        ``HoldWheel``). A limit of 0 is no limit."""
        self._cancel_timer()
        if delay > 0:
            self._timer = asyncio.get_running_loop().call_later(delay, callback, context=_NO_CONTEXT)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
