"""A fix to py-libp2p 0.8.1's Mplex streams: reading and writing one stream at the same time.

``MplexStream`` guards reads and writes with one ``ReadWriteLock``, in which a reader holds the writer's semaphore
for as long as it waits for data. So while one task waits to read a stream, no task can write to it. Request/response
protocols never notice (they write, then read), but a circuit relay does: it pumps bytes both ways through the same
two streams, and the connection tunnelled inside runs its own reader next to its writers. Both ends then wait on each
other; the tunnelled handshake stalls until a timeout (upstream: py-libp2p issue #694, "Circuit Relay V2 stream
creation hangs").

:func:`make_mplex_full_duplex` gives each new stream two independent locks instead: readers exclude readers, writers
exclude writers, and a read never blocks a write. Applied once per process from ``build_host`` (idempotent).
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import trio

__all__ = ["DuplexLock", "make_mplex_full_duplex"]


class DuplexLock:
    """The ``read_lock()`` / ``write_lock()`` interface of py-libp2p's ReadWriteLock, with independent halves."""

    def __init__(self) -> None:
        self._read = trio.Lock()
        self._write = trio.Lock()

    @contextlib.asynccontextmanager
    async def read_lock(self) -> AsyncIterator[None]:
        async with self._read:
            yield

    @contextlib.asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        async with self._write:
            yield


def make_mplex_full_duplex() -> None:
    """Every MplexStream created from now on uses a :class:`DuplexLock` (see the module docstring)."""
    from libp2p.stream_muxer.mplex.mplex_stream import MplexStream

    if getattr(MplexStream, "_swarm_node_duplex", False):
        return
    original_init = MplexStream.__init__

    def __init__(self: MplexStream, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.rw_lock = DuplexLock()  # type: ignore[assignment]

    MplexStream.__init__ = __init__  # type: ignore[method-assign]
    MplexStream._swarm_node_duplex = True  # type: ignore[attr-defined]
