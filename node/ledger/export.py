"""``results.tsv`` in autoresearch's columns, so that its own analysis reads a swarm's results as it reads one run.

autoresearch's analysis takes every ``keep`` row as an improvement over the first (the baseline) and reads one
series. Two things in a swarm's ledger would mislead it, so they are handled here:

- **Attestations** (a node's re-run of someone else's result) are not experiments: they are left out, or with
  ``attestations=True`` written with the status ``attest`` (never ``keep``) and ``re-run of <commit>:`` before the
  description.
- **Hardware classes**: under a time budget a CPU result and a GPU result are not comparable; ``hw_class`` keeps one
  class. :attr:`Exported.classes` lists the classes written, so the caller can warn when there are several.

The metric column is named after the swarm's metric (``val_bpb`` for an lm swarm, as autoresearch reads it;
``accuracy``, ``ndcg@10``, a custom evaluator's name otherwise: :func:`export_columns`), and the manifest's direction
says which way it is better (autoresearch's analysis assumes lower).

The ``commit`` column holds the first 7 hex digits of the git commit of the result, never a blob hash; a result
without one (a discard or crash, reset before it was committed) gets an empty cell.

**One row per experiment**: a node publishes one Result per run (paired seeds), so an experiment's runs (its first
run and its re-runs; a node's baseline repeats) are one row whose ``val_bpb`` is the mean of its finished runs, with
``runs`` beside it; a lucky single run is never the row's value. ``verified`` is the feed's mark of the row's claim.
:attr:`Exported.best` is the mean-based best per cohort (``node.feed.standing``: at least 2 runs, run count and
verified mark beside it), behind the caller's trust filter (``eligible``), as ``best`` and the feed show it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TextIO

from coordinator.peers import verifications, vouched_peers
from coordinator.records import SeenResult
from node.feed.standing import best_per_cohort, cohort_of
from protocol import ProtocolError, Result, decode_and_verify

if TYPE_CHECKING:
    from node.ledger.rows import ResultRow
    from node.ledger.store import Ledger

__all__ = ["EXPORT_COLUMNS", "Exported", "write_results_tsv", "export_columns", "metric_of_swarm"]

EXPORT_COLUMNS = ("commit", "val_bpb", "memory_gb", "status", "description", "author", "hw_class", "runs", "verified")


def export_columns(metric: str = "val_bpb") -> tuple[str, ...]:
    """The header of a swarm whose metric is ``metric`` (its second column is named after it)."""
    return (EXPORT_COLUMNS[0], metric, *EXPORT_COLUMNS[2:])


def metric_of_swarm(ledger: Ledger, swarm_id: bytes) -> tuple[str, str]:
    """(metric name, direction) of the swarm's manifest; ("val_bpb", "min") when it is missing or does not verify."""
    from protocol import Manifest

    raw = ledger.get_manifest(swarm_id)
    try:
        manifest = decode_and_verify(bytes(raw)).message if raw is not None else None
    except ProtocolError:
        manifest = None
    if isinstance(manifest, Manifest):
        return manifest.metric_name, manifest.metric_direction
    return "val_bpb", "min"
ATTEST_STATUS = "attest"
_HEX40 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Exported:
    """What :func:`write_results_tsv` wrote: rows, attestations left out, and the hardware classes in the file."""

    rows: int
    attestations_left_out: int
    classes: tuple[str, ...]
    best: tuple[dict[str, Any], ...] = ()  # per cohort: the mean-based best (best_per_cohort's entries)


def _commit(row: ResultRow) -> str:
    """The short commit of a row, or "" (a commit equal to the blob hash is a blob hash, not a commit)."""
    commit = row.commit.lower()
    if not _HEX40.fullmatch(commit) or commit == row.blob.lower():
        return ""
    return commit[:7]


def _memory_gb(row: ResultRow) -> float:
    try:
        message = decode_and_verify(row.raw).message
    except ProtocolError:
        return 0.0
    return message.peak_memory_mb / 1024 if isinstance(message, Result) else 0.0


def _experiment(row: ResultRow) -> tuple[bytes, str, str, str, bytes]:
    """The runs of one experiment: one author's runs of one blob and commit in one cohort (attestations apart)."""
    return (row.author, cohort_of(row), row.blob, row.commit, row.reproduces)


def write_results_tsv(ledger: Ledger, swarm_id: bytes, out: TextIO, *, hw_class: str | None = None,
                      attestations: bool = False, eligible: Callable[[Any], bool] = lambda row: True) -> Exported:
    """Write the swarm's results to ``out`` as TSV (header :func:`export_columns` of the swarm's metric), one row per
    experiment, oldest first; ``eligible`` filters the claims :attr:`Exported.best` may name (the feed's trust
    filter)."""
    rows = [r for r in ledger.results(swarm_id) if hw_class is None or r.hw_class == hw_class]
    commits = {r.message_id: _commit(r) for r in rows}
    seen = [SeenResult(r.message_id, r) for r in rows]
    direction = metric_of_swarm(ledger, swarm_id)[1]
    checks = verifications(seen, me=b"", verifiers=vouched_peers(seen, me=b"", direction=direction),
                           direction=direction)  # as best_per_cohort's marks
    groups: dict[tuple[bytes, str, str, str, bytes], list[ResultRow]] = {}
    for row in rows:
        groups.setdefault(_experiment(row), []).append(row)
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(export_columns(metric_of_swarm(ledger, swarm_id)[0]))
    written = left_out = 0
    classes: list[str] = []
    for key, runs in groups.items():
        row = runs[0]
        description = " ".join(row.description.split())
        status = row.status
        if row.reproduces:
            if not attestations:
                left_out += len(runs)
                continue
            status = ATTEST_STATUS
            original = commits.get(row.reproduces) or row.reproduces.hex()[:7]
            description = f"re-run of {original}: {description}"
        finished = [r.metric for r in runs if r.status != "crash"]
        value = sum(finished) / len(finished) if finished else row.metric
        check = checks.get(row.message_id)
        writer.writerow([_commit(row), f"{value:.6f}", f"{_memory_gb(row):.1f}", status, description,
                         row.author.hex()[:16], row.hw_class, len(finished),
                         "yes" if check is not None and check.verified else "no"])
        written += 1
        if row.hw_class not in classes:
            classes.append(row.hw_class)
    best = best_per_cohort(rows, seen, eligible=eligible, direction=direction)
    return Exported(written, left_out, tuple(classes), tuple(best))
