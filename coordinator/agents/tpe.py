"""The ``tpe`` agent: Optuna's TPE sampler over the knobs of train.py, with the swarm's results as its trials.

Each proposal updates an in-memory study (``coordinator.study.Study``) of the base's branch from the records the loop
hands over (``ProposalContext.scored``: own and peers' comparable results, live claims as pending trials) and asks it
for a whole configuration. By default TPE moves 1 knob, picked by Thompson sampling over which knobs' changes were
kept (``knob_stats``), within a trust region around the incumbent (``Study.ask(local=True)``); ``subset=(0, 0),
local=False`` samples every knob over its whole range at once. A configuration whose train.py is already taken (scored
or claimed in the swarm) stays pending in the study (so TPE moves away from it) and the study is asked again, with
one more knob every ``WIDEN_EVERY`` tries: once every one-knob step around the incumbent has been scored (a node's
neighbourhood is small: each knob has a few measurable steps, and N sharing nodes score it N times faster), the agent
moves two knobs, then three, instead of giving up (the loop would then only re-measure its HEAD).
"""

from __future__ import annotations

import logging
import random
from typing import Sequence

from coordinator.errors import AgentError, KnobError
from coordinator.knobs import parse_change
from coordinator.records import HistoryItem, Proposal, ProposalContext
from coordinator.branch import MAX_TRIALS, apply_values, branch_key, describe_values, knob_values
from coordinator.study import Study
from coordinator.workspace import blob_hash

__all__ = ["TPEAgent", "PREFIX", "knob_stats"]

log = logging.getLogger(__name__)

PREFIX = "tpe: "
MAX_STUDIES = 8   # branches whose studies an agent keeps (the hybrid's code changes start new ones)
WIDEN_EVERY = 2   # tries at one width before one more knob is moved


def knob_stats(history: Sequence[HistoryItem], decay: float = 0.97) -> dict[str, tuple[float, float]]:
    """Per knob: recency-weighted (kept, not kept) counts of the changes that named it (``A 1 -> 2; B 3 -> 4``)."""
    stats: dict[str, tuple[float, float]] = {}
    n = len(history)
    for i, item in enumerate(history):
        text = item.description[len(PREFIX):] if item.description.startswith(PREFIX) else item.description
        names = {change[0] for part in text.split(";") if (change := parse_change(part)) is not None}
        weight = decay ** (n - 1 - i)
        for name in names:
            wins, losses = stats.get(name, (0.0, 0.0))
            stats[name] = (wins + weight, losses) if item.status == "keep" else (wins, losses + weight)
    return stats


class TPEAgent:
    """Whole-configuration proposals from TPE over everyone's trials; deterministic for a given ``rng``."""

    name = "tpe"
    uses_trials = True  # the loop fills ProposalContext.scored for this agent

    def __init__(self, rng: random.Random | None = None, *, n_startup: int = 3, tries: int = 12,
                 subset: tuple[int, int] = (1, 1), local: bool = True, centre_on_base: bool = True) -> None:
        self.local = local
        self.centre_on_base = centre_on_base
        self.rng = rng or random.Random()
        self.n_startup = n_startup
        self.subset = subset
        self.tries = tries
        self.last_study: Study | None = None
        self._studies: dict[tuple[str | None, str], Study] = {}   # (branch, program) -> its study, kept up to date

    def study(self, context: ProposalContext) -> Study:
        """The study of ``context.train_py``'s branch over ``context.scored``: the one kept from the last proposal on
        this branch, brought up to date (adding trials one by one is Optuna's cost: a rebuild per proposal took 0.6 s
        at 60 trials), or a new one (a new branch, or one grown past ``MAX_TRIALS``)."""
        key = (branch_key(context.train_py), context.program)
        study = self._studies.get(key)
        try:
            if study is not None and len(study.finished) <= 2 * MAX_TRIALS:
                study.update(context.train_py, context.scored)
                return study
            study = Study(context.train_py, context.scored, program=context.program,
                          seed=self.rng.randrange(1 << 31), n_startup=self.n_startup,
                          centre_on_base=self.centre_on_base)
        except KnobError as exc:
            raise AgentError(str(exc)) from exc
        if len(self._studies) >= MAX_STUDIES:
            self._studies.pop(next(iter(self._studies)))
        self._studies[key] = study
        return study

    def _pick(self, study: Study, names: list[str], context: ProposalContext, k: int) -> list[str]:
        """``k`` knobs by Thompson sampling over which knobs' changes were kept (own and peers' history); a knob whose
        step lost on one side of the incumbent and is open on the other counts one win more (its mirror is the
        likeliest gain: a step that lost clearly says the knob matters, and which way is better)."""
        stats = knob_stats(context.history)
        draw = {n: self.rng.betavariate(1.0 + stats.get(n, (0.0, 0.0))[0] + (len(study.lost_sides(n)) == 1),
                                        1.0 + stats.get(n, (0.0, 0.0))[1])
                for n in names}
        return sorted(names, key=lambda n: -draw[n])[:k]

    def propose(self, context: ProposalContext) -> Proposal:
        study = self.study(context)
        self.last_study = study
        if not study.space:
            raise AgentError("train.py has no knob to tune")
        base = knob_values(context.train_py)
        for attempt in range(self.tries):
            names = list(study.space)
            if self.subset[1]:
                width = min(len(names), self.rng.randint(*self.subset) + attempt // WIDEN_EVERY)
                names = self._pick(study, names, context, width)
            values = study.ask(names, local=self.local)
            text = apply_values(context.train_py, values)
            if text == context.train_py or blob_hash(text) in context.taken:
                continue  # stays a pending trial: the next ask moves away from it
            return Proposal(train_py=text, description=PREFIX + describe_values(base, values), agent=self.name)
        raise AgentError(f"tpe found only taken configurations in {self.tries} tries ({study.trials} trials)")
