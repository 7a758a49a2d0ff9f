"""The git workspace with real git: baseline, kept and discarded commits, resume, merge3, and a short real loop."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from coordinator.agents.mutate import MutateAgent
from coordinator.records import Outcome, Policy, SeenResult, SwarmView
from coordinator.researcher import Researcher
from coordinator.simulate import SIM_TRAIN_PY, objective
from coordinator.workspace import Workspace, blob_hash, commit_message, merge3
from protocol import BudgetRule, Result

LR2 = SIM_TRAIN_PY.replace("LEARNING_RATE = 4e-3", "LEARNING_RATE = 6e-3")
LAYERS = SIM_TRAIN_PY.replace("N_LAYER = 2 ", "N_LAYER = 4 ")


def test_baseline_is_the_same_commit_on_every_node(tmp_path: Path) -> None:
    a = Workspace.open_or_create(tmp_path / "a", SIM_TRAIN_PY)
    b = Workspace.open_or_create(tmp_path / "b", SIM_TRAIN_PY)
    assert a.head() == b.head() == a.baseline()
    assert a.head_text() == SIM_TRAIN_PY
    git_blob = subprocess.run(["git", "hash-object", "--stdin"], input=SIM_TRAIN_PY, capture_output=True, text=True,
                              check=True).stdout.strip()
    assert a.blob_of(SIM_TRAIN_PY) == blob_hash(SIM_TRAIN_PY) == git_blob


def test_keep_moves_head_discard_does_not_and_resume_restores_head(tmp_path: Path) -> None:
    ws = Workspace.open_or_create(tmp_path / "ws", SIM_TRAIN_PY)
    base = ws.head()
    kept = ws.commit_kept(LR2, commit_message("LEARNING_RATE 4e-3 -> 6e-3", 2.4012, status="keep", hw_class="cpu:2t",
                                              action="explore"))
    ws.write_candidate(LAYERS)
    dropped = ws.commit_discarded(LAYERS, commit_message("N_LAYER 2 -> 4", 2.45, status="discard", hw_class="cpu:2t",
                                                         action="explore"))
    assert ws.head() == kept != dropped
    assert (ws.path / "train.py").read_text() == LR2  # the discarded candidate was reset
    assert ws.text_of(dropped) == LAYERS  # but its commit exists, for the result and for peers
    log = ws.log()
    assert [e.commit for e in log] == [kept, base]
    assert log[0].parent == base and log[0].message.startswith("LEARNING_RATE 4e-3 -> 6e-3")
    assert "val_bpb: 2.401200" in log[0].message
    (ws.path / "train.py").write_text("half-written by a crash")
    again = Workspace.open_or_create(tmp_path / "ws", "ignored baseline")
    assert again.head() == kept and (again.path / "train.py").read_text() == LR2


def test_merge3_merges_disjoint_edits_and_refuses_conflicts() -> None:
    merged = merge3(SIM_TRAIN_PY, LR2, LAYERS)
    assert merged is not None
    assert "LEARNING_RATE = 6e-3" in merged and "N_LAYER = 4 " in merged
    other_lr = SIM_TRAIN_PY.replace("LEARNING_RATE = 4e-3", "LEARNING_RATE = 2e-3")
    assert merge3(SIM_TRAIN_PY, LR2, other_lr) is None


def test_real_loop_history_matches_kept_outcomes_and_resumes(tmp_path: Path) -> None:
    me = b"\x01" * 32
    published: list[Outcome] = []
    results: list[SeenResult] = []

    def publish(o: Outcome) -> None:  # as node/ does: one signed Result per run of the outcome
        published.append(o)
        for run in o.run_results():
            seq = len(results) + 1
            r = Result(swarm_id=b"\0" * 32, author=me, seq=seq, created_at=float(seq), commit=o.commit,
                       parent=o.parent, blob=o.blob, hw_class=o.hw_class, hw_fingerprint="t",
                       budget=BudgetRule("seconds", 60), description=o.description, reproduces=o.reproduces,
                       **run)  # type: ignore[arg-type]
            results.append(SeenResult(seq.to_bytes(32, "big"), r))

    def make() -> Researcher:
        ws = Workspace.open_or_create(tmp_path / "ws", SIM_TRAIN_PY)
        return Researcher(workspace=ws, agent=MutateAgent(random.Random(3)), runner=lambda t, s: objective(t, s),
                          hw_class="cpu:2t", budget=BudgetRule("seconds", 60), author=me,
                          swarm_view=lambda: SwarmView(results=list(results)), fetch_blob=lambda b: None,
                          publish=publish, policy=Policy(baseline_repeats=2), rng=random.Random(4))

    first = make()
    for _ in range(8):
        first.step()
    kept = [o.commit for o in published if o.kept]
    assert kept and any(o.status == "discard" for o in published)
    log = first.workspace.log()
    assert [e.commit for e in log][:-1] == kept[::-1]  # every kept outcome, newest first, then the baseline
    second = make()  # a restart: same workspace, same records
    assert second.head == kept[-1] and second.best == published[-1].best_metric
    before = {o.blob for o in published}
    outcome = second.step()
    assert outcome.action == "explore" and outcome.blob not in before  # no baseline again, nothing re-run
