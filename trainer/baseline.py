"""The seed train.py that agents edit, shipped as the text asset ``default_train.py`` (never imported)."""

from __future__ import annotations

from importlib import resources

__all__ = ["default_train_py"]


def default_train_py() -> str:
    """The default train.py: a 2-layer, 128-wide byte-level GPT tuned for a 60 s CPU budget."""
    return resources.files("trainer").joinpath("default_train.py").read_text(encoding="utf-8")
