"""agents: what to try next. One interface (``base.Agent.propose``), four agents.

- ``base.py``: the ``Agent`` protocol.
- ``mutate.py``: ``MutateAgent``: one UPPER_CASE knob step per proposal, a bandit over (knob, direction).
- ``prompt.py``: the LLM prompt (bounded) and the reply format and its strict parsing.
- ``llm.py``: ``LLMAgent``: the ``openai`` client against any OpenAI-compatible endpoint, retries, fallback to mutate.
- ``tpe.py``: ``TPEAgent``: Optuna's TPE over the knobs, everyone's results as trials (imported on demand: Optuna).
- ``hybrid.py``: ``HybridAgent``: the LLM changes the code, TPE tunes each branch's knobs in between.
"""

from __future__ import annotations

from coordinator.agents.base import Agent
from coordinator.agents.llm import LLMAgent
from coordinator.agents.mutate import MutateAgent

__all__ = ["Agent", "MutateAgent", "LLMAgent"]
