"""Creating a swarm: the signed manifest, and the built-in swarm that every installation shares.

A swarm is the hash of its signed manifest. :func:`seed_swarm` signs a manifest for a program, a
baseline train.py, a data file, a budget and a task (lm by default; classify, rank, or custom with
its evaluate.py), and files them in the ledger so that the node that runs on this home serves them
(manifest, commit and data streams, DHT record): a custom evaluate.py travels as a commit blob,
like the baseline.

The built-in swarm must have the same id on every machine, so its manifest is signed by a published,
fixed key at a fixed time: Ed25519 signatures are deterministic, the envelope is the same bytes
everywhere, and so is its hash. (It proves nothing about authorship; it is a well-known name.)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from node.inputfiles import read_bounded, read_text
from protocol import BudgetRule, Identity, Manifest, git_blob_hash, sign_message, swarm_id_of

if TYPE_CHECKING:
    from coordinator.transfer import Rung
    from node.config import NodeConfig
    from trainer.tasks import TaskSpec

__all__ = ["Seeded", "seed_swarm", "seed_from_files", "TaskFlags", "task_from_flags", "builtin_swarm", "sign_manifest", "dialable_addrs",
           "check_rungs",
           "BUILTIN_CREATED_AT"]

log = logging.getLogger(__name__)

BUILTIN_SEED = hashlib.sha256(b"swarm-node built-in swarm, key v1 (public on purpose)").digest()
BUILTIN_CREATED_AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z
BUILTIN_NAME = "built-in: Shakespeare val_bpb"
BUILTIN_BUDGET = BudgetRule(kind="seconds", amount=60)


@dataclass(frozen=True)
class Seeded:
    """A swarm filed in a ledger: its id, its manifest envelope, and where its data lives here."""

    swarm_id: bytes
    envelope: bytes
    data_path: Path | None


def sign_manifest(
    creator: Identity, *, name: str, program: str, train_py: bytes, data_hash: bytes, data_spec: str,
    budget: BudgetRule, created_at: float, eval_spec: str = "locked evaluator, val split of the data",
    task: TaskSpec | None = None, rungs: str = "",
) -> bytes:
    """The signed manifest envelope (its sha256 is the swarm id). ``task`` (default lm) names the metric and its
    direction; a custom task's evaluate.py is pinned by its blob hash; ``rungs`` is the rungs' JSON
    (``node.swarms.canonical_rungs``). An lm manifest without rungs keeps the version-1 bytes."""
    metric, direction, task_field, eval_blob = "val_bpb", "min", "lm", ""
    if task is not None and task.kind != "lm":
        metric, direction, task_field = task.metric, task.direction, task.to_json()
        eval_blob = git_blob_hash(task.evaluator.encode("utf-8")) if task.kind == "custom" else ""
    return sign_message(creator, Manifest(
        author=creator.public_key, seq=0, created_at=created_at, name=name[:64], program=program,
        baseline_blob=git_blob_hash(train_py), data_spec=data_spec, data_hash=data_hash, eval_spec=eval_spec,
        budget=budget, metric_name=metric, metric_direction=direction,  # type: ignore[arg-type]
        task=task_field, eval_blob=eval_blob, rungs=rungs))


def seed_swarm(
    ledger: Any, creator: Identity, *, program: str, train_py: bytes, data_path: Path, budget: BudgetRule,
    created_at: float, name: str = "", task: TaskSpec | None = None, rungs: str = "",
) -> Seeded:
    """Sign a manifest and file it, the baseline train.py (and a custom task's evaluate.py) and the data source in
    ``ledger``."""
    data_hash = hashlib.sha256(data_path.read_bytes()).digest()
    first_line = next((line.lstrip("# ").strip() for line in program.splitlines() if line.strip()), "swarm")
    envelope = sign_manifest(
        creator, name=name or first_line, program=program, train_py=train_py, data_hash=data_hash,
        data_spec=f'{{"file": "{data_path.name}", "bytes": {data_path.stat().st_size}}}', budget=budget,
        created_at=created_at, task=task, rungs=rungs)
    swarm_id = swarm_id_of(envelope)
    ledger.put_manifest(swarm_id, envelope)
    ledger.put_commit(git_blob_hash(train_py), train_py, creator.public_key, "")
    if task is not None and task.kind == "custom":
        evaluator = task.evaluator.encode("utf-8")
        ledger.put_commit(git_blob_hash(evaluator), evaluator, creator.public_key, "")
    ledger.put_data_chunk_source(data_hash, data_path.resolve())
    return Seeded(swarm_id, envelope, data_path.resolve())


@dataclass(frozen=True)
class TaskFlags:
    """What ``swarm-node seed`` was told of the task: ``--task``, ``--metric``, ``--direction``, ``--eval``."""

    kind: str = "lm"
    metric: str | None = None
    direction: str | None = None
    evaluator: Path | None = None


def task_from_flags(flags: TaskFlags) -> TaskSpec:
    """The TaskSpec of the seed flags (the evaluate.py read bounded and checked); TaskError/NodeError saying why not."""
    from trainer.tasks import TaskError, task_spec
    from trainer.tasks.spec import MAX_EVALUATOR_BYTES, check_evaluator

    if flags.evaluator is not None and flags.kind != "custom":
        raise TaskError(f"--eval is for --task custom; a {flags.kind} task has its locked evaluator built in")
    source = ""
    if flags.evaluator is not None:
        raw = read_bounded(flags.evaluator, MAX_EVALUATOR_BYTES, "evaluate.py")
        try:
            source = check_evaluator(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise TaskError(f"evaluate.py is not UTF-8 (byte {exc.start})") from None
    return task_spec(flags.kind, flags.metric, flags.direction, evaluator=source)


def seed_from_files(config: NodeConfig, program: Path, *, train: Path | None, data: Path | None, budget: str,
                    created_at: float, task: TaskFlags = TaskFlags(), rungs: str = "") -> tuple[Seeded, Identity]:
    """``swarm-node seed``: check every input first, then create the home's files; a failure leaves none behind.

    program.md, train.py and evaluate.py are read bounded (size from ``fstat`` before a byte is read; FIFOs and devices
    refused, never waited on); the data is checked line by line against its task's format. Only when the task, the
    program, train.py (each rung's scaled one too), budget and data all pass are the identity key, the data copy and
    the ledger created; if anything fails after that, whatever this call created is removed again.
    """
    from node.ledger import Ledger
    from node.swarms import MAX_PROGRAM_BYTES, budget_rule, canonical_rungs, check_program
    from trainer import Budget, builtin_dataset, check_train_py
    from trainer.gate import MAX_TRAIN_PY_BYTES
    from trainer.tasks import TaskError, baseline_train_py, load_task_data

    spec = task_from_flags(task)
    rule = budget_rule(Budget.parse(budget))
    program_text = check_program(read_text(program, MAX_PROGRAM_BYTES, "program.md"), spec.metric)
    train_py = (read_bounded(train, MAX_TRAIN_PY_BYTES, "train.py") if train is not None
                else baseline_train_py(spec.kind).encode())
    check_train_py(train_py)
    rungs_text = canonical_rungs(check_rungs(rungs, train_py.decode("utf-8"), rule))
    if data is not None:
        dataset = load_task_data(spec.kind, data)
    elif spec.kind in ("lm", "custom"):
        dataset = builtin_dataset()
    else:
        raise TaskError(f"a {spec.kind} task needs its data: --data data.jsonl (see --help for the format)")
    corpus = config.cache_dir / "data" / dataset.data_hash / "corpus"
    with _removed_on_failure(config, corpus):
        config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not corpus.is_file():
            corpus.parent.mkdir(parents=True, exist_ok=True)
            corpus.write_bytes(dataset.corpus_bytes())
        identity = Identity.load_or_create(config.identity_path)
        with Ledger(config.ledger_path) as ledger:
            seeded = seed_swarm(ledger, identity, program=program_text, train_py=train_py, data_path=corpus,
                                budget=rule, created_at=created_at, task=spec, rungs=rungs_text)
    return seeded, identity


def check_rungs(text: str, train_py: str, budget: BudgetRule) -> list[Rung]:
    """``seed --rungs``: the rungs read strictly, each rung's budget runnable and its scaled train.py through the gate;
    a RungError saying which rung fails and why."""
    from coordinator.errors import CoordinatorError
    from coordinator.knobs import read_knobs
    from node.swarms import RungError, read_rungs, rung_run, rung_words
    from trainer import TrainerError

    rungs = read_rungs(text.strip(), "--rungs")
    if rungs and budget.kind != "seconds":
        raise RungError(f"--rungs need a seconds budget (under {budget} every class competes, so a rung would compete "
                        "with rung 0): seed with e.g. --budget 60s")
    knobs = {k.name for k in read_knobs(train_py) if not isinstance(k.value, (bool, str))} if rungs else set()
    for k, rung in enumerate(rungs, 1):
        if missing := sorted(set(rung.scale) - knobs):
            raise RungError(f"--rungs: rung {k} scales {', '.join(missing)}, but train.py has no such numeric "
                            "UPPER_CASE knob")
        try:
            rung_run(rung, budget.kind, budget.amount, train_py)
        except (TrainerError, CoordinatorError) as exc:
            raise RungError(f"--rungs: rung {k} ({rung_words(k, rung)}) cannot run: {exc}") from exc
    return rungs


@contextlib.contextmanager
def _removed_on_failure(config: NodeConfig, corpus: Path) -> Iterator[None]:
    """Remove, if the body raises, each of the home's files and folders that did not exist before it ran."""
    ledger = config.ledger_path
    files = [config.identity_path, corpus, ledger, ledger.with_name(ledger.name + "-wal"),
             ledger.with_name(ledger.name + "-shm")]
    folders = [corpus.parent, corpus.parent.parent, config.cache_dir, config.home]  # innermost first
    new_files = [p for p in files if not p.exists()]
    new_folders = [p for p in folders if not p.exists()]
    try:
        yield
    except BaseException:
        for path in new_files:
            path.unlink(missing_ok=True)
        for folder in new_folders:
            with contextlib.suppress(OSError):  # not empty: something else lives there now
                folder.rmdir()
        raise


def builtin_swarm(ledger: Any | None = None, budget: BudgetRule = BUILTIN_BUDGET) -> Seeded:
    """The built-in swarm (shipped program.md, default train.py, the embedded corpus, 60 s budget).

    Another ``budget`` gives another built-in swarm (same everywhere for that budget: ``join --budget 2M-tokens``).
    With a ledger, its manifest and baseline commit are filed there (no data source: every node has it).
    """
    from trainer import builtin_dataset, default_train_py

    program = resources.files("node.assets").joinpath("program.md").read_text(encoding="utf-8")
    train_py = default_train_py().encode()
    dataset = builtin_dataset()
    creator = Identity.from_private_bytes(BUILTIN_SEED)
    envelope = sign_manifest(
        creator, name=BUILTIN_NAME if budget == BUILTIN_BUDGET else f"{BUILTIN_NAME} ({budget})", program=program, train_py=train_py, data_hash=bytes.fromhex(dataset.data_hash),
        data_spec=f'{{"builtin": "{dataset.name}"}}', budget=budget,
        created_at=BUILTIN_CREATED_AT)
    swarm_id = swarm_id_of(envelope)
    if ledger is not None:
        ledger.put_manifest(swarm_id, envelope)
        ledger.put_commit(git_blob_hash(train_py), train_py, creator.public_key, "")
    return Seeded(swarm_id, envelope, None)


def _primary_ip() -> str:
    """This machine's LAN address (a UDP 'connect' sends nothing), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, no packet is sent
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def dialable_addrs(listen: Sequence[str], peer_id: str) -> list[str]:
    """Listen addresses as others can dial them: ``0.0.0.0`` replaced by this machine's address."""
    out: list[str] = []
    for addr in listen:
        if "/ip4/0.0.0.0/" in addr:
            addr = addr.replace("/ip4/0.0.0.0/", f"/ip4/{_primary_ip()}/")
        if "/p2p/" not in addr:
            addr = f"{addr}/p2p/{peer_id}"
        if addr not in out:
            out.append(addr)
    return out
