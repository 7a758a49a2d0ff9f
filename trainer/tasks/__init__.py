"""Tasks: what a swarm optimises (issue 13). Built-in kinds ``lm`` (the default), ``classify`` and ``rank``, each
with a locked evaluator in :mod:`trainer.locked`; ``custom``: the seeder's evaluate.py in its own sandbox.

- ``spec.py``: :class:`TaskSpec` (kind, deciding metric, direction, custom evaluator source), :func:`task_spec`,
  :func:`metrics_of`;
- ``formats.py``: the classify/rank JSON Lines formats, validated line by line, and the deterministic split;
- ``store.py``: :func:`load_task_data`, :func:`task_dataset`, the prepared split files;
- ``baselines.py``: :func:`baseline_train_py`; ``train_classify.py``, ``train_rank.py``: the baseline train.py
  assets of classify and rank (text, never imported);
- ``custom.py``: the custom evaluator's sandboxed run; ``settings.py``: what the runner adds to its configs for a task.
"""

from __future__ import annotations

from trainer.errors import TaskError
from trainer.tasks.baselines import baseline_train_py
from trainer.tasks.spec import KINDS, LM_TASK, Direction, TaskKind, TaskSpec, check_evaluator, metrics_of, task_spec
from trainer.tasks.store import load_task_data, task_dataset

__all__ = ["TaskKind", "Direction", "TaskSpec", "LM_TASK", "KINDS", "TaskError", "metrics_of", "task_spec",
           "check_evaluator", "load_task_data", "task_dataset", "baseline_train_py"]
