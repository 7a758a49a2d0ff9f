"""What one peer may take from this node's relay over time; a peer that takes more is cut off.

py-libp2p's relay bounds each circuit (seconds, bytes) and the open circuits per reserved target, but not what one
*source* does over time: a home node could open circuit after circuit without end (each refused one still costs a
stream, a protobuf, a dial to the target), or push a fresh ``circuit_bytes`` through every new circuit, for ever,
and the relay node's bandwidth and event loop go to it instead of its own research. :class:`BoundedRelay` keeps per
source peer the circuits it asked for in the last minute and the bytes its circuits moved in the last hour; past
either limit the peer is cut off: refused (``RESOURCE_LIMIT_EXCEEDED``) and disconnected, for ``cutoff_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.pb.circuit_pb2 import HopMessage
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.protocol_buffer import StatusCode

__all__ = ["SourceBudget", "BoundedRelay"]

log = logging.getLogger(__name__)

MAX_TRACKED = 4096  # sources remembered at once (oldest forgotten first): the bookkeeping itself is bounded


@dataclass
class SourceBudget:
    """Per source peer: circuits asked for per minute, bytes relayed per hour; the cut-off peers."""

    circuits_per_minute: int = 60
    bytes_per_hour: int = 256 << 20
    cutoff_seconds: float = 600.0
    _asked: dict[ID, deque[float]] = field(default_factory=dict)
    _moved: dict[ID, deque[tuple[float, int]]] = field(default_factory=dict)
    _cut: dict[ID, float] = field(default_factory=dict)

    def cut_off(self, peer: ID, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        until = self._cut.get(peer)
        if until is not None and until <= now:
            del self._cut[peer]
            return False
        return until is not None

    def ask(self, peer: ID, now: float | None = None) -> str | None:
        """Count one circuit request; why the peer is cut off now, or None if it may go on."""
        now = time.monotonic() if now is None else now
        if self.cut_off(peer, now):
            return "cut off"
        asked = self._track(self._asked, peer)
        asked.append(now)
        while asked and asked[0] < now - 60:
            asked.popleft()
        if len(asked) > self.circuits_per_minute:
            return self._cut_now(peer, now, f"{len(asked)} circuits asked in a minute (limit "
                                            f"{self.circuits_per_minute})")
        used = self.used(peer, now)
        if used >= self.bytes_per_hour:
            return self._cut_now(peer, now, f"{used} bytes relayed in an hour (limit {self.bytes_per_hour})")
        return None

    def charge(self, peer: ID, nbytes: int, now: float | None = None) -> None:
        """Bytes one of ``peer``'s circuits moved (both directions)."""
        now = time.monotonic() if now is None else now
        self._track(self._moved, peer).append((now, nbytes))

    def used(self, peer: ID, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        moved = self._moved.get(peer)
        while moved and moved[0][0] < now - 3600:
            moved.popleft()
        return sum(n for _, n in moved or ())

    def _cut_now(self, peer: ID, now: float, why: str) -> str:
        self._cut[peer] = now + self.cutoff_seconds
        while len(self._cut) > MAX_TRACKED:
            self._cut.pop(next(iter(self._cut)))
        log.warning("relay: %s cut off for %.0f s: %s", peer, self.cutoff_seconds, why)
        return why

    @staticmethod
    def _track(table: dict[ID, Any], peer: ID) -> Any:
        if peer not in table:
            while len(table) >= MAX_TRACKED:
                table.pop(next(iter(table)))
            table[peer] = deque()
        return table[peer]


class BoundedRelay(CircuitV2Protocol):  # type: ignore[misc]
    """py-libp2p's relay (HOP) with a :class:`SourceBudget` in front of every CONNECT."""

    def __init__(self, *args: Any, budget: SourceBudget, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self._sources: dict[INetStream, list[int] | None] = {}  # a circuit source's HOP stream -> bytes left

    async def _handle_connect(self, stream: INetStream, msg: HopMessage) -> None:
        source = stream.muxed_conn.peer_id
        why = self.budget.ask(source)
        if why is not None:
            await self._send_status(stream, StatusCode.RESOURCE_LIMIT_EXCEEDED, f"cut off by this relay: {why}")
            with trio.move_on_after(2):
                await stream.reset()
            with trio.move_on_after(5):
                try:
                    await self.host.disconnect(source)
                except Exception as exc:
                    log.debug("relay: disconnecting %s: %r", source, exc)
            return
        self._sources[stream] = None
        try:
            await super()._handle_connect(stream, msg)  # returns once the circuit is over, both directions
        finally:
            left = self._sources.pop(stream, None)
            if left is not None:
                self.budget.charge(source, max(0, self.limits.data - left[0]))

    async def _relay_data(self, src: Any, dst: Any, peer_id: ID, deadline: float | None = None,
                          circuit_data_limit: list[int] | None = None) -> None:
        if src in self._sources and circuit_data_limit is not None:
            self._sources[src] = circuit_data_limit  # the circuit's shared remaining-bytes counter
        await super()._relay_data(src, dst, peer_id, deadline, circuit_data_limit)
