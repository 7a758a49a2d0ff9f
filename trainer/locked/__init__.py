"""The locked files of an experiment: copied into a read-only folder of every run, never edited by agents.

- ``swarm_harness.py``: what train.py imports (budget, device, seed, training batches, ``submit_model``).
- ``model_server.py`` (+ ``op_allowlist.py``): runs the exported model's forward in the evaluator's sandbox, which
  holds no val data; checks the graph against the op allowlist first.
- ``evaluate.py``: the scorer, the only process with the val slice; it computes val_bpb (run from the package).
- ``evaluate_task.py`` (+ ``task_codec.py``, ``task_metrics.py``): the scorer of the classify and rank tasks.

Both import only the standard library and torch, so they run inside the sandbox without the project installed.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HARNESS_PATH", "EVALUATOR_PATH", "TASK_EVALUATOR_PATH", "MODEL_SERVER_PATH", "OP_ALLOWLIST_PATH"]

HARNESS_PATH = Path(__file__).resolve().parent / "swarm_harness.py"
EVALUATOR_PATH = Path(__file__).resolve().parent / "evaluate.py"
TASK_EVALUATOR_PATH = Path(__file__).resolve().parent / "evaluate_task.py"
MODEL_SERVER_PATH = Path(__file__).resolve().parent / "model_server.py"
OP_ALLOWLIST_PATH = Path(__file__).resolve().parent / "op_allowlist.py"
