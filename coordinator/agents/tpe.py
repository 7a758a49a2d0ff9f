"""The ``tpe`` agent: Optuna's TPE sampler over the knobs of train.py, with the swarm's results as its trials.

Each proposal rebuilds an in-memory study (``coordinator.study.Study``) of the base's branch from the records the loop
hands over (``ProposalContext.scored``: own and peers' comparable results, live claims as pending trials) and asks it
for a whole configuration: every tuned knob at once. A configuration whose train.py is already taken (scored or claimed
in the swarm) stays pending in the study (so TPE moves away from it) and the study is asked again.
"""

from __future__ import annotations

import logging
import random

from coordinator.errors import AgentError, KnobError
from coordinator.records import Proposal, ProposalContext
from coordinator.branch import apply_values, describe_values, knob_values
from coordinator.study import Study
from coordinator.workspace import blob_hash

__all__ = ["TPEAgent", "PREFIX"]

log = logging.getLogger(__name__)

PREFIX = "tpe: "


class TPEAgent:
    """Whole-configuration proposals from TPE over everyone's trials; deterministic for a given ``rng``."""

    name = "tpe"
    uses_trials = True  # the loop fills ProposalContext.scored for this agent

    def __init__(self, rng: random.Random | None = None, *, n_startup: int = 3, tries: int = 8,
                 subset: tuple[int, int] = (1, 3), local: bool = True) -> None:
        self.local = local
        self.rng = rng or random.Random()
        self.n_startup = n_startup
        self.subset = subset
        self.tries = tries
        self.last_study: Study | None = None

    def study(self, context: ProposalContext) -> Study:
        """The study of ``context.train_py``'s branch over ``context.scored``."""
        try:
            return Study(context.train_py, context.scored, program=context.program,
                         seed=self.rng.randrange(1 << 31), n_startup=self.n_startup)
        except KnobError as exc:
            raise AgentError(str(exc)) from exc

    def propose(self, context: ProposalContext) -> Proposal:
        study = self.study(context)
        self.last_study = study
        if not study.space:
            raise AgentError("train.py has no knob to tune")
        base = knob_values(context.train_py)
        for _ in range(self.tries):
            names = list(study.space)
            if self.subset[1]:
                names = self.rng.sample(names, min(len(names), self.rng.randint(*self.subset)))
            values = study.ask(names, local=self.local)
            text = apply_values(context.train_py, values)
            if text == context.train_py or blob_hash(text) in context.taken:
                continue  # stays a pending trial: the next ask moves away from it
            return Proposal(train_py=text, description=PREFIX + describe_values(base, values), agent=self.name)
        raise AgentError(f"tpe found only taken configurations in {self.tries} tries ({study.trials} trials)")
