"""Real sandboxed classify, rank and custom runs of a few seconds each: each gives its task's metric, and the
classify train.py, which looks for the val rows and their labels everywhere it can, finds nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.integration.cheats import needs_sandbox
from trainer import Budget, baseline_train_py, default_train_py, load_task_data, run_experiment, task_spec

pytestmark = needs_sandbox

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


def _classify_data(path: Path) -> None:
    rng = random.Random(0)
    rows = []
    for i in range(150):
        label = ("cat", "dog", "owl")[i % 3]
        words = [rng.choice(WORDS) for _ in range(8)] + [label * 2] * 2
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rank_data(path: Path) -> None:
    rng = random.Random(1)
    rows = []
    for _ in range(60):
        topic = rng.sample(WORDS, 3)
        others = [" ".join(rng.sample(WORDS, 3)) for _ in range(4)]
        true = rng.randrange(5)
        rows.append({"query": " ".join(topic), "candidates": others[:true] + [" ".join(topic[::-1])] + others[true:],
                     "relevant": [true]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


LOOKS_FOR_VAL = '''
import json as _json, os as _os
_SEEN = {"read": [], "found": [], "walked": 0, "harness_seen": False}
for _path in __TARGETS__:
    try:
        open(_path, "rb").read(1)
        _SEEN["read"].append(_path)
    except OSError:
        pass
for _root, _dirs, _files in _os.walk("/"):
    _dirs[:] = [d for d in _dirs if _os.path.join(_root, d) not in ("/proc", "/sys", "/dev")]
    _SEEN["walked"] += len(_files)
    _SEEN["harness_seen"] = _SEEN["harness_seen"] or "swarm_harness.py" in _files
    _SEEN["found"] += [_os.path.join(_root, f) for f in _files if f in ("val.jsonl", "scorer.json", "result.json")
                       or f.endswith(".jsonl")]
print("@seen " + _json.dumps(_SEEN))
'''


def test_a_classify_run_gives_accuracy_and_its_train_py_cannot_reach_the_val_labels(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    _classify_data(data)
    dataset = load_task_data("classify", data)
    val = tmp_path / "cache" / "data" / f"{dataset.data_hash}.classify" / "val" / "val.jsonl"
    targets = [str(val), str(data), str(val.parent.parent / "meta.json")]
    source = baseline_train_py("classify").replace("\ntorch.manual_seed(SEED)\n", "\n" + LOOKS_FOR_VAL.replace(
        "__TARGETS__", repr(targets)) + "\ntorch.manual_seed(SEED)\n", 1)
    summary = run_experiment(source, dataset, Budget.parse("2s"), work_root=tmp_path, cache_dir=tmp_path / "cache",
                             task=task_spec("classify", "macro_f1"))
    assert summary.status == "ok", summary.reason + summary.log_tail
    assert val.is_file()  # it exists, outside the sandbox
    seen = json.loads(next(line for line in summary.log_tail.splitlines() if line.startswith("@seen "))[6:])
    assert seen["read"] == [] and seen["found"] == []
    assert seen["harness_seen"] and seen["walked"] > 1000  # the walk saw the sandbox's files
    metrics = dict(summary.metrics)
    assert summary.metric_name == "macro_f1" and summary.metric == metrics["macro_f1"]
    assert set(metrics) == {"accuracy", "macro_f1", "cross_entropy"} and 0.0 <= metrics["accuracy"] <= 1.0
    assert summary.val_bpb is None and summary.steps > 0


def test_a_rank_run_gives_ndcg_and_mrr(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    _rank_data(data)
    summary = run_experiment(baseline_train_py("rank"), load_task_data("rank", data), Budget.parse("2s"),
                             work_root=tmp_path, task=task_spec("rank"))
    assert summary.status == "ok", summary.reason + summary.log_tail
    metrics = dict(summary.metrics)
    assert summary.metric_name == "ndcg@10" and summary.metric == metrics["ndcg@10"]
    assert set(metrics) == {"ndcg@10", "mrr"} and 0.0 < metrics["mrr"] <= 1.0


CUSTOM_EVALUATE = '''
import sys
import torch
model = torch.jit.load(sys.argv[1])
val = open(sys.argv[2], "rb").read()[:129 * 8]
x = torch.tensor(list(val[:128 * 8]), dtype=torch.long).view(8, 128)
with torch.no_grad():
    top = model(x).argmax(-1)[:, :-1]
print("scoring", x.shape)
print(float((top == x[:, 1:]).float().mean()))
'''


def test_a_custom_run_is_scored_by_the_seeders_evaluate_py(tmp_path: Path) -> None:
    from trainer import builtin_dataset

    summary = run_experiment(default_train_py(), builtin_dataset(), Budget.parse("2s"), work_root=tmp_path,
                             task=task_spec("custom", "next_byte_accuracy", "max", evaluator=CUSTOM_EVALUATE))
    assert summary.status == "ok", summary.reason + summary.log_tail
    assert summary.metric_name == "next_byte_accuracy" and summary.val_bpb is None
    assert summary.metric is not None and 0.0 <= summary.metric <= 1.0
    assert summary.metrics == (("next_byte_accuracy", summary.metric),)
