"""Replay detection for results: which (author, seq) pairs a node has already accepted.

Results arrive out of order (gossip and sync interleave), so "seq <= highest seen" would reject honest late arrivals.
Per author the guard keeps a **floor** (every seq <= floor counts as seen) and the **set of seen seqs above it**. A seq
is a replay when it is <= floor or in the set. Accepting a seq adds it and lifts the floor over any contiguous run
(floor 3, set {5}, accept 4 -> floor 5, set {}). The set is bounded by ``window``: when it grows past that, its
smallest entries are folded into the floor, so seqs below them that never arrived are then refused as too old
(a gap of more than ``window`` results from one author is not waited for forever). Memory is O(authors x window) at
worst and O(authors) in the usual, contiguous case.

Only ``Result`` messages go through the guard: a ``Claim`` is bounded by its expiry and a ``Manifest`` by its hash.
"""

from __future__ import annotations

from typing import Mapping

from protocol.errors import MalformedMessage, Replayed

__all__ = ["ReplayGuard"]

DEFAULT_WINDOW = 4096


class ReplayGuard:
    """Per-author replay state; ``to_dict()``/``from_dict()`` persist it as JSON-friendly data keyed by author hex."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = window
        self._floor: dict[bytes, int] = {}
        self._above: dict[bytes, set[int]] = {}

    def seen(self, author: bytes, seq: int) -> bool:
        """Whether ``(author, seq)`` would be refused as a replay."""
        return seq <= self._floor.get(author, 0) or seq in self._above.get(author, ())

    def check(self, author: bytes, seq: int) -> None:
        """Raise ``Replayed`` if ``(author, seq)`` was seen (or is below the author's floor); change nothing."""
        floor = self._floor.get(author, 0)
        if seq <= floor:
            raise Replayed(f"seq {seq} of {author.hex()[:16]} is at or below its floor {floor}")
        if seq in self._above.get(author, ()):
            raise Replayed(f"seq {seq} of {author.hex()[:16]} was seen before")

    def check_and_update(self, author: bytes, seq: int) -> None:
        """Raise ``Replayed`` for a seen pair; otherwise record it as seen."""
        self.check(author, seq)
        floor = self._floor.get(author, 0)
        above = self._above.setdefault(author, set())
        if seq == floor + 1:
            floor = seq
            while floor + 1 in above:
                floor += 1
                above.discard(floor)
        else:
            above.add(seq)
            if len(above) > self.window:
                ordered = sorted(above)
                floor = ordered[len(above) - self.window - 1]
                above.difference_update(ordered[: len(above) - self.window])
                while floor + 1 in above:
                    floor += 1
                    above.discard(floor)
        self._floor[author] = floor
        if not above:
            del self._above[author]

    def floor(self, author: bytes) -> int:
        """Every seq of ``author`` at or below this counts as seen (0: none yet)."""
        return self._floor.get(author, 0)

    def authors(self) -> int:
        return len(self._floor)

    def to_dict(self) -> dict[str, dict[str, object]]:
        """``{author_hex: {"floor": int, "above": [int, ...]}}``, JSON-serialisable."""
        return {
            author.hex(): {"floor": floor, "above": sorted(self._above.get(author, ()))}
            for author, floor in self._floor.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, object]], window: int = DEFAULT_WINDOW) -> ReplayGuard:
        """The guard ``to_dict`` described; raises ``MalformedMessage`` for data of another shape."""
        guard = cls(window)
        try:
            for author_hex, state in data.items():
                author = bytes.fromhex(author_hex)
                floor = state["floor"]
                above = state.get("above", [])
                if len(author) != 32 or type(floor) is not int or floor < 0 or not isinstance(above, list):
                    raise ValueError(f"bad replay state for {author_hex!r}")
                if any(type(s) is not int or s <= floor for s in above):
                    raise ValueError(f"bad seqs above the floor for {author_hex!r}")
                guard._floor[author] = floor
                if above:
                    guard._above[author] = set(above)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"replay state does not load: {exc}") from exc
        return guard
