"""coordinator: the decisions of a node (agents, keep/discard under noise, adopt/verify/stack, trust).

Takes plain records (``protocol.Result``/``Claim`` messages, train.py texts, run summaries), never the ledger or the
network; node/ drives :class:`Researcher` from a worker thread with the real runner, ledger and gossip injected.

Files:

- ``researcher.py``: ``Researcher``: the loop; ``step()`` = plan -> claim -> run (re-run within noise) -> decide ->
  commit/reset -> publish an ``Outcome``. Resumes from the workspace HEAD and the records it is given.
- ``runs.py``: ``run_wave``: a step's runs (a baseline's repeats, a candidate's runs k and k+1) in flight at once up
  to ``parallel``, recorded in index order; ``RunLike`` (what the loop reads of a run).
- ``texts.py``: ``TextBook`` (the train.py texts a node knows, fetched on demand, checked against the hash),
  ``gate`` (the coordinator's lint of a proposal).
- ``records.py``: the plain records: ``SwarmView``, ``SeenResult``, ``Outcome``, ``Action``, ``Proposal``,
  ``ProposalContext``, ``HistoryItem``, ``TrustChange``, ``Policy``; ``ResultLike``/``ClaimLike`` protocols.
- ``plan.py``: ``plan_next`` (baseline / adopt / stack / explore) and the share bound of adopt and stack.
- ``decide.py``: ``decide(candidate_runs, best, margin) -> Decision`` (keep / discard / rerun), ``comparable``.
- ``runbook.py``: ``RunBook``: which results compete (class + clock), the noise model they feed, the next run index
  (paired seeds: run k of a blob uses seed k).
- ``noise.py``: ``NoiseModel``: repeated runs per blob -> pooled std -> margin; ``NoiseEvidence`` for status.
- ``peers.py``: dedupe (``scored_blobs``), claims (``claimed_blobs``: peers this node reproduced, and a few slots
  for the rest; ``unfulfilled_claims``), ``adopt_candidates``, ``stack_pairs``, ``verification`` / ``verified_ids``
  (verified for node ``me`` = re-run by it and held, or confirmed by a peer its user trusts, or by 2 peers it
  reproduced: ``vouched_peers``; fresh identities count for nothing).
- ``trust.py``: ``TrustBook``: per-peer score from confirmed / refuted claims, invalid messages, unfulfilled claims.
- ``workspace.py``: ``Workspace`` (the swarm's git repository), ``merge3``, ``blob_hash``, ``commit_message``.
- ``knobs.py``: UPPER_CASE knobs of train.py: read (ast), step (log / powers of two / flips / choices), rewrite one line.
- ``agents/``: ``Agent`` interface, ``MutateAgent`` (bandit over knob steps), ``LLMAgent`` (openai client, fallback),
  ``TPEAgent`` (agents/tpe.py: Optuna TPE over the knobs) and ``HybridAgent`` (agents/hybrid.py: LLM code + TPE knobs).
- ``space.py``: ``Param``, ``infer_space``: the knobs' types and ranges from values, comments and program.md ``tune``.
- ``branch.py``: ``branch_key`` (a train.py with knob values blanked: one study per branch), ``trial_texts``.
- ``study.py``: ``Study``: an in-memory Optuna study of one branch from plain records; ``study_notes`` for the LLM.
- ``simulate.py``: ``SimSwarm``: many Researchers on a synthetic objective in simulated time (bench and tests).
- ``errors.py``: ``CoordinatorError`` and its tree.
"""

from __future__ import annotations

from coordinator.agents import Agent, LLMAgent, MutateAgent
from coordinator.decide import Decision, comparable, decide
from coordinator.errors import AgentError, CoordinatorError, KnobError, ReplyError, WorkspaceError
from coordinator.noise import NoiseEvidence, NoiseModel
from coordinator.peers import Verification, verification
from coordinator.plan import Tally, plan_next
from coordinator.records import (Action, HistoryItem, Outcome, Policy, Proposal, ProposalContext, SeenResult,
                                 SwarmView, TrustChange)
from coordinator.researcher import Researcher
from coordinator.trust import TrustBook
from coordinator.workspace import Workspace, blob_hash, merge3

__all__ = [
    "Researcher", "Workspace", "merge3", "blob_hash", "Agent", "MutateAgent", "LLMAgent", "NoiseModel",
    "NoiseEvidence", "decide", "Decision", "comparable", "TrustBook", "plan_next", "Tally", "verification",
    "Verification", "Action", "HistoryItem", "Outcome", "Policy", "Proposal", "ProposalContext", "SeenResult",
    "SwarmView", "TrustChange", "CoordinatorError", "WorkspaceError", "AgentError", "ReplyError", "KnobError",
]
