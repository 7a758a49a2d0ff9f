"""Length-framed request/response: bounds checked before reading, early EOF is an error."""

from __future__ import annotations

import struct

import pytest
import trio

from node.net.errors import FrameTooLarge, StreamFailed
from node.net.streams import read_frame, serve, write_frame


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


class FakePeer:
    def to_base58(self) -> str:
        return "peer-a"


class FakeConn:
    peer_id = FakePeer()


class ServedStream(FakeStream):
    muxed_conn = FakeConn()

    def __init__(self, data: bytes) -> None:
        super().__init__(data, piece=1 << 20)
        self.closed = self.was_reset = False

    async def close(self) -> None:
        self.closed = True

    async def reset(self) -> None:
        self.was_reset = True


class FakeHost:
    def __init__(self) -> None:
        self.handlers: dict[str, object] = {}

    def set_stream_handler(self, protocol: str, handler: object) -> None:
        self.handlers[protocol] = handler


def served(admit: bool = True) -> tuple[FakeHost, list[tuple[str, str]]]:
    host, blamed = FakeHost(), []

    async def echo(remote: str, data: bytes) -> bytes:
        if data == b"bad":
            from protocol import MalformedMessage
            raise MalformedMessage("not msgpack")
        return remote.encode() + b":" + data

    serve(host, "/t/1", echo, max_request=64, timeout=5, limit=trio.Semaphore(2),  # type: ignore[arg-type]
          admit=lambda peer: admit, blame=lambda peer, why: blamed.append((peer, why)))
    return host, blamed


def test_serve_answers_and_closes() -> None:
    host, blamed = served()
    stream = ServedStream(struct.pack(">I", 2) + b"hi")
    trio.run(host.handlers["/t/1"], stream)  # type: ignore[arg-type]
    assert stream.written == struct.pack(">I", 9) + b"peer-a:hi" and stream.closed and not blamed


def test_serve_blames_malformed_and_oversized_and_resets() -> None:
    host, blamed = served()
    for payload in (struct.pack(">I", 3) + b"bad", struct.pack(">I", 1 << 20)):
        stream = ServedStream(payload)
        trio.run(host.handlers["/t/1"], stream)  # type: ignore[arg-type]
        assert stream.was_reset and stream.written == b""
    assert [peer for peer, _ in blamed] == ["peer-a", "peer-a"]


def test_serve_refuses_peers_not_admitted() -> None:
    host, blamed = served(admit=False)
    stream = ServedStream(struct.pack(">I", 2) + b"hi")
    trio.run(host.handlers["/t/1"], stream)  # type: ignore[arg-type]
    assert stream.was_reset and stream.written == b"" and not blamed
