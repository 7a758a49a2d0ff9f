"""The research loop of a running node: coordinator's ``Researcher`` driven with real runs, the ledger and the network.

``Researcher.step()`` is synchronous and slow (one whole experiment), so it runs in a worker thread; its ports (the
swarm view, fetching a peer's train.py, publishing a result or a claim) are ``node.ports.ThreadPorts``, the one
adapter that crosses back into trio. The ledger is shared (it has its own lock).

While a run trains, its progress goes to the ledger's typed status records (``ledger.status``, ``CurrentRun``),
where ``swarm-node feed``, ``status`` and the dashboard read it.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from pathlib import Path
from typing import Callable, Iterable, Literal

import trio

from coordinator.agents import Agent, MutateAgent
from coordinator.peers import confirms
from coordinator.records import Outcome, Policy
from coordinator.researcher import Researcher
from coordinator.transfer import rung_class
from coordinator.workspace import Workspace
from protocol import Result, one_line
from trainer import Budget, Hardware, Progress, RunSummary, hardware_fingerprint, run_experiment, sandbox_available
from trainer.limits import ceiling_from_baseline, runs_in_flight

from node.config import NodeConfig, public_key_of_peer_id
from node.ledger import AgentNote, CurrentRun, Ledger, NoiseRecord
from node.ledger.rows import ResultRow
from node.ports import Network, ThreadPorts
from node.swarms import SwarmError, SwarmSpec, budget_rule

__all__ = ["ResearchLoop", "make_agent", "attestation_of", "verify_claim", "trusted_keys", "budget_clock",
           "next_run_index", "baseline_ceiling"]

log = logging.getLogger(__name__)


def trusted_keys(config: NodeConfig) -> frozenset[bytes]:
    """The public keys of the peers the user trusts (``trusted_peers``, checked when the config was loaded)."""
    keys = (public_key_of_peer_id(p) for p in config.trusted_peers)
    return frozenset(k for k in keys if k is not None)


def budget_clock(device: str, budget: Budget) -> Literal["cpu", "wall"]:
    """What a seconds budget counts here: CPU-seconds on a CPU node whose trainer enforces them (its RunSummary
    carries ``clock``), else wall time (GPUs, token budgets, and trainers before CPU budgets)."""
    cpu_budgets = "clock" in getattr(RunSummary, "__dataclass_fields__", {})
    return "cpu" if cpu_budgets and device == "cpu" and str(budget_rule(budget).kind) == "seconds" else "wall"


def next_run_index(rows: Iterable[ResultRow], blob: str, hw_class: str) -> int:
    """One more than the highest run index the ledger rows hold for ``blob`` on ``hw_class`` (0 for none)."""
    return max((int(getattr(r, "run_index", 0)) + 1 for r in rows if r.blob == blob and r.hw_class == hw_class),
               default=0)


def baseline_ceiling(rows: Iterable[ResultRow], *, baseline_blob: str, hw_class: str, author: bytes,
                     budget: str) -> float | None:
    """A token-budget run's compute ceiling from the baseline's own use on this class: ``ceiling_from_baseline`` of
    the mean CPU-seconds (cpu clock; wall seconds on a device) of this node's finished baseline runs, None before it
    has one. Only this node's own runs count: a peer's number could widen the ceiling its code then runs under."""
    used = [float(r.cpu_seconds) if r.clock == "cpu" else float(r.wall_seconds) for r in rows
            if r.author == author and r.blob == baseline_blob and r.hw_class == hw_class and r.action == "baseline"
            and r.status != "crash" and str(r.budget) == budget]
    used = [u for u in used if u > 0]
    return ceiling_from_baseline(sum(used) / len(used)) if used else None


def make_agent(config: NodeConfig, rng: random.Random) -> Agent:
    """The agent the config names: ``mutate`` (no model), ``tpe`` (Optuna over the knobs), ``llm`` (OpenAI-compatible,
    falls back to mutate) or ``hybrid`` (llm code changes, tpe tunes each branch's knobs; falls back to tpe)."""
    if config.agent == "tpe":
        from coordinator.agents.tpe import TPEAgent

        return TPEAgent(rng)
    if config.agent in ("llm", "hybrid"):
        from coordinator.agents.llm import LLMAgent

        if config.agent == "hybrid":
            from coordinator.agents.hybrid import HybridAgent
            from coordinator.agents.tpe import TPEAgent

            tpe = TPEAgent(rng)
            return HybridAgent(LLMAgent.from_env(model=config.model, fallback=tpe), tpe)
        return LLMAgent.from_env(model=config.model, fallback=MutateAgent(rng))
    return MutateAgent(rng)


class ResearchLoop:
    """One node's research on one swarm; ``await loop.run()`` until cancelled."""

    def __init__(self, *, network: Network, author: bytes, ledger: Ledger, config: NodeConfig, swarm: SwarmSpec,
                 agent: Agent | None = None, policy: Policy | None = None,
                 on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self.author = author
        self.ledger = ledger
        self.config = config
        self.swarm = swarm
        hardware = hardware_fingerprint()
        # at rung k (``node.swarms.at_rung``) the class is ``<hw class>+r<k>``: it competes only with rung k
        self.hardware = dataclasses.replace(hardware, hw_class=rung_class(hardware.hw_class, swarm.rung))
        self.rng = random.Random()
        self.agent = agent or make_agent(config, self.rng)
        self.sandboxed, why = sandbox_available()
        # Without a sandbox (DESIGN 6): run our own agent's code, and a peer's code only when the user trusts its author
        # (--trust-peer) or those peers verified it, unless the user lowered that with --no-sandbox.
        self.require_sandbox = self.sandboxed
        strict = not self.sandboxed and config.require_sandbox
        if not self.sandboxed:
            log.warning("no sandbox here (%s): %s", why,
                        "running only our own agent's code and the code of peers you trust (--trust-peer) or "
                        "that they verified" if strict
                        else "running peers' code UNSANDBOXED (--no-sandbox)")
        self.policy = policy or Policy(verify_share=config.verify_share, trust_threshold=config.trust_threshold,
                                       only_verified_peer_code=strict, trusted_authors=trusted_keys(config),
                                       baseline_repeats=config.baseline_repeats)
        self.ports = ThreadPorts(network=network, ledger=ledger, swarm=swarm, author=author,
                                 fingerprint=self.hardware.fingerprint, on_outcome=on_outcome)
        self.work_root = Path(config.swarm_dir(swarm.swarm_id)) / "runs"
        folder = "workspace" if swarm.rung == 0 else f"workspace-r{swarm.rung}"  # a rung's line starts at its baseline
        self.workspace = Workspace.open_or_create(Path(config.swarm_dir(swarm.swarm_id)) / folder, swarm.baseline)
        self._stopped = False
        self._action = ""
        self._agent_note = ""

    def describe(self) -> str:
        """One line for the terminal: swarm, budget, hardware, agent, sandbox."""
        agent = getattr(self.agent, "name", type(self.agent).__name__)
        rung = f" | rung {self.swarm.rung} of {len(self.swarm.rungs)}" if self.swarm.rung else ""
        return (f"{self.swarm.manifest.name} | budget {self.swarm.budget} | {self.hardware.hw_class} | agent {agent}"
                f"{rung} | {'sandboxed' if self.sandboxed else 'NO SANDBOX'}")

    # ------------------------------------------------------------------ collaborators (called in the worker thread)

    def _run(self, train_py: str, seed: int) -> RunSummary:
        started = time.time()

        def progress(p: Progress) -> None:
            if self._stopped:  # the node is leaving; this run was abandoned and its ledger may be closed
                return
            fraction = max(0.0, min(1.0, p.budget_fraction))
            eta = (time.time() - started) * (1 - fraction) / fraction if fraction > 0.02 else None
            self.ledger.status.set_current(CurrentRun(action=self._action, description=self._description,
                                                      fraction=fraction, eta_seconds=eta, step=p.step,
                                                      tokens=p.tokens, started_at=started))

        self._description = "training"
        ceiling = None
        if self.swarm.budget.kind == "tokens":  # the ceiling is recorded in the summary (compute_limit)
            ceiling = baseline_ceiling(self.ledger.results(self.swarm.swarm_id),
                                       baseline_blob=self.swarm.manifest.baseline_blob,
                                       hw_class=self.hardware.hw_class, author=self.author,
                                       budget=str(budget_rule(self.swarm.budget)))
        try:
            return run_experiment(train_py, self.swarm.dataset, self.swarm.budget, work_root=self.work_root,
                                  seed=seed, require_sandbox=self.require_sandbox, progress=progress,
                                  cache_dir=Path(self.config.cache_dir) / "prepared", compute_ceiling=ceiling,
                                  task=self.swarm.task)
        finally:
            if not self._stopped:
                self.ledger.status.set_current(None)

    # ------------------------------------------------------------------ the loop

    def _researcher(self) -> Researcher:
        return Researcher(
            workspace=self.workspace, agent=self.agent, runner=self._run, hw_class=self.hardware.hw_class,
            budget=budget_rule(self.swarm.budget), author=self.author,
            swarm_view=self.ports.swarm_view, fetch_blob=self.ports.fetch_blob, publish=self.ports.publish,
            announce_claim=self.ports.announce_claim, offer_text=self.ports.offer_text,
            program=self.swarm.manifest.program, policy=self.policy, rng=self.rng,
            budget_clock=budget_clock(self.hardware.device, self.swarm.budget),
            parallel=runs_in_flight(self.hardware.device, self.config.parallel),
            direction=self.swarm.task.direction, metric_name=self.swarm.task.metric, task_kind=self.swarm.task.kind,
            rungs=self.swarm.rungs,
        )

    def _step(self, researcher: Researcher) -> Outcome:
        self._action = "experiment"
        outcome = researcher.step()
        if self._stopped:
            return outcome
        self._note_agent()
        evidence = researcher.evidence()
        self.ledger.status.set_noise(NoiseRecord.of(evidence, hw_class=self.hardware.hw_class,
                                                   best=researcher.best_metric()))
        log.info("%s %s %.4f (%s): %s", outcome.action, outcome.status, outcome.metric, outcome.reason,
                 outcome.description)
        return outcome

    def _note_agent(self) -> None:
        """An agent that stopped for good (the llm endpoint refused the key or the model) is said once, with the fix,
        in the log, the feed and ``status`` (``ledger.status``, ``AgentNote``)."""
        note = str(getattr(self.agent, "disabled", "") or "")
        if note and note != self._agent_note:
            self._agent_note = note
            log.error("%s", note)
            self.ledger.status.set_agent_note(AgentNote(str(getattr(self.agent, "name", "?")), note))

    async def run(self, max_steps: int | None = None, stop: Callable[[], bool] | None = None) -> int:
        """Run experiments one after another until cancelled (or ``max_steps``, or ``stop()`` says so: asked before
        each step); returns how many ran."""
        self.ports.bind()
        self.ledger.status.set_active_swarm(self.swarm.swarm_id)
        self.ledger.status.set_agent_note(None)  # a note of an earlier run no longer holds
        steps = 0
        try:
            researcher = await trio.to_thread.run_sync(self._researcher)
            while (max_steps is None or steps < max_steps) and not (stop is not None and stop()):
                await trio.to_thread.run_sync(  # type: ignore[call-arg]  # trio_typing's stubs predate the keyword
                    self._step, researcher, abandon_on_cancel=True)
                steps += 1
        finally:
            # A cancelled step's thread is abandoned (its sandbox dies with the node): let it write nothing more.
            self._stopped = True
            self.ports.stop()
        return steps


def attestation_of(claim: ResultRow, summary: RunSummary, *, swarm: SwarmSpec, author: bytes, hardware: Hardware,
                   tolerance: float, run_index: int = 0) -> tuple[Result, bool]:
    """The attestation Result of re-running ``claim`` (a ledger row) here, and whether it confirms the claim (in the
    swarm's direction: under ``max`` the re-run must score at least the claim less the tolerance)."""
    score = summary.metric if getattr(summary, "metric", None) is not None else summary.val_bpb
    ok = summary.status == "ok" and score is not None
    metric = float(score) if ok and score is not None else 0.0
    ran = Result(
        swarm_id=swarm.swarm_id, author=author, seq=1, created_at=time.time(), commit=claim.commit,
        parent=claim.parent, blob=claim.blob, metric=metric, status="keep" if ok else "crash",
        hw_class=hardware.hw_class, hw_fingerprint=hardware.fingerprint[:200], budget=budget_rule(swarm.budget),
        steps=summary.steps, tokens=summary.tokens, wall_seconds=summary.wall_seconds,
        peak_memory_mb=summary.peak_memory_mb, description="", reproduces=claim.message_id,
        action="verify", run_index=run_index, cpu_seconds=float(getattr(summary, "cpu_seconds", 0.0) or 0.0),
        clock="cpu" if str(getattr(summary, "clock", budget_clock(hardware.device, swarm.budget))) == "cpu" else "wall",
    )
    confirmed = confirms(ran, claim, tolerance, direction=swarm.task.direction)  # the feed's verified marks' rule
    verdict = "confirms" if confirmed else ("does not reproduce" if ok else "crashed")
    at = f" at rung {swarm.rung}" if swarm.rung else ""
    description = one_line(f"verify {claim.commit[:10]}{at}: {verdict} {claim.metric:.4f} (here {metric:.4f})")
    status = ran.status if confirmed or not ok else "discard"
    return dataclasses.replace(ran, status=status, description=description), confirmed


async def verify_claim(*, network: Network, author: bytes, ledger: Ledger, config: NodeConfig, swarm: SwarmSpec,
                       claim: ResultRow,
                       tolerance: float = Policy().confirm_tolerance) -> tuple[Result, bool]:
    """Fetch the claim's train.py, re-run it here (sandboxed) as ``swarm`` runs it (its budget; at rung K, class
    ``<hw>+rK``: see ``node.swarms.as_it_ran``), publish the attestation; return it and the verdict."""
    text = await network.fetch_commit(claim.blob, author=claim.author, parent=claim.parent)
    if text is None:
        raise SwarmError(f"no peer served train.py {claim.blob[:12]} of commit {claim.commit[:10]}; try again later")
    ok, why = sandbox_available()
    if not ok and config.require_sandbox:
        raise SwarmError(f"the sandbox cannot start here ({why}); verifying a peer's code needs it "
                         "(--no-sandbox runs it unconfined, only for peers you trust)")
    hardware = hardware_fingerprint()
    hardware = dataclasses.replace(hardware, hw_class=rung_class(hardware.hw_class, swarm.rung))  # +rK at rung K
    k = next_run_index(ledger.results(swarm.swarm_id), claim.blob, hardware.hw_class)  # a re-run takes the next seed
    summary = await trio.to_thread.run_sync(lambda: run_experiment(
        bytes(text).decode("utf-8"), swarm.dataset, swarm.budget, work_root=Path(config.swarm_dir(swarm.swarm_id))
        / "runs", seed=k, require_sandbox=ok, cache_dir=Path(config.cache_dir) / "prepared", task=swarm.task))
    result, confirmed = attestation_of(claim, summary, swarm=swarm, author=author,
                                       hardware=hardware, tolerance=tolerance, run_index=k)
    await network.publish_result(result)
    return result, confirmed
