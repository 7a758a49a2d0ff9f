"""Fixed identities and valid messages for the protocol tests, and a signer of arbitrary (hostile) bodies."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack

from protocol import PROTOCOL_VERSION, BudgetRule, Claim, Identity, Manifest, Result
from protocol.envelope import signed_bytes

NOW = 1_790_000_000.0
SWARM = bytes(range(32))
ALICE = Identity.from_private_bytes(bytes(range(1, 33)))
BOB = Identity.from_private_bytes(bytes(range(101, 133)))


def result(identity: Identity = ALICE, **changes: Any) -> Result:
    base = Result(
        swarm_id=SWARM,
        author=identity.public_key,
        seq=1,
        created_at=NOW - 5.0,
        commit="1" * 40,
        parent="2" * 40,
        blob="3" * 40,
        metric=2.4125,
        status="keep",
        hw_class="cpu:2t",
        hw_fingerprint="x86_64 AMD EPYC 2 threads torch 2.13.0",
        budget=BudgetRule("seconds", 60),
        steps=1234,
        tokens=1234 * 1024,
        wall_seconds=61.25,
        peak_memory_mb=812.5,
        description="lr 4e-3 -> 6e-3, warmup 100",
    )
    return dataclasses.replace(base, **changes)


def claim(identity: Identity = ALICE, **changes: Any) -> Claim:
    base = Claim(swarm_id=SWARM, author=identity.public_key, seq=0, created_at=NOW - 1.0, blob="4" * 40,
                 expires_at=NOW + 300.0)
    return dataclasses.replace(base, **changes)


def manifest(identity: Identity = ALICE, **changes: Any) -> Manifest:
    base = Manifest(
        author=identity.public_key,
        seq=0,
        created_at=NOW - 3600.0,
        name="shakespeare-char",
        program="# program\n\nLower val_bpb on Shakespeare within 60 s of CPU.\n",
        baseline_blob="5" * 40,
        data_spec='{"name": "shakespeare", "val_bytes": 262144}',
        data_hash=bytes(range(32, 64)),
        eval_spec='{"slice": 262144}',
        budget=BudgetRule("seconds", 60),
        metric_name="val_bpb",
        metric_direction="min",
    )
    return dataclasses.replace(base, **changes)


def sign_body(identity: Identity, kind: str, fields: tuple[Any, ...], *, version: int = PROTOCOL_VERSION,
              envelope_author: bytes | None = None, envelope_kind: str | None = None) -> bytes:
    """An envelope around an arbitrary body, validly signed by ``identity`` (reaches the checks after the signature)."""
    body = msgpack.packb((version, kind, *fields), use_bin_type=True)
    signature = identity.sign(signed_bytes(version, body))
    author = identity.public_key if envelope_author is None else envelope_author
    return msgpack.packb((version, envelope_kind or kind, author, body, signature), use_bin_type=True)


def wire_fields(message: Any) -> tuple[Any, ...]:
    """The body fields of a message as the encoder writes them (nested records as tuples)."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return tuple(plain(getattr(value, f.name)) for f in dataclasses.fields(value))
        return value

    return plain(message)
