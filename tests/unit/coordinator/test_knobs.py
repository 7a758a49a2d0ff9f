from __future__ import annotations

import pytest

from coordinator.errors import KnobError
from coordinator.knobs import format_value, parse_change, read_knobs, rewrite, step_knob, describe
from coordinator.simulate import SIM_TRAIN_PY


def knob(name: str, text: str = SIM_TRAIN_PY):
    return next(k for k in read_knobs(text) if k.name == name)


def test_reads_upper_case_constants_of_known_kinds_only() -> None:
    text = SIM_TRAIN_PY + 'LOG_EVERY = 50\nOTHER = "free text"\nlower = 3\nNEG: float = -1.5\n'
    names = {k.name: k.value for k in read_knobs(text)}
    assert names["N_LAYER"] == 2 and names["LEARNING_RATE"] == 4e-3 and names["NORM"] == "layernorm"
    assert names["NEG"] == -1.5
    assert "LOG_EVERY" not in names and "OTHER" not in names and "lower" not in names


def test_rewrite_changes_only_the_value_and_keeps_the_comment() -> None:
    lr = knob("LEARNING_RATE")
    new = rewrite(SIM_TRAIN_PY, lr, 6e-3)
    changed = [(a, b) for a, b in zip(SIM_TRAIN_PY.splitlines(), new.splitlines()) if a != b]
    assert changed == [("LEARNING_RATE = 4e-3      # peak learning rate", "LEARNING_RATE = 6e-3      # peak learning rate")]
    assert describe(lr, 6e-3) == "LEARNING_RATE 4e-3 -> 6e-3"


@pytest.mark.parametrize("name,direction,expected", [
    ("N_EMBD", "up", 256), ("N_EMBD", "down", 64), ("WARMUP_STEPS", "up", 125), ("LEARNING_RATE", "up", 6e-3),
    ("LEARNING_RATE", "down", 2.7e-3), ("BETA2", "up", 0.975), ("BETA2", "down", 0.9), ("DROPOUT", "up", 0.05),
    ("DROPOUT", "down", None), ("NORM", "next", "rmsnorm"), ("NORM", "up", None),
])
def test_steps_are_log_scale_discrete_and_bounded(name: str, direction: str, expected: object) -> None:
    assert step_knob(knob(name), direction) == expected  # type: ignore[arg-type]


def test_bounds_and_flips() -> None:
    text = "DROPOUT = 0.4\nUSE_X = True\nN = 1\n"
    assert step_knob(knob("DROPOUT", text), "up") == 0.5
    assert step_knob(knob("USE_X", text), "flip") is False
    assert step_knob(knob("N", text), "down") is None  # already at the lower bound


def test_format_and_parse_change_round_trip() -> None:
    assert format_value(0.006) == "6e-3" and format_value(0.95) == "0.95" and format_value(3.0) == "3.0"
    assert parse_change("LEARNING_RATE 4e-3 -> 6e-3") == ("LEARNING_RATE", "up")
    assert parse_change("N_LAYER 4 -> 2 (on 0a0b's 2.3)") == ("N_LAYER", "down")
    assert parse_change("USE_X True -> False") == ("USE_X", "flip")
    assert parse_change('NORM "layernorm" -> "rmsnorm"') == ("NORM", "next")
    assert parse_change("tried something clever") is None


def test_non_parsing_file_raises() -> None:
    with pytest.raises(KnobError):
        read_knobs("def broken(:\n")
