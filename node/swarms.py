"""Swarm definitions: the built-in swarm, seeding a new one, and resolving a manifest into what a run needs.

The built-in swarm must have the same id on every machine so that nodes started with no arguments find each other:
its manifest is signed by a well-known key derived from a constant, with a fixed creation time (Ed25519 signatures
are deterministic), so the envelope bytes, and so the swarm id, are identical everywhere for a given budget.
A seeded swarm is signed by its creator; its baseline train.py travels as a commit (by blob hash) and its data as
hash-verified chunks.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from protocol import BudgetRule, Identity, Manifest, ProtocolError, decode_and_verify, git_blob_hash, sign_message
from protocol import swarm_id_of
from trainer import Budget, DataSet, builtin_dataset, default_train_py, load_dataset
from trainer.errors import TrainerError

from node.errors import NodeError

__all__ = [
    "BUILTIN_BUDGET", "SwarmSpec", "builtin_manifest", "default_program", "make_manifest", "budget_rule",
    "check_program", "load_swarm", "SwarmError",
]

BUILTIN_BUDGET = "60s"
BUILTIN_NAME = "builtin-shakespeare"
BUILTIN_CREATED_AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z, fixed so the built-in envelope is the same everywhere
_BUILTIN_KEY_SEED = hashlib.sha256(b"swarm-node built-in swarm, version 1").digest()
EVAL_SPEC = "val_bpb: byte-level cross-entropy (bits) per byte on the fixed val slice, evaluated by the locked harness"
MAX_PROGRAM_BYTES = 64 * 1024


class SwarmError(NodeError):
    """A swarm that cannot be used here: a bad program.md, a manifest that does not verify, missing data."""


@dataclass(frozen=True)
class SwarmSpec:
    """Everything a node needs to research a swarm."""

    swarm_id: bytes
    envelope: bytes
    manifest: Manifest
    baseline: str  # the baseline train.py text
    dataset: DataSet
    budget: Budget


def default_program() -> str:
    """The built-in program.md (the one at the repository root)."""
    from importlib import resources

    return resources.files("node").joinpath("assets").joinpath("program.md").read_text(encoding="utf-8")


def budget_rule(budget: Budget) -> BudgetRule:
    return BudgetRule("seconds" if budget.kind == "seconds" else "tokens", int(budget.amount))


def check_program(text: str) -> str:
    """A program.md must say what to optimise and what may be edited; returns it, or raises SwarmError."""
    if len(text.encode("utf-8")) > MAX_PROGRAM_BYTES:
        raise SwarmError(f"program.md is larger than {MAX_PROGRAM_BYTES // 1024} KiB: keep it to the rules of the road")
    lowered = text.lower()
    missing = []
    if "val_bpb" not in lowered and "bits per byte" not in lowered:
        missing.append("the metric to optimise (mention val_bpb)")
    if "train.py" not in lowered:
        missing.append("what may be edited (mention train.py)")
    if missing:
        raise SwarmError("program.md must state " + " and ".join(missing))
    return text


def make_manifest(identity: Identity, *, name: str, program: str, train_py: str, dataset: DataSet, budget: Budget,
                  builtin: bool = False, created_at: float | None = None) -> bytes:
    """Sign the manifest of a swarm; ``protocol.swarm_id_of`` of the result is its id."""
    spec = {"name": dataset.name, "bytes": len(dataset.corpus_bytes())}
    if builtin:
        spec["builtin"] = True
    manifest = Manifest(
        author=identity.public_key, seq=0, created_at=time.time() if created_at is None else created_at,
        name=name, program=program, baseline_blob=git_blob_hash(train_py.encode("utf-8")),
        data_spec=json.dumps(spec, sort_keys=True), data_hash=bytes.fromhex(dataset.data_hash), eval_spec=EVAL_SPEC,
        budget=budget_rule(budget), metric_name="val_bpb", metric_direction="min",
    )
    return sign_message(identity, manifest)


def builtin_manifest(budget: str = BUILTIN_BUDGET) -> bytes:
    """The built-in swarm's envelope for ``budget``: identical bytes on every machine."""
    parsed = Budget.parse(budget)
    name = BUILTIN_NAME if str(parsed) == BUILTIN_BUDGET else f"{BUILTIN_NAME}-{parsed}"
    return make_manifest(Identity.from_private_bytes(_BUILTIN_KEY_SEED), name=name, program=default_program(),
                         train_py=default_train_py(), dataset=builtin_dataset(), budget=parsed, builtin=True,
                         created_at=BUILTIN_CREATED_AT)


def _is_builtin_data(manifest: Manifest) -> bool:
    return manifest.data_hash.hex() == builtin_dataset().data_hash


def data_path(cache_dir: Path, data_hash: bytes) -> Path:
    """Where a swarm's corpus file lives in the node's cache."""
    return Path(cache_dir) / "corpus" / f"{data_hash.hex()}.txt"


def load_swarm(envelope: bytes, *, baseline: bytes | None, cache_dir: Path) -> SwarmSpec:
    """Resolve a verified manifest into a :class:`SwarmSpec`; the baseline text and data must already be local.

    ``baseline`` is the train.py text (from the ledger's commits) unless the manifest names the built-in one.
    """
    try:
        manifest = decode_and_verify(envelope).message
    except ProtocolError as exc:
        raise SwarmError(f"the swarm manifest does not verify: {exc}") from exc
    if not isinstance(manifest, Manifest):
        raise SwarmError("the swarm record is not a manifest")
    builtin_text = default_train_py()
    if manifest.baseline_blob == git_blob_hash(builtin_text.encode("utf-8")):
        text = builtin_text
    elif baseline is not None and git_blob_hash(baseline) == manifest.baseline_blob:
        text = baseline.decode("utf-8")
    else:
        raise SwarmError(f"the baseline train.py {manifest.baseline_blob[:12]} is not here yet (fetch it from a peer)")
    if _is_builtin_data(manifest):
        dataset = builtin_dataset()
    else:
        path = data_path(cache_dir, manifest.data_hash)
        if not path.exists():
            raise SwarmError(f"the swarm's data {manifest.data_hash.hex()[:12]} is not here yet (fetch it from a peer)")
        try:
            dataset = load_dataset(path)
        except TrainerError as exc:
            raise SwarmError(f"the swarm's data at {path} cannot be used: {exc}") from exc
        if dataset.data_hash != manifest.data_hash.hex():
            raise SwarmError(f"the data at {path} does not match the manifest's hash; delete it and fetch again")
    try:
        budget = Budget(manifest.budget.kind, manifest.budget.amount)
    except TrainerError as exc:
        raise SwarmError(f"the swarm's budget cannot be run here: {exc}") from exc
    return SwarmSpec(swarm_id_of(envelope), envelope, manifest, text, dataset, budget)
