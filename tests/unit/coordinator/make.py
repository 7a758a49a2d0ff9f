"""Plain records for the coordinator's unit tests (real ``protocol.Result`` / ``Claim`` messages, never signed)."""

from __future__ import annotations

import hashlib

from protocol import BudgetRule, Claim, Result

from coordinator.records import SeenResult

ME = b"\x01" * 32
PEER = b"\x02" * 32
PEER2 = b"\x03" * 32
LIAR = b"\x04" * 32


def result(*, author: bytes = PEER, blob: str = "a" * 40, metric: float = 2.4, status: str = "keep",
           hw_class: str = "cpu:2t", commit: str = "", parent: str = "", created_at: float = 1.0,
           description: str = "x", reproduces: bytes = b"", seq: int = 1) -> Result:
    return Result(swarm_id=b"\0" * 32, author=author, seq=seq, created_at=created_at, commit=commit, parent=parent,
                  blob=blob, metric=metric, status=status, hw_class=hw_class, hw_fingerprint="t",  # type: ignore[arg-type]
                  budget=BudgetRule("seconds", 60), steps=1, tokens=1, wall_seconds=1.0, peak_memory_mb=1.0,
                  description=description, reproduces=reproduces)


def seen(r: Result) -> SeenResult:
    rid = hashlib.sha256(r.author + r.blob.encode() + r.seq.to_bytes(8, "big") + repr(r.created_at).encode()).digest()
    return SeenResult(rid, r)


def claim(*, author: bytes = PEER, blob: str = "a" * 40, expires_at: float = 100.0) -> Claim:
    return Claim(swarm_id=b"\0" * 32, author=author, seq=0, created_at=0.0, blob=blob, expires_at=expires_at)


def knob_mutations(text: str) -> set[str]:
    """Every one- and two-knob mutation of ``text`` (what a claim squatter claims to stall the mutate agent)."""
    from coordinator.knobs import read_knobs, rewrite, step_knob

    def steps(source: str, skip: str = "") -> list[tuple[str, str]]:
        out = []
        for knob in read_knobs(source):
            if knob.name == skip:
                continue
            for way in ("up", "down", "flip", "next"):
                value = step_knob(knob, way)  # type: ignore[arg-type]
                if value is not None:
                    out.append((knob.name, rewrite(source, knob, value)))
        return out

    texts: set[str] = set()
    for name, one in steps(text):
        texts.add(one)
        texts.update(two for _, two in steps(one, skip=name))
    return texts
