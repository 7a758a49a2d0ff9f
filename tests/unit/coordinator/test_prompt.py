from __future__ import annotations

import pytest

from coordinator.agents.prompt import build_messages, parse_reply
from coordinator.errors import ReplyError
from coordinator.records import HistoryItem, ProposalContext

CURRENT = "X = 1\n"


def test_parses_description_and_whole_file() -> None:
    text, desc = parse_reply("DESCRIPTION: set X to 2 because\n```python\nX = 2\n```\ntrailing words", CURRENT)
    assert text == "X = 2\n" and desc == "set X to 2 because"


@pytest.mark.parametrize("reply,why", [
    ("no code here", "no fenced"), ("```python\ndef f(:\n```", "does not parse"), ("```python\nX = 1\n```", "unchanged"),
    ("```python\n" + "#" * 70_000 + "\n```", "exceeds"), ("x" * 300_000, "exceeds"), ("", "empty"),
])
def test_refuses_unusable_replies(reply: str, why: str) -> None:
    with pytest.raises(ReplyError, match=why):
        parse_reply(reply, CURRENT)


def test_prompt_is_bounded_in_items_and_characters() -> None:
    many = [HistoryItem("idea " + "z" * 1000, 2.0, "keep", False)] * 100
    ctx = ProposalContext(program="P" * 50_000, train_py=CURRENT, best_metric=None, swarm_latest=many,
                          swarm_best=many, own_recent=many)
    system, user = build_messages(ctx)
    assert system["role"] == "system" and "DESCRIPTION:" in system["content"]
    assert len(user["content"]) < 12_000 + 3 * 10 * 220 + 2_000
    assert user["content"].count("- keep") == 30


def test_the_prompt_states_the_task_its_metric_and_which_way_is_better() -> None:
    items = [HistoryItem("wider", -0.8125, "keep", False)]  # a cost: accuracy 0.8125
    ctx = ProposalContext(program="P", train_py=CURRENT, best_metric=-0.75, swarm_best=items, metric_name="accuracy",
                          direction="max", task_kind="classify")
    system, user = build_messages(ctx)
    assert "raise accuracy (higher is better)" in system["content"] and "val_bpb" not in system["content"]
    assert "logits [B, n_labels]" in user["content"] and "accuracy 0.7500 on this machine" in user["content"]
    assert "0.8125  wider" in user["content"] and "-0.8" not in user["content"]
    lm_system, lm_user = build_messages(ProposalContext(program="P", train_py=CURRENT, best_metric=2.25))
    assert "lower val_bpb (lower is better)" in lm_system["content"] and "val_bpb 2.2500" in lm_user["content"]
