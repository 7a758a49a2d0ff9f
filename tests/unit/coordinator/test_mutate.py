from __future__ import annotations

import random
from collections import Counter

import pytest

from coordinator.agents.mutate import MutateAgent
from coordinator.errors import AgentError
from coordinator.knobs import parse_change
from coordinator.records import HistoryItem, ProposalContext
from coordinator.simulate import SIM_TRAIN_PY
from coordinator.workspace import blob_hash


def ctx(**kw: object) -> ProposalContext:
    return ProposalContext(program="", train_py=SIM_TRAIN_PY, best_metric=2.4, **kw)  # type: ignore[arg-type]


def test_one_line_changes_described_and_deterministic() -> None:
    a = MutateAgent(random.Random(7)).propose(ctx())
    b = MutateAgent(random.Random(7)).propose(ctx())
    assert a == b and a.agent == "mutate"
    diff = [x for x, y in zip(SIM_TRAIN_PY.splitlines(), a.train_py.splitlines()) if x != y]
    assert len(diff) == 1 and parse_change(a.description) is not None


def test_learns_which_knob_and_direction_paid() -> None:
    history = [HistoryItem("LEARNING_RATE 4e-3 -> 6e-3", 2.3, "keep", False)] * 6
    history += [HistoryItem(f"{k} 1 -> 2", 2.5, "discard", True) for k in ("N_LAYER", "N_EMBD", "CONTEXT")] * 3
    picks = Counter(parse_change(MutateAgent(random.Random(s)).propose(ctx(history=history)).description)
                    for s in range(40))
    assert picks.most_common(1)[0][0] == ("LEARNING_RATE", "up")
    assert picks[("LEARNING_RATE", "up")] >= 5  # about 3x its share among 23 arms


def test_skips_taken_blobs_then_moves_two_knobs() -> None:
    agent = MutateAgent(random.Random(1))
    taken: set[str] = set()
    for _ in range(60):  # exhaust every one-knob neighbour
        p = agent.propose(ctx(taken=frozenset(taken)))
        assert blob_hash(p.train_py) not in taken
        taken.add(blob_hash(p.train_py))
        if ";" in p.description:
            break
    assert ";" in p.description  # a two-knob move once no one-knob move is left


def test_file_without_knobs_or_not_parsing_raises_agent_error() -> None:
    with pytest.raises(AgentError):
        MutateAgent(random.Random(1)).propose(ProposalContext(program="", train_py="def x(:\n", best_metric=None))
