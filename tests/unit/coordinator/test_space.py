"""The search space inferred from train.py's knobs and comments, and program.md's ``tune`` overrides."""

from __future__ import annotations

import logging

import pytest

from coordinator.space import Param, infer_space, snap
from trainer import default_train_py


@pytest.fixture(scope="module")
def space() -> dict[str, Param]:
    return infer_space(default_train_py())


def test_kinds_and_ranges_follow_values_and_comments(space: dict[str, Param]) -> None:
    assert space["N_EMBD"] == Param("N_EMBD", "pow2", 5, 9)             # 128: 32 .. 512
    assert space["LEARNING_RATE"].kind == "float" and space["LEARNING_RATE"].log
    assert space["LEARNING_RATE"].low == pytest.approx(4e-4) and space["LEARNING_RATE"].high == pytest.approx(4e-2)
    assert space["WARMUP_STEPS"] == Param("WARMUP_STEPS", "int", 25, 400, log=True)
    assert space["DROPOUT"] == Param("DROPOUT", "float", 0.0, 0.5)
    assert space["MIN_LR_RATIO"].high == 1.0                             # a ratio stays a ratio
    assert space["BETA2"].kind == "beta" and space["BETA2"].low == pytest.approx(0.0125)
    assert space["NORM"].choices == ("layernorm", "rmsnorm")             # from the comment's quoted names
    assert space["TIED_EMBEDDINGS"].choices == (False, True)
    assert "LOG_EVERY" not in space                                      # prints, never scores


def test_program_md_overrides_and_refuses_bad_lines(caplog: pytest.LogCaptureFixture) -> None:
    program = ("## Knobs\n- `tune N_LAYER int 1..8`\ntune LEARNING_RATE float 1e-3..2e-2 log\ntune WARMUP_STEPS fixed\n"
               "tune ACTIVATION choice gelu|swiglu\ntune N_HEAD int eight\ntune NOT_A_KNOB int 1..2\n")
    with caplog.at_level(logging.WARNING):
        space = infer_space(default_train_py(), program)
    assert space["N_LAYER"] == Param("N_LAYER", "int", 1, 8)
    assert space["LEARNING_RATE"] == Param("LEARNING_RATE", "float", 1e-3, 2e-2, log=True)
    assert "WARMUP_STEPS" not in space
    assert space["ACTIVATION"].choices == ("gelu", "swiglu")
    assert space["N_HEAD"].kind == "pow2"                                # the bad line left the inferred range
    assert "tune N_HEAD int eight" in caplog.text and "NOT_A_KNOB" in caplog.text


def test_range_written_in_a_comment_wins() -> None:
    text = "DEPTH = 3        # blocks [1, 6]\nSCALE = 0.5      # 0.1..0.9\n"
    space = infer_space(text)
    assert space["DEPTH"] == Param("DEPTH", "int", 1, 6, log=True)
    assert space["SCALE"] == Param("SCALE", "float", 0.1, 0.9, log=False)


def test_internal_clips_and_snap_writes_train_py_values(space: dict[str, Param]) -> None:
    assert space["N_EMBD"].internal(4096) == 9 and space["N_EMBD"].internal(100) is None   # not a power of two
    assert snap(space["N_EMBD"], 8) == 256
    assert space["BETA2"].internal(0.99) == pytest.approx(0.0125)        # 1 - 0.99 clipped up to the range
    assert snap(space["BETA2"], 0.0123) == pytest.approx(0.988)       # the gap at 2 digits
    assert snap(space["LEARNING_RATE"], 0.012345) == 0.012
    assert space["NORM"].internal("batchnorm") is None and space["TIED_EMBEDDINGS"].internal(False) is False
