"""Request/response over one libp2p stream: length-framed, size-bounded, with deadlines.

Mplex deadlocks on full-duplex use of one stream, so every exchange is strictly: the asker writes one
frame and closes its write side; the server reads it, writes one frame and closes. A frame is a 4-byte
big-endian length and that many bytes. Every read is bounded by ``max_bytes`` before any allocation
and by a deadline.
"""

from __future__ import annotations

import logging
import struct
from typing import Awaitable, Callable

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from node.net.errors import FrameTooLarge, StreamFailed, StreamTimeout
from protocol import ProtocolError

__all__ = ["Handler", "read_frame", "write_frame", "request", "serve"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")

Handler = Callable[[str, bytes], Awaitable[bytes]]
"""A server: (remote peer id, request bytes) -> response bytes. Raising refuses (the stream is reset)."""


async def _read_exactly(stream: INetStream, n: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        try:
            chunk = await stream.read(n - got)
        except Exception as exc:  # StreamEOF, StreamReset, StreamError: all mean "gone"
            raise StreamFailed(f"stream ended after {got} of {n} bytes: {exc!r}") from exc
        if not chunk:
            raise StreamFailed(f"stream ended after {got} of {n} bytes")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


async def read_frame(stream: INetStream, max_bytes: int) -> bytes:
    """Read one frame; :class:`FrameTooLarge` before reading a body over ``max_bytes``."""
    (length,) = _HEADER.unpack(await _read_exactly(stream, _HEADER.size))
    if length > max_bytes:
        raise FrameTooLarge(f"frame of {length} bytes exceeds the bound of {max_bytes}")
    return await _read_exactly(stream, length) if length else b""


async def write_frame(stream: INetStream, data: bytes) -> None:
    """Write one frame (header and body in one write)."""
    try:
        await stream.write(_HEADER.pack(len(data)) + data)
    except Exception as exc:
        raise StreamFailed(f"write failed: {exc!r}") from exc


async def _close_quietly(stream: INetStream, *, reset: bool = False) -> None:
    with trio.move_on_after(1.0):
        try:
            if reset:
                await stream.reset()
            else:
                await stream.close()
        except Exception as exc:
            log.debug("closing a stream: %r", exc)


async def request(
    host: IHost, peer: ID, protocol: str, payload: bytes, *, max_response: int, timeout: float
) -> bytes:
    """Open a stream to ``peer``, send ``payload``, return the answer; every step under ``timeout`` s."""
    with trio.move_on_after(timeout) as scope:
        try:
            stream = await host.new_stream(peer, [TProtocol(protocol)])
        except Exception as exc:
            raise StreamFailed(f"cannot open {protocol} to {peer}: {exc!r}") from exc
        try:
            await write_frame(stream, payload)
            try:
                await stream.close_write()
            except Exception as exc:
                raise StreamFailed(f"close_write failed: {exc!r}") from exc
            answer = await read_frame(stream, max_response)
        except BaseException:
            await _close_quietly(stream, reset=True)
            raise
        await _close_quietly(stream)
        return answer
    assert scope.cancelled_caught
    raise StreamTimeout(f"{protocol} to {peer} took longer than {timeout:.1f}s")


def serve(
    host: IHost,
    protocol: str,
    handler: Handler,
    *,
    max_request: int,
    timeout: float,
    limit: trio.Semaphore,
    admit: Callable[[str], bool] = lambda peer: True,
    blame: Callable[[str, str], None] = lambda peer, reason: None,
    per_peer: int = 4,
    busy: dict[str, int] | None = None,
    read_timeout: float = 2.0,
) -> None:
    """Register ``handler`` for ``protocol``; at most ``limit`` handlers run at once, each under ``timeout``.

    Per stream, the request must arrive whole within ``read_timeout`` (a request is a few KiB at most), and it is
    read before a ``limit`` slot is taken: a peer that sends half a request and waits holds only its own streams.
    One peer holds at most ``per_peer`` streams (counted in ``busy``, which callers share across protocols), so a
    slow or hostile peer cannot take every slot.

    A peer that ``admit`` refuses (blacklisted, over its rate), a request over ``max_request`` bytes, a
    slow peer or a handler error resets the stream; nothing propagates into py-libp2p. An oversized
    frame or a request the handler finds malformed (it raises ``ProtocolError`` or :class:`FrameTooLarge`)
    is reported to ``blame``.
    """

    in_flight: dict[str, int] = {} if busy is None else busy

    async def on_stream(stream: INetStream) -> None:
        remote = stream.muxed_conn.peer_id.to_base58()
        ok = False
        if in_flight.get(remote, 0) >= per_peer or not admit(remote):
            log.debug("%s from %s: not admitted", protocol, remote)
            await _close_quietly(stream, reset=True)
            return
        in_flight[remote] = in_flight.get(remote, 0) + 1
        try:
            ok = await _answer(stream, remote)
        finally:
            in_flight[remote] -= 1
            if not in_flight[remote]:
                del in_flight[remote]
        if not ok:
            log.debug("%s from %s: reset", protocol, remote)
        await _close_quietly(stream, reset=not ok)

    async def _answer(stream: INetStream, remote: str) -> bool:
        ok = False
        try:
            with trio.fail_after(min(timeout, read_timeout)):
                data = await read_frame(stream, max_request)  # the peer's own time: no shared slot held
            with trio.fail_after(timeout):
                async with limit:
                    answer = await handler(remote, data)
                await write_frame(stream, answer)
                ok = True
        except trio.TooSlowError:
            log.info("%s from %s: too slow (request under %.1fs, answer under %.1fs)", protocol, remote,
                     min(timeout, read_timeout), timeout)
        except Exception as exc:  # NodeError, ProtocolError, libp2p errors alike
            log.info("%s from %s refused: %s", protocol, remote, exc)
            if isinstance(exc, (FrameTooLarge, ProtocolError)):
                blame(remote, f"{protocol}: {type(exc).__name__}: {exc}")
        return ok

    host.set_stream_handler(TProtocol(protocol), on_stream)
