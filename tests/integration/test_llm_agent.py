"""The llm agent against a real HTTP server on loopback (tests/fakes/fake_openai.py) through the real openai client."""

from __future__ import annotations

import random

import pytest

from coordinator.agents.llm import LLMAgent
from coordinator.agents.mutate import MutateAgent
from coordinator.knobs import parse_change
from coordinator.records import HistoryItem, ProposalContext
from coordinator.simulate import SIM_TRAIN_PY
from tests.fakes.fake_openai import FakeOpenAI

PROGRAM = "# Program\nMinimise val_bpb. PROGRAM-MARKER-42"
NEW_TEXT = SIM_TRAIN_PY.replace("LEARNING_RATE = 4e-3", "LEARNING_RATE = 8e-3")


def _context() -> ProposalContext:
    seen = [HistoryItem(f"peer idea {i}", 2.3 + i / 100, "discard", False, float(i)) for i in range(30)]
    return ProposalContext(program=PROGRAM, train_py=SIM_TRAIN_PY, best_metric=2.41,
                           own_recent=[HistoryItem("N_LAYER 2 -> 4", 2.40, "keep", True, 1.0)],
                           swarm_best=seen[:3], swarm_latest=seen)


def _agent(server: FakeOpenAI, *, timeout: float = 5.0, retries: int = 1) -> tuple[LLMAgent, list[float]]:
    sleeps: list[float] = []
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
    agent = LLMAgent.from_env("fake-model", MutateAgent(random.Random(1)), timeout=timeout, env=env,
                              retries=retries, backoff=0.25, sleep=sleeps.append)
    return agent, sleeps


def test_good_reply_is_used_and_prompt_is_bounded() -> None:
    with FakeOpenAI([("good", NEW_TEXT, "raise LR: loss still falling at the end")]) as server:
        agent, sleeps = _agent(server)
        proposal = agent.propose(_context())
    assert proposal.agent == "llm"
    assert proposal.train_py == NEW_TEXT
    assert proposal.description == "raise LR: loss still falling at the end"
    assert sleeps == []
    (request,) = server.requests
    assert request["model"] == "fake-model"
    system, user = request["messages"]
    assert "DESCRIPTION:" in system["content"]
    assert "PROGRAM-MARKER-42" in user["content"] and "LEARNING_RATE = 4e-3" in user["content"]
    assert "peer idea 29" in user["content"] and "peer idea 5" not in user["content"]  # only the last ten
    assert len(user["content"]) < 20_000


@pytest.mark.parametrize("failure", ["garbage", "nonparsing", "huge"])
def test_unusable_replies_retry_then_fall_back_to_mutate(failure: str) -> None:
    with FakeOpenAI([(failure,)]) as server:
        agent, sleeps = _agent(server, timeout=0.4, retries=1)
        proposal = agent.propose(_context())
        assert len(server.requests) == 2  # one try and one retry of the agent's own, then the fallback
    assert proposal.agent == "mutate (llm fallback)"
    assert parse_change(proposal.description) is not None
    assert proposal.train_py != SIM_TRAIN_PY
    assert sleeps == [0.25]
    assert agent.last_error and not agent.disabled


@pytest.mark.parametrize("failure", ["error500", "hang"])
def test_transport_errors_are_retried_by_the_client_not_by_the_agent(failure: str) -> None:
    with FakeOpenAI([(failure,)]) as server:
        agent, sleeps = _agent(server, timeout=0.4, retries=1)
        proposal = agent.propose(_context())
        assert len(server.requests) == 3  # the openai client's own 2 retries (honouring retry-after), nothing more
    assert proposal.agent == "mutate (llm fallback)"
    assert sleeps == []  # the agent itself did not back off and ask again
    assert agent.last_error and not agent.disabled


@pytest.mark.parametrize(("failure", "fix"), [("error401", "OPENAI_API_KEY"), ("error403", "OPENAI_API_KEY"),
                                              ("error404", "--model")])
def test_a_refusal_stops_asking_that_endpoint_and_says_how_to_fix_it(failure: str, fix: str) -> None:
    with FakeOpenAI([(failure,)]) as server:
        agent, sleeps = _agent(server, retries=2)
        proposals = [agent.propose(_context()) for _ in range(3)]
        assert len(server.requests) == 1  # asked once; three rounds later still once (it was 3 per round)
    assert [p.agent for p in proposals] == ["mutate (llm fallback)"] * 3
    assert sleeps == []
    assert fix in agent.disabled and server.base_url in agent.disabled
    assert str(failure[5:]) in agent.disabled


def test_error_then_good_reply_recovers_through_the_clients_retry() -> None:
    with FakeOpenAI([("error500",), ("good", NEW_TEXT, "raise LR")]) as server:
        agent, sleeps = _agent(server, retries=2)
        proposal = agent.propose(_context())
        assert len(server.requests) == 2
    assert proposal.agent == "llm" and proposal.train_py == NEW_TEXT
    assert sleeps == []


def test_unchanged_file_is_refused() -> None:
    with FakeOpenAI([("good", SIM_TRAIN_PY, "nothing")]) as server:
        agent, _ = _agent(server, retries=0)
        proposal = agent.propose(_context())
    assert proposal.agent == "mutate (llm fallback)"
    assert "unchanged" in agent.last_error


def test_prompt_carries_the_study_and_a_code_change_starts_a_new_branch() -> None:
    from coordinator.agents.hybrid import HybridAgent
    from coordinator.agents.tpe import TPEAgent
    from coordinator.branch import apply_values, branch_key
    from coordinator.records import ScoredText

    trials = []
    for i, (lr, emb) in enumerate([(1e-3, 64), (2e-3, 128), (4e-3, 128), (8e-3, 256), (1.2e-2, 256), (2e-2, 512),
                                   (6e-3, 256), (3e-3, 64)]):
        text = apply_values(SIM_TRAIN_PY, {"LEARNING_RATE": lr, "N_EMBD": emb})
        trials.append(ScoredText(text, 2.30 - 0.01 * i if emb == 256 else 2.40 + i / 100, "discard"))
    trials.append(ScoredText(apply_values(SIM_TRAIN_PY, {"N_EMBD": 512, "N_LAYER": 8}), 0.0, "crash"))
    code_change = SIM_TRAIN_PY.replace("    pass\n", "    print('a new training loop')\n")
    with FakeOpenAI([("good", code_change, "a new training loop")]) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        tpe = TPEAgent(random.Random(2))
        hybrid = HybridAgent(LLMAgent.from_env("fake-model", tpe, env=env, retries=0), tpe, tune_rounds=1)
        context = ProposalContext(program=PROGRAM, train_py=SIM_TRAIN_PY, best_metric=2.3, scored=trials)
        tuned = hybrid.propose(context)                  # TPE first, on the baseline's branch
        coded = hybrid.propose(context)                  # then the LLM, told what the study learned
        (request,) = server.requests
    user = request["messages"][1]["content"]
    assert tuned.agent == "tpe" and branch_key(tuned.train_py) == branch_key(SIM_TRAIN_PY)
    assert "What the swarm's study of this train.py has learned" in user and "9 trials" in user
    assert "2.2400  N_EMBD=256 LEARNING_RATE=6e-3" in user.split("Best configurations:")[1].splitlines()[1]
    assert "Knobs that matter most (importance): " in user and "N_EMBD" in user.split("importance")[1]
    assert "Crashed:\n- N_LAYER=8 N_EMBD=512" in user
    assert coded.agent == "llm" and branch_key(coded.train_py) != branch_key(SIM_TRAIN_PY)   # a new branch
    after = ProposalContext(program=PROGRAM, train_py=coded.train_py, best_metric=2.3,
                            scored=trials + [ScoredText(coded.train_py, 2.25, "keep")])
    retuned = hybrid.propose(after)                      # TPE tunes the new code's knobs on its own study
    assert retuned.agent == "tpe" and branch_key(retuned.train_py) == branch_key(coded.train_py)
    assert tpe.last_study is not None and tpe.last_study.trials == 1
