"""The errors of trainer/. A crashed training run is data (``RunSummary.status``), not an exception.

::

    TrainerError                  root: everything trainer/ raises on purpose
    +-- BudgetError               a budget string that does not parse ("60s", "2M-tokens")
    +-- DataError                 a corpus that is missing, empty, too large, not UTF-8 text, or fails its hash
    +-- GateError                 a train.py that fails the lint (size, encoding, syntax)
    +-- SandboxUnavailable        bubblewrap cannot start here and a sandbox was required
    +-- TaskError                 a task spec or task data (classify/rank JSONL, evaluate.py) that cannot be used
"""

from __future__ import annotations

__all__ = ["TrainerError", "BudgetError", "DataError", "GateError", "SandboxUnavailable", "TaskError"]


class TrainerError(Exception):
    """Root of the errors raised by trainer/."""


class BudgetError(TrainerError, ValueError):
    """A budget string that does not parse."""


class DataError(TrainerError):
    """A corpus that cannot be used."""


class GateError(TrainerError):
    """A train.py rejected by the gate (not a crash: it never ran)."""


class SandboxUnavailable(TrainerError):
    """The sandbox cannot start on this machine and the caller required it."""


class TaskError(TrainerError, ValueError):
    """A bad task spec or task data; the message names the line (for data) and the fix."""
