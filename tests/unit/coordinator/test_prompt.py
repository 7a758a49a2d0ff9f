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
