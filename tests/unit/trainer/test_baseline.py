from __future__ import annotations

import ast
import re

from trainer import default_train_py


def test_default_train_py_shape() -> None:
    source = default_train_py()
    ast.parse(source)
    assert len(source.splitlines()) <= 400
    banners = re.findall(r"^# (Model|Optimizer|Hyperparameters|Setup|Training loop)$", source, flags=re.MULTILINE)
    assert banners == ["Model", "Optimizer", "Hyperparameters", "Setup", "Training loop"]
    assert "from swarm_harness import" in source and "submit_model(model)" in source
    assert "argparse" not in source and "exec(" not in source


def test_knobs_are_commented_upper_case_constants() -> None:
    knobs = re.findall(r"^([A-Z][A-Z0-9_]+) = (.+?)\s+# (.+)$", default_train_py(), flags=re.MULTILINE)
    names = {name for name, _, _ in knobs}
    assert {"NORM", "ACTIVATION", "POSITIONS", "TIED_EMBEDDINGS", "PREV_BYTE_EMBEDDING", "LEARNING_RATE"} <= names
    assert len(knobs) >= 15
