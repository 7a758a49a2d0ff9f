"""The running node's status records are typed and owned by the ledger: written by research and the runtime, read
by the feed and ``status``; a value of another shape reads as None, never as an exception in a reader."""

from __future__ import annotations

import ast
from pathlib import Path

from coordinator.noise import NoiseEvidence
from node.ledger import AgentNote, CurrentRun, Ledger, NoiseRecord

ROOT = Path(__file__).resolve().parents[3]


def test_records_round_trip(tmp_path: Path) -> None:
    run = CurrentRun(action="experiment", description="training", fraction=0.25, eta_seconds=12.5, step=40,
                     tokens=4096, started_at=1.0e9)
    evidence = NoiseEvidence(runs=4, groups=2, std=0.01, margin=0.02, baseline_runs=3, paired_std=0.004,
                             paired_margin=0.008, pairs=2)
    noise = NoiseRecord.of(evidence, hw_class="cpu:x:1t", best=3.2)
    swarm = bytes(range(32))
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.status.set_current(run)
        ledger.status.set_noise(noise)
        ledger.status.set_agent_note(AgentNote("llm", "the endpoint refused the key"))
        ledger.status.set_peers(["12D3KooWA", "12D3KooWB"])
        ledger.status.set_active_swarm(swarm)
    with Ledger(tmp_path / "ledger.sqlite", readonly=True) as ledger:
        assert ledger.status.current() == run
        assert ledger.status.noise() == noise and noise.margin == 0.02 and noise.hw_class == "cpu:x:1t"
        assert ledger.status.agent_note() == AgentNote("llm", "the endpoint refused the key")
        assert ledger.status.peers() == ["12D3KooWA", "12D3KooWB"]
        assert ledger.status.active_swarm() == swarm
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.status.clear_running()
        assert ledger.status.current() is None and ledger.status.peers() == []


def test_a_value_of_another_shape_reads_as_none(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        for key, value in (("current", {"action": "x", "description": "y", "fraction": "half"}),
                           ("noise", [1, 2]), ("agent", {"agent": "llm"}), ("peers", {"a": 1}),
                           ("active_swarm", "not hex")):
            ledger.set_state(key, value)
        assert ledger.status.current() is None
        assert ledger.status.noise() is None
        assert ledger.status.agent_note() is None
        assert ledger.status.peers() == []
        assert ledger.status.active_swarm() is None
        ledger.set_state("current", {"action": "x", "description": "y", "fraction": 1, "from_a_newer_node": True})
        assert ledger.status.current() == CurrentRun("x", "y", 1)  # a newer writer's extra keys are ignored


def test_research_writes_status_without_importing_the_feed() -> None:
    tree = ast.parse((ROOT / "node" / "research.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m == "node.feed" or m.startswith("node.feed.") for m in imported), sorted(imported)
