"""The swarm's study of one train.py branch: every comparable result is a trial, every live claim a pending one.

A **branch** is a train.py with its knob values blanked out (``branch_key``): two files that differ only in knob values
are points of one study; a code change (an LLM's edit) starts a new branch whose knobs are tuned afresh. ``Study`` is an
in-memory Optuna study (no storage server) rebuilt from plain records: completed trials carry the result's val_bpb,
a crash counts as the branch's worst value plus a penalty (TPE then avoids the region), and a claim in flight is a
RUNNING trial, which TPE's constant liar treats as bad, so two nodes asking at once sample different points.
"""

from __future__ import annotations

import logging
import math
import random
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from coordinator.branch import MAX_TRIALS, branch_key, knob_values
from coordinator.records import ScoredText
from coordinator.space import Param, Value, infer_space, snap

__all__ = ["Study", "TrialView", "CRASH_PENALTY"]

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

CRASH_PENALTY = 0.05      # bpb above the branch's worst finished trial that a crash is scored at
NEAR_FACTOR = 3.0         # the trust region of a log knob: base / 3 .. base * 3
MIN_STEP = 1.5            # the smallest move of a log knob in a local proposal (mutate's float step)


def _distribution(p: Param) -> BaseDistribution:
    if p.kind == "choice":
        return CategoricalDistribution(p.choices)
    if p.kind in ("int", "pow2"):
        return IntDistribution(int(p.low), int(p.high), log=p.log and p.low >= 1)
    return FloatDistribution(p.low, p.high, log=p.log and p.low > 0)


@dataclass(frozen=True)
class TrialView:
    """One finished trial of the branch, as the LLM's prompt shows it."""

    values: Mapping[str, Value]
    metric: float
    status: str


class Study:
    """The branch of ``base`` as an Optuna study over ``infer_space(base, program)``; see the module docstring."""

    def __init__(self, base: str, scored: Sequence[ScoredText], *, program: str = "", seed: int | None = None,
                 n_startup: int = 8, centre_on_base: bool = True) -> None:
        self.centre_on_base = centre_on_base
        self._rng = random.Random(seed)
        self.base = base
        self.branch = branch_key(base)
        mine = [s for s in scored if branch_key(s.train_py) == self.branch][-MAX_TRIALS:]
        # The space is inferred from the branch's oldest known text (its root), so it stays put while the best moves.
        self.space = infer_space(mine[0].train_py if mine else base, program)
        self.base_values = knob_values(base)
        self.distributions = {name: _distribution(p) for name, p in self.space.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                                 n_startup_trials=n_startup)
        self.optuna = optuna.create_study(direction="minimize", sampler=sampler)
        self.finished: list[TrialView] = []
        self.pending = 0
        self._added: Counter[tuple[str, float, str]] = Counter()   # finished records already in the study
        self._claims: dict[str, int] = {}      # text of a claim in flight -> its RUNNING trial's number
        self._asked: list[int] = []            # this study's own asks, retired at the next update
        self._worst: float | None = None
        self.update(base, scored)

    def update(self, base: str, scored: Sequence[ScoredText]) -> None:
        """Bring the study up to date with ``scored`` (records only grow): a new base (the moved incumbent), the
        finished records not yet added, claims that appeared (RUNNING) or ended (retired). The last proposal's asks
        are retired too: their outcomes arrive as finished records."""
        self.base = base
        self.base_values = knob_values(base)
        for number in self._asked:
            self._retire(number)
        self._asked = []
        mine = [s for s in scored if branch_key(s.train_py) == self.branch][-MAX_TRIALS:]
        counts = Counter((s.train_py, s.metric, s.status) for s in mine if s.status != "pending")
        fresh = [key for key, n in counts.items() for _ in range(n - self._added[key])]
        self._added.update(fresh)
        finite = [m for _, m, status in fresh if status in ("keep", "discard") and math.isfinite(m)]
        if finite:
            self._worst = max(finite + ([self._worst] if self._worst is not None else []))
        for text, metric, status in fresh:
            values = knob_values(text)
            if status == "crash":
                if self._worst is not None:
                    self._add(values, self._worst + CRASH_PENALTY, TrialState.COMPLETE)
                self.finished.append(TrialView(values, math.inf, "crash"))
            elif math.isfinite(metric):
                self._add(values, metric, TrialState.COMPLETE)
                self.finished.append(TrialView(values, metric, status))
        claims = {s.train_py for s in mine if s.status == "pending"}
        for text in [t for t in self._claims if t not in claims]:
            self._retire(self._claims.pop(text))
        for text in sorted(claims - set(self._claims)):
            self.add_pending(knob_values(text))
            self._claims[text] = len(self.optuna.get_trials(deepcopy=False)) - 1
        self.pending = len(self._claims)

    def _retire(self, number: int) -> None:
        """A RUNNING trial that is no longer in flight: FAIL, which TPE ignores (the liar counts RUNNING ones)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.optuna.tell(number, state=TrialState.FAIL)
            except (ValueError, RuntimeError) as exc:  # already finished
                log.debug("trial %d not retired: %s", number, exc)

    def _params(self, values: Mapping[str, Value]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, p in self.space.items():
            x = p.internal(values.get(name, self.base_values.get(name)))  # type: ignore[arg-type]
            if x is not None:
                params[name] = x
        return params

    def _add(self, values: Mapping[str, Value], value: float | None, state: TrialState) -> None:
        params = self._params(values)
        dists = {k: self.distributions[k] for k in params}
        self.optuna.add_trial(create_trial(params=params, distributions=dists, value=value, state=state))

    def add_pending(self, values: Mapping[str, Value]) -> None:
        """A configuration in flight (a live claim, or one this node found taken): TPE's liar counts it as bad."""
        self._add(values, None, TrialState.RUNNING)

    @property
    def incumbent(self) -> dict[str, Value]:
        """The centre of ``ask(local=True)``: the base's values once the base itself was measured (the loop's kept
        best: re-run within noise, not a lucky single score), else the best finished trial's (a node that has only
        watched peers starts from their best), else the base's."""
        if self.centre_on_base and any(self._same(t.values, self.base_values) for t in self.finished):
            return dict(self.base_values)
        best = self.best(1)
        return {**self.base_values, **(best[0].values if best else {})}

    def _same(self, a: Mapping[str, Value], b: Mapping[str, Value]) -> bool:
        return all(a.get(name) == b.get(name) for name in self.space)

    @property
    def trials(self) -> int:
        return len(self.finished)

    def _near(self, name: str) -> BaseDistribution:
        """The distribution of ``name`` cut to a trust region around the base's value (the incumbent)."""
        p, whole = self.space[name], self.distributions[name]
        x = p.internal(self.incumbent[name])
        if x is None or isinstance(whole, CategoricalDistribution) or isinstance(x, (bool, str)):
            return whole
        if isinstance(whole, IntDistribution):
            if p.kind == "pow2":
                lo, hi = int(x) - 1, int(x) + 1
            else:
                lo, hi = int(x) // 2, int(x) * 2 + 1
            lo, hi = max(lo, whole.low), min(hi, whole.high)
            return IntDistribution(lo, hi, log=whole.log and lo >= 1) if lo < hi else whole
        assert isinstance(whole, FloatDistribution)
        if whole.log and x > 0:
            low, high = max(whole.low, x / NEAR_FACTOR), min(whole.high, x * NEAR_FACTOR)
        else:
            width = (whole.high - whole.low) / 4
            low, high = max(whole.low, x - width), min(whole.high, x + width)
        return FloatDistribution(low, high, log=whole.log and low > 0) if low < high else whole

    def ask(self, names: Sequence[str] | None = None, local: bool = False) -> dict[str, Value]:
        """The next whole configuration: TPE's values for ``names`` (all tuned knobs by default; ``local``: within a
        trust region around the incumbent), the incumbent's for the rest; pending (a liar) in this study from now on."""
        centre = self.incumbent
        wanted = [n for n in (names if names is not None else self.space) if n in self.space]
        moved: dict[str, Value] = {}
        if local:  # a choice in the trust region must move: one of its other values (TPE would keep the incumbent's)
            for n in [n for n in wanted if self.space[n].kind == "choice"]:
                others = [c for c in self.space[n].choices if c != centre[n]]
                if others:
                    moved[n] = others[self._rng.randrange(len(others))]
                wanted.remove(n)
        chosen = {n: self._near(n) if local else self.distributions[n] for n in wanted}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.optuna.ask(chosen)
        self._asked.append(trial.number)
        for n, value in moved.items():
            trial.set_user_attr(n, value)
        params = {n: self._stepped(n, trial.params[n], centre[n]) if local else trial.params[n] for n in chosen}
        return {name: snap(p, params[name]) if name in chosen else moved.get(name, centre[name])
                for name, p in self.space.items()}

    def _stepped(self, name: str, x: Any, centre: Value) -> Any:
        """``x`` moved at least one measurable step from the incumbent (TPE exploits in steps too small to beat the
        noise margin; at x1.3 the simulator's TPE lost to mutate): x1.5 on log knobs, 1/8 of the range on linear
        ones, one on integers. Its side is the one that has not lost (``lost_sides``): a value TPE drew on a side where
        the one-knob step already lost is mirrored through the incumbent, and the incumbent's own value steps to the
        open side (either way, by the study's rng, when both or neither lost; always up, the real 60 s swarm tried
        N_LAYER 2 -> 4 and never 2 -> 1)."""
        p, c = self.space[name], self.space[name].internal(centre)
        if c is None or isinstance(c, (bool, str)) or isinstance(x, (bool, str)):
            return x
        lost = self.lost_sides(name)
        if x == c:  # TPE kept the incumbent's value: step away from a side that lost, else either way
            up = (False if True in lost else True) if len(lost) == 1 else self._rng.random() < 0.5
        else:
            up = x > c
            if len(lost) == 1 and up in lost:  # mirrored: near the incumbent a knob's response is usually monotone
                x, up = (c * c / x if p.log and c > 0 and x > 0 else 2 * c - x), not up
        if p.kind in ("int", "pow2"):
            if x == c or (p.kind == "int" and abs(x - c) < max(1, 0.2 * abs(c))):
                x = c + (max(1, round(0.25 * abs(c))) if p.kind == "int" else 1) * (1 if up else -1)
            return int(min(max(x, p.low), p.high))
        if p.log and c > 0 and x > 0:
            if abs(math.log(x / c)) < math.log(MIN_STEP):
                x = c * MIN_STEP if up else c / MIN_STEP
        elif abs(x - c) < (p.high - p.low) / 8:
            x = c + (p.high - p.low) / 8 * (1 if up else -1)
        return float(min(max(x, p.low), p.high))

    def lost_sides(self, name: str) -> set[bool]:
        """The sides of the incumbent's ``name`` (True: above it, as the study holds values) where every finished trial
        that differs from the incumbent in ``name`` alone did worse than the incumbent's own trials, or crashed."""
        centre = self.incumbent
        p, c = self.space[name], self.space[name].internal(centre[name])
        own = [t.metric for t in self.finished if math.isfinite(t.metric) and self._same(t.values, centre)]
        if not own or c is None or isinstance(c, (bool, str)):
            return set()
        ref = sum(own) / len(own)
        sides: dict[bool, bool] = {}
        for t in self.finished:
            x = p.internal(t.values.get(name, centre[name]))
            if x is None or isinstance(x, (bool, str)) or x == c:
                continue
            if any(t.values.get(n) != centre.get(n) for n in self.space if n != name):
                continue
            side = x > c
            sides[side] = sides.get(side, True) and not t.metric < ref
        return {side for side, worse in sides.items() if worse}

    def best(self, k: int = 3) -> list[TrialView]:
        """The ``k`` best finished trials, best first."""
        done = [t for t in self.finished if math.isfinite(t.metric)]
        return sorted(done, key=lambda t: t.metric)[:k]

    def failures(self, k: int = 5) -> list[TrialView]:
        """The newest crashed trials."""
        return [t for t in self.finished if t.status == "crash"][-k:]

    def importances(self) -> dict[str, float]:
        """Knob -> importance (Optuna's default evaluator) once enough trials vary; {} before that or on failure."""
        if self.trials < 6:
            return {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return dict(optuna.importance.get_param_importances(self.optuna))
        except Exception as exc:  # too few distinct values, an evaluator that needs a missing extra...
            log.info("importances unavailable: %s", exc)
            return {}


def _config(values: Mapping[str, Value], base: Mapping[str, Value]) -> str:
    from coordinator.knobs import format_value

    diff = [f"{k}={format_value(v)}" for k, v in values.items() if base.get(k) != v]
    return " ".join(diff) or "(the current file's values)"


def study_notes(base: str, scored: Sequence[ScoredText], *, program: str = "", limit: int = 2_000,
                shown: Callable[[float], float] = lambda cost: cost) -> str:
    """What the study of ``base``'s branch has learned, for the LLM's prompt (at most ``limit`` characters): the best
    configurations, the knobs that matter (Optuna's importance evaluator), the configurations that crashed. The
    trials' metrics are costs (lower is better); ``shown`` turns one into the task's metric."""
    try:
        study = Study(base, scored, program=program, seed=0)
    except Exception as exc:  # a file that does not parse has no study
        log.info("no study notes: %s", exc)
        return ""
    if not study.trials:
        return ""
    lines = [f"{study.trials} trials of this train.py's knobs (own and peers'), tuned by TPE:", "Best configurations:"]
    lines += [f"- {shown(t.metric):.4f}  {_config(t.values, study.base_values)}" for t in study.best(3)]
    ranked = sorted(study.importances().items(), key=lambda kv: -kv[1])[:6]
    if ranked:
        lines.append("Knobs that matter most (importance): " + ", ".join(f"{k} {v:.2f}" for k, v in ranked))
    failed = study.failures(3)
    if failed:
        lines.append("Crashed:")
        lines += [f"- {_config(t.values, study.base_values)}" for t in failed]
    lines.append("The knob values are tuned by the study; spend your change on the code (model, optimiser, "
                 "schedule): a code change starts a new study whose knobs are then tuned for it.")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 3] + "..."
