"""What a running node is doing, as typed records the ledger owns: the research loop and the runtime write them,
``feed``, ``status`` and the dashboard read them (from another process too: SQLite WAL).

::

    ledger.status.set_current(CurrentRun(action="experiment", description="training", fraction=0.4, ...))
    run = ledger.status.current()          # CurrentRun | None
    ledger.status.set_peers(["12D3KooW..."]); ledger.status.peers()
    ledger.status.set_noise(NoiseRecord.of(evidence, hw_class="cpu:x:1t", best=3.21))
    ledger.status.set_agent_note(AgentNote("llm", "the endpoint refused the key: ..."))
    ledger.status.set_active_swarm(swarm_id); ledger.status.active_swarm()

Each record is stored as JSON under its own key of the ledger's key/value state (the keys are this module's, no one
else's). A reader gets the record or ``None``: a value of another shape (a damaged ledger, a newer writer's extra
keys are ignored, a missing or mistyped field is not) is never an exception in the feed.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from node.ledger.store import Ledger

__all__ = ["CurrentRun", "NoiseRecord", "AgentNote", "NodeStatus"]

log = logging.getLogger(__name__)

KEY_CURRENT = "current"
KEY_PEERS = "peers"
KEY_NOISE = "noise"
KEY_SWARM = "active_swarm"
KEY_AGENT = "agent"
MAX_PEERS = 10_000

R = TypeVar("R")

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
    "float | None": (int, float, type(None)), "int | None": (int, type(None)), "str | None": (str, type(None)),
}


@dataclass(frozen=True)
class CurrentRun:
    """The experiment training now: what it is, how far (0..1 of its budget), and the estimate of what is left."""

    action: str
    description: str
    fraction: float
    eta_seconds: float | None = None
    step: int = 0
    tokens: int = 0
    started_at: float = 0.0


@dataclass(frozen=True)
class NoiseRecord:
    """This node's measured noise on one hardware class (``coordinator.noise.NoiseEvidence``) and its best mean."""

    runs: int
    groups: int
    std: float | None
    margin: float
    baseline_runs: int
    paired_std: float | None = None
    paired_margin: float | None = None
    pairs: int = 0
    hw_class: str = ""
    best: float | None = None

    @classmethod
    def of(cls, evidence: object, *, hw_class: str, best: float | None) -> NoiseRecord:
        """From the Researcher's evidence (a dataclass; fields this record does not know are left out)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in dataclasses.asdict(evidence).items() if k in known}  # type: ignore[call-overload]
        return cls(**{**values, "hw_class": hw_class, "best": best})


@dataclass(frozen=True)
class AgentNote:
    """The node's agent stopped for good (e.g. the llm endpoint refused the key): which one, and the fix."""

    agent: str
    note: str


def _record(cls: type[R], value: object) -> R | None:
    """``value`` (decoded JSON) as a ``cls``, or None when it has another shape."""
    if not isinstance(value, dict):
        return None
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in value:
            if f.default is dataclasses.MISSING:
                return None
            continue
        item = value[f.name]
        allowed = _TYPES.get(str(f.type), (object,))
        if not isinstance(item, allowed) or (isinstance(item, bool) and bool not in allowed):
            return None
        kwargs[f.name] = item
    return cls(**kwargs)


class NodeStatus:
    """The typed status records of one ledger (see the module docstring)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def current(self) -> CurrentRun | None:
        return _record(CurrentRun, self._ledger.get_state(KEY_CURRENT))

    def set_current(self, run: CurrentRun | None) -> None:
        self._ledger.set_state(KEY_CURRENT, None if run is None else dataclasses.asdict(run))

    def peers(self) -> list[str]:
        """The peers the running node was connected to when it last looked (every 2 s); [] when it is not running."""
        value = self._ledger.get_state(KEY_PEERS, [])
        return [p for p in value[:MAX_PEERS] if isinstance(p, str)] if isinstance(value, list) else []

    def set_peers(self, peers: list[str]) -> None:
        self._ledger.set_state(KEY_PEERS, list(peers))

    def noise(self) -> NoiseRecord | None:
        return _record(NoiseRecord, self._ledger.get_state(KEY_NOISE))

    def set_noise(self, noise: NoiseRecord | None) -> None:
        self._ledger.set_state(KEY_NOISE, None if noise is None else dataclasses.asdict(noise))

    def agent_note(self) -> AgentNote | None:
        return _record(AgentNote, self._ledger.get_state(KEY_AGENT))

    def set_agent_note(self, note: AgentNote | None) -> None:
        self._ledger.set_state(KEY_AGENT, None if note is None else dataclasses.asdict(note))

    def active_swarm(self) -> bytes | None:
        """The swarm the node last researched in."""
        value = self._ledger.get_state(KEY_SWARM)
        if isinstance(value, str):
            try:
                swarm_id = bytes.fromhex(value)
            except ValueError:
                return None
            return swarm_id if len(swarm_id) == 32 else None
        return None

    def set_active_swarm(self, swarm_id: bytes) -> None:
        self._ledger.set_state(KEY_SWARM, swarm_id.hex())

    def clear_running(self) -> None:
        """The node is leaving: no peers connected, nothing training."""
        self.set_peers([])
        self.set_current(None)
