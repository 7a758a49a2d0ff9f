"""The baseline train.py of each task kind (text assets, never imported)."""

from __future__ import annotations

from importlib import resources

from trainer.baseline import default_train_py
from trainer.errors import TaskError

__all__ = ["baseline_train_py"]

_ASSETS = {"classify": "train_classify.py", "rank": "train_rank.py"}


def baseline_train_py(kind: str) -> str:
    """The package's default train.py for ``kind`` (lm and custom: today's byte-level GPT)."""
    if kind in ("lm", "custom"):
        return default_train_py()
    if kind not in _ASSETS:
        raise TaskError(f"unknown task kind {kind!r}")
    return resources.files("trainer.tasks").joinpath(_ASSETS[kind]).read_text(encoding="utf-8")
