"""The two example tasks: the baseline train.py under a short budget beside classical baselines, on the same val split.

    nice -n 10 python bench/tasks.py [--budget 20s] [--only shakespeare-genre|next-line] [--no-sandbox]

For each example (data built from the embedded corpus by :mod:`trainer.tasks.examples`, in a temporary folder):

- ``shakespeare-genre`` (classify, 3 genres): the baseline train.py (a real sandboxed run, scored by the locked
  evaluator) beside the majority class and a bag-of-bytes logistic regression (hashed byte unigram + bigram counts,
  full-batch L-BFGS in this process, no budget), all scored by :func:`trainer.locked.task_metrics.classify_metrics`;
- ``next-line`` (rank, 20 candidates): the baseline train.py beside a lexical-overlap scorer (shared lower-cased
  words, idf-weighted from the training candidates), a random order (its expected NDCG@10 and MRR) and a constant
  score (ties rank the true line last), scored by :func:`trainer.locked.task_metrics.rank_metrics`.

The classical baselines see the same train/val split as the run (:func:`trainer.tasks.formats.split_rows`). Prints
one table per example and the load average (the CPU may be shared: compare within one run). Asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import Budget, baseline_train_py, load_task_data, run_experiment, task_spec  # noqa: E402
from trainer.locked.task_metrics import NDCG_AT, classify_metrics, rank_metrics  # noqa: E402
from trainer.tasks.examples import build  # noqa: E402
from trainer.tasks.formats import ClassifyRow, RankRow, parse_rows, split_rows  # noqa: E402

BUCKETS = 4096
WORD = re.compile(r"[a-z']+")


def _features(texts: list[str]) -> "torch.Tensor":  # type: ignore[name-defined]  # noqa: F821
    import torch

    rows = torch.zeros(len(texts), 256 + BUCKETS)
    for i, text in enumerate(texts):
        raw = torch.tensor(list(text.encode("utf-8")), dtype=torch.long)
        rows[i, :256] = torch.bincount(raw, minlength=256).float()
        rows[i, 256:] = torch.bincount((raw[:-1] * 257 + raw[1:]) % BUCKETS, minlength=BUCKETS).float()
        rows[i] /= max(1, raw.numel())
    return rows


def logistic_regression(train: list[ClassifyRow], val: list[ClassifyRow], labels: list[str]) -> list[list[float]]:
    """Val logits of a multinomial logistic regression on hashed byte unigram + bigram frequencies."""
    import torch

    torch.manual_seed(0)
    ids = {name: i for i, name in enumerate(labels)}
    x, y = _features([r.text for r in train]), torch.tensor([ids[r.label] for r in train])
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    w = torch.zeros(x.shape[1], len(labels), requires_grad=True)
    b = torch.zeros(len(labels), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + 1e-3 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        logits: list[list[float]] = ((_features([r.text for r in val]) - mean) / std @ w + b).tolist()
    return logits


def lexical_overlap(train: list[RankRow], val: list[RankRow]) -> list[tuple[list[float], set[int]]]:
    """Per val row: the idf-weighted count of the query's lower-cased words found in each candidate."""
    df: dict[str, int] = {}
    n = 0
    for row in train:
        for cand in row.candidates:
            n += 1
            for word in set(WORD.findall(cand.lower())):
                df[word] = df.get(word, 0) + 1
    scored = []
    for row in val:
        query = set(WORD.findall(row.query.lower()))
        scores = [sum(math.log(n / (1 + df.get(w, 0))) for w in query & set(WORD.findall(c.lower())))
                  for c in row.candidates]
        scored.append((scores, set(row.relevant)))
    return scored


def random_order(val: list[RankRow]) -> dict[str, float]:
    """Expected NDCG@10 and MRR of a uniformly random order (one relevant candidate per row, as in next-line)."""
    ndcg = mrr = 0.0
    for row in val:
        k = len(row.candidates)
        ndcg += sum(1.0 / math.log2(1 + r) for r in range(1, min(k, NDCG_AT) + 1)) / k
        mrr += sum(1.0 / r for r in range(1, k + 1)) / k
    return {"ndcg@10": ndcg / len(val), "mrr": mrr / len(val)}


def _table(title: str, names: list[str], rows: list[tuple[str, dict[str, float], str]]) -> None:
    print(f"\n{title}")
    print(f"  {'scorer':<44}" + "".join(f"{n:>14}" for n in names) + "  note")
    for label, metrics, note in rows:
        print(f"  {label:<44}" + "".join(f"{metrics.get(n, float('nan')):>14.4f}" for n in names) + f"  {note}")


def bench(example: str, budget: Budget, root: Path, require_sandbox: bool) -> None:
    kind = "classify" if example == "shakespeare-genre" else "rank"
    data = root / f"{example}.jsonl"
    n_rows = build(example, data)
    dataset = load_task_data(kind, data)  # type: ignore[arg-type]
    train, val = split_rows(kind, parse_rows(kind, dataset.corpus))
    started = time.monotonic()
    summary = run_experiment(baseline_train_py(kind), dataset, budget, work_root=root / "runs",
                             task=task_spec(kind), require_sandbox=require_sandbox)
    wall = time.monotonic() - started
    note = (f"{summary.steps} steps, {summary.cpu_seconds:.0f} CPU-s, {wall:.0f} s wall" if summary.status == "ok"
            else f"{summary.status}: {summary.reason[:80]}")
    run_row = (f"baseline train.py ({budget}, sandboxed, locked eval)", dict(summary.metrics), note)
    head = f"{example} ({kind}): {n_rows} rows, {len(train)} train / {len(val)} val"
    if kind == "classify":
        labels = sorted({r.label for r in train if isinstance(r, ClassifyRow)})
        ids = {name: i for i, name in enumerate(labels)}
        cval = [r for r in val if isinstance(r, ClassifyRow)]
        truth = [ids[r.label] for r in cval]
        counts = [truth.count(i) for i in range(len(labels))]
        train_counts = [sum(1 for r in train if isinstance(r, ClassifyRow) and r.label == n) for n in labels]
        majority = train_counts.index(max(train_counts))
        prior = [math.log(c / len(train)) for c in train_counts]
        t0 = time.process_time()
        lr = logistic_regression([r for r in train if isinstance(r, ClassifyRow)], cval, labels)
        lr_cpu = time.process_time() - t0
        _table(head + f"; val counts {dict(zip(labels, counts))}", ["accuracy", "macro_f1", "cross_entropy"], [
            run_row,
            (f"majority class ({labels[majority]}, train prior)",
             classify_metrics([prior] * len(truth), truth, len(labels)), "no training"),
            ("bag-of-bytes logistic regression", classify_metrics(lr, truth, len(labels)),
             f"L-BFGS, {lr_cpu:.1f} CPU-s, unbudgeted"),
        ])
    else:
        rval = [r for r in val if isinstance(r, RankRow)]
        _table(head, ["ndcg@10", "mrr"], [
            run_row,
            ("lexical overlap (idf-weighted words)", rank_metrics(lexical_overlap(
                [r for r in train if isinstance(r, RankRow)], rval)), "no training"),
            ("random order (expected)", random_order(rval), ""),
            ("constant score (ties rank the true line last)",
             rank_metrics([([0.0] * len(r.candidates), set(r.relevant)) for r in rval]), ""),
        ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default="20s")
    parser.add_argument("--only", choices=("shakespeare-genre", "next-line"))
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
        for example in (args.only,) if args.only else ("shakespeare-genre", "next-line"):
            bench(example, Budget.parse(args.budget), Path(tmp), not args.no_sandbox)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
