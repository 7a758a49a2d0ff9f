"""TaskSpec: canonical JSON, strict decoding (old manifests decode as lm), the kinds' metrics and directions."""

from __future__ import annotations

import pytest

from trainer.tasks import LM_TASK, TaskError, TaskSpec, metrics_of, task_spec


def test_the_spec_round_trips_as_canonical_json_without_the_evaluator_source() -> None:
    spec = task_spec("custom", "recall", "max", evaluator="print(1.0)\n")
    assert spec.to_json() == '{"direction":"max","kind":"custom","metric":"recall"}'
    assert TaskSpec.from_json(spec.to_json(), evaluator="print(1.0)\n") == spec
    assert TaskSpec.from_json(task_spec("rank", "mrr").to_json()) == TaskSpec("rank", "mrr", "max")


def test_old_manifests_decode_as_lm_and_each_kind_has_its_default_metric() -> None:
    assert TaskSpec.from_json("lm") == LM_TASK == TaskSpec("lm", "val_bpb", "min")
    assert task_spec("classify") == TaskSpec("classify", "accuracy", "max")
    assert task_spec("classify", "cross_entropy").direction == "min"
    assert task_spec("rank") == TaskSpec("rank", "ndcg@10", "max")
    assert metrics_of("classify") == {"accuracy": "max", "macro_f1": "max", "cross_entropy": "min"}


@pytest.mark.parametrize(("call", "message"), [
    (lambda: task_spec("regress"), "choose one of lm, classify, rank, custom"),
    (lambda: task_spec("classify", "ndcg@10"), "classify reports accuracy, macro_f1, cross_entropy"),
    (lambda: task_spec("classify", "accuracy", "min"), "its direction is max"),
    (lambda: task_spec("custom", "score", "max"), "needs its evaluate.py"),
    (lambda: task_spec("custom", "score", None, evaluator="print(1)"), "direction of its metric"),
    (lambda: task_spec("custom", "score", "max", evaluator="def (:\n"), "evaluate.py does not parse: line 1"),
    (lambda: task_spec("custom", "a b", "max", evaluator="print(1)"), "ASCII letters"),
    (lambda: TaskSpec.from_json('{"kind": "rank", "metric": "mrr"}'), "must be {"),
    (lambda: TaskSpec.from_json('{"kind": "rank", "metric": "mrr", "direction": "min"}'), "direction is max"),
    (lambda: TaskSpec.from_json("[1,"), "not JSON"),
    (lambda: TaskSpec.from_json('{"kind":"custom","metric":"s","direction":"max"}'), "needs its evaluate.py"),
])
def test_bad_specs_are_task_errors_naming_the_choices(call: object, message: str) -> None:
    with pytest.raises(TaskError, match=message.replace("(", r"\(").replace("{", r"\{")):
        call()  # type: ignore[operator]
