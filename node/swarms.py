"""Resolving a swarm into what a run needs: its verified manifest, baseline train.py, data and budget.

Creating swarms (the built-in one and seeded ones) is ``node.net.seeding``; this module reads what the ledger holds
(the manifest, the baseline train.py and a custom task's evaluate.py as commits, the data file as a data source) and
checks each against the manifest's hashes, and the data against its task's format. It also holds the program.md check
that ``swarm-node seed`` applies, and the rungs: a manifest's ``rungs`` read strictly (``read_rungs``) and the swarm as
a node at rung k runs it (``at_rung``: the budget times the rung's multiple, the baseline's knobs scaled).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coordinator.errors import CoordinatorError
from coordinator.transfer import Rung, parse_rungs, rung_of
from protocol import BudgetRule, Manifest, ProtocolError, decode_and_verify, git_blob_hash, swarm_id_of
from trainer import Budget, DataSet, builtin_dataset, check_train_py, default_train_py
from trainer.errors import TrainerError
from trainer.tasks import LM_TASK, TaskSpec, load_task_data

from node.errors import NodeError

if TYPE_CHECKING:
    from node.ledger import Ledger
    from node.ledger.rows import ResultRow

__all__ = ["SwarmSpec", "SwarmError", "RungError", "budget_rule", "check_program", "is_builtin_data", "load_swarm",
           "task_of", "read_rungs", "canonical_rungs", "manifest_rung", "at_rung", "rung_run", "rung_words",
           "as_it_ran", "claim_swarm"]

MAX_PROGRAM_BYTES = 64 * 1024


class SwarmError(NodeError):
    """A swarm that cannot be used here: a bad program.md, a manifest that does not verify, missing data."""


class RungError(SwarmError):
    """Rungs that cannot be used: a manifest's bad ``rungs``, a ``--rung`` it does not define (waiting won't help)."""


@dataclass(frozen=True)
class SwarmSpec:
    """Everything a node needs to research a swarm."""

    swarm_id: bytes
    envelope: bytes
    manifest: Manifest
    baseline: str  # the baseline train.py text
    dataset: DataSet
    budget: Budget
    task: TaskSpec = LM_TASK  # what is trained and scored, its metric and direction (the manifest's)
    rungs: tuple[Rung, ...] = ()  # the manifest's rungs (rung k is rungs[k - 1])
    rung: int = 0  # the rung this node runs at (``at_rung``): budget and baseline are that rung's


def budget_rule(budget: Budget) -> BudgetRule:
    return BudgetRule("seconds" if budget.kind == "seconds" else "tokens", int(budget.amount))


def is_builtin_data(data_hash: bytes) -> bool:
    """Whether a swarm trains on the embedded corpus (every installation has it: nothing to fetch)."""
    return data_hash.hex() == builtin_dataset().data_hash


def check_program(text: str, metric: str = "val_bpb") -> str:
    """A program.md must say what to optimise (``metric``) and what may be edited; returns it, or raises SwarmError."""
    if len(text.encode("utf-8")) > MAX_PROGRAM_BYTES:
        raise SwarmError(f"program.md is larger than {MAX_PROGRAM_BYTES // 1024} KiB: keep it to the rules of the road")
    lowered = text.lower()
    missing = []
    if metric.lower() not in lowered and not (metric == "val_bpb" and "bits per byte" in lowered):
        missing.append(f"the metric to optimise (mention {metric})")
    if "train.py" not in lowered:
        missing.append("what may be edited (mention train.py)")
    if missing:
        raise SwarmError("program.md must state " + " and ".join(missing))
    return text


def load_swarm(ledger: Ledger, swarm_id: bytes) -> SwarmSpec:
    """The swarm ``swarm_id`` as this node's ledger holds it; SwarmError says what is still missing."""
    envelope = ledger.get_manifest(swarm_id)
    if envelope is None:
        raise SwarmError(f"the manifest of swarm {swarm_id.hex()[:16]} is not here yet (fetch it from a peer)")
    envelope = bytes(envelope)
    try:
        manifest = decode_and_verify(envelope).message
    except ProtocolError as exc:
        raise SwarmError(f"the swarm manifest does not verify: {exc}") from exc
    if not isinstance(manifest, Manifest) or swarm_id_of(envelope) != swarm_id:
        raise SwarmError("the stored swarm record is not this swarm's manifest")
    rungs = tuple(read_rungs(manifest.rungs))  # before anything that waiting could fix: bad rungs stay bad
    builtin_text = default_train_py()
    baseline = ledger.get_commit(manifest.baseline_blob)
    if manifest.baseline_blob == git_blob_hash(builtin_text.encode("utf-8")):
        text = builtin_text
    elif baseline is not None and git_blob_hash(bytes(baseline)) == manifest.baseline_blob:
        text = bytes(baseline).decode("utf-8")
    else:
        raise SwarmError(f"the baseline train.py {manifest.baseline_blob[:12]} is not here yet (fetch it from a peer)")
    task = task_of(manifest, ledger)
    if is_builtin_data(manifest.data_hash) and task.kind in ("lm", "custom"):  # text tasks of the embedded corpus
        dataset = builtin_dataset()
    else:
        path = ledger.get_data_chunk_source(manifest.data_hash)
        if path is None or not Path(path).is_file():
            raise SwarmError(f"the swarm's data {manifest.data_hash.hex()[:12]} is not here yet (fetch it from a peer)")
        try:
            dataset = load_task_data(task.kind, path)
        except TrainerError as exc:
            raise SwarmError(f"the swarm's data at {path} cannot be used: {exc}") from exc
        if dataset.data_hash != manifest.data_hash.hex():
            raise SwarmError(f"the data at {path} does not match the manifest's hash; delete it and fetch again")
    try:
        budget = Budget(manifest.budget.kind, manifest.budget.amount)
    except TrainerError as exc:
        raise SwarmError(f"the swarm's budget cannot be run here: {exc}") from exc
    return SwarmSpec(swarm_id, envelope, manifest, text, dataset, budget, task, rungs)


def read_rungs(text: str, where: str = "the swarm manifest's rungs") -> list[Rung]:
    """A manifest's (or ``seed --rungs``') rungs, strictly: RungError naming the problem and the form to write."""
    try:
        return parse_rungs(text)
    except CoordinatorError as exc:
        raise RungError(f"{where}: {str(exc).removeprefix('rungs: ')}") from None


def canonical_rungs(rungs: list[Rung]) -> str:
    """The rungs as the manifest carries them: JSON with sorted keys, so equal rungs sign to equal bytes."""
    if not rungs:
        return ""
    return json.dumps([{"budget": r.budget, "scale": dict(r.scale)} for r in rungs], sort_keys=True)


def rung_words(k: int, rung: Rung) -> str:
    """``r1: 5x budget, N_EMBD x2, N_LAYER x2`` (for ``seed``, ``join`` and ``status``)."""
    knobs = ", ".join(f"{name} x{factor:g}" for name, factor in sorted(rung.scale.items()))
    return f"r{k}: {rung.budget:g}x budget" + (f", {knobs}" if knobs else "")


def manifest_rung(manifest: Manifest, rung: int) -> Rung | None:
    """Rung ``rung`` of ``manifest`` (None for rung 0); RungError when the manifest's rungs are bad, it does not
    define that rung, or its budget is in tokens (every class competes there, so a rung would compete with rung 0)."""
    rungs = read_rungs(manifest.rungs)
    if rung == 0:
        return None
    if not 0 < rung <= len(rungs):
        defined = (f"it defines rungs 1..{len(rungs)}: " + "; ".join(rung_words(k, r) for k, r in enumerate(rungs, 1))
                   if rungs else "it defines none (a swarm's creator adds them: swarm-node seed --rungs ...)")
        raise RungError(f"--rung {rung}: this swarm's manifest has no rung {rung}; {defined}")
    if manifest.budget.kind != "seconds":
        raise RungError(f"--rung {rung}: rungs need a seconds budget; under {manifest.budget} every class competes, "
                         "so a rung's results would compete with rung 0's (join without --rung)")
    return rungs[rung - 1]


def at_rung(spec: SwarmSpec, rung: int) -> SwarmSpec:
    """The swarm as a node at ``rung`` runs it: the budget times the rung's multiple, the baseline train.py with the
    rung's knobs scaled (it must still pass the gate). Rung 0 is ``spec`` itself; see ``manifest_rung`` for refusals."""
    step = manifest_rung(spec.manifest, rung)
    if step is None:
        return spec
    try:
        budget, baseline = rung_run(step, spec.budget.kind, spec.budget.amount, spec.baseline)
    except (TrainerError, CoordinatorError) as exc:
        raise RungError(f"--rung {rung} ({rung_words(rung, step)}) cannot be run here: {exc}") from exc
    return dataclasses.replace(spec, baseline=baseline, budget=budget, rung=rung)


def as_it_ran(spec: SwarmSpec, hw_class: str, budget: str) -> SwarmSpec:
    """The swarm as a result of class ``hw_class`` under ``budget`` ran it, for ``verify``: at the rung its class
    names (``<hw>+rK``: rung K's budget multiple; its train.py is the rung's already, so it is not scaled again),
    rung 0 for an unmarked class. RungError when the manifest defines no such rung or the result's budget is not
    that rung's (it would be another experiment)."""
    k = rung_of(hw_class)
    if k == 0:
        return spec
    if k > len(spec.rungs):
        defined = (f"it defines rungs 1..{len(spec.rungs)}" if spec.rungs
                   else "it defines none")
        raise RungError(f"the result's class {hw_class} names rung {k}, but this swarm's manifest has no rung {k}; "
                        f"{defined} (a result from another swarm's rungs, or a forged class: nothing to re-run)")
    try:
        up = at_rung(spec, k)
    except RungError as exc:
        raise RungError(f"the result's class {hw_class} names rung {k}, which cannot be run here: {exc}") from exc
    if budget != str(budget_rule(up.budget)):
        raise RungError(f"the result's class {hw_class} names rung {k} ({rung_words(k, spec.rungs[k - 1])}), which "
                        f"runs under {budget_rule(up.budget)}, but the result ran under {budget}: it is no rung-{k} "
                        "result of this swarm")
    return up


def claim_swarm(ledger: Ledger, claim: ResultRow) -> SwarmSpec:
    """The swarm as ``claim`` ran it (``node.swarms.as_it_ran``: a rung-K result at rung K); a RungError names the
    result when its class names a rung the manifest does not define, or a budget that is not its rung's."""
    try:
        return as_it_ran(load_swarm(ledger, claim.swarm_id), claim.hw_class, claim.budget)
    except RungError as exc:
        raise RungError(f"cannot verify {claim.commit[:10]}: {exc}") from exc


def rung_run(step: Rung, kind: str, amount: float, train_py: str) -> tuple[Budget, str]:
    """What a rung runs: the budget times its multiple (at least 1) and ``train_py`` with its knobs scaled, through
    the gate. The one rule for ``seed --rungs`` (checked before signing) and ``join --rung`` (``at_rung``); raises
    TrainerError or CoordinatorError."""
    budget = Budget(kind, max(1, round(amount * step.budget)))  # type: ignore[arg-type]
    return budget, check_train_py(step.scale_text(train_py))


def task_of(manifest: Manifest, ledger: Ledger | None = None) -> TaskSpec:
    """The manifest's task (a version-1 manifest's is lm), with a custom task's evaluate.py from ``ledger`` checked
    against ``eval_blob``; SwarmError when it is not here yet or the task does not agree with the manifest."""
    evaluator = ""
    if manifest.eval_blob:
        raw = ledger.get_commit(manifest.eval_blob) if ledger is not None else None
        if raw is None or git_blob_hash(bytes(raw)) != manifest.eval_blob:
            raise SwarmError(f"the swarm's evaluate.py {manifest.eval_blob[:12]} is not here yet (fetch it from a peer)")
        try:
            evaluator = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise SwarmError(f"the swarm's evaluate.py {manifest.eval_blob[:12]} is not UTF-8") from None
    try:
        task = TaskSpec.from_json(manifest.task, evaluator=evaluator)
    except TrainerError as exc:
        raise SwarmError(f"the swarm's task cannot be used here: {exc}") from exc
    if (task.metric, task.direction) != (manifest.metric_name, manifest.metric_direction) and manifest.task != "lm":
        raise SwarmError(f"the swarm's task scores {task.metric} ({task.direction}) but its manifest says "
                         f"{manifest.metric_name} ({manifest.metric_direction})")
    return task
