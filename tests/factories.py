"""Real signed messages for tests: results, attestations and manifests made with the real protocol code."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

from protocol import BudgetRule, Identity, Manifest, Result, Verified, decode_and_verify, git_blob_hash, sign_message

__all__ = ["ALICE", "BOB", "CAROL", "make_manifest", "make_result", "signed_result"]

ALICE = Identity.from_private_bytes(b"a" * 32)
BOB = Identity.from_private_bytes(b"b" * 32)
CAROL = Identity.from_private_bytes(b"c" * 32)


def make_manifest(me: Identity, *, name: str = "test swarm", created_at: float | None = None,
                  **changes: object) -> bytes:
    """A signed manifest envelope; its swarm id is ``protocol.swarm_id_of`` of these bytes (``changes``: other
    fields, e.g. a task with its metric and direction)."""
    manifest = Manifest(
        author=me.public_key, seq=0, created_at=time.time() if created_at is None else created_at, name=name,
        program="# program\nMinimise val_bpb by editing train.py.\n", baseline_blob=git_blob_hash(b"baseline"),
        data_spec='{"name": "test"}', data_hash=hashlib.sha256(b"data").digest(), eval_spec="64 KiB val slice",
        budget=BudgetRule("seconds", 60), metric_name="val_bpb", metric_direction="min",
    )
    return sign_message(me, dataclasses.replace(manifest, **changes))  # type: ignore[arg-type]


def make_result(me: Identity, seq: int, swarm: bytes, **changes: object) -> Result:
    fields: dict[str, object] = dict(
        swarm_id=swarm, author=me.public_key, seq=seq, created_at=time.time(), commit=f"{seq:040x}", parent="",
        blob=git_blob_hash(b"train %d" % seq), metric=2.5, status="keep", hw_class="cpu:2t",
        hw_fingerprint="cpu:2t test", budget=BudgetRule("seconds", 60), steps=100, tokens=12_800,
        wall_seconds=61.5, peak_memory_mb=512.0, description=f"experiment {seq}",
    )
    fields.update(changes)
    return Result(**fields)  # type: ignore[arg-type]


def signed_result(me: Identity, seq: int, swarm: bytes, **changes: object) -> Verified:
    """A result signed by ``me`` and passed through the real validation pipeline."""
    return decode_and_verify(sign_message(me, make_result(me, seq, swarm, **changes)))


def write_identity(home: Path, identity: Identity) -> None:
    """Make ``identity`` the key of node home ``home`` (its feed is then that node's view)."""
    from cryptography.hazmat.primitives import serialization

    key = home / "identity.key"
    key.write_bytes(identity._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    key.chmod(0o600)
