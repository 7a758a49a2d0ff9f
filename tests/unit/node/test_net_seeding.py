"""Seeding a swarm files manifest, baseline and data; the built-in swarm has one id everywhere."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from node.ledger import Ledger
from node.net.seeding import builtin_swarm, dialable_addrs, seed_swarm
from protocol import BudgetRule, Manifest, decode_and_verify, git_blob_hash, swarm_id_of
from tests.factories import ALICE


def test_seed_files_everything_a_peer_will_ask_for(tmp_path: Path) -> None:
    data = tmp_path / "corpus.txt"
    data.write_bytes(b"some text " * 100)
    train = b"LR = 4e-3\n"
    with Ledger(tmp_path / "l.sqlite") as ledger:
        seeded = seed_swarm(ledger, ALICE, program="# Tiny program\nDo it.\n", train_py=train, data_path=data,
                            budget=BudgetRule(kind="seconds", amount=30), created_at=time.time())
        assert seeded.swarm_id == swarm_id_of(seeded.envelope)
        assert ledger.get_manifest(seeded.swarm_id) == seeded.envelope
        manifest = decode_and_verify(seeded.envelope).message
        assert isinstance(manifest, Manifest) and manifest.name == "Tiny program"
        assert ledger.get_commit(manifest.baseline_blob) == train == ledger.get_commit(git_blob_hash(train))
        assert manifest.data_hash == hashlib.sha256(data.read_bytes()).digest()
        assert ledger.get_data_chunk_source(manifest.data_hash) == data.resolve()


def test_builtin_swarm_id_is_deterministic() -> None:
    assert builtin_swarm().swarm_id == builtin_swarm().swarm_id


def test_dialable_addrs_replace_the_wildcard() -> None:
    out = dialable_addrs(["/ip4/0.0.0.0/tcp/4001", "/ip4/127.0.0.1/tcp/5/p2p/X"], "X")
    assert all("/ip4/0.0.0.0/" not in a and a.endswith("/p2p/X") for a in out)
    assert out[1] == "/ip4/127.0.0.1/tcp/5/p2p/X"
