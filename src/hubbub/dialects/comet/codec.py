"""Sans-I/O codec for the comet dialect: 2008 Facebook Chat's long poll and form posts.

Spec: shared/protocol/comet.md (§C.10 is normative), seed shared/seeds/004_2d9714855db97060.txt;
decisions in docs/dialects/comet.md. Every JSON body is the 9 bytes ``for (;;);`` followed by
compact, ASCII-escaped JSON whose keys come in the order the seed shows, ``t`` first. A long
poll is a read at a cursor on the user's channel (``PollSession``, a state machine as a table);
a ``msg`` answer carries exactly one entry. The HTML pages are ``markup.py``'s. No I/O here:
routes.py moves the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from hubbub.core.direct import ChannelEntry, ChannelKind, DirectPayload, TypingPayload
from hubbub.core.events import EventType
from hubbub.core.ids import UserId
from hubbub.errors import LocalError

__all__ = [
    "CHANNEL",
    "CONTENT_TYPE",
    "MAX_FIELD_DIGITS",
    "PREFIX",
    "TRANSITIONS",
    "Answer",
    "BuddyInfo",
    "CometError",
    "ErrorCode",
    "PollInput",
    "PollSession",
    "PollState",
    "PollTarget",
    "SendForm",
    "TypingForm",
    "body",
    "buddy_list_body",
    "continue_body",
    "entry_object",
    "error_body",
    "msg_body",
    "parse_bool",
    "parse_poll_path",
    "parse_send",
    "parse_typing",
    "parse_user_id",
    "reconnect_body",
    "refresh_body",
    "success_body",
]

PREFIX: Final = b"for (;;);"
CONTENT_TYPE: Final = "application/x-javascript"  # charset=utf-8 is added by the response
CHANNEL: Final = "channel01"  # every session's channel token (any Host reaches any node's poll)
MAX_FIELD_DIGITS: Final = 20  # msg_id is a signed decimal of up to 20 digits; so are uid, seq, time


def body(value: Mapping[str, Any]) -> bytes:
    """``for (;;);`` + compact JSON, non-ASCII as ``\\uXXXX``, keys in the order given."""
    return PREFIX + json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# --- the long poll ------------------------------------------------------------------------------

_CHANNEL_SEGMENT: Final = re.compile(r"p_([0-9]{1,18})=(.*)")
_DECIMAL: Final = re.compile(r"-?[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class PollTarget:
    """What a poll path asks for: ``uid``'s channel at ``seq`` (None: not a number), and whether
    path segment 3 says the client is active (pidgin: ``true`` when not idle)."""

    uid: UserId
    seq: int | None
    active: bool


def parse_poll_path(tail: str) -> PollTarget | None:
    """``<any>/<any>/p_<uid>=<seq>`` (the part after ``/x/``); later clients put one more segment
    before the last. None for anything else (answered ``refresh``)."""
    segments = tail.split("/")
    if not 3 <= len(segments) <= 4:
        return None
    match = _CHANNEL_SEGMENT.fullmatch(segments[-1])
    if match is None:
        return None
    raw_seq = match.group(2)
    seq = int(raw_seq) if _DECIMAL.fullmatch(raw_seq) else None
    return PollTarget(UserId(int(match.group(1))), seq, segments[-2] == "true")


class PollState(Enum):
    START = "start"  # the request came in; nothing decided
    WAITING = "waiting"  # held until entry ``seq`` exists or the hold ends
    DONE = "done"  # answered


class PollInput(Enum):
    """What the route learns, each time it looks: about the session, the seq, the wait."""

    NOT_SIGNED_IN = "not-signed-in"  # no session, or the path's uid is not the session's user
    OUT_OF_RANGE = "out-of-range"  # seq < 0, not a number, beyond the next seq, or trimmed
    KEPT = "kept"  # first_seq <= seq < next_seq: the entry is there
    NEXT = "next"  # seq == next_seq: not yet written
    NO_ROOM = "no-room"  # NEXT, but the waiter bounds are full
    WOKEN = "woken"  # something for this user was delivered; look again
    EXPIRED = "expired"  # the hold ended
    GONE = "gone"  # the client closed the connection while it waited


class Answer(Enum):
    REFRESH = "refresh"  # {"t":"refresh"}: sign in again
    REFRESH_SEQ = "refresh-seq"  # {"t":"refresh","seq":C}: adopt C
    MSG = "msg"  # the one entry at seq
    CONTINUE = "continue"  # nothing yet: poll again with the same seq
    WAIT = "wait"  # hold the request


# (state, input) -> (next state, answer). A client whose seq is valid never gets REFRESH_SEQ
# (Kopete drops a session that does, §C.3): NEXT waits, KEPT answers.
TRANSITIONS: Final[Mapping[tuple[PollState, PollInput], tuple[PollState, Answer]]] = {
    (PollState.START, PollInput.NOT_SIGNED_IN): (PollState.DONE, Answer.REFRESH),
    (PollState.START, PollInput.OUT_OF_RANGE): (PollState.DONE, Answer.REFRESH_SEQ),
    (PollState.START, PollInput.KEPT): (PollState.DONE, Answer.MSG),
    (PollState.START, PollInput.NEXT): (PollState.WAITING, Answer.WAIT),
    (PollState.START, PollInput.NO_ROOM): (PollState.DONE, Answer.CONTINUE),
    (PollState.WAITING, PollInput.NEXT): (PollState.WAITING, Answer.WAIT),
    (PollState.WAITING, PollInput.WOKEN): (PollState.WAITING, Answer.WAIT),
    (PollState.WAITING, PollInput.KEPT): (PollState.DONE, Answer.MSG),
    (PollState.WAITING, PollInput.EXPIRED): (PollState.DONE, Answer.CONTINUE),
    # Nobody reads this answer; ending the wait frees the waiter's place in the bounds.
    (PollState.WAITING, PollInput.GONE): (PollState.DONE, Answer.CONTINUE),
    # Retention trimmed past a waiting seq: only a channel of more entries than retention keeps
    # written during one hold can do that; the client adopts the new seq.
    (PollState.WAITING, PollInput.OUT_OF_RANGE): (PollState.DONE, Answer.REFRESH_SEQ),
}


class PollSession:
    """One long-poll request's progress through ``TRANSITIONS``."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = PollState.START

    def step(self, event: PollInput) -> Answer:
        """Raises: LocalError for an input the table does not allow in this state (a route bug)."""
        try:
            self.state, answer = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise LocalError(f"comet poll: {event.name} while {self.state.name}") from None
        return answer

    @staticmethod
    def classify(seq: int | None, first_seq: int, next_seq: int) -> PollInput:
        """Where ``seq`` lies in a channel holding ``first_seq .. next_seq - 1``."""
        if seq is None or seq < first_seq or seq > next_seq:
            return PollInput.OUT_OF_RANGE
        return PollInput.NEXT if seq == next_seq else PollInput.KEPT


def refresh_body(seq: int | None = None) -> bytes:
    return body({"t": "refresh"} if seq is None else {"t": "refresh", "seq": seq})


def continue_body() -> bytes:
    return body({"t": "continue"})


def _first_name(name: str) -> str:
    words = name.split(maxsplit=1)
    return words[0] if words else name


def _msg_id(payload: DirectPayload) -> str:
    """The sender's ``msg_id`` as sent; hubbub's message id for a message sent without a decimal one."""
    client_id = payload.client_id
    return client_id if client_id is not None and _DECIMAL.fullmatch(client_id) else str(payload.message_id)


def entry_object(entry: ChannelEntry, now: float) -> dict[str, Any]:
    """One ``ms`` item (§C.4) in the seed's key order; a lapsed typing notice reads ``st`` 0."""
    event = entry.event
    sender = int(event.user_id or 0)
    recipient = int(event.target_user_id or 0)
    if entry.kind is ChannelKind.TYPING and event.type is EventType.TYPING:
        typing = TypingPayload.of(event).typing and not entry.lapsed(now)
        return {"type": "typ", "st": int(typing), "from": sender, "to": recipient}
    payload = DirectPayload.of(event)
    from_name = event.user_name or ""
    return {
        "type": "msg",
        "msg": {
            "text": payload.text,
            "time": payload.sent_ms,
            "clientTime": payload.sent_ms if payload.client_time is None else payload.client_time,
            "msgID": _msg_id(payload),
        },
        "from": sender,
        "to": recipient,
        "from_name": from_name,
        "to_name": payload.to_name,
        "from_first_name": _first_name(from_name),
        "to_first_name": _first_name(payload.to_name),
    }


def msg_body(uid: UserId, item: Mapping[str, Any]) -> bytes:
    """``{"t":"msg","c":"p_<uid>","ms":[item]}``: exactly one entry (§C.3)."""
    return body({"t": "msg", "c": f"p_{int(uid)}", "ms": [item]})


# --- the form endpoints -------------------------------------------------------------------------


class ErrorCode(Enum):
    """Error envelopes of §C.5-C.6: (code, errorSummary, errorDescription, carries errorIsWarning)."""

    NOT_LOGGED_IN = (1357001, "Not Logged In", "You must be logged in to do that.", False)
    CSRF = (1357004, "Page expired", "Please refresh the page and try again.", False)
    LOGIN_CHANGED = (1357003, "Login changed", "You have logged in as another user. Please refresh the page.", False)
    OFFLINE = (1356003, "Send destination not online", "This person is no longer online.", False)
    UNEXPECTED = (1356004, "Unexpected error", "An unexpected error occurred. Please try again.", True)
    TOO_MANY = (1356008, "Too many messages", "You are sending messages too quickly. Please wait and try again.", True)


@dataclass(frozen=True, slots=True)
class CometError(Exception):
    """A refused comet request, answered with ``error_body(code)``; nothing was changed."""

    code: ErrorCode


def error_body(code: ErrorCode) -> bytes:
    number, summary, description, warning = code.value
    envelope: dict[str, Any] = {"error": number, "errorSummary": summary, "errorDescription": description}
    if warning:
        envelope["errorIsWarning"] = False
    envelope["payload"] = None
    return body(envelope)


def _success(payload: Any) -> dict[str, Any]:
    return {"error": 0, "errorSummary": "", "errorDescription": "No error.", "payload": payload}


def success_body() -> bytes:
    """``{"error":0,"errorSummary":"","errorDescription":"No error.","payload":[]}`` (§C.10 item 7)."""
    return body(_success([]))


def reconnect_body(seq: int) -> bytes:
    return body(_success({"host": CHANNEL, "seq": seq}))


def _decimal(form: Mapping[str, str], name: str, *, required: bool = True, int64: bool = False) -> int | None:
    raw = form.get(name)
    if raw is None or raw == "":
        if required:
            raise CometError(ErrorCode.UNEXPECTED)
        return None
    if _DECIMAL.fullmatch(raw.strip()) is None:
        raise CometError(ErrorCode.UNEXPECTED)
    value = int(raw.strip())
    if int64 and not -(2**63) <= value < 2**63:  # stored as a 64-bit integer
        raise CometError(ErrorCode.UNEXPECTED)
    return value


def parse_user_id(raw: str | None) -> UserId | None:
    """A decimal user id (the ``to`` field, the ``c_user`` cookie), or None."""
    if raw is None or re.fullmatch(r"[0-9]{1,18}", raw.strip()) is None:
        return None
    return UserId(int(raw.strip()))


def parse_bool(raw: str | None) -> bool | None:
    """``1``/``true`` and ``0``/``false`` (clients send both); None for anything else."""
    if raw is None:
        return None
    return {"1": True, "true": True, "0": False, "false": False}.get(raw.strip().lower())


@dataclass(frozen=True, slots=True)
class SendForm:
    to: UserId
    text: str
    msg_id: str  # the decimal as sent (signed, up to 20 digits): the idempotency key
    client_time: int | None  # seconds or milliseconds, carried as sent


def parse_send(form: Mapping[str, str]) -> SendForm:
    """``msg_text``, ``msg_id``, ``to``, ``client_time`` (§C.5).

    Raises:
        CometError: UNEXPECTED (1356004) for a missing or malformed field.
    """
    to = parse_user_id(form.get("to"))
    text = form.get("msg_text")
    msg_id = _decimal(form, "msg_id")
    client_time = _decimal(form, "client_time", required=False, int64=True)
    if to is None or text is None or msg_id is None:
        raise CometError(ErrorCode.UNEXPECTED)
    return SendForm(to=to, text=text, msg_id=str(msg_id), client_time=client_time)


@dataclass(frozen=True, slots=True)
class TypingForm:
    to: UserId
    typing: bool


def parse_typing(form: Mapping[str, str]) -> TypingForm:
    """``typ`` (0/1) and ``to`` (§C.1). Raises: CometError UNEXPECTED."""
    to = parse_user_id(form.get("to"))
    typing = parse_bool(form.get("typ"))
    if to is None or typing is None:
        raise CometError(ErrorCode.UNEXPECTED)
    return TypingForm(to=to, typing=typing)


# --- the buddy list -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuddyInfo:
    uid: UserId
    name: str
    thumb_src: str


def buddy_list_body(
    *,
    available: Mapping[UserId, bool],
    previous: Mapping[UserId, bool] | None,
    infos: Sequence[BuddyInfo],
    time_ms: int,
    inbox_count: int | None,
) -> bytes:
    """§C.7: the full ``nowAvailableList`` (uid -> idle), ``listChanged`` when the available set
    or an idle flag differs from this session's previous answer (always on the first),
    ``wasAvailableIDs`` = available then and not now, ``userInfos`` for every contact."""
    ordered = sorted(available)
    buddy_list: dict[str, Any] = {
        "listChanged": previous is None or dict(previous) != dict(available),
        "availableCount": len(ordered),
        "nowAvailableList": {str(int(uid)): {"i": available[uid]} for uid in ordered},
        "wasAvailableIDs": sorted(int(uid) for uid in (previous or {}) if uid not in available),
        "userInfos": {
            str(int(info.uid)): {
                "name": info.name,
                "firstName": _first_name(info.name),
                "thumbSrc": info.thumb_src,
                "status": None,
                "statusTime": 0,
                "statusTimeRel": "",
            }
            for info in sorted(infos, key=lambda i: i.uid)
        },
        "forcedRender": True,
    }
    payload: dict[str, Any] = {"buddy_list": buddy_list}
    if inbox_count is not None:
        payload["notifications"] = {"inboxCount": inbox_count}
    payload["time"] = time_ms
    return body(_success(payload))
