"""Creating a swarm: the signed manifest, and the built-in swarm that every installation shares.

A swarm is the hash of its signed manifest. :func:`seed_swarm` signs a manifest for a program, a
baseline train.py, a data file and a budget, and files all three in the ledger so that the node that
runs on this home serves them (manifest, commit and data streams, DHT record).

The built-in swarm must have the same id on every machine, so its manifest is signed by a published,
fixed key at a fixed time: Ed25519 signatures are deterministic, the envelope is the same bytes
everywhere, and so is its hash. (It proves nothing about authorship; it is a well-known name.)
"""

from __future__ import annotations

import hashlib
import logging
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from protocol import BudgetRule, Identity, Manifest, git_blob_hash, sign_message, swarm_id_of

__all__ = ["Seeded", "seed_swarm", "builtin_swarm", "sign_manifest", "dialable_addrs", "BUILTIN_CREATED_AT"]

log = logging.getLogger(__name__)

BUILTIN_SEED = hashlib.sha256(b"swarm-node built-in swarm, key v1 (public on purpose)").digest()
BUILTIN_CREATED_AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z
BUILTIN_NAME = "built-in: Shakespeare val_bpb"
BUILTIN_BUDGET = BudgetRule(kind="seconds", amount=60)


@dataclass(frozen=True)
class Seeded:
    """A swarm filed in a ledger: its id, its manifest envelope, and where its data lives here."""

    swarm_id: bytes
    envelope: bytes
    data_path: Path | None


def sign_manifest(
    creator: Identity, *, name: str, program: str, train_py: bytes, data_hash: bytes, data_spec: str,
    budget: BudgetRule, created_at: float, eval_spec: str = "locked evaluator, val split of the data",
) -> bytes:
    """The signed manifest envelope (its sha256 is the swarm id)."""
    return sign_message(creator, Manifest(
        author=creator.public_key, seq=0, created_at=created_at, name=name[:64], program=program,
        baseline_blob=git_blob_hash(train_py), data_spec=data_spec, data_hash=data_hash, eval_spec=eval_spec,
        budget=budget, metric_name="val_bpb", metric_direction="min"))


def seed_swarm(
    ledger: Any, creator: Identity, *, program: str, train_py: bytes, data_path: Path, budget: BudgetRule,
    created_at: float, name: str = "",
) -> Seeded:
    """Sign a manifest and file it, the baseline train.py and the data source in ``ledger``."""
    data_hash = hashlib.sha256(data_path.read_bytes()).digest()
    first_line = next((line.lstrip("# ").strip() for line in program.splitlines() if line.strip()), "swarm")
    envelope = sign_manifest(
        creator, name=name or first_line, program=program, train_py=train_py, data_hash=data_hash,
        data_spec=f'{{"file": "{data_path.name}", "bytes": {data_path.stat().st_size}}}', budget=budget,
        created_at=created_at)
    swarm_id = swarm_id_of(envelope)
    ledger.put_manifest(swarm_id, envelope)
    ledger.put_commit(git_blob_hash(train_py), train_py, creator.public_key, "")
    ledger.put_data_chunk_source(data_hash, data_path.resolve())
    return Seeded(swarm_id, envelope, data_path.resolve())


def builtin_swarm(ledger: Any | None = None, budget: BudgetRule = BUILTIN_BUDGET) -> Seeded:
    """The built-in swarm (shipped program.md, default train.py, the embedded corpus, 60 s budget).

    Another ``budget`` gives another built-in swarm (same everywhere for that budget: ``join --budget 2M-tokens``).
    With a ledger, its manifest and baseline commit are filed there (no data source: every node has it).
    """
    from trainer import builtin_dataset, default_train_py

    program = resources.files("node.assets").joinpath("program.md").read_text(encoding="utf-8")
    train_py = default_train_py().encode()
    dataset = builtin_dataset()
    creator = Identity.from_private_bytes(BUILTIN_SEED)
    envelope = sign_manifest(
        creator, name=BUILTIN_NAME if budget == BUILTIN_BUDGET else f"{BUILTIN_NAME} ({budget})", program=program, train_py=train_py, data_hash=bytes.fromhex(dataset.data_hash),
        data_spec=f'{{"builtin": "{dataset.name}"}}', budget=budget,
        created_at=BUILTIN_CREATED_AT)
    swarm_id = swarm_id_of(envelope)
    if ledger is not None:
        ledger.put_manifest(swarm_id, envelope)
        ledger.put_commit(git_blob_hash(train_py), train_py, creator.public_key, "")
    return Seeded(swarm_id, envelope, None)


def _primary_ip() -> str:
    """This machine's LAN address (a UDP 'connect' sends nothing), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, no packet is sent
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def dialable_addrs(listen: Sequence[str], peer_id: str) -> list[str]:
    """Listen addresses as others can dial them: ``0.0.0.0`` replaced by this machine's address."""
    out: list[str] = []
    for addr in listen:
        if "/ip4/0.0.0.0/" in addr:
            addr = addr.replace("/ip4/0.0.0.0/", f"/ip4/{_primary_ip()}/")
        if "/p2p/" not in addr:
            addr = f"{addr}/p2p/{peer_id}"
        if addr not in out:
            out.append(addr)
    return out
