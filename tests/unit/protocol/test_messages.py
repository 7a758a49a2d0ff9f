"""Message records: schemas match the dataclasses, helpers for descriptions and budgets."""

from __future__ import annotations

import dataclasses

import pytest

from protocol import BudgetRule, Limits, Manifest, Result, one_line
from protocol.fields import Int, Schema
from protocol.messages import SCHEMAS
from tests.unit.protocol.factories import ALICE, manifest


def test_every_schema_lists_its_dataclass_fields_in_order() -> None:
    for kind, schema in SCHEMAS.items():
        assert [name for name, _ in schema.items] == [f.name for f in dataclasses.fields(schema.cls)], kind
    with pytest.raises(TypeError):
        Schema(BudgetRule, {"amount": Int(), "kind": Int()})


def test_messages_are_frozen_and_hashable() -> None:
    message = manifest()
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.name = "other"  # type: ignore[misc]
    assert hash(message) == hash(manifest()) and message.creator == ALICE.public_key
    assert isinstance(message, Manifest) and not isinstance(message, Result)


@pytest.mark.parametrize(
    "rule, text",
    [(BudgetRule("seconds", 60), "60s"), (BudgetRule("tokens", 2_000_000), "2M-tokens"),
     (BudgetRule("tokens", 500_000), "500k-tokens"), (BudgetRule("tokens", 1234), "1234-tokens")],
)
def test_budget_rule_text(rule: BudgetRule, text: str) -> None:
    assert str(rule) == text


def test_one_line_makes_any_text_a_valid_description() -> None:
    assert one_line("  raise lr\n\tto 6e-3 \x1b[31m ") == "raise lr to 6e-3 [31m"
    long = one_line("word " * 200)
    assert len(long) == Limits().max_description_chars and long.endswith("\u2026")
    assert one_line("short") == "short"
