from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from trainer import Budget, BudgetError


@pytest.mark.parametrize(("text", "kind", "amount", "canonical"), [
    ("60s", "seconds", 60, "60s"),
    ("90 s", "seconds", 90, "90s"),
    ("2m", "seconds", 120, "120s"),
    ("2M-tokens", "tokens", 2_000_000, "2M-tokens"),
    ("500k-tokens", "tokens", 500_000, "500k-tokens"),
    ("1234-tokens", "tokens", 1234, "1234-tokens"),
    ("1.5M-tokens", "tokens", 1_500_000, "1500k-tokens"),
])
def test_parse_and_canonical_form(text: str, kind: str, amount: int, canonical: str) -> None:
    budget = Budget.parse(text)
    assert (budget.kind, budget.amount) == (kind, amount)
    assert str(budget) == canonical
    assert Budget.parse(str(budget)) == budget


@pytest.mark.parametrize("text", ["", "s", "-5s", "0s", "60x", "1.5s", "0.0001k-tokens", "tokens", "9" * 70])
def test_bad_budgets_raise_budget_error(text: str) -> None:
    with pytest.raises(BudgetError):
        Budget.parse(text)


def test_constructor_checks_kind_and_amount() -> None:
    with pytest.raises(BudgetError):
        Budget("minutes", 5)  # type: ignore[arg-type]
    with pytest.raises(BudgetError):
        Budget("seconds", True)


@given(st.sampled_from(["seconds", "tokens"]), st.integers(min_value=1, max_value=86_400))
def test_str_round_trips(kind: str, amount: int) -> None:
    budget = Budget(kind, amount)  # type: ignore[arg-type]
    assert Budget.parse(str(budget)) == budget
