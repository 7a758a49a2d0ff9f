"""One experiment: a fresh run folder, train.py in the sandbox under the budget, the locked evaluator, a RunSummary.

Layout of one run (removed afterwards unless ``keep=True``)::

    <work_root>/exp-<time>-<random>/
        locked/   read-only inside: swarm_harness.py, model_server.py, op_allowlist.py, harness.json, model_server.json
        work/     train.py's writable work dir and cwd (the exported model lands here)
        eval/     the model server's writable dir (the runner's go file, the two FIFOs to the scorer)
        score/    the scorer's dir (its config and result.json): bound into no sandbox

The training sandbox sees: the Python environment, ``locked/``, ``work/`` and the TRAIN split folder. The model
server's sandbox sees: the Python environment, ``locked/``, ``work/`` (read-only) and ``eval/``; no val file. The
scorer (:mod:`trainer.evaluator`) alone reads the VAL slice and writes the score; both are started while training
runs (half-way through the budget) so that their torch imports overlap training, and the model server waits for the go
file. A score below the corpus's sanity floor (:func:`trainer.floor.default_floor`) is a crash with the reason.

What a budget means (:mod:`trainer.limits`): on CPU a time budget is work, CPU-seconds of the training sandbox's
process tree read outside it (:mod:`trainer.cpuclock`); on CUDA/MPS it is device wall time; a token budget counts
the tokens served by the batch server (:mod:`trainer.batches`, outside the sandbox: the training split is not bound
inside) and has a compute ceiling. The budget counts from the launch of the training sandbox (start-up is inside it);
the tree is killed past the limit plus a stated grace (a run that overstays is a ``timeout``). Steps and tokens are
the batch server's counts, never what train.py prints. Tasks (:mod:`trainer.tasks`, docs/tasks.md): classify and
rank runs get their rows from the batch server (:mod:`trainer.task_batches`) and are scored by
``locked/evaluate_task.py`` behind the same model server; a custom run's model is scored by the seeder's evaluate.py
in a sandbox of its own (:mod:`trainer.tasks.custom`). A crash is data (``status="crash"``, with the log tail and a
reason), never an exception.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Literal

from trainer.batches import BatchServer
from trainer.budget import Budget
from trainer.cpuclock import TreeClock
from trainer.data import DataSet
from trainer.errors import GateError
from trainer.gate import check_train_py
from trainer.hardware import cpu_threads
from trainer.harness_lines import LOG_TAIL_CHARS, HarnessLines, crash_reason, log_tail
from trainer.limits import CPU_CLOCK_THREADS, Clock, TrainLimits, clock_for, train_limits
from trainer.pacing import Progress, cgroup_memory_limit, resolve_device, served_progress
from trainer.evaluator import Evaluation
from trainer.floor import default_floor
from trainer.locked import EVALUATOR_PATH, HARNESS_PATH, MODEL_SERVER_PATH, OP_ALLOWLIST_PATH, TASK_EVALUATOR_PATH
from trainer.task_batches import TaskSource
from trainer.tasks.custom import CustomEvaluation
from trainer.tasks.settings import check_task, task_settings
from trainer.tasks.spec import LM_TASK, TaskSpec

from trainer.sandbox import SandboxResult, SandboxSpec, run_sandboxed

__all__ = ["Progress", "RunSummary", "run_experiment", "wall_margin", "resolve_device", "EVAL_CONTEXT",
           "EVAL_BATCH", "LOG_TAIL_CHARS"]

log = logging.getLogger(__name__)

Status = Literal["ok", "crash", "timeout"]
EVAL_CONTEXT = 128
EVAL_BATCH = 32
GPU_MEMORY_FRACTION = 0.9  # of the device's memory, set for train.py on CUDA (host RAM: the memory cgroup)


@dataclass(frozen=True)
class RunSummary:
    """What one experiment gave. ``val_bpb`` is None unless ``status == "ok"``."""

    status: Status
    val_bpb: float | None
    steps: int
    tokens: int
    wall_seconds: float
    train_seconds: float
    peak_memory_mb: float
    log_tail: str
    sandboxed: bool
    reason: str
    # (name, seconds): prepare (data split, run folder), imports (sandbox + interpreter + torch), setup (data + model
    # build up to the first batch), train, export, after_export (model handed over until scored), eval_compute (the
    # scorer's own time, inside after_export). Empty when the run crashed.
    phases: tuple[tuple[str, float], ...] = ()
    # What the budget counted and what the training sandbox used, all measured outside train.py's process:
    clock: Clock = "wall"  # "cpu": CPU-seconds of the training tree (CPU devices); "wall": device wall time
    cpu_seconds: float = 0.0  # CPU-seconds the training sandbox's process tree used (start-up and export included)
    threads: int = 1  # CPU threads train.py trained on
    compute_limit: float = 0.0  # where data stopped: CPU-seconds (clock cpu) or seconds (clock wall); for a token
    #                             budget this is its compute ceiling
    seed: int = 0  # the harness seed of this run (the k-th run of a train.py in a swarm uses seed k)
    startup_cpu_seconds: float = 0.0  # clock cpu: CPU-seconds before the first batch (not charged to the budget)
    eval_seconds: float = 0.0  # the scorer's time from the model server's ready to the score (0 when not scored)
    train_compute: float = 0.0  # compute charged when data stopped (CPU-s after start-up, or wall s): the window
    # The task's deciding metric (== val_bpb for lm; None unless status == "ok"), every metric the evaluator computed,
    # and the deciding metric's name (trainer.tasks.TaskSpec.metric).
    metric: float | None = None
    metrics: tuple[tuple[str, float], ...] = ()
    metric_name: str = "val_bpb"


def wall_margin(budget: Budget) -> float:
    """Seconds past the budget before the training sandbox is killed (export and slack; start-up is in the budget)."""
    if budget.kind == "seconds":
        return 15.0 + 0.1 * budget.amount
    return 60.0


def _python_paths() -> tuple[Path, ...]:
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
    spec = importlib.util.find_spec("torch")
    if spec is not None and spec.origin:
        paths.add(Path(spec.origin).resolve().parent.parent)
    return tuple(sorted(paths))


def _has_cuda_devices() -> bool:
    return os.path.exists("/dev/nvidiactl")


def _memory_limit(device: str) -> int | None:
    if device not in ("cpu", "auto") or (device == "auto" and _has_cuda_devices()):
        return None  # CUDA maps huge address ranges: RLIMIT_AS would break it
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30
    return max(8 << 30, total // 2)


def _env(locked: Path, workdir: Path, config: Path, threads: int) -> dict[str, str]:
    """The complete environment inside the sandbox.

    GOMP_SPINCOUNT=10000: on a shared CPU, OpenMP threads spinning at barriers steal the core their own team mate
    needs. Default train.py, 2 threads, measured here: quiet 33.5 ms/step by default, 32.6 with 10000 spins (51.6 with
    OMP_WAIT_POLICY=PASSIVE); next to 2 busy loops 261 ms/step by default, 121 with 10000 spins (125 passive).
    """
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir),
           "LANG": "C.UTF-8", "PYTHONPATH": str(locked), "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONUNBUFFERED": "1", "SWARM_HARNESS_CONFIG": str(config), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "GOMP_SPINCOUNT": "10000",
           "TORCHINDUCTOR_CACHE_DIR": str(workdir / ".inductor"),
           "TRITON_CACHE_DIR": str(workdir / ".triton")}
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return env


def _dev_paths(device: str) -> tuple[str, ...]:
    if device not in ("cuda", "auto") or not _has_cuda_devices():
        return ()
    names = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
    found = [f"/dev/{n}" for n in names if os.path.exists(f"/dev/{n}")]
    found += sorted(f"/dev/{n}" for n in os.listdir("/dev") if n.startswith("nvidia") and n[6:].isdigit())
    return tuple(found)


def run_experiment(train_py: str, dataset: DataSet, budget: Budget, *, work_root: Path, seed: int = 0,
                   require_sandbox: bool = True, progress: Callable[[Progress], None] | None = None,
                   device: str = "auto", threads: int | None = None, cache_dir: Path | None = None,
                   keep: bool = False, clock: Clock | None = None,
                   compute_ceiling: float | None = None, floor_bpb: float | None = None,
                   task: TaskSpec = LM_TASK) -> RunSummary:
    """Run one experiment and score it. Raises only ``SandboxUnavailable`` (when required and missing) and
    ``TaskError`` (``dataset`` is not data of ``task``'s kind).

    ``clock``: what a time budget counts (default: ``cpu`` on a CPU device, ``wall`` on CUDA/MPS); ``threads``:
    default :data:`~trainer.limits.CPU_CLOCK_THREADS` on the cpu clock, every core on the wall clock;
    ``compute_ceiling``: a token budget's ceiling in CPU-seconds (cpu clock) or seconds (wall clock), default
    :func:`~trainer.limits.train_limits`'s. ``seed``: the harness seed (data order and initialisation).
    ``floor_bpb``: a val_bpb below it is refused as a crash (default: :func:`trainer.floor.default_floor` of the data).
    ``task``: what is trained and scored (:mod:`trainer.tasks`); ``dataset.task`` must be its kind (lm and custom
    take a text corpus). ``RunSummary.metric`` is the task's deciding metric (lm: val_bpb, floor-checked).
    """
    check_task(task, dataset)
    started = time.monotonic()
    device = resolve_device(device)
    clock = clock if clock is not None else clock_for(device)
    threads = threads or (CPU_CLOCK_THREADS if clock == "cpu" else cpu_threads())
    limits = train_limits(budget, clock=clock, threads=threads, wall_margin=wall_margin(budget),
                          compute_ceiling=compute_ceiling)
    try:
        source = check_train_py(train_py)
    except GateError as exc:
        return RunSummary("crash", None, 0, 0, 0.0, 0.0, 0.0, "", False, f"gate: {exc}", clock=clock,
                          threads=threads, compute_limit=limits.compute_limit, seed=seed)
    work_root = Path(work_root)
    data_dir = dataset.prepare(cache_dir if cache_dir is not None else work_root / "cache")
    run_dir = work_root / f"exp-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    locked, work, evald = run_dir / "locked", run_dir / "work", run_dir / "eval"
    for folder in (locked, work, evald, run_dir / "score"):
        folder.mkdir(parents=True)
    floor = (default_floor(dataset) if floor_bpb is None else floor_bpb) if task.kind == "lm" else 0.0
    try:
        summary = _run(source, data_dir, budget, locked, work, evald, seed=seed, require_sandbox=require_sandbox,
                       progress=progress, device=device, limits=limits, started=started, task=task)
        if summary.val_bpb is not None and summary.val_bpb < floor:
            return replace(summary, status="crash", val_bpb=None, metric=None, metrics=(),
                           reason=f"val_bpb {summary.val_bpb:.4f} is below this task's floor of {floor:.3f} bits per "
                                  "byte (a sanity bound from the corpus's own entropy estimate): refused as "
                                  "impossible; if it is real, the swarm's seeder must lower the floor")
        return summary
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def _run(source: str, data_dir: Path, budget: Budget, locked: Path, work: Path, evald: Path, *, seed: int,
         require_sandbox: bool, progress: Callable[[Progress], None] | None, device: str, limits: TrainLimits,
         started: float, task: TaskSpec = LM_TASK) -> RunSummary:
    shutil.copyfile(HARNESS_PATH, locked / "swarm_harness.py")
    shutil.copyfile(MODEL_SERVER_PATH, locked / "model_server.py")
    shutil.copyfile(OP_ALLOWLIST_PATH, locked / "op_allowlist.py")
    (work / "train.py").write_text(source, encoding="utf-8")
    threads = limits.threads
    eval_threads = cpu_threads()  # scoring is not under the budget: it may use every core
    train_wall = limits.wall_timeout
    python_paths = _python_paths()
    memory = _memory_limit(device)
    builtin_task = task.kind in ("classify", "rank")
    harness_extra, server_extra, scorer_extra = task_settings(task, data_dir, EVAL_BATCH) if builtin_task else ({}, {}, {})
    evaluation: Evaluation | CustomEvaluation
    if task.kind == "custom":
        evaluation = CustomEvaluation(task.evaluator, task.metric, val_path=data_dir / "val" / "val.bin",
                                      run_dir=locked.parent, readable=python_paths, memory=memory,
                                      require_sandbox=require_sandbox)
    else:
        evaluation = Evaluation(
            locked=locked, evald=evald, score_dir=locked.parent / "score", readable=python_paths + (locked, work),
            val_path=data_dir / "val" / ("val.jsonl" if builtin_task else "val.bin"), train_wall=limits.longest_wall,
            memory=memory, dev_paths=_dev_paths(device),
            cfg={"device": device, "eval_context": EVAL_CONTEXT, "eval_batch": EVAL_BATCH, "threads": eval_threads},
            env=_env(locked, evald, locked / "model_server.json", eval_threads), require_sandbox=require_sandbox,
            scorer_path=TASK_EVALUATOR_PATH if builtin_task else EVALUATOR_PATH, server_extra=server_extra,
            scorer_extra=scorer_extra)

    def start_evaluator(p: Progress | None = None) -> None:
        if p is None or p.budget_fraction >= 0.5:
            evaluation.start()

    def send_go() -> None:
        """The model is exported: let the evaluator start while train.py's process winds down."""
        model = _model_file(work)
        if model is None:
            return
        picked = lines.last.get("submitted", {}).get("device")
        evaluation.go(model[0], model[1], picked if picked in ("cpu", "cuda", "mps") else "cpu")

    lines = HarnessLines(None, on_submitted=send_go)  # progress comes from the batch server, never from train.py
    tree_clock = TreeClock(startup_cap=limits.startup_cap)
    launch: dict[str, float] = {}
    served, spent = served_progress(budget, limits, tree_clock, launch, progress, start_evaluator)
    task_source = TaskSource(task.kind, data_dir / "train" / "train.jsonl", tuple(harness_extra["labels"])) \
        if builtin_task else None
    server = BatchServer(data_dir / "train" / ("train.jsonl" if builtin_task else "train.bin"), seed, spent,
                         on_batch=served, source=task_source)
    request_fd, reply_fd = server.child_fds()
    train_cfg = {"budget_kind": budget.kind, "budget_amount": budget.amount, "budget": str(budget), "seed": seed,
                 "device": device, "threads": threads, "eval_context": EVAL_CONTEXT, "eval_batch": EVAL_BATCH,
                 "clock": limits.clock, "compute_limit": limits.compute_limit, "batch_request_fd": request_fd,
                 "batch_reply_fd": reply_fd, "gpu_memory_fraction": GPU_MEMORY_FRACTION,
                 "work_dir": str(work), "progress_every": 1.0, **harness_extra}
    train_spec = SandboxSpec(  # the training split is NOT bound: batches come through the server's pipes
        workdir=work, ro_paths=python_paths + (locked,), dev_paths=_dev_paths(device),
        env=_env(locked, work, locked / "harness.json", threads), wall_timeout=train_wall,
        cpu_seconds=limits.rlimit_cpu, memory_bytes=memory, pass_fds=(request_fd, reply_fd),
        cpu_clock=tree_clock, cpu_kill_at=limits.kill_at, memory_cgroup_bytes=cgroup_memory_limit(),
        wall_stretch=limits.wall_stretch)
    train_cfg["launched_at"] = time.time()
    (locked / "harness.json").write_text(json.dumps(train_cfg))
    launched = launch["at"] = time.monotonic()
    server.start()
    try:
        result: SandboxResult = run_sandboxed([sys.executable, "-u", str(work / "train.py")], train_spec,
                                              on_line=lines, require_sandbox=require_sandbox)
    except BaseException:
        server.close()
        evaluation.abort()
        raise
    count = server.close()
    submitted = lines.last.get("submitted", {})
    steps, tokens = count.steps, count.tokens
    train_seconds = _number(submitted, "train_seconds", 0.0)
    base: dict[str, Any]  # the RunSummary fields every outcome shares
    model = _model_file(work)
    base = dict(steps=steps, tokens=tokens, train_seconds=train_seconds, peak_memory_mb=result.peak_rss_mb,
                log_tail=log_tail(result.output_tail), sandboxed=result.sandboxed, clock=limits.clock,
                cpu_seconds=round(result.cpu_seconds, 3), threads=threads, compute_limit=limits.compute_limit,
                seed=seed, startup_cpu_seconds=round(tree_clock.startup if limits.clock == "cpu" else 0.0, 3),
                train_compute=round(tree_clock.stopped_at or 0.0, 3))
    status: Status | None = None
    reason = ""
    if result.killed_for_cpu:
        grace = (limits.kill_at or limits.compute_limit) - limits.compute_limit
        status, reason = "timeout", (f"killed at {tree_clock.budget_used():.1f} CPU-seconds after start-up: the "
                                     f"limit is {limits.compute_limit:.1f} (budget {budget}) + {grace:.1f} grace")
    elif result.timed_out:
        waited = f", {result.waited_seconds:.0f} s of it waiting for a CPU" if limits.wall_stretch else ""
        status, reason = "timeout", f"killed after {result.wall_seconds:.0f} s{waited} (budget {budget} + margin)"
    elif result.returncode != 0:
        status, reason = "crash", crash_reason(result.output_tail, result.returncode)
    elif count.refused:
        status, reason = "crash", count.refused
    elif model is None or not submitted:
        status, reason = "crash", "train.py never handed its model to submit_model()"
    if status is not None:
        evaluation.abort()
        return RunSummary(status=status, val_bpb=None, wall_seconds=time.monotonic() - started, reason=reason,
                          **base)
    send_go()
    scored = evaluation.result()
    finished = time.monotonic()
    startup = _number(submitted, "startup_seconds", 0.0)
    export = _number(submitted, "export_seconds", 0.0)
    imports = min(_number(submitted, "import_seconds", 0.0), startup)
    phases = (("prepare", launched - started), ("imports", imports), ("setup", startup - imports),
              ("train", train_seconds), ("export", export),
              ("after_export", finished - launched - startup - train_seconds - export))
    summary = RunSummary(status="ok", val_bpb=None, wall_seconds=finished - started, reason="", phases=phases,
                         metric_name=task.metric, **base)
    if task.kind == "lm":
        if scored.val_bpb is None:
            return replace(summary, status="crash", reason=scored.reason)
        metrics: tuple[tuple[str, float], ...] = (("val_bpb", scored.val_bpb),)
        return replace(summary, val_bpb=scored.val_bpb, metric=scored.val_bpb, metrics=metrics,
                       sandboxed=summary.sandboxed and scored.sandboxed, eval_seconds=scored.seconds,
                       phases=phases + (("eval_compute", scored.seconds),))
    decided = dict(scored.metrics).get(task.metric)
    if decided is None:
        return replace(summary, status="crash", reason=scored.reason or f"the evaluator gave no {task.metric}")
    return replace(summary, metric=decided, metrics=scored.metrics, sandboxed=summary.sandboxed and scored.sandboxed,
                   eval_seconds=scored.seconds, phases=phases + (("eval_compute", scored.seconds),))


def _number(record: dict[str, Any], key: str, default: float) -> float:
    """A finite number from a harness line (printed inside the sandbox, so never trusted to be well-formed)."""
    value = record.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return float(default)
    return float(value)


def _model_file(work: Path) -> tuple[Path, str] | None:
    for name, fmt in (("model.ts", "torchscript"), ("model.pt2", "export")):
        path = work / name
        if path.is_file() and not path.is_symlink():
            return path, fmt
    return None
