"""Honest bests, the running best, the measured noise and where the compute went: computed from ledger rows.

- A **cohort** is what competes: one hardware class and one clock (a wall-clock CPU result, e.g. every version-1
  result, competes only with other wall-clock results, and is labelled so).
- A train.py's **value** is the mean of all its finished runs in the cohort (own runs, re-runs, peers' re-runs and
  attestations alike), shown with the run count and the verified mark; a blob enters the race once some node kept
  it (a baseline is kept by definition) and it has ``MIN_RUNS`` runs: a single run is never "best".
- The **noise** of a cohort is measured on its rows with coordinator's ``NoiseModel``: the unpaired std of repeated
  runs, the paired std (run k of one blob minus run k of another), and the margins that follow.
- The **compute** is CPU-seconds where the result recorded them, else wall-seconds, summed per use: baselines,
  re-runs, verification (adopt and verify runs) and new ideas (explore and stack).

``best_per_cohort(rows, seen, eligible=...)``: ``eligible`` is the seam for a trust filter (a peer's claim that was
never served or whose author is untrusted can be kept out of "best" without touching the mean rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from coordinator.direction import cost
from coordinator.noise import NoiseModel
from coordinator.peers import verification
from coordinator.records import SeenResult

__all__ = ["MIN_RUNS", "cohort_of", "cohort_label", "Standing", "standings", "best_per_cohort", "running_best",
           "cohort_noise", "compute_shares", "USES", "best_line"]

MIN_RUNS = 2
USES = {"baseline": "baselines", "rerun": "re-runs", "adopt": "verification", "verify": "verification",
        "explore": "new ideas", "stack": "new ideas", "unknown": "unknown"}


def cohort_of(row: Any) -> str:
    """``<hw_class> <clock>``: the results that compete with each other."""
    return f"{row.hw_class} {getattr(row, 'clock', 'wall')}"


def cohort_label(cohort: str) -> str:
    hw_class, _, clock = cohort.rpartition(" ")
    if clock == "cpu":
        return f"{hw_class}, CPU-seconds"
    if hw_class.startswith("cpu:"):
        return f"{hw_class}, wall clock (old)"  # contention bends it; it competes only with its own kind
    return f"{hw_class}, wall clock"


@dataclass(frozen=True)
class Standing:
    """One train.py in one cohort: the mean of its runs and what stands behind it."""

    cohort: str
    blob: str
    mean: float
    runs: int
    std: float | None
    claim: Any  # the first kept row of this blob (the claim that attestations name)
    first_seen: float


def _finished(row: Any) -> bool:
    return row.status != "crash" and math.isfinite(row.metric)


def standings(rows: Iterable[Any], *, eligible: Callable[[Any], bool] = lambda row: True,
              until: float | None = None, min_runs: int = MIN_RUNS, direction: str = "min") -> list[Standing]:
    """Every kept train.py with at least ``min_runs`` finished runs, per cohort, best first (the lowest mean; the
    highest under ``direction`` "max")."""
    runs: dict[tuple[str, str], list[Any]] = {}
    claims: dict[tuple[str, str], Any] = {}
    for row in sorted(rows, key=lambda r: r.created_at):
        if until is not None and row.created_at > until:
            break
        key = (cohort_of(row), row.blob)
        if _finished(row):
            runs.setdefault(key, []).append(row)
        if row.status == "keep" and not row.reproduces and key not in claims and eligible(row):
            claims[key] = row
    out = []
    for key, claim in claims.items():
        values = [r.metric for r in runs.get(key, ())]
        if len(values) < min_runs:
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        out.append(Standing(key[0], key[1], mean, len(values), std, claim, claim.created_at))
    out.sort(key=lambda s: (cost(s.mean, direction), s.first_seen))
    return out


def best_per_cohort(rows: Sequence[Any], seen: Sequence[SeenResult], *,
                    eligible: Callable[[Any], bool] = lambda row: True, direction: str = "min") -> list[dict[str, Any]]:
    """Per cohort, the best train.py by the mean of its runs (in the metric's ``direction``), as JSON-ready data."""
    best: dict[str, Standing] = {}
    for s in standings(rows, eligible=eligible, direction=direction):
        best.setdefault(s.cohort, s)
    out = []
    for cohort in sorted(best):
        s = best[cohort]
        check = verification(s.claim.message_id, seen, direction=direction)
        out.append({
            "cohort": cohort, "label": cohort_label(cohort), "hw_class": s.claim.hw_class,
            "clock": getattr(s.claim, "clock", "wall"), "blob": s.blob, "commit": s.claim.commit,
            "author": s.claim.author.hex(), "description": s.claim.description, "id": s.claim.message_id.hex(),
            "metric": s.mean, "runs": s.runs, "std": s.std, "verified": check.verified,
            "attestations": len(check.confirmed_by) + len(check.refuted_by), "confirmed": len(check.confirmed_by),
        })
    return out


def best_line(entry: dict[str, Any], metric: str = "val_bpb") -> str:
    """One line for a terminal: a :func:`best_per_cohort` entry with its run count and verified mark."""
    mark = "verified" if entry["verified"] else "not verified"
    return (f"best {entry['label']}: {metric} {entry['metric']:.4f} (mean of {entry['runs']} runs, {mark}) "
            f"commit {entry['commit'][:7]} by {entry['author'][:16]}: {entry['description']}")


def running_best(rows: Sequence[Any], *, eligible: Callable[[Any], bool] = lambda row: True, direction: str = "min"
                 ) -> dict[str, list[dict[str, Any]]]:
    """Per cohort, the step line of the best mean over time: a point wherever the best (blob, mean, runs) changed."""
    lines: dict[str, list[dict[str, Any]]] = {}
    ordered = sorted(rows, key=lambda r: r.created_at)
    runs: dict[tuple[str, str], list[float]] = {}
    kept: set[tuple[str, str]] = set()
    for row in ordered:
        key = (cohort_of(row), row.blob)
        if _finished(row):
            runs.setdefault(key, []).append(row.metric)
        if row.status == "keep" and not row.reproduces and eligible(row):
            kept.add(key)
        if key not in kept:
            continue
        best = min(((sum(v) / len(v), len(v), k[1]) for k, v in runs.items()
                    if k[0] == key[0] and k in kept and len(v) >= MIN_RUNS),
                   key=lambda b: (cost(b[0], direction), b[1], b[2]), default=None)
        if best is None:
            continue
        line = lines.setdefault(key[0], [])
        if not line or (line[-1]["blob"], line[-1]["runs"], line[-1]["mean"]) != (best[2], best[1], best[0]):
            line.append({"t": row.created_at, "mean": best[0], "runs": best[1], "blob": best[2]})
    return lines


def cohort_noise(rows: Sequence[Any], cohort: str, *, sigmas: float = 2.0, floor: float = 0.002) -> dict[str, Any]:
    """The noise measured on a cohort's rows: unpaired and paired std and margins, runs and pairs behind them."""
    model = NoiseModel(baseline_blob="", sigmas=sigmas, floor=floor)
    for row in rows:
        if cohort_of(row) == cohort and _finished(row):
            model.add(row.blob, row.metric, int(getattr(row, "run_index", 0)), author=row.author,
                      key=row.message_id)
    evidence = model.evidence()
    return {"std": evidence.std, "margin": evidence.margin if evidence.std is not None else None,
            "paired_std": evidence.paired_std, "paired_margin": evidence.paired_margin, "runs": evidence.runs,
            "pairs": evidence.pairs}


def compute_shares(rows: Iterable[Any]) -> dict[str, Any]:
    """Seconds of compute per use (CPU-seconds where recorded, else wall-seconds) and each use's share."""
    seconds: dict[str, float] = {}
    for row in rows:
        used = float(getattr(row, "cpu_seconds", 0.0) or 0.0) or float(row.wall_seconds)
        use = USES.get(getattr(row, "action", "unknown"), "unknown")
        seconds[use] = seconds.get(use, 0.0) + used
    total = sum(seconds.values())
    return {"seconds": seconds, "total": total,
            "share": {use: (s / total if total else 0.0) for use, s in seconds.items()}}
