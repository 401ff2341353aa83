"""gateway/mask_check.py: frame boundaries followed through any split of the bytes, no socket."""

from __future__ import annotations

import asyncio

import pytest
from websocket import ABNF

from hubbub.gateway.mask_check import MaskCheck


class Inner(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = bytearray()

    def data_received(self, data: bytes) -> None:
        self.received += data


def frame(size: int, *, masked: bool = True, opcode: int = ABNF.OPCODE_TEXT) -> bytes:
    return ABNF(fin=1, opcode=opcode, mask_value=int(masked), data="x" * size).format()


GOOD = b"".join(frame(size) for size in (0, 5, 125, 126, 1000, 65_535, 65_536, 70_000))
GOOD += frame(3, opcode=ABNF.OPCODE_PING) + frame(0, opcode=ABNF.OPCODE_CLOSE)


def splits(data: bytes) -> list[list[bytes]]:
    """The whole stream at once and in pieces of a few sizes (primes, so that every header is cut
    somewhere); the frames with short payloads also byte by byte."""
    pieces = [[data]]
    pieces += [[data[i : i + step] for i in range(0, len(data), step)] for step in (3, 7, 127, 4099)]
    short = data[: len(b"".join(frame(size) for size in (0, 5, 125, 126, 1000)))]
    pieces.append([short[i : i + 1] for i in range(len(short))] + [data[len(short) :]])
    return pieces


def feed(pieces: list[bytes]) -> tuple[Inner, MaskCheck, int]:
    inner = Inner()
    check = MaskCheck(inner)
    calls: list[None] = []
    check.on_unmasked(lambda: calls.append(None))
    for piece in pieces:
        check.data_received(piece)
    return inner, check, len(calls)


@pytest.mark.parametrize("pieces", splits(GOOD), ids=lambda p: f"{len(p)}-pieces")
def test_masked_frames_pass_unchanged_whatever_the_split(pieces: list[bytes]) -> None:
    inner, check, calls = feed(pieces)
    assert bytes(inner.received) == GOOD
    assert (check.unmasked, calls) == (False, 0)


@pytest.mark.parametrize("size", [0, 5, 126, 70_000])
@pytest.mark.parametrize("split", range(6))
def test_nothing_from_an_unmasked_frame_on_reaches_the_inner_protocol(size: int, split: int) -> None:
    stream = GOOD + frame(size, masked=False) + frame(5)
    inner, check, calls = feed(splits(stream)[split])
    # The bad frame's first byte may have been passed on before its second (the MASK bit) arrived.
    assert bytes(inner.received) in (GOOD, stream[: len(GOOD) + 1])
    assert (check.unmasked, calls) == (True, 1)


def test_a_callback_set_after_the_violation_is_called_at_once() -> None:
    inner = Inner()
    check = MaskCheck(inner)
    check.data_received(frame(3, masked=False))
    calls: list[None] = []
    check.on_unmasked(lambda: calls.append(None))
    assert calls == [None]
    assert inner.received == b""
