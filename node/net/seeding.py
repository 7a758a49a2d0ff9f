"""Creating a swarm: the signed manifest, and the built-in swarm that every installation shares.

A swarm is the hash of its signed manifest. :func:`seed_swarm` signs a manifest for a program, a
baseline train.py, a data file and a budget, and files all three in the ledger so that the node that
runs on this home serves them (manifest, commit and data streams, DHT record).

The built-in swarm must have the same id on every machine, so its manifest is signed by a published,
fixed key at a fixed time: Ed25519 signatures are deterministic, the envelope is the same bytes
everywhere, and so is its hash. (It proves nothing about authorship; it is a well-known name.)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from node.inputfiles import read_bounded, read_text
from protocol import BudgetRule, Identity, Manifest, git_blob_hash, sign_message, swarm_id_of

if TYPE_CHECKING:
    from node.config import NodeConfig

__all__ = ["Seeded", "seed_swarm", "seed_from_files", "builtin_swarm", "sign_manifest", "dialable_addrs",
           "BUILTIN_CREATED_AT"]

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


def seed_from_files(config: NodeConfig, program: Path, *, train: Path | None, data: Path | None, budget: str,
                    created_at: float) -> tuple[Seeded, Identity]:
    """``swarm-node seed``: check every input first, then create the home's files; a failure leaves none behind.

    program.md and train.py are read bounded (size from ``fstat`` before a byte is read; FIFOs and devices refused,
    never waited on). Only when the program, train.py, budget and data all pass are the identity key, the corpus copy
    and the ledger created; if anything fails after that, whatever this call created is removed again.
    """
    from node.ledger import Ledger
    from node.swarms import MAX_PROGRAM_BYTES, budget_rule, check_program
    from trainer import Budget, builtin_dataset, check_train_py, default_train_py, load_dataset
    from trainer.gate import MAX_TRAIN_PY_BYTES

    rule = budget_rule(Budget.parse(budget))
    program_text = check_program(read_text(program, MAX_PROGRAM_BYTES, "program.md"))
    train_py = (read_bounded(train, MAX_TRAIN_PY_BYTES, "train.py") if train is not None
                else default_train_py().encode())
    check_train_py(train_py)
    dataset = load_dataset(data) if data is not None else builtin_dataset()
    corpus = config.cache_dir / "data" / dataset.data_hash / "corpus"
    with _removed_on_failure(config, corpus):
        config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not corpus.is_file():
            corpus.parent.mkdir(parents=True, exist_ok=True)
            corpus.write_bytes(dataset.corpus_bytes())
        identity = Identity.load_or_create(config.identity_path)
        with Ledger(config.ledger_path) as ledger:
            seeded = seed_swarm(ledger, identity, program=program_text, train_py=train_py, data_path=corpus,
                                budget=rule, created_at=created_at)
    return seeded, identity


@contextlib.contextmanager
def _removed_on_failure(config: NodeConfig, corpus: Path) -> Iterator[None]:
    """Remove, if the body raises, each of the home's files and folders that did not exist before it ran."""
    ledger = config.ledger_path
    files = [config.identity_path, corpus, ledger, ledger.with_name(ledger.name + "-wal"),
             ledger.with_name(ledger.name + "-shm")]
    folders = [corpus.parent, corpus.parent.parent, config.cache_dir, config.home]  # innermost first
    new_files = [p for p in files if not p.exists()]
    new_folders = [p for p in folders if not p.exists()]
    try:
        yield
    except BaseException:
        for path in new_files:
            path.unlink(missing_ok=True)
        for folder in new_folders:
            with contextlib.suppress(OSError):  # not empty: something else lives there now
                folder.rmdir()
        raise


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
