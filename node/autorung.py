"""``--rung auto``: the rung a node climbs to, from the work its own rung-0 baseline runs did beside other classes'.

Every class runs the same baseline train.py under the same seconds budget first, so the tokens a baseline run trained
(each Result records them) measure a class's speed honestly enough: this node's (the median of its own baseline runs)
over the reference class's is its **speed ratio**. The reference is the median class among the *other* rung-0
classes that reported finished baseline runs (each class's own median; with an even count the slower of the middle
two): one fast or one throttled peer moves it little, and a node that has heard of no other class stays at rung 0.

A rung asks for ``budget multiple x token cost`` times a rung-0 run's work: the multiple is the manifest's, and the
cost per token of its scaled knobs is estimated from their names (``token_cost``): a width (``*EMBD*``, ``*DIM*``,
``*WIDTH*``, ``*HIDDEN*``) costs its factor squared (the weight matrices grow both ways), a depth or length
(``*LAYER*``, ``*DEPTH*``, ``*BLOCK*``, ``*CONTEXT*``, ``*SEQ*``, ``*CTX*``) its factor, any other knob (a learning
rate, a batch size: tokens per step, not cost per token) nothing. The node climbs to the highest rung whose cost it
can pay at about the reference class's time per rung-0 run, with room to spare: ``speed ratio >= MARGIN x cost``.
The rung 1 of ``5x budget, N_LAYER x2, N_EMBD x2`` costs 5 x 2 x 4 = 40, so it needs a node 80 times the reference's
speed: a GPU beside laptops, not a bigger laptop.

``choose_rung`` is the rule on plain numbers; ``baseline_work`` reads them from the ledger's rows; ``Climber`` is what
a running node asks after each rung-0 step. The choice only ever goes up, once (a rung's line starts at its own
baseline); with ``--rung K`` there is no choice.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from coordinator.transfer import Rung, rung_of
from node.ledger import Ledger
from node.ledger.rows import ResultRow
from node.research import ResearchLoop
from node.swarms import RungError, SwarmSpec, at_rung, budget_rule, rung_words

__all__ = ["MARGIN", "RungChoice", "token_cost", "rung_cost", "choose_rung", "baseline_work", "Climber",
           "research_auto"]

log = logging.getLogger(__name__)

MARGIN = 2.0
WIDTH_WORDS = ("EMBD", "DIM", "WIDTH", "HIDDEN")
LENGTH_WORDS = ("LAYER", "DEPTH", "BLOCK", "CONTEXT", "SEQ", "CTX")


@dataclass(frozen=True)
class RungChoice:
    """The rung ``--rung auto`` chose and why (one line, for the log, node.json and ``status``)."""

    rung: int
    why: str
    ready: bool = True  # False: this node's own baseline runs are not done yet (ask again after the next step)


def token_cost(scale: Mapping[str, float]) -> float:
    """How many times a rung-0 token one token of the scaled train.py costs (see the module docstring)."""
    cost = 1.0
    for name, factor in sorted(scale.items()):
        if any(word in name for word in WIDTH_WORDS):
            cost *= factor * factor
        elif any(word in name for word in LENGTH_WORDS):
            cost *= factor
    return cost


def rung_cost(rung: Rung) -> float:
    """A rung's work in rung-0 runs: its budget multiple times the cost per token of its scaled knobs."""
    return rung.budget * token_cost(rung.scale)


def choose_rung(mine: float | None, others: Mapping[str, float], rungs: Sequence[Rung],
                margin: float = MARGIN) -> RungChoice:
    """The highest rung with ``mine / reference >= margin x rung_cost`` (0 if none), where ``mine`` is this node's
    tokens per rung-0 baseline run and ``others`` each other class's; the reference is their median class."""
    if not rungs:
        return RungChoice(0, "the swarm's manifest defines no rungs")
    if mine is None or mine <= 0:
        return RungChoice(0, "waiting for this node's own rung-0 baseline runs", ready=False)
    known = sorted((tokens, hw) for hw, tokens in others.items() if tokens > 0)
    if not known:
        return RungChoice(0, "no other class has finished rung-0 baseline runs yet: staying at rung 0", ready=False)
    tokens, reference = known[(len(known) - 1) // 2]
    speed = mine / tokens
    costs = [rung_cost(r) for r in rungs]
    chosen = max((k for k, cost in enumerate(costs, 1) if speed >= margin * cost), default=0)
    seen = f"{speed:.4g}x the tokens per baseline run of {reference} (the median of {len(known)} other classes)"
    if chosen == 0:
        cheapest = min(costs)
        return RungChoice(0, f"{seen}; the cheapest rung costs {cheapest:.3g}x a rung-0 run, so it would need "
                             f">= {margin * cheapest:.3g}x: staying at rung 0")
    return RungChoice(chosen, f"{seen}; rung {rung_words(chosen, rungs[chosen - 1])} costs {costs[chosen - 1]:.3g}x "
                              f"a rung-0 run, affordable at >= {margin * costs[chosen - 1]:.3g}x: climbing to rung "
                              f"{chosen}")


def baseline_work(rows: Iterable[ResultRow], *, baseline_blob: str, budget: str, me: bytes,
                  hw_class: str, repeats: int) -> tuple[float | None, dict[str, float]]:
    """(this node's median tokens per finished rung-0 baseline run once it has ``repeats`` of them, else None;
    every other rung-0 class's median tokens per finished baseline run)."""
    mine: list[int] = []
    theirs: dict[str, list[int]] = {}
    for r in rows:
        if (r.action != "baseline" or r.reproduces or r.blob != baseline_blob or r.status == "crash"
                or r.budget != budget or r.tokens <= 0 or rung_of(r.hw_class) != 0):
            continue
        if r.hw_class == hw_class:
            if r.author == me:
                mine.append(r.tokens)
        else:
            theirs.setdefault(r.hw_class, []).append(r.tokens)
    own = float(statistics.median(mine)) if len(mine) >= repeats else None
    return own, {hw: float(statistics.median(t)) for hw, t in theirs.items()}


class Climber:
    """``--rung auto`` for one running node at rung 0: ``climbs()`` (after each step) says whether to move up now to
    ``choice.rung``; each new choice goes to ``on_choice`` (the log, node.json, the terminal). ``repeats``: the own
    finished baseline runs it waits for, one by default: with pooled baselines (trusted same-class peers' runs count
    toward calibration) a node may run only one itself, and a tokens count varies by a few percent, far inside the
    rule's 2x margin."""

    def __init__(self, ledger: Ledger, spec: SwarmSpec, *, me: bytes, hw_class: str,
                 on_choice: Callable[[RungChoice], None], repeats: int = 1) -> None:
        self.ledger, self.spec, self.me, self.hw_class = ledger, spec, me, hw_class
        self.on_choice, self.repeats = on_choice, repeats
        self.choice = RungChoice(0, "not decided yet", ready=False)

    def climbs(self) -> bool:
        mine, others = baseline_work(self.ledger.results(self.spec.swarm_id),
                                     baseline_blob=self.spec.manifest.baseline_blob,
                                     budget=str(budget_rule(self.spec.budget)), me=self.me, hw_class=self.hw_class,
                                     repeats=self.repeats)
        choice = choose_rung(mine, others, self.spec.rungs)
        if choice.why != self.choice.why:
            log.info("rung auto: %s", choice.why)
            self.choice = choice
            self.on_choice(choice)
        return choice.rung > 0


async def research_auto(spec: SwarmSpec, make_loop: Callable[[SwarmSpec], ResearchLoop], *, ledger: Ledger,
                        me: bytes, say: Callable[[str], None], on_choice: Callable[[RungChoice], None],
                        max_steps: int | None) -> None:
    """``--rung auto`` on a swarm with rungs: research at rung 0 until the ``Climber`` says climb (asked before each
    step, so a node whose ledger already decides climbs at once), then at the chosen rung for the steps left. A rung
    that cannot run here (a manifest from elsewhere whose scaled train.py fails the gate) leaves it at rung 0."""
    loop = make_loop(spec)
    climber = Climber(ledger, spec, me=me, hw_class=loop.hardware.hw_class, on_choice=on_choice)
    say(f"researching: {loop.describe()} | rung auto (of {len(spec.rungs)})")
    ran = await loop.run(max_steps, stop=climber.climbs)
    left = None if max_steps is None else max_steps - ran
    if left is not None and left <= 0:
        return
    try:
        up = at_rung(spec, climber.choice.rung)
    except RungError as exc:
        on_choice(RungChoice(0, f"rung {climber.choice.rung} cannot run here ({exc}): staying at rung 0"))
        up = spec
    loop = make_loop(up)
    say(f"researching: {loop.describe()}")
    await loop.run(left)
