"""``--agent`` names build the right agent (tpe and hybrid learn from trials; llm's fallback is mutate)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from node.config import AGENTS
from node.research import make_agent


@pytest.mark.parametrize("name,uses_trials", [("mutate", False), ("tpe", True), ("llm", True), ("hybrid", True)])
def test_every_agent_name_builds_its_agent(name: str, uses_trials: bool) -> None:
    agent = make_agent(SimpleNamespace(agent=name, model="m"), random.Random(0))
    assert agent.name == name and getattr(agent, "uses_trials", False) is uses_trials
    assert name in AGENTS
