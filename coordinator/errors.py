"""The errors of coordinator/. Decisions never raise into the research loop; these mark misuse and broken tools.

::

    CoordinatorError              root: everything coordinator/ raises on purpose
    +-- WorkspaceError            a git command failed, timed out, or the workspace is not ours
    +-- AgentError                an agent could not produce a proposal (caught by the loop: it falls back)
    |   +-- ReplyError            an LLM reply that is malformed, oversized, non-parsing or unchanged
    +-- KnobError                 a train.py whose knob cannot be read or rewritten
"""

from __future__ import annotations

__all__ = ["CoordinatorError", "WorkspaceError", "AgentError", "ReplyError", "KnobError"]


class CoordinatorError(Exception):
    """Root of the errors raised by coordinator/."""


class WorkspaceError(CoordinatorError):
    """A git operation on the workspace failed."""


class AgentError(CoordinatorError):
    """An agent produced no usable proposal."""


class ReplyError(AgentError):
    """An LLM reply that cannot be used as a train.py."""


class KnobError(CoordinatorError):
    """A knob of train.py that cannot be read or rewritten."""
