"""The records the ledger hands out (frozen dataclasses) and the bounded conversion of a verified Result into a row."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Sequence

__all__ = [
    "ResultRow", "PeerRow", "result_columns", "addrs_json", "RESULT_COLUMNS", "PEER_COLUMNS", "MAX_RAW", "MAX_TEXT",
    "MAX_ADDRS",
]

log = logging.getLogger(__name__)

MAX_RAW = 64 * 1024
"""The largest raw envelope stored (protocol allows 16 KiB for a result; the rest is headroom)."""
MAX_TEXT = 4096
"""The longest text column stored (description, hw_class, budget); protocol bounds are far lower."""
MAX_HEX = 64
MAX_ADDRS = 16
MAX_ADDR_CHARS = 512

RESULT_COLUMNS: tuple[str, ...] = (
    "message_id", "author", "seq", "swarm_id", "kind", "reproduces", "commit", "parent", "blob", "metric", "status",
    "hw_class", "budget", "steps", "tokens", "wall_seconds", "description", "created_at", "received_at", "raw",
    "action", "run_index", "cpu_seconds", "clock",
)


@dataclass(frozen=True)
class ResultRow:
    """One stored result or attestation: its decoded columns plus the exact signed envelope and its id."""

    message_id: bytes
    author: bytes
    seq: int
    swarm_id: bytes
    kind: str
    reproduces: bytes
    commit: str
    parent: str
    blob: str
    metric: float
    status: str
    hw_class: str
    budget: str
    steps: int
    tokens: int
    wall_seconds: float
    description: str
    created_at: float
    received_at: float
    raw: bytes
    action: str = "unknown"
    run_index: int = 0
    cpu_seconds: float = 0.0
    clock: str = "wall"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ResultRow:
        values = dict(zip(RESULT_COLUMNS, row))
        for key in ("message_id", "author", "swarm_id", "reproduces", "raw"):
            values[key] = bytes(values[key])
        return cls(**values)


@dataclass(frozen=True)
class PeerRow:
    """What this node knows of one libp2p peer, its standing included: trust (the research loop's score from the
    peer's reproduced and refuted claims), invalid messages (charged to the Noise-authenticated sender), and a ban
    (its reason and expiry; ``banned_until`` 0 when none)."""

    peer_id: str
    addrs: tuple[str, ...]
    first_seen: float
    last_seen: float
    trust: float
    invalid_count: int
    last_invalid: str
    ban_reason: str = ""
    banned_until: float = 0.0

    def banned(self, now: float) -> bool:
        """Whether a ban is in force at ``now``."""
        return self.banned_until > now

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> PeerRow:
        (peer_id, addrs, first_seen, last_seen, trust, invalid, last_invalid, ban_reason, banned_until) = row
        try:
            parsed = json.loads(addrs)
        except ValueError:
            parsed = []
        return cls(
            peer_id=peer_id,
            addrs=tuple(a for a in parsed if isinstance(a, str)) if isinstance(parsed, list) else (),
            first_seen=first_seen,
            last_seen=last_seen,
            trust=trust,
            invalid_count=invalid,
            last_invalid=last_invalid,
            ban_reason=ban_reason,
            banned_until=float(banned_until),
        )


PEER_COLUMNS = (
    "peer_id, addrs, first_seen, last_seen, trust, invalid_count, last_invalid, ban_reason, banned_until"
)


def _text(value: object, limit: int, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} is {type(value).__name__}, not str")
    if len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters, more than {limit}")
    return value


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"{name} {value!r} is not a non-negative 64-bit integer")
    return value


def _float(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return float(value)


def _bytes(value: object, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(f"{name} is {type(value).__name__}, not bytes")
    if size is not None and len(value) != size:
        raise ValueError(f"{name} is {len(value)} bytes, not {size}")
    return bytes(value)


def result_columns(verified: Any, received_at: float) -> tuple[Any, ...]:
    """The row for a ``protocol.Verified`` whose message is a ``Result``; ``ValueError`` says what is out of bounds.

    Protocol has validated the message already; these bounds only keep the file sane if something slipped through.
    """
    msg = verified.message
    raw = _bytes(verified.raw, "raw")
    if len(raw) > MAX_RAW:
        raise ValueError(f"raw envelope is {len(raw)} bytes, more than {MAX_RAW}")
    author = _bytes(verified.author, "author", 32)
    if _bytes(msg.author, "message author", 32) != author:
        raise ValueError("the envelope's author is not the message's author")
    reproduces = _bytes(getattr(msg, "reproduces", b""), "reproduces")
    if len(reproduces) > MAX_HEX:
        raise ValueError("reproduces is longer than a result id")
    return (
        _bytes(verified.message_id, "message_id", 32),
        author,
        _int(msg.seq, "seq"),
        _bytes(msg.swarm_id, "swarm_id", 32),
        "attestation" if reproduces else "result",
        reproduces,
        _text(msg.commit, MAX_HEX, "commit"),
        _text(msg.parent, MAX_HEX, "parent"),
        _text(msg.blob, MAX_HEX, "blob"),
        _float(msg.metric, "metric"),
        _text(msg.status, 16, "status"),
        _text(msg.hw_class, MAX_TEXT, "hw_class"),
        _text(str(msg.budget), 64, "budget"),
        _int(msg.steps, "steps"),
        _int(msg.tokens, "tokens"),
        _float(msg.wall_seconds, "wall_seconds"),
        _text(msg.description, MAX_TEXT, "description"),
        _float(msg.created_at, "created_at"),
        received_at,
        raw,
        _text(getattr(msg, "action", "unknown"), 16, "action"),
        _int(getattr(msg, "run_index", 0), "run_index"),
        _float(getattr(msg, "cpu_seconds", 0.0), "cpu_seconds"),
        _text(getattr(msg, "clock", "wall"), 8, "clock"),
    )


def addrs_json(addrs: Sequence[str]) -> str:
    """Peer addresses as a bounded JSON list (the first few distinct, each bounded in length)."""
    kept: list[str] = []
    for addr in addrs:
        if isinstance(addr, str) and 0 < len(addr) <= MAX_ADDR_CHARS and addr not in kept:
            kept.append(addr)
        if len(kept) >= MAX_ADDRS:
            break
    return json.dumps(kept)
