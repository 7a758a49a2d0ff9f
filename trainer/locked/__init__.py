"""The locked files of an experiment: copied into a read-only folder of every run, never edited by agents.

- ``swarm_harness.py``: what train.py imports (budget, device, seed, training batches, ``submit_model``).
- ``evaluate.py``: the evaluator script, run in its own sandboxed process.

Both import only the standard library and torch, so they run inside the sandbox without the project installed.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HARNESS_PATH", "EVALUATOR_PATH"]

HARNESS_PATH = Path(__file__).resolve().parent / "swarm_harness.py"
EVALUATOR_PATH = Path(__file__).resolve().parent / "evaluate.py"
