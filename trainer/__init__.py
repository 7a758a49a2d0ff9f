"""trainer: one experiment (data, locked harness and evaluator, sandboxed runner, hardware fingerprint).

Imports nothing of the rest of the project. Files:

- ``budget.py``: :class:`Budget` ("60s" | "2M-tokens").
- ``data.py``: :class:`DataSet`, :func:`builtin_dataset`, :func:`load_dataset`, the deterministic train/val split.
- ``corpus/``: the embedded corpus (complete Shakespeare, public domain, pinned by sha256) and its build script.
- ``locked/``: ``swarm_harness.py`` (what train.py imports) and ``evaluate.py`` (the evaluator script); both run
  inside the sandbox and import only torch and the standard library.
- ``default_train.py``: the seed train.py (a text asset); ``baseline.py``: :func:`default_train_py`.
- ``gate.py``: :func:`check_train_py`, the lint before a run.
- ``runner.py``: :func:`run_experiment` -> :class:`RunSummary`, with :class:`Progress` reports.
- ``limits.py``: what a budget means per clock (CPU-seconds on CPU, device wall time on CUDA/MPS, token ceilings).
- ``pacing.py``: :class:`Progress`, the budget's stop and progress from the batch server's counts.
- ``batches.py``: the batch server (batches through a pipe into the sandbox, steps and tokens counted outside it).
- ``cpuclock.py``: the CPU clock of a sandboxed tree read from outside (its cgroup, else ``/proc``), memory cgroups.
- ``hardware.py``: :func:`hardware_fingerprint` -> :class:`Hardware`.
- ``sandbox.py`` (:func:`sandbox_available`, ``run_sandboxed``), ``seccomp.py``, ``rlimits.py``, ``sandbox_io.py``:
  bubblewrap + seccomp + rlimits + the supervision of one sandboxed process tree.
- ``tasks/``: :class:`TaskSpec` and the task kinds (lm, classify, rank, custom), their data formats and baselines.
- ``errors.py``: :class:`TrainerError` and its tree.
"""

from __future__ import annotations

from trainer.baseline import default_train_py
from trainer.budget import Budget
from trainer.data import DataSet, builtin_dataset, load_dataset
from trainer.errors import BudgetError, DataError, GateError, SandboxUnavailable, TaskError, TrainerError
from trainer.gate import check_train_py
from trainer.hardware import Hardware, hardware_fingerprint
from trainer.runner import Progress, RunSummary, run_experiment
from trainer.sandbox import sandbox_available
from trainer.tasks import (LM_TASK, Direction, TaskKind, TaskSpec, baseline_train_py, load_task_data, metrics_of,
                           task_dataset, task_spec)

__all__ = [
    "Budget", "DataSet", "RunSummary", "Hardware", "Progress",
    "builtin_dataset", "load_dataset", "default_train_py", "hardware_fingerprint",
    "run_experiment", "sandbox_available", "check_train_py",
    "TrainerError", "BudgetError", "DataError", "GateError", "SandboxUnavailable",
    "TaskError", "TaskSpec", "TaskKind", "Direction", "LM_TASK", "metrics_of", "task_spec", "load_task_data",
    "task_dataset", "baseline_train_py",
]
