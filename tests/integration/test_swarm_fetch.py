"""A node that has only the join string obtains the manifest, the data and a commit, all verified."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from node.joinstring import format_join, parse_join
from node.ledger import Ledger
from protocol import BudgetRule, Identity, Manifest, decode_and_verify, git_blob_hash, sign_message, swarm_id_of
from tests.integration.nodeproc import NodeProc
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def test_join_string_is_enough_to_get_manifest_data_and_commit(tmp_path: Path) -> None:
    data = tmp_path / "corpus.txt"
    data.write_bytes(os.urandom(1_300_000))  # three chunks of 512 KiB, the last one short
    data_hash = hashlib.sha256(data.read_bytes()).digest()
    train = tmp_path / "train.py"
    train.write_bytes(b"# baseline train.py\nLR = 4e-3\n")
    creator = Identity.generate()
    envelope = sign_message(creator, Manifest(
        author=creator.public_key, seq=0, created_at=time.time(), name="test", program="# program\n",
        baseline_blob=git_blob_hash(train.read_bytes()), data_spec="{}", data_hash=data_hash, eval_spec="64KiB",
        budget=BudgetRule(kind="seconds", amount=60), metric_name="val_bpb", metric_direction="min"))
    swarm = swarm_id_of(envelope)
    (tmp_path / "manifest.bin").write_bytes(envelope)

    seeder = NodeProc(tmp_path / "seeder", swarm, manifest=tmp_path / "manifest.bin", data=data, commit=train)
    join = parse_join(format_join(swarm, seeder.addrs))
    joiner = NodeProc(tmp_path / "joiner", join.swarm_id, peers=join.peers)

    wait_for(lambda: joiner.ask("peers", "peers")["peers"], timeout=20, what="joiner connected")
    assert joiner.ask("fetch_manifest", "manifest") == {"event": "manifest", "found": True, "swarm_ok": True}
    with Ledger(joiner.ledger_path, readonly=True) as ledger:
        stored = ledger.get_manifest(swarm)
    assert stored == envelope
    manifest = decode_and_verify(stored).message
    dest = tmp_path / "joiner" / "data" / "corpus.txt"
    assert joiner.ask("fetch_data", "data", timeout=30, hash=manifest.data_hash.hex(), dest=str(dest))["ok"]
    assert hashlib.sha256(dest.read_bytes()).digest() == manifest.data_hash
    assert joiner.ask("fetch_commit", "commit", blob=manifest.baseline_blob)["ok"]
    assert not joiner.ask("fetch_commit", "commit", blob="0" * 40)["ok"]  # nobody has it: None, not an error
    assert not joiner.ask("fetch_data", "data", hash="11" * 32, dest=str(tmp_path / "none"))["ok"]
    assert not (tmp_path / "none").exists()
    assert NodeProc.stop_all([joiner, seeder]) == [0, 0]
