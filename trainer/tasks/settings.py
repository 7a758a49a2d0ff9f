"""What the runner adds for a task: the data check and the classify/rank settings of the harness, model server and
scorer configs (shapes, labels, the evaluation context)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.data import DataSet
from trainer.errors import TaskError
from trainer.locked.task_codec import CLASSIFY_CONTEXT, RANK_CONTEXT
from trainer.tasks.spec import TaskSpec
from trainer.tasks.store import task_meta

__all__ = ["check_task", "task_settings"]

_TEXT_KINDS = ("lm", "custom")


def check_task(task: TaskSpec, dataset: DataSet) -> None:
    """``TaskError`` unless ``dataset`` holds data of ``task``'s kind (lm and custom share text corpora)."""
    if dataset.task != task.kind and not (task.kind in _TEXT_KINDS and dataset.task in _TEXT_KINDS):
        raise TaskError(f"a {task.kind} task cannot run on {dataset.task} data ({dataset.name}): load it with "
                        f"trainer.tasks.load_task_data({task.kind!r}, path)")


def task_settings(task: TaskSpec, data_dir: Path, eval_batch: int) -> tuple[dict[str, Any], dict[str, Any],
                                                                          dict[str, Any]]:
    """(harness config, model server config, scorer config) additions of a classify/rank task."""
    meta = task_meta(data_dir)
    labels = list(meta.get("labels", []))
    context = CLASSIFY_CONTEXT if task.kind == "classify" else RANK_CONTEXT
    shape_in = [eval_batch, 2, context] if task.kind == "rank" else [eval_batch, context]
    shape_out = [eval_batch, len(labels)] if task.kind == "classify" else [eval_batch]
    harness = {"task": task.kind, "labels": labels, "eval_context": context}
    server = {"eval_context": context, "input_shape": shape_in, "output_shape": shape_out}
    scorer = {"kind": task.kind, "labels": labels, "eval_context": context, "output_shape": shape_out}
    return harness, server, scorer
