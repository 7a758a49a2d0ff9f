"""agents: what to try next. One interface (``base.Agent.propose``), two agents.

- ``base.py``: the ``Agent`` protocol.
- ``mutate.py``: ``MutateAgent``: one UPPER_CASE knob step per proposal, a bandit over (knob, direction).
- ``prompt.py``: the LLM prompt (bounded) and the reply format and its strict parsing.
- ``llm.py``: ``LLMAgent``: the ``openai`` client against any OpenAI-compatible endpoint, retries, fallback to mutate.
"""

from __future__ import annotations

from coordinator.agents.base import Agent
from coordinator.agents.llm import LLMAgent
from coordinator.agents.mutate import MutateAgent

__all__ = ["Agent", "MutateAgent", "LLMAgent"]
