"""Ideas that cross hardware classes and climb rungs: another class's kept change, re-tested here.

Under a seconds budget a result competes only within its hardware class, so a GPU node's kept change is no number a
laptop can use. It is still an idea: its edit (the kept train.py against its parent) is merged onto this node's HEAD
and run here as an ordinary explore, judged by this class's keep rule against this class's best (never trusted as a
number). Its description is ``from <class>: <the idea>``, so every class's verdict on one idea can be read back from
the results (``idea_classes``) and shown in the feed: ``relu2: kept on cuda:H100-80GB, cpu:x:8t; lost on cpu:x:2t``.

Rungs (a manifest's ``rungs``: a budget multiple and knob scale factors per rung) are classes too: a node at rung k
names its class ``<hw class>+r<k>`` (``rung_class``); a rung-0 keep, scaled by rung k's factors (``Rung.scale_text``)
before the merge, is re-tested at rung k against rung k's best. ``transfer_counts`` says how many keeps went up.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from coordinator.errors import CoordinatorError, KnobError
from coordinator.knobs import read_knobs, rewrite
from coordinator.records import Action, SeenResult
from coordinator.trust import TrustBook

__all__ = ["TRANSFER_PREFIX", "idea_key", "Rung", "parse_rungs", "rung_class", "rung_of", "transfer_action",
           "idea_classes", "transfer_lines", "transfer_counts", "MAX_RUNGS"]

TRANSFER_PREFIX = "from "
MAX_RUNGS = 8
MAX_RUNGS_TEXT = 4096
_PREFIX = re.compile(r"^from (\S{1,120}): ")
_NOTE = re.compile(r" \(on [0-9a-f]{8}'s [0-9.]+\)$")
_RUNG = re.compile(r"\+r([0-9]{1,3})$")  # more than MAX_RUNGS is no rung any manifest defines
TRANSFERABLE = ("explore", "stack", "unknown")   # a re-run, an adopt or a baseline is no idea of its own


def idea_key(description: str) -> str:
    """The idea a description names, without ``from <class>: `` and the ``(on <peer>'s <metric>)`` note."""
    text = description
    while (m := _PREFIX.match(text)) is not None:
        text = text[m.end():]
    return _NOTE.sub("", text.removesuffix(" (crash)")).strip()


def rung_of(hw_class: str) -> int:
    """The rung a class is at (``+r<k>`` at its end), 0 when unmarked."""
    m = _RUNG.search(hw_class)
    return int(m.group(1)) if m else 0


def rung_class(hw_class: str, rung: int) -> str:
    """This hardware's class at ``rung`` (rung 0 is the class itself)."""
    return hw_class if rung <= 0 else f"{hw_class}+r{rung}"


@dataclass(frozen=True)
class Rung:
    """One rung of a manifest: ``budget`` times the rung-0 budget, and knob name -> scale factor."""

    budget: float = 1.0
    scale: Mapping[str, float] = field(default_factory=dict)

    def scale_text(self, text: str) -> str:
        """``text`` with each named numeric knob multiplied by its factor (ints stay ints, at least 1)."""
        for knob in sorted(read_knobs(text), key=lambda k: (-k.line, -k.col)):
            factor = self.scale.get(knob.name)
            if factor is None or isinstance(knob.value, (bool, str)):
                continue
            value = knob.value * factor
            scaled = max(1, int(round(value))) if isinstance(knob.value, int) else float(f"{value:.3g}")
            text = rewrite(text, knob, scaled)
        return text


def parse_rungs(text: str) -> list[Rung]:
    """A manifest's ``rungs``: a JSON list whose k-1-th entry is rung k, each ``{"budget": 5, "scale": {"N_LAYER": 2}}``
    ("" is no rungs). Raises CoordinatorError naming the problem (the manifest comes from the swarm's creator)."""
    if not text:
        return []
    if len(text) > MAX_RUNGS_TEXT:
        raise CoordinatorError(f"rungs: {len(text)} characters, at most {MAX_RUNGS_TEXT}")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise CoordinatorError(f"rungs: not JSON ({exc}); write e.g. "
                               '[{"budget": 5, "scale": {"N_LAYER": 2}}]') from None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RUNGS:
        raise CoordinatorError(f"rungs: a list of 1 to {MAX_RUNGS} rungs, got {type(raw).__name__}")
    rungs = []
    for i, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or set(entry) - {"budget", "scale"}:
            raise CoordinatorError(f"rungs: rung {i} must be an object with only \"budget\" and \"scale\"")
        budget, scale = entry.get("budget", 1), entry.get("scale", {})
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0.01 <= budget <= 1000:
            raise CoordinatorError(f"rungs: rung {i}'s budget must be a number in 0.01..1000 (a multiple), "
                                   f"got {budget!r:.40}")
        if not isinstance(scale, dict) or len(scale) > 64:
            raise CoordinatorError(f"rungs: rung {i}'s scale must be an object of at most 64 knobs")
        for name, factor in scale.items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", name) or isinstance(factor, bool) \
                    or not isinstance(factor, (int, float)) or not (math.isfinite(factor) and 0.01 <= factor <= 100):
                raise CoordinatorError(f"rungs: rung {i}: {name!r}: {factor!r} (an UPPER_CASE knob and a factor in "
                                       "0.01..100)")
        rungs.append(Rung(float(budget), {k: float(v) for k, v in scale.items()}))
    return rungs


def _abroad(results: Sequence[SeenResult], *, me: bytes, hw_class: str, trust: TrustBook) -> list[SeenResult]:
    """Other classes' original keeps from trusted authors, at this rung or below it, newest first."""
    here = rung_of(hw_class)
    out = [s for s in results if s.result.hw_class != hw_class and s.result.status == "keep"
           and not s.result.reproduces and getattr(s.result, "action", "unknown") in TRANSFERABLE
           and s.result.author != me and trust.trusted(s.result.author) and rung_of(s.result.hw_class) <= here]
    return sorted(out, key=lambda s: -s.result.created_at)


def transfer_action(results: Sequence[SeenResult], *, me: bytes, hw_class: str, trust: TrustBook, head_text: str,
                    text_of: Callable[[str], str | None], commit_blob: Mapping[str, str],
                    merge: Callable[[str, str, str], str | None], taken: set[str], tried: set[str],
                    blob_of: Callable[[str], str], rungs: Sequence[Rung] = (), limit: int = 8) -> Action | None:
    """The next idea of another class to re-test here (an explore named ``from <class>: <idea>``), or None.

    An idea is done here once any result of this class names it (this node's or a same-class peer's) or it was
    ``tried`` (a merge that conflicted, a text not fetched); at most ``limit`` candidates are looked at per call. A
    rung-0 idea at rung k is scaled by rung k's factors first (its parent too, so the edit stays the idea's)."""
    done = {idea_key(s.result.description) for s in results if s.result.hw_class == hw_class}
    here = rung_of(hw_class)
    for s in _abroad(results, me=me, hw_class=hw_class, trust=trust)[: limit * 4]:
        key = idea_key(s.result.description)
        if key in done or s.result.blob in tried or not key:
            continue
        tried.add(s.result.blob)
        limit -= 1
        parent_blob = commit_blob.get(s.result.parent)
        theirs = text_of(s.result.blob)
        parent = text_of(parent_blob) if parent_blob else None
        if theirs is not None and parent is not None:
            if here > rung_of(s.result.hw_class) and 0 < here <= len(rungs):
                try:
                    parent, theirs = rungs[here - 1].scale_text(parent), rungs[here - 1].scale_text(theirs)
                except KnobError:
                    parent = None
            merged = merge(parent, head_text, theirs) if parent is not None else None
            if merged is not None and merged != head_text and blob_of(merged) not in taken:
                return Action(kind="explore", train_py=merged,
                              description=f"{TRANSFER_PREFIX}{s.result.hw_class}: {key}"[:280])
        if limit <= 0:
            break
    return None


def idea_classes(results: Iterable[SeenResult]) -> dict[str, tuple[list[str], list[str]]]:
    """Idea -> (classes it was kept on, classes it lost on), for ideas tested on more than one class. A class's
    verdict is its first decision on the idea (an explore, a stack), re-runs and adopts aside."""
    verdicts: dict[str, dict[str, bool]] = {}
    for s in sorted(results, key=lambda s: s.result.created_at):
        r = s.result
        if getattr(r, "action", "unknown") not in TRANSFERABLE or r.reproduces or r.status not in ("keep", "discard",
                                                                                                    "crash"):
            continue
        key = idea_key(r.description)
        if key:
            verdicts.setdefault(key, {}).setdefault(r.hw_class, r.status == "keep")
    return {k: ([c for c, kept in v.items() if kept], [c for c, kept in v.items() if not kept])  # first tested first
            for k, v in verdicts.items() if len(v) > 1 and any(v.values())}


def transfer_lines(results: Iterable[SeenResult], limit: int = 8) -> list[str]:
    """``relu2: kept on a, b; lost on c`` for the ideas tested on several classes, most-kept first."""
    rows = sorted(idea_classes(results).items(), key=lambda kv: (-len(kv[1][0]), kv[0]))[:limit]
    out = []
    for key, (kept, lost) in rows:
        line = f"{key[:80]}: kept on {', '.join(kept)}"
        out.append(line + (f"; lost on {', '.join(lost)}" if lost else ""))
    return out


def transfer_counts(results: Iterable[SeenResult]) -> tuple[int, int]:
    """(rung-0 keeps re-tested at a higher rung, how many of them were kept there): the keeps that transferred up."""
    tested = held = 0
    for kept, lost in idea_classes(results).values():
        if any(rung_of(c) == 0 for c in kept) and any(rung_of(c) > 0 for c in kept + lost):
            tested += 1
            held += any(rung_of(c) > 0 for c in kept)
    return tested, held
