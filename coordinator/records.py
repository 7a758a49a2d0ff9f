"""Plain records that go into and come out of the coordinator: no ledger, no sockets.

``ResultLike`` and ``ClaimLike`` name the fields the coordinator reads of ``protocol.Result`` and ``protocol.Claim``;
the real protocol messages satisfy them, and so do the light records of tests and of the swarm simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence, Mapping

__all__ = [
    "ResultLike", "ClaimLike", "SeenResult", "SwarmView", "HistoryItem", "ProposalContext", "Proposal",
    "TrustChange", "Outcome", "Policy", "Action", "ActionKind", "ScoredText", "RunRecord",
]

ActionKind = Literal["baseline", "explore", "adopt", "stack"]
"""What a planned experiment is; its runs are published with this action, the runs after the first as "rerun"."""


class ResultLike(Protocol):
    """The fields of ``protocol.Result`` that the coordinator reads."""

    @property
    def author(self) -> bytes: ...
    @property
    def created_at(self) -> float: ...
    @property
    def commit(self) -> str: ...
    @property
    def parent(self) -> str: ...
    @property
    def blob(self) -> str: ...
    @property
    def metric(self) -> float: ...
    @property
    def status(self) -> str: ...
    @property
    def hw_class(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def reproduces(self) -> bytes: ...
    @property
    def action(self) -> str: ...
    @property
    def run_index(self) -> int: ...
    @property
    def clock(self) -> str: ...


class ClaimLike(Protocol):
    """The fields of ``protocol.Claim`` that the coordinator reads: who claims which blob until when."""

    @property
    def author(self) -> bytes: ...
    @property
    def blob(self) -> str: ...
    @property
    def expires_at(self) -> float: ...


@dataclass(frozen=True)
class SeenResult:
    """A verified result as the ledger holds it: its id (sha256 of the envelope) and its decoded message."""

    result_id: bytes
    result: ResultLike


@dataclass(frozen=True)
class SwarmView:
    """What the node knows of the swarm right now: every result (own ones included), live claims, invalid counts."""

    results: Sequence[SeenResult] = ()
    claims: Sequence[ClaimLike] = ()  # live ones, and recently expired ones (were they followed by a result?)
    invalid: Mapping[bytes, int] = field(default_factory=dict)  # author key -> invalid messages seen from it


@dataclass(frozen=True)
class HistoryItem:
    """One result as an agent sees it (own or a peer's)."""

    description: str
    metric: float
    status: str
    mine: bool
    created_at: float = 0.0
    action: str = "unknown"  # the result's action field (a re-run or a baseline run is not a new idea)


@dataclass(frozen=True)
class ScoredText:
    """A comparable result whose train.py is known here (a trial of the study), or a live claim (``pending``)."""

    train_py: str
    metric: float                      # 0.0 for a crash or a pending claim
    status: str                        # keep / discard / crash / pending
    mine: bool = False


@dataclass(frozen=True)
class ProposalContext:
    """Everything an agent may read to propose the next train.py."""

    program: str
    train_py: str
    best_metric: float | None
    own_recent: Sequence[HistoryItem] = ()
    swarm_best: Sequence[HistoryItem] = ()
    swarm_latest: Sequence[HistoryItem] = ()
    taken: frozenset[str] = frozenset()  # blobs already scored or claimed: propose something else
    history: Sequence[HistoryItem] = ()  # a longer window (own and swarm, oldest first) for agents that learn
    scored: Sequence[ScoredText] = ()    # texts of comparable results and live claims (agents with ``uses_trials``)
    # The task: every metric above is a cost (lower is better; coordinator.direction): the metric itself when
    # ``direction`` is "min", negated when "max"; ``shown`` gives it back as the task's metric (for prompts).
    metric_name: str = "val_bpb"
    direction: str = "min"
    task_kind: str = "lm"

    def shown(self, value: float) -> float:
        """A cost of this context as the task's metric."""
        return value if self.direction == "min" else 0.0 - value


@dataclass(frozen=True)
class Proposal:
    """A whole new train.py and the one line that says what changed."""

    train_py: str
    description: str
    agent: str


@dataclass(frozen=True)
class TrustChange:
    """A change of this node's trust in a peer, for node/ to persist."""

    peer: bytes
    event: Literal["confirmed", "refuted", "invalid", "unfulfilled"]
    score: float


@dataclass(frozen=True)
class Action:
    """What the next experiment is (``plan_next``): its kind, the text to run, and why."""

    kind: ActionKind
    train_py: str
    description: str
    parents: tuple[str, ...] = ()      # blobs it builds on (adopt: the peer's blob; stack: both merged blobs)
    attests: bytes = b""               # adopt: the result id whose claim this run checks
    claimed_metric: float | None = None
    claimed_by: bytes = b""
    rivals: tuple[float, ...] = ()     # stack: the metrics the merge must beat


@dataclass(frozen=True)
class RunRecord:
    """One run of an experiment: one signed ``protocol.Result`` (its run index is the seed it used)."""

    action: str                        # the experiment's kind for the first run, "rerun" for the next ones
    run_index: int
    status: Literal["ok", "crash"]
    metric: float                      # val_bpb; 0.0 for a crash
    steps: int
    tokens: int
    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    clock: str                         # "cpu" | "wall": what the budget counted


@dataclass(frozen=True)
class Outcome:
    """One finished experiment: all a signed ``protocol.Result`` needs, plus what the node decided."""

    action: ActionKind
    commit: str
    parent: str
    blob: str
    train_py: str
    metric: float                      # val_bpb (mean of the runs); 0.0 for a crash
    status: Literal["keep", "discard", "crash"]
    hw_class: str
    steps: int
    tokens: int
    wall_seconds: float
    peak_memory_mb: float
    description: str
    reproduces: bytes = b""            # adopt: the id of the result this attests
    runs: tuple[float, ...] = ()       # each run's val_bpb (2 when the gain was within noise and it was re-run)
    kept: bool = False                 # committed: the workspace HEAD moved to ``commit``
    new_best: bool = False
    best_metric: float | None = None   # this node's best after the decision
    margin: float | None = None        # the noise margin the decision used
    reason: str = ""                   # one line: why kept / discarded
    trust_changes: tuple[TrustChange, ...] = ()
    agent: str = ""
    records: tuple[RunRecord, ...] = ()  # every run, in order: each becomes one signed Result
    paired: bool = False               # decided on paired differences (same seeds as the best's runs)

    def run_results(self) -> list[dict[str, object]]:
        """The per-run fields of the signed Results of this outcome (one per run; the rest is the outcome's):
        ``status`` is the decision for every run that finished and "crash" for a run that did not."""
        out = []
        for r in self.records:
            status = "crash" if r.status == "crash" else self.status
            out.append({"action": r.action, "run_index": r.run_index, "metric": r.metric if status != "crash" else 0.0,
                        "status": status, "steps": r.steps, "tokens": r.tokens, "wall_seconds": r.wall_seconds,
                        "cpu_seconds": r.cpu_seconds, "peak_memory_mb": r.peak_memory_mb, "clock": r.clock})
        return out


@dataclass(frozen=True)
class Policy:
    """The knobs of the coordinator itself."""

    baseline_repeats: int = 3          # baseline runs per hardware class before exploring
    baseline_pool_band: float = 0.03   # trusted same-class peers' baseline runs within this share of this node's
    # own baseline mean count toward the repeats (runbook.py; 0: every node runs all of its own)
    margin_floor: float = 0.002        # bpb: the smallest margin, whatever the measured noise
    margin_sigmas: float = 2.0         # margin = max(margin_sigmas * std, margin_floor)
    verify_share: float = 0.2          # at most this share of experiments adopt/verify peers' claims
    stack_share: float = 0.2           # at most this share of experiments test merges
    trust_threshold: float = -2.0      # claims of peers under this score are ignored
    claim_ttl: float = 600.0           # seconds a claim of ours lasts
    confirm_tolerance: float = 0.01    # bpb: an attestation within this of the claim confirms it (others' view)
    proposal_tries: int = 12           # proposals drawn before giving up on finding an untaken blob
    recent_limit: int = 12             # history items shown to agents (each list)
    only_verified_peer_code: bool = False  # no sandbox here: run peers' code only when verified here (peers.py)
    trusted_authors: frozenset[bytes] = frozenset()  # the user's own list (keys): their word and code count here
