"""``node.runtime.Node`` in one trio run: a published Outcome follows one typed path (``ThreadPorts`` from the
research thread -> ``NodeService.publish_result`` -> the ledger), and a failure inside the running node comes out as
its own ``NodeError``, not wrapped in the nurseries' exception groups."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from coordinator.records import Outcome, RunRecord
from node.config import load_config
from node.errors import NodeError
from node.ledger import Ledger
from node.net.seeding import builtin_swarm
from node.ports import ThreadPorts
from node.runtime import Node
from node.swarms import SwarmError, load_swarm
from protocol import Identity, Result, decode_and_verify, git_blob_hash, seal

TRAIN_PY = "# a candidate train.py\nprint('hi')\n"


def record(k: int, metric: float) -> RunRecord:
    return RunRecord(action="explore" if k == 0 else "rerun", run_index=k, status="ok", metric=metric, steps=10,
                     tokens=640, wall_seconds=1.0, cpu_seconds=0.9, peak_memory_mb=50.0, clock="cpu")


def test_an_outcome_becomes_one_signed_result_per_run(tmp_path: Path) -> None:
    config = load_config(env={}, overrides={"home": tmp_path, "listen": ("/ip4/127.0.0.1/tcp/0",), "mdns": False})
    identity = Identity.load_or_create(config.identity_path)
    blob = git_blob_hash(TRAIN_PY.encode())
    outcome = Outcome(action="explore", commit="ab" * 20, parent="cd" * 20, blob=blob, train_py=TRAIN_PY,
                      metric=3.25, status="discard", hw_class="cpu:test:1t", steps=10, tokens=640, wall_seconds=1.0,
                      peak_memory_mb=50.0, description="LR up\nand more", records=(record(0, 3.2), record(1, 3.3)))
    told: list[Outcome] = []
    junk = Identity.generate()
    with Ledger(config.ledger_path) as ledger:
        swarm_id = builtin_swarm(ledger).swarm_id

        async def main() -> None:
            async with Node.start(config, identity, ledger, swarm_id) as node:
                ports = ThreadPorts(network=node.service, ledger=ledger, swarm=load_swarm(ledger, swarm_id),
                                    author=identity.public_key, fingerprint="test", on_outcome=told.append)
                ports.bind()
                await trio.to_thread.run_sync(ports.publish, outcome)  # as the Researcher calls it
                ledger.note_invalid(junk.peer_id, "SchemaError: junk")
                view = await trio.to_thread.run_sync(ports.swarm_view)
                assert view.invalid == {junk.public_key: 1}  # the coordinator's trust counts the ledger's charges

        trio.run(main)
        mine = [r for r in ledger.results(swarm_id) if r.author == identity.public_key]
        assert ledger.get_commit(blob) == TRAIN_PY.encode()
    assert told == [outcome]
    assert [(r.seq, r.run_index, r.action, r.metric) for r in sorted(mine, key=lambda r: r.seq)] == [
        (1, 0, "explore", 3.2), (2, 1, "rerun", 3.3)]
    for row in mine:
        verified = decode_and_verify(row.raw, expected_swarm=swarm_id)  # what a peer receives
        assert isinstance(verified.message, Result)
        assert verified.message.description == "LR up and more" and verified.message.clock == "cpu"
        assert verified.message.budget.kind == "seconds" and verified.message.swarm_id == swarm_id


def test_a_failure_inside_the_running_node_is_one_node_error(tmp_path: Path) -> None:
    config = load_config(env={}, overrides={"home": tmp_path, "listen": ("/ip4/127.0.0.1/tcp/0",), "mdns": False})
    identity = Identity.load_or_create(config.identity_path)
    peer = Identity.generate()
    with Ledger(config.ledger_path) as ledger:
        swarm_id = builtin_swarm(ledger).swarm_id
        missing = git_blob_hash(b"# train.py that no peer serves\n")
        claim = seal(peer, Result(
            swarm_id=swarm_id, author=peer.public_key, seq=1, created_at=time.time(),
            commit="ef" * 20, parent="", blob=missing, metric=3.0, status="keep", hw_class="cpu:test:1t",
            hw_fingerprint="test", budget=load_swarm(ledger, swarm_id).manifest.budget, steps=1, tokens=1,
            wall_seconds=1.0, peak_memory_mb=1.0, description="a claim"))
        ledger.add_results([claim])
        row = next(r for r in ledger.results(swarm_id) if r.author == peer.public_key)

        async def main() -> None:
            async with Node.start(config, identity, ledger, swarm_id) as node:
                await node.verify(row, linger=0, connect_wait=0)

        with pytest.raises(SwarmError, match="no peer served train.py") as caught:
            trio.run(main)
    assert isinstance(caught.value, NodeError)
