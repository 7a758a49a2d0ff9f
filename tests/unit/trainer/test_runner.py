"""Runner pieces that need no process: line parsing, margins, the gate path."""

from __future__ import annotations

from pathlib import Path

from trainer import Budget, DataSet, Progress, run_experiment
from trainer.harness_lines import HarnessLines, crash_reason, log_tail
from trainer.runner import wall_margin


def test_progress_lines_reach_the_callback() -> None:
    seen: list[Progress] = []
    lines = HarnessLines(seen.append)
    lines('@@swarm {"kind": "progress", "step": 3, "tokens": 3072, "elapsed": 4.5, "fraction": 0.075}')
    lines("step 3 | loss 2.1")
    lines("@@swarm {not json")
    lines('@@swarm {"kind": "progress", "step": "x"}')
    assert seen == [Progress(step=3, tokens=3072, elapsed=4.5, budget_fraction=0.075)]
    assert lines.last["progress"]["tokens"] == 3072


def test_a_failing_progress_callback_does_not_propagate() -> None:
    def boom(_: Progress) -> None:
        raise RuntimeError("bar broke")

    HarnessLines(boom)('@@swarm {"kind": "progress", "step": 1, "tokens": 1, "elapsed": 1, "fraction": 0.1}')


def test_log_tail_and_crash_reason_hide_harness_lines() -> None:
    out = "model: tiny\n@@swarm {\"kind\": \"progress\"}\nTraceback...\nValueError: boom\n"
    assert "@@swarm" not in log_tail(out)
    assert crash_reason(out, 1) == "train.py exited with code 1: ValueError: boom"


def test_margin_is_bounded() -> None:
    assert wall_margin(Budget.parse("60s")) == 21.0
    assert wall_margin(Budget.parse("2M-tokens")) == 60.0


def test_gate_failure_is_a_crash_summary_not_an_exception(tmp_path: Path) -> None:
    data = DataSet.from_bytes("t", b"hello world\n" * 2000)
    summary = run_experiment("def (:\n", data, Budget.parse("5s"), work_root=tmp_path)
    assert summary.status == "crash" and summary.val_bpb is None
    assert summary.reason.startswith("gate: train.py does not parse")
    assert list(tmp_path.iterdir()) == []
