"""The ``hybrid`` agent: the LLM changes the code, TPE tunes the knobs of each code branch it starts.

Every ``tune_rounds + 1``-th proposal goes to the LLM (whose prompt carries the study's notes: best configurations,
knob importances, crashes; see ``coordinator.study.study_notes``), the others to TPE. A code change is a new branch
(``coordinator.branch``), so TPE's following proposals tune the knobs of the new code on its own study.
"""

from __future__ import annotations

from coordinator.agents.base import Agent
from coordinator.agents.tpe import TPEAgent
from coordinator.records import Proposal, ProposalContext

__all__ = ["HybridAgent"]


class HybridAgent:
    """LLM code changes, TPE knob tuning in between (``tune_rounds`` TPE proposals per LLM proposal)."""

    name = "hybrid"
    uses_trials = True

    def __init__(self, llm: Agent, tpe: TPEAgent, *, tune_rounds: int = 4) -> None:
        self.llm = llm
        self.tpe = tpe
        self.tune_rounds = tune_rounds
        self._since_llm = 0

    def propose(self, context: ProposalContext) -> Proposal:
        if self._since_llm >= self.tune_rounds:
            self._since_llm = 0
            return self.llm.propose(context)
        self._since_llm += 1
        return self.tpe.propose(context)
