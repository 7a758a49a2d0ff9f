"""What the locked evaluator's checks cost: seconds to score the default train.py's model on the 64 KiB val slice.

    python bench/eval_cost.py [--budget 20000-tokens] [--repeats 3] [--no-sandbox]

Trains the default train.py once (kept), then scores the same ``model.ts`` side by side, ``--repeats`` times each:

- ``plain``: the pre-issue-9 evaluator's core, in this process: one forward per batch of 32 windows, cross-entropy
  (the old evaluator added 4 probe forwards on the first batch only), CPU seconds;
- ``checked``: the same in this process with the scorer's checks (:class:`Scorer`), CPU seconds;
- ``locked``: the real evaluator: the model server in its sandbox (graph check, state check after every forward) and
  the scorer (a second forward of every batch with each row's future after a random cut replaced, log-probability
  comparison, the first batch replayed at the end), through the FIFOs.

Prints the CPU seconds of ``plain`` and ``checked`` (one process, so their ratio holds on a shared CPU), the wall
seconds of ``locked`` (the scorer's own, from the model server's ready to the score: FIFO and process hops
included), and the val_bpb of each (they must agree: the checks change the cost, not the score). Records the load average next to the timings
(the CPU may be shared: compare within one run). Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import Budget, builtin_dataset, default_train_py, run_experiment, sandbox_available  # noqa: E402
from trainer.data import split_sizes  # noqa: E402
from trainer.evaluator import Evaluation  # noqa: E402
from trainer.hardware import cpu_threads  # noqa: E402
from trainer.locked import MODEL_SERVER_PATH, OP_ALLOWLIST_PATH  # noqa: E402
from trainer.locked.evaluate import Scorer  # noqa: E402
from trainer.runner import EVAL_BATCH, EVAL_CONTEXT, _env, _python_paths  # noqa: E402


def plain(model_path: Path, val: bytes, threads: int, checked: bool = False) -> tuple[float, float]:
    """(CPU seconds, val_bpb) of one forward per batch in this process; ``checked``: with the scorer's checks."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    model = torch.jit.load(str(model_path)).eval()
    data = torch.frombuffer(bytearray(val), dtype=torch.uint8).long()
    n = (data.numel() - 1) // EVAL_CONTEXT
    windows = torch.stack([data[i * EVAL_CONTEXT: i * EVAL_CONTEXT + EVAL_CONTEXT + 1] for i in range(n)])
    scorer = Scorer({"eval_batch": EVAL_BATCH, "eval_context": EVAL_CONTEXT}, None)
    scorer.logits = lambda x: model(x).float()  # type: ignore[method-assign]
    cpu = time.process_time()
    total = 0.0
    with torch.no_grad():
        for start in range(0, n, EVAL_BATCH):
            chunk = windows[start:start + EVAL_BATCH]
            real = chunk.shape[0]
            if real < EVAL_BATCH:
                chunk = torch.cat([chunk, windows[: EVAL_BATCH - real]])
            if checked:
                logp = scorer.checked(chunk[:, :-1])
                total -= float(logp[:real].gather(-1, chunk[:real, 1:, None]).sum())
            else:
                logits = model(chunk[:, :-1])
                total += float(F.cross_entropy(logits[:real].reshape(-1, 256), chunk[:real, 1:].reshape(-1),
                                               reduction="sum"))
        if checked:
            scorer.logprobs(windows[:EVAL_BATCH, :-1])  # the replay of the first batch
    return time.process_time() - cpu, total / (math.log(2) * n * EVAL_CONTEXT)


def locked(model_path: Path, data_dir: Path, root: Path, threads: int, require: bool) -> tuple[float, float, int]:
    """(scorer seconds, val_bpb, forwards) of the real evaluator on the kept model."""
    run = root / f"eval-{time.monotonic_ns()}"
    lockd, evald, score = run / "locked", run / "eval", run / "score"
    for folder in (lockd, evald, score):
        folder.mkdir(parents=True)
    shutil.copyfile(MODEL_SERVER_PATH, lockd / "model_server.py")
    shutil.copyfile(OP_ALLOWLIST_PATH, lockd / "op_allowlist.py")
    evaluation = Evaluation(
        locked=lockd, evald=evald, score_dir=score, readable=_python_paths() + (lockd, model_path.parent),
        val_path=data_dir / "val" / "val.bin", train_wall=5.0, memory=None, dev_paths=(),
        cfg={"device": "cpu", "eval_context": EVAL_CONTEXT, "eval_batch": EVAL_BATCH, "threads": threads},
        env=_env(lockd, evald, lockd / "model_server.json", threads), require_sandbox=require)
    evaluation.start()
    evaluation.go(model_path, "torchscript", "cpu")
    result = evaluation.result()
    if result.val_bpb is None:
        raise SystemExit(f"the evaluator refused the default model: {result.reason}")
    return result.seconds, result.val_bpb, result.forwards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="20000-tokens")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args()
    ok, why = sandbox_available()
    require = ok and not args.no_sandbox
    threads = cpu_threads()
    dataset = builtin_dataset()
    n_train, _, n_eval = split_sizes(len(dataset.corpus))
    val = dataset.corpus[n_train:n_train + n_eval]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        summary = run_experiment(default_train_py(), dataset, Budget.parse(args.budget), work_root=root / "runs",
                                 cache_dir=root / "cache", require_sandbox=require, keep=True)
        print(f"default train.py, {args.budget}: {summary.status} val_bpb={summary.val_bpb} "
              f"eval_seconds={summary.eval_seconds:.2f} ({summary.reason or 'scored by the locked evaluator'})")
        model = next((root / "runs").glob("exp-*/work/model.ts"))
        data_dir = dataset.prepare(root / "cache")
        rows = []
        for i in range(args.repeats):
            load = os.getloadavg()[0]
            p_cpu, p_bpb = plain(model, val, threads)
            c_cpu, c_bpb = plain(model, val, threads, checked=True)
            l_seconds, l_bpb, forwards = locked(model, data_dir, root, threads, require)
            rows.append((p_cpu, c_cpu, l_seconds))
            print(json.dumps({"repeat": i, "load": round(load, 2), "plain_cpu_s": round(p_cpu, 3),
                              "checked_cpu_s": round(c_cpu, 3), "cpu_ratio": round(c_cpu / p_cpu, 2),
                              "locked_wall_s": round(l_seconds, 3), "forwards": forwards,
                              "plain_bpb": round(p_bpb, 6), "checked_bpb": round(c_bpb, 6),
                              "locked_bpb": round(l_bpb, 6)}))
        p_med, c_med, l_med = (statistics.median(r[k] for r in rows) for k in range(3))
        print(f"median: plain {p_med:.2f} CPU-s, with the checks {c_med:.2f} CPU-s (ratio {c_med / p_med:.2f}); "
              f"the locked evaluator's wall {l_med:.2f} s (sandbox {'on' if require else 'off'}: {why})")


if __name__ == "__main__":
    main()
