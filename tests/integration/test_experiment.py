"""Real experiments: a tiny train.py (the default with its knobs turned down) in the sandbox, then the evaluator."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest

from trainer import Budget, Progress, builtin_dataset, default_train_py, run_experiment, sandbox_available
from trainer.limits import WALL_SAFETY, cpu_grace
from trainer.runner import wall_margin

pytestmark = pytest.mark.slow

TINY = {"N_LAYER": "1", "N_EMBD": "32", "N_HEAD": "2", "WARMUP_STEPS": "5", "LOG_EVERY": "5"}


def tiny_train_py(**extra: str) -> str:
    source = default_train_py()
    for name, value in (TINY | extra).items():
        source, count = re.subn(rf"^{name} = \S+", f"{name} = {value}", source, flags=re.MULTILINE)
        assert count == 1, name
    return source


def run(tmp_path: Path, source: str, budget: str, seed: int = 0, **kw: object):  # type: ignore[no-untyped-def]
    return run_experiment(source, builtin_dataset(), Budget.parse(budget), work_root=tmp_path / "runs", seed=seed,
                          cache_dir=tmp_path / "cache", require_sandbox=False, **kw)  # type: ignore[arg-type]


def test_time_budget_run_is_complete_and_on_time(tmp_path: Path) -> None:
    seen: list[Progress] = []
    started = time.monotonic()
    summary = run(tmp_path, tiny_train_py(), "8s", progress=seen.append)
    wall = time.monotonic() - started
    assert summary.status == "ok", summary.reason + "\n" + summary.log_tail
    assert summary.val_bpb is not None and math.isfinite(summary.val_bpb) and 0 < summary.val_bpb < 8.5
    assert summary.steps > 0 and summary.tokens == summary.steps * 8 * 128
    # on CPU the budget is CPU-seconds of the training tree (one thread), counted outside train.py
    assert summary.clock == "cpu" and summary.threads == 1 and summary.compute_limit == 8.0
    assert 8.0 <= summary.cpu_seconds - summary.startup_cpu_seconds <= 8.0 + cpu_grace(8.0)
    assert summary.train_seconds > 0
    assert summary.peak_memory_mb > 0 and summary.wall_seconds > 0
    assert summary.sandboxed == sandbox_available()[0]
    assert "steps:" in summary.log_tail and summary.reason == ""
    assert [name for name, _ in summary.phases][:5] == ["prepare", "imports", "setup", "train", "export"]
    assert seen and seen[-1].budget_fraction <= 1.0 and seen[-1].step <= summary.steps
    # The wall kill is a safety net far past the budget; the evaluator adds at most its own bound.
    assert wall <= 8 * WALL_SAFETY + wall_margin(Budget.parse("8s")) + 30
    assert list((tmp_path / "runs").iterdir()) == []


def test_token_budget_is_deterministic(tmp_path: Path) -> None:
    first = run(tmp_path, tiny_train_py(), "16384-tokens", seed=3)
    second = run(tmp_path, tiny_train_py(), "16384-tokens", seed=3)
    assert first.status == second.status == "ok", first.reason + second.reason
    assert first.tokens == second.tokens == 16 * 1024 and first.steps == 16
    assert first.val_bpb == second.val_bpb


def test_exception_in_train_py_is_a_crash_with_its_log_tail(tmp_path: Path) -> None:
    source = tiny_train_py().replace("train_seconds = time.time() - train_start",
                                     "raise ValueError('deliberate failure after training')")
    summary = run(tmp_path, source, "2k-tokens")
    assert summary.status == "crash" and summary.val_bpb is None
    assert "ValueError: deliberate failure after training" in summary.log_tail
    assert "deliberate failure" in summary.reason


def test_nan_loss_fails_fast_as_a_crash(tmp_path: Path) -> None:
    summary = run(tmp_path, tiny_train_py(INIT_STD="float('inf')"), "50k-tokens")
    assert summary.status == "crash" and summary.val_bpb is None
    assert "NaN" in summary.reason and summary.steps < 50


def test_train_py_that_never_submits_is_a_crash(tmp_path: Path) -> None:
    summary = run(tmp_path, tiny_train_py().replace("submit_model(model)\n", "pass\n"), "2k-tokens")
    assert summary.status == "crash" and "submit_model" in summary.reason


def test_paired_seeds_another_run_index_is_another_seed(tmp_path: Path) -> None:
    """Run k of a train.py uses seed k (paired seeds): the same index gives the same val_bpb (above), another differs."""
    first = run(tmp_path, tiny_train_py(), "16384-tokens", seed=0)
    second = run(tmp_path, tiny_train_py(), "16384-tokens", seed=1)
    assert first.status == second.status == "ok", first.reason + second.reason
    assert first.val_bpb != second.val_bpb
