"""The signed messages: ``Manifest``, ``Result``, ``Claim`` (and ``BudgetRule`` inside them), with their wire schemas.

Each signed body is the msgpack array ``[version, kind, *fields]`` in dataclass field order (see ``protocol.envelope``).
Field types are exact: ``bytes`` for keys and sha256 ids, lowercase hex ``str`` for git object ids, ``float`` for times
and measures, ``int`` for counters. The schema here is structural (types, lengths, syntax); the bounds that depend on
the receiver (clock skew, swarm, replay) are in ``protocol.bounds``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal, Union

from protocol.fields import Blob, Choice, Float, Hex, Int, Nested, Schema, Text

__all__ = [
    "BudgetRule",
    "Manifest",
    "Result",
    "Claim",
    "Message",
    "SCHEMAS",
    "KIND_OF",
    "STATUSES",
    "HW_CLASS_PATTERN",
    "ACTIONS",
    "CLOCKS",
    "LEGACY_SCHEMAS",
    "TASK_KINDS",
    "MANIFEST_V2_DEFAULTS",
    "MANIFEST_V3_DEFAULTS",
    "task_kind",
    "legacy_action",
    "one_line",
]

STATUSES = ("keep", "discard", "crash")
ACTIONS = ("baseline", "explore", "adopt", "stack", "verify", "rerun", "unknown")
"""What a result's run was for: the ``Result.action`` field (version 2; version-1 results get it derived once)."""
CLOCKS = ("cpu", "wall")
"""What a seconds budget counted: CPU-seconds of the sandboxed tree, or wall-clock seconds (all version-1 results)."""
HW_CLASS_PATTERN = r"[a-z][a-z0-9]{0,15}:[A-Za-z0-9][A-Za-z0-9._+:-]{0,63}"
"""``cpu:AMD-EPYC-7B13:1t``, ``cuda:H100-80GB``, ``mps:M4``: a backend, a colon, model/size tokens (old: ``cpu:2t``)."""


@dataclass(frozen=True)
class BudgetRule:
    """How much one experiment may train: ``seconds`` of wall clock (same-class comparisons) or ``tokens``."""

    kind: Literal["seconds", "tokens"]
    amount: int

    def __str__(self) -> str:
        if self.kind == "seconds":
            return f"{self.amount}s"
        for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
            if self.amount % scale == 0:
                return f"{self.amount // scale}{unit}-tokens"
        return f"{self.amount}-tokens"


@dataclass(frozen=True)
class Manifest:
    """The definition of a swarm; ``swarm_id`` is the sha256 of its signed envelope (``swarm_id_of``)."""

    author: bytes  # the creator's 32-byte Ed25519 public key
    seq: int  # 0 is fine: a manifest is content-addressed
    created_at: float
    name: str
    program: str  # program.md text
    baseline_blob: str  # git blob hash of the baseline train.py
    data_spec: str  # where/what the data is (free text or JSON, e.g. '{"name": "shakespeare"}')
    data_hash: bytes  # sha256 of the exact corpus bytes (32 bytes; trainer's hex ``data_hash`` -> bytes.fromhex)
    eval_spec: str  # how val_bpb is computed (slice size etc.)
    budget: BudgetRule
    metric_name: str  # the metric that decides: "val_bpb", "accuracy", "ndcg@10", a custom evaluator's name
    metric_direction: Literal["min", "max"]  # "max": a higher metric is better
    # version 2 (a version-1 manifest decodes as an lm swarm: see ``LEGACY_SCHEMAS``). A manifest whose version-2
    # fields keep these defaults is signed at version 1, so every lm swarm keeps its bytes and its id.
    task: str = "lm"  # the task: "lm", or the trainer's TaskSpec JSON ({"direction", "kind", "metric"}, sorted keys)
    eval_blob: str = ""  # git blob hash of a custom task's evaluate.py (fetched like the baseline), else ""
    # version 3 (a version-1 or -2 manifest decodes with no rungs). A manifest without rungs is signed at version 2
    # (or 1, as above), so every swarm seeded before rungs keeps its bytes and its id.
    rungs: str = ""  # the rungs as JSON ('[{"budget": 5, "scale": {"N_LAYER": 2}}]', read by coordinator.transfer)

    @property
    def creator(self) -> bytes:
        return self.author

    @property
    def task_kind(self) -> str:
        """The task's kind ("lm", "classify", "rank", "custom"), read from ``task`` (checked by ``check_intrinsic``)."""
        return task_kind(self.task)


@dataclass(frozen=True)
class Result:
    """The signed record of one experiment; with ``reproduces`` set it is an attestation of another result."""

    swarm_id: bytes
    author: bytes
    seq: int  # >= 1, per author, never reused
    created_at: float
    commit: str  # git commit hex; "" allowed for discard/crash (reset, never committed)
    parent: str  # git commit hex or ""
    blob: str  # git blob hash of train.py
    metric: float  # val_bpb; a crash may carry any finite value (use 0.0)
    status: Literal["keep", "discard", "crash"]
    hw_class: str
    hw_fingerprint: str
    budget: BudgetRule
    steps: int
    tokens: int
    wall_seconds: float
    peak_memory_mb: float
    description: str  # one line, <= 280 characters (see ``one_line``)
    reproduces: bytes = b""  # the result id (sha256 of its envelope) this re-run attests, or b""
    # version 2 (a version-1 result decodes with these filled in: see ``LEGACY_SCHEMAS``)
    action: str = "unknown"  # one of ``ACTIONS``
    run_index: int = 0  # k: this is the k-th run of ``blob`` in the swarm (0-based), and k is the seed it used
    cpu_seconds: float = 0.0  # CPU-seconds the sandboxed run used
    clock: Literal["cpu", "wall"] = "wall"  # what a seconds budget counted


@dataclass(frozen=True)
class Claim:
    """An experiment in flight: ``author`` is training ``blob`` until ``expires_at``; peers skip the same idea."""

    swarm_id: bytes
    author: bytes
    seq: int  # 0 is fine: claims are bounded by their expiry, not by replay state
    created_at: float
    blob: str
    expires_at: float


Message = Union[Manifest, Result, Claim]

_KEY = Blob(sizes=(32,))
_TIME = Float(lo=0.0)
_BUDGET = Schema(BudgetRule, {"kind": Choice(("seconds", "tokens")), "amount": Int(lo=1, hi=10**12)})

SCHEMAS: dict[str, Schema[Message]] = {
    "manifest": Schema(
        Manifest,
        {
            "author": _KEY,
            "seq": Int(),
            "created_at": _TIME,
            "name": Text(limit="max_name_chars", min_chars=1),
            "program": Text(limit="max_program_chars", multiline=True),
            "baseline_blob": Hex(),
            "data_spec": Text(limit="max_spec_chars", multiline=True),
            "data_hash": _KEY,
            "eval_spec": Text(limit="max_spec_chars", multiline=True),
            "budget": Nested(_BUDGET),
            "metric_name": Text(limit="max_name_chars", min_chars=1),
            "metric_direction": Choice(("min", "max")),
            "task": Text(limit="max_spec_chars", min_chars=1),
            "eval_blob": Hex(empty=True),
            "rungs": Text(limit="max_spec_chars"),
        },
    ),
    "result": Schema(
        Result,
        {
            "swarm_id": _KEY,
            "author": _KEY,
            "seq": Int(lo=1),
            "created_at": _TIME,
            "commit": Hex(empty=True),
            "parent": Hex(empty=True),
            "blob": Hex(),
            "metric": Float(),
            "status": Choice(STATUSES),
            "hw_class": Text(max_chars=80, pattern=HW_CLASS_PATTERN),
            "hw_fingerprint": Text(limit="max_fingerprint_chars"),
            "budget": Nested(_BUDGET),
            "steps": Int(),
            "tokens": Int(),
            "wall_seconds": Float(lo=0.0),
            "peak_memory_mb": Float(lo=0.0),
            "description": Text(limit="max_description_chars"),
            "reproduces": Blob(sizes=(0, 32)),
            "action": Choice(ACTIONS),
            "run_index": Int(hi=10**6),
            "cpu_seconds": Float(lo=0.0),
            "clock": Choice(CLOCKS),
        },
    ),
    "claim": Schema(
        Claim,
        {
            "swarm_id": _KEY,
            "author": _KEY,
            "seq": Int(),
            "created_at": _TIME,
            "blob": Hex(),
            "expires_at": _TIME,
        },
    ),
}
KIND_OF: dict[type, str] = {schema.cls: kind for kind, schema in SCHEMAS.items()}

_V2_RESULT_FIELDS = ("action", "run_index", "cpu_seconds", "clock")
MANIFEST_V2_DEFAULTS: dict[str, object] = {"task": "lm", "eval_blob": ""}
"""The manifest's version-2 fields and their defaults: a manifest that keeps them all is signed at version 1."""
MANIFEST_V3_DEFAULTS: dict[str, object] = {"rungs": ""}
"""The manifest's version-3 fields and their defaults: a manifest that keeps them is signed at version 2 (or 1)."""
TASK_KINDS = ("lm", "classify", "rank", "custom")


def task_kind(task: str) -> str:
    """The kind named by a manifest's ``task`` ("lm", or TaskSpec JSON with a "kind"); ValueError if neither."""
    if task == "lm":
        return "lm"
    try:
        spec = json.loads(task)
    except ValueError as exc:
        raise ValueError(f"task is neither 'lm' nor JSON: {exc}") from None
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in TASK_KINDS:
        raise ValueError(f"task kind {kind!r:.40} is not one of {', '.join(TASK_KINDS)}")
    return str(kind)


def legacy_action(description: str, reproduces: bytes) -> str:
    """The action of a version-1 result, read once from the description prefixes that version wrote."""
    if description.startswith("baseline run"):
        return "baseline"
    if description.startswith("verify "):
        return "verify"
    if reproduces or description.startswith("adopt "):
        return "adopt"
    if description.startswith("stack: "):
        return "stack"
    return "explore" if description else "unknown"


def _v1_result(fields: dict[str, object]) -> dict[str, object]:
    description, reproduces = fields["description"], fields["reproduces"]
    assert isinstance(description, str) and isinstance(reproduces, bytes)
    return {**fields, "action": legacy_action(description, reproduces), "run_index": 0, "cpu_seconds": 0.0,
            "clock": "wall"}


def _v1_manifest(fields: dict[str, object]) -> dict[str, object]:
    return {**fields, **MANIFEST_V2_DEFAULTS, **MANIFEST_V3_DEFAULTS}


def _v2_manifest(fields: dict[str, object]) -> dict[str, object]:
    return {**fields, **MANIFEST_V3_DEFAULTS}


LEGACY_SCHEMAS: dict[tuple[int, str], Schema[Message]] = {
    (1, "result"): Schema(
        Result,
        {n: spec for n, spec in SCHEMAS["result"].items if n not in _V2_RESULT_FIELDS},
        fill=_v1_result,
    ),
    (1, "manifest"): Schema(
        Manifest,
        {n: spec for n, spec in SCHEMAS["manifest"].items if n not in MANIFEST_V2_DEFAULTS | MANIFEST_V3_DEFAULTS},
        fill=_v1_manifest,
    ),
    (2, "manifest"): Schema(
        Manifest,
        {n: spec for n, spec in SCHEMAS["manifest"].items if n not in MANIFEST_V3_DEFAULTS},
        fill=_v2_manifest,
    ),
}
"""(version, kind) -> the schema of an older version whose body differs from today's; the others decode as today."""

_SPACES = re.compile(r"\s+")


def one_line(text: str, limit: int = 280) -> str:
    """``text`` made fit for ``Result.description``: control characters and runs of whitespace become one space,
    cut to ``limit`` characters (with an ellipsis when cut)."""
    flat = _SPACES.sub(" ", "".join(" " if (ord(c) < 32 or 127 <= ord(c) < 160) else c for c in text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"
