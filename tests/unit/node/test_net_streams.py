"""Length-framed request/response: bounds checked before reading, early EOF is an error."""

from __future__ import annotations

import struct

import pytest
import trio

from node.net.errors import FrameTooLarge, StreamFailed
from node.net.streams import read_frame, write_frame


class FakeStream:
    """Hands out its buffer in small pieces, as a muxed stream does."""

    def __init__(self, data: bytes = b"", piece: int = 3) -> None:
        self.buffer = data
        self.piece = piece
        self.written = b""

    async def read(self, n: int | None = None) -> bytes:
        size = min(n or self.piece, self.piece)
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    async def write(self, data: bytes) -> None:
        self.written += data


def run(coro_fn, *args):  # type: ignore[no-untyped-def]
    return trio.run(coro_fn, *args)


def test_frame_round_trip_through_small_reads() -> None:
    out = FakeStream()
    run(write_frame, out, b"hello world")
    assert out.written == struct.pack(">I", 11) + b"hello world"
    assert run(read_frame, FakeStream(out.written), 64) == b"hello world"


def test_empty_frame() -> None:
    assert run(read_frame, FakeStream(struct.pack(">I", 0)), 10) == b""


def test_oversized_frame_refused_before_reading_its_body() -> None:
    stream = FakeStream(struct.pack(">I", 1 << 30) + b"x" * 10)
    with pytest.raises(FrameTooLarge):
        run(read_frame, stream, 1 << 20)
    assert stream.buffer  # the body was never read


def test_truncated_frame_is_a_stream_failure() -> None:
    with pytest.raises(StreamFailed):
        run(read_frame, FakeStream(struct.pack(">I", 10) + b"abc"), 64)
    with pytest.raises(StreamFailed):
        run(read_frame, FakeStream(b"\x00\x00"), 64)
