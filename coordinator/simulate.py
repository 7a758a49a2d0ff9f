"""A simulated swarm: the real ``Researcher`` on a cheap synthetic objective, simulated time, in-memory gossip.

For ``bench/swarm_sim.py`` and the tests. Training is replaced by ``objective``: an unknown function of the knobs of
``SIM_TRAIN_PY`` (quadratic bowls in log space around hidden optima, plus choice effects) with seeded Gaussian noise;
an experiment costs ``run_time`` simulated seconds. Nodes are stepped in simulated-time order; an outcome becomes visible
to the others at its finish time (sharing) or never (independent nodes). Workspaces are in memory (``MemoryWorkspace``
offers what the Researcher uses of ``Workspace``), so thousands of experiments take seconds.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from coordinator.agents.base import Agent
from coordinator.agents.mutate import MutateAgent
from coordinator.knobs import read_knobs
from coordinator.records import Outcome, Policy, SeenResult, SwarmView
from coordinator.researcher import Researcher
from coordinator.transfer import Rung, rung_of
from coordinator.workspace import LogEntry, blob_hash
from protocol import BudgetRule, Claim, Result

__all__ = ["SIM_TRAIN_PY", "objective", "SimRun", "MemoryWorkspace", "SimSwarm", "true_value", "KeepRate", "keep_rate"]

SIM_TRAIN_PY = '''"""A synthetic train.py: only its knobs matter to the simulator."""

N_LAYER = 2               # transformer blocks
N_EMBD = 128              # model width
BATCH_SIZE = 8            # sequences per step
CONTEXT = 128             # training sequence length
DROPOUT = 0.0             # dropout
NORM = "layernorm"        # "layernorm" | "rmsnorm"
ACTIVATION = "gelu"       # "gelu" | "relu2" | "swiglu"
LEARNING_RATE = 4e-3      # peak learning rate
MIN_LR_RATIO = 0.1        # final lr / peak lr
WARMUP_STEPS = 100        # warmup steps
WEIGHT_DECAY = 0.1        # weight decay
BETA2 = 0.95              # AdamW beta2
GRAD_CLIP = 1.0           # gradient clip


def main() -> None:
    pass
'''

# knob -> (optimum, weight per squared log2 distance)
_BOWLS = {
    "N_LAYER": (4, 0.020), "N_EMBD": (256, 0.030), "BATCH_SIZE": (16, 0.015), "CONTEXT": (256, 0.010),
    "LEARNING_RATE": (1.2e-2, 0.030), "MIN_LR_RATIO": (0.04, 0.004), "WARMUP_STEPS": (40, 0.006),
    "WEIGHT_DECAY": (0.03, 0.003), "GRAD_CLIP": (0.5, 0.004),
}
_CHOICE = {"NORM": {"layernorm": 0.0, "rmsnorm": -0.012}, "ACTIVATION": {"gelu": 0.0, "relu2": -0.006, "swiglu": -0.018}}
FLOOR = 2.15


def true_value(text: str) -> float | None:
    """The noise-free val_bpb of a synthetic train.py; None for a configuration that crashes."""
    knobs = {k.name: k.value for k in read_knobs(text)}
    value = FLOOR
    for name, (opt, weight) in _BOWLS.items():
        x = knobs.get(name)
        if not isinstance(x, (int, float)) or x <= 0:
            return None
        value += weight * math.log2(x / opt) ** 2
    for name, table in _CHOICE.items():
        value += table.get(str(knobs.get(name)), 0.05) - min(table.values())
    dropout = knobs.get("DROPOUT", 0.0)
    beta2 = knobs.get("BETA2", 0.95)
    if not isinstance(dropout, (int, float)) or not isinstance(beta2, (int, float)):
        return None
    value += 0.3 * dropout + 2.0 * abs(beta2 - 0.99)
    size = 1.0
    for name in ("N_EMBD", "N_LAYER", "BATCH_SIZE"):
        dim = knobs.get(name, 0)
        if not isinstance(dim, (int, float)):
            return None
        size *= dim
    if size > 256 * 8 * 32:
        return None  # "out of memory"
    return value


@dataclass(frozen=True)
class SimRun:
    """What the runner returns (the fields of ``trainer.RunSummary`` the loop reads)."""

    status: str
    val_bpb: float | None
    steps: int = 100
    tokens: int = 100_000
    wall_seconds: float = 60.0
    peak_memory_mb: float = 100.0
    log_tail: str = ""
    reason: str = ""


def _gauss(key: str, std: float) -> float:
    digest = hashlib.sha256(key.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).gauss(0.0, std) if std > 0 else 0.0


def objective(text: str, seed: int, noise: float = 0.005, seed_noise: float = 0.0, world: int = 0) -> SimRun:
    """One simulated run: the true value, plus what seed ``seed`` does to every train.py alike (``seed_noise``: data
    order and initialisation, which paired runs cancel), plus this run's own noise (``noise``: the paired noise
    / sqrt 2). ``world`` names an independent draw of the seeds' effects (one per simulated swarm)."""
    value = true_value(text)
    if value is None:
        return SimRun(status="crash", val_bpb=None, reason="out of memory")
    shared = _gauss(f"world {world} seed {seed}", seed_noise)
    return SimRun(status="ok", val_bpb=value + shared + _gauss(f"{world}:{blob_hash(text)}:{seed}", noise))


class MemoryWorkspace:
    """The part of ``Workspace`` the Researcher uses, in memory (commit ids are content hashes, as git's are)."""

    def __init__(self, baseline: str) -> None:
        self._commits: dict[str, tuple[str, str, str]] = {}  # id -> (parent, text, message)
        self._base = self._make(baseline, "baseline\n", "")
        self._head = self._base

    def _make(self, text: str, message: str, parent: str) -> str:
        commit = hashlib.sha1(f"{parent}\0{blob_hash(text)}\0{message}".encode()).hexdigest()
        self._commits[commit] = (parent, text, message)
        return commit

    def baseline(self) -> str:
        return self._base

    def head(self) -> str:
        return self._head

    def head_text(self) -> str:
        return self._commits[self._head][1]

    def text_of(self, commit: str) -> str:
        return self._commits[commit][1]

    def write_candidate(self, text: str) -> None:
        pass

    def reset(self) -> None:
        pass

    def commit_kept(self, text: str, message: str) -> str:
        self._head = self._make(text, message, self._head)
        return self._head

    def commit_discarded(self, text: str, message: str) -> str:
        return self._make(text, message, self._head)

    def log(self, limit: int = 1000) -> list[LogEntry]:
        out: list[LogEntry] = []
        commit = self._head
        while commit and len(out) < limit:
            parent, _, message = self._commits[commit]
            out.append(LogEntry(commit, parent, message.strip()))
            commit = parent
        return out


@dataclass
class _Node:
    key: bytes
    hw_class: str = "cpu:2t"
    time: float = 0.0
    seq: int = 0
    researcher: Researcher | None = None
    outcomes: list[Outcome] = field(default_factory=list)


class SimSwarm:
    """``n`` nodes on the synthetic objective; ``share=False`` makes them independent (each sees only itself)."""

    def __init__(self, n: int, *, seed: int, share: bool = True, run_time: float = 75.0, noise: float = 0.005,
                 policy: Policy = Policy(), budget: BudgetRule = BudgetRule("seconds", 60),
                 liars: int = 0, agent: Callable[[random.Random], Agent] = MutateAgent,
                 seed_noise: float = 0.0, classes: Sequence[str] = ("cpu:2t",), rungs: Sequence[Rung] = (),
                 shift: Callable[[str, str], float] | None = None) -> None:
        self.share = share
        self.run_time = run_time
        self.noise = noise
        self.seed_noise = seed_noise
        self.world = seed
        self.budget = budget
        self.results: list[tuple[float, bytes, SeenResult]] = []   # (visible_from, author, result)
        self.claims: list[Claim] = []
        self.texts: dict[str, str] = {blob_hash(SIM_TRAIN_PY): SIM_TRAIN_PY}
        self.best_true: list[tuple[float, float]] = []             # (time, best true value of any node's HEAD)
        self._best = true_value(SIM_TRAIN_PY) or math.inf
        self.shift = shift   # (hw_class, train.py) -> what that class adds to the true value (ideas that do not travel)
        self.nodes: list[_Node] = []
        rng = random.Random(seed)
        for i in range(n):
            node = _Node(key=hashlib.sha256(f"node-{seed}-{i}".encode()).digest(), hw_class=classes[i % len(classes)])
            rung = rung_of(node.hw_class)
            baseline = rungs[rung - 1].scale_text(SIM_TRAIN_PY) if 0 < rung <= len(rungs) else SIM_TRAIN_PY
            self.texts[blob_hash(baseline)] = baseline
            node.researcher = Researcher(
                workspace=MemoryWorkspace(baseline), agent=agent(random.Random(rng.random())),  # type: ignore[arg-type]
                runner=self._runner(node), hw_class=node.hw_class, budget=budget, author=node.key, rungs=rungs,
                swarm_view=self._view(node), fetch_blob=self.texts.get, publish=self._publish(node),
                announce_claim=self._claim(node), policy=policy, rng=random.Random(rng.random()),
                clock=lambda node=node: node.time, offer_text=self._offer)
            self.nodes.append(node)

    def _runner(self, node: _Node):  # type: ignore[no-untyped-def]
        def run(text: str, seed: int) -> SimRun:
            node.time += self.run_time
            run = objective(text, seed, self.noise, self.seed_noise, self.world)
            if self.shift is None or run.val_bpb is None:
                return run
            return SimRun(status=run.status, val_bpb=run.val_bpb + self.shift(node.hw_class, text))
        return run

    def _view(self, node: _Node):  # type: ignore[no-untyped-def]
        def view() -> SwarmView:
            seen = [s for t, author, s in self.results
                    if author == node.key or (self.share and t <= node.time)]
            claims = [c for c in self.claims if self.share and c.created_at <= node.time]
            return SwarmView(results=seen, claims=claims)
        return view

    def _offer(self, blob: str, text: str, parent: str) -> None:
        self.texts[blob] = text  # what a claimer serves on the commit stream: the text in flight

    def _claim(self, node: _Node):  # type: ignore[no-untyped-def]
        def claim(blob: str, expires_at: float) -> None:
            self.claims.append(Claim(swarm_id=b"\0" * 32, author=node.key, seq=0, created_at=node.time, blob=blob,
                                     expires_at=expires_at))
        return claim

    def _publish(self, node: _Node):  # type: ignore[no-untyped-def]
        def publish(o: Outcome) -> None:
            self.texts[o.blob] = o.train_py
            for run in o.run_results():  # one signed Result per run, as node/ publishes them
                node.seq += 1
                result = Result(swarm_id=b"\0" * 32, author=node.key, seq=node.seq, created_at=node.time,
                                commit=o.commit, parent=o.parent, blob=o.blob, hw_class=o.hw_class,
                                hw_fingerprint="sim", budget=self.budget, description=o.description,
                                reproduces=o.reproduces, **run)  # type: ignore[arg-type]
                rid = hashlib.sha256(node.key + node.seq.to_bytes(8, "big")).digest()
                self.results.append((node.time, node.key, SeenResult(rid, result)))
            node.outcomes.append(o)
            if o.kept:
                value = true_value(o.train_py)
                if value is not None and value < self._best:
                    self._best = value
                    self.best_true.append((node.time, value))
        return publish

    def run_until(self, *, target: float, max_time: float) -> float | None:
        """Step nodes in simulated-time order until some node's HEAD is truly <= target; return that time."""
        heap = [(node.time, i) for i, node in enumerate(self.nodes)]
        heapq.heapify(heap)
        while heap:
            _, i = heapq.heappop(heap)
            node = self.nodes[i]
            if node.time > max_time:
                continue
            assert node.researcher is not None
            node.researcher.step()
            if self._best <= target:
                return self.best_true[-1][0]
            heapq.heappush(heap, (node.time, i))
        return None


@dataclass(frozen=True)
class KeepRate:
    """How often the real keep rule kept a candidate of a known true gain (``keep_rate``)."""

    gain: float
    decisions: int
    kept: int
    paired: int  # decisions taken on paired differences
    runs: int    # runs in all (baseline, candidates, re-runs)

    @property
    def rate(self) -> float:
        return self.kept / self.decisions if self.decisions else 0.0


class _FixedGain:
    """An agent whose every proposal is truly ``gain`` better than the train.py it edits (a comment makes it new)."""

    name = "fixed-gain"

    def __init__(self, values: dict[str, float], gain: float) -> None:
        self.values = values
        self.gain = gain
        self.count = 0

    def propose(self, context):  # type: ignore[no-untyped-def]
        from coordinator.records import Proposal

        self.count += 1
        text = f"{context.train_py}# variant {self.count}\n"
        self.values[blob_hash(text)] = self.values[blob_hash(context.train_py)] - self.gain
        return Proposal(train_py=text, description=f"variant {self.count}", agent=self.name)


def keep_rate(gain: float, *, own_noise: float, seed_noise: float, candidates: int = 60, trials: int = 20,
              warmup: int = 5, seed: int = 0, policy: Policy = Policy()) -> KeepRate:
    """The keep rule measured: ``trials`` single-node swarms, each runs its baseline, then ``candidates`` proposals
    that are each truly ``gain`` better than the HEAD they edit, under the CRN noise model of ``objective`` (each
    seed shifts every train.py by the same draw of ``seed_noise``; each run adds its own ``own_noise``). The first
    ``warmup`` candidates of a trial (while the paired noise is being measured) are not counted."""
    kept = decisions = paired = runs = 0
    for trial in range(trials):
        values = {blob_hash(SIM_TRAIN_PY): 2.4}
        world = seed * 100_003 + trial
        count = [0]

        def runner(text: str, k: int) -> SimRun:
            count[0] += 1
            value = values[blob_hash(text)] + _gauss(f"world {world} seed {k}", seed_noise)
            return SimRun(status="ok", val_bpb=value + _gauss(f"{world}:{blob_hash(text)}:{k}", own_noise))

        results: list[SeenResult] = []
        key = hashlib.sha256(f"keep-rate {world}".encode()).digest()

        def publish(o: Outcome) -> None:
            for run in o.run_results():
                r = Result(swarm_id=b"\0" * 32, author=key, seq=len(results) + 1, created_at=float(len(results)),
                           commit=o.commit, parent=o.parent, blob=o.blob, hw_class=o.hw_class, hw_fingerprint="sim",
                           budget=BudgetRule("seconds", 60), description=o.description, reproduces=o.reproduces,
                           **run)  # type: ignore[arg-type]
                results.append(SeenResult(hashlib.sha256(key + len(results).to_bytes(8, "big")).digest(), r))

        researcher = Researcher(
            workspace=MemoryWorkspace(SIM_TRAIN_PY), agent=_FixedGain(values, gain),  # type: ignore[arg-type]
            runner=runner, hw_class="cpu:2t", budget=BudgetRule("seconds", 60), author=key,
            swarm_view=lambda: SwarmView(results=list(results)), fetch_blob=lambda b: None, publish=publish,
            policy=policy, rng=random.Random(world), clock=lambda: float(len(results)))
        seen_candidates = 0
        while seen_candidates < candidates:
            outcome = researcher.step()
            if outcome.action != "explore":
                continue
            seen_candidates += 1
            if seen_candidates <= warmup:
                continue
            decisions += 1
            kept += outcome.kept
            paired += outcome.paired
        runs += count[0]
    return KeepRate(gain=gain, decisions=decisions, kept=kept, paired=paired, runs=runs)
