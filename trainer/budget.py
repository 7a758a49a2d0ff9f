"""The budget of one experiment: wall-clock seconds or training tokens (``"60s"``, ``"2M-tokens"``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from trainer.errors import BudgetError

__all__ = ["Budget", "BudgetKind"]

BudgetKind = Literal["seconds", "tokens"]

_SECONDS = re.compile(r"^\s*(\d+)\s*(s|sec|secs|seconds?)?\s*$", re.IGNORECASE)
_MINUTES = re.compile(r"^\s*(\d+)\s*(m|min|mins|minutes?)\s*$", re.IGNORECASE)
_TOKENS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*[-_ ]?\s*tok(?:en)?s?\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}

MAX_SECONDS = 24 * 3600
MAX_TOKENS = 10**12


@dataclass(frozen=True)
class Budget:
    """How much one experiment may train: ``kind`` is ``"seconds"`` (wall clock) or ``"tokens"`` (tokens served)."""

    kind: BudgetKind
    amount: int

    def __post_init__(self) -> None:
        if self.kind not in ("seconds", "tokens"):
            raise BudgetError(f"budget kind must be 'seconds' or 'tokens', not {self.kind!r}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise BudgetError(f"budget amount must be an int, not {type(self.amount).__name__}")
        limit = MAX_SECONDS if self.kind == "seconds" else MAX_TOKENS
        if not 1 <= self.amount <= limit:
            raise BudgetError(f"budget amount {self.amount} out of range 1..{limit} {self.kind}")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """Parse ``"60s"``, ``"90 s"``, ``"2m"`` (minutes), ``"2M-tokens"``, ``"500k-tokens"``, ``"1000 tokens"``."""
        if not isinstance(text, str) or len(text) > 64:
            raise BudgetError(f"not a budget: {text!r}")
        if m := _TOKENS.match(text):
            number, unit = m.group(1), m.group(2).lower()
            amount = float(number) * _SCALE[unit]
            if amount != int(amount):
                raise BudgetError(f"a token budget must be a whole number of tokens: {text!r}")
            return cls("tokens", int(amount))
        if m := _MINUTES.match(text):
            return cls("seconds", int(m.group(1)) * 60)
        if m := _SECONDS.match(text):
            return cls("seconds", int(m.group(1)))
        raise BudgetError(f"not a budget: {text!r} (examples: '60s', '2M-tokens', '500k-tokens')")

    def __str__(self) -> str:
        if self.kind == "seconds":
            return f"{self.amount}s"
        for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
            if self.amount % scale == 0:
                return f"{self.amount // scale}{unit}-tokens"
        return f"{self.amount}-tokens"
