"""``ResultInbox``: results the gossip gate accepted (or a sync pulled), written to the ledger in batches.

The gate must not wait on SQLite, so an accepted result is queued here (:meth:`enqueue`) and a writer task stores
the queue in one transaction per batch, in a worker thread (a WAL checkpoint's fsync never stalls gossip forwarding
and heartbeats on the trio thread). After each write the inbox tells the gate what is now held (``mark_seen``),
keeps the per-author seq heads that answer :meth:`have_result` from memory, and hands every new result to the
listeners of :meth:`results_channel`. At shutdown :meth:`flush` writes what is still queued, on the calling thread.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import trio

from node.ledger import Ledger
from protocol import Result, Verified

__all__ = ["ResultInbox", "INBOX_CAPACITY", "WRITE_BATCH"]

log = logging.getLogger(__name__)

INBOX_CAPACITY = 20_000
WRITE_BATCH = 1_000


class ResultInbox:
    """The queue between the gossip gate (or sync) and the ledger; see the module docstring."""

    def __init__(self, ledger: Ledger, swarm_id: bytes, mark_seen: Callable[[bytes, int], None]) -> None:
        self._ledger = ledger
        self._swarm_id = swarm_id
        self._mark_seen = mark_seen
        self._send, self._recv = trio.open_memory_channel[Verified](INBOX_CAPACITY)
        self._listeners: list[trio.MemorySendChannel[Verified]] = []
        self._heads: dict[bytes, int] = {}

    def load_heads(self) -> None:
        """Read the per-author seq heads from the ledger (at start)."""
        self._heads = self._ledger.seq_vector(self._swarm_id)

    def authors(self) -> list[bytes]:
        """The authors this node holds results of."""
        return list(self._heads)

    def have_result(self, author: bytes, seq: int) -> bool:
        """In memory (the validator must not wait on SQLite): held contiguously up to the author's head."""
        return seq <= self._heads.get(author, 0)

    def results_channel(self, capacity: int = 1_000) -> trio.MemoryReceiveChannel[Verified]:
        """A channel that receives every result stored from now on (gossip, sync; not own publishes).

        A listener that falls ``capacity`` behind misses results (they are in the ledger regardless).
        """
        send, recv = trio.open_memory_channel[Verified](capacity)
        self._listeners.append(send)
        return recv

    def enqueue(self, verified: Verified) -> None:
        """Queue one result the gate accepted (never blocks; a full inbox leaves it to the next sync)."""
        try:
            self._send.send_nowait(verified)
        except trio.WouldBlock:
            log.warning("inbox full: a gossiped result waits for the next sync")

    async def writer(self) -> None:
        """Store the queue batch by batch, until cancelled."""
        async for first in self._recv:
            batch = [first]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._recv.receive_nowait())
                except trio.WouldBlock:
                    break
            await self.store_async(batch)

    async def store_async(self, batch: Sequence[Verified]) -> int:
        """Store a batch in one transaction in a worker thread; return how many were new."""
        results = [v for v in batch if isinstance(v.message, Result)]
        flags, heads = await trio.to_thread.run_sync(self._write, results)
        return self._announce(results, flags, heads)

    def flush(self) -> int:
        """Write whatever the gate accepted but the writer has not stored yet, on this thread; return the count."""
        batch: list[Verified] = []
        while True:
            try:
                batch.append(self._recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        if batch:
            results = [v for v in batch if isinstance(v.message, Result)]
            self._announce(results, *self._write(results))
        return len(batch)

    def _write(self, results: list[Verified]) -> tuple[list[bool], dict[bytes, int]]:
        """One transaction, then the new seq heads (runs in a worker thread: SQLite may fsync)."""
        flags = self._ledger.add_results(results) if results else []
        return flags, self._ledger.seq_vector(self._swarm_id)

    def _announce(self, results: list[Verified], flags: list[bool], heads: dict[bytes, int]) -> int:
        """After a write: update the gate's view and tell listeners about the results that were new."""
        self._heads = heads
        new = 0
        for verified, fresh in zip(results, flags):
            self._mark_seen(verified.author, verified.message.seq)
            if not fresh:
                continue
            new += 1
            for listener in list(self._listeners):
                try:
                    listener.send_nowait(verified)
                except trio.WouldBlock:
                    pass
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._listeners.remove(listener)
        return new
