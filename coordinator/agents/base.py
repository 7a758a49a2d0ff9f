"""The one interface every agent offers: ``propose(context) -> Proposal``."""

from __future__ import annotations

from typing import Protocol

from coordinator.records import Proposal, ProposalContext

__all__ = ["Agent"]


class Agent(Protocol):
    """Proposes the next train.py from the current best one and what the node and the swarm have seen.

    ``propose`` may raise :class:`coordinator.errors.AgentError` when it has nothing to offer; the loop then runs
    something else (it never lets an agent's failure stop the node).
    """

    name: str

    def propose(self, context: ProposalContext) -> Proposal: ...
