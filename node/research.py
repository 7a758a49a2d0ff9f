"""The research loop of a running node: coordinator's ``Researcher`` driven with real runs, the ledger and the network.

``Researcher.step()`` is synchronous and slow (one whole experiment), so it runs in a worker thread; what it needs
from the network (publish a result or a claim, fetch a peer's train.py) is called back into trio with
``trio.from_thread``. The ledger is shared (it has its own lock). While a run trains, its progress goes to the
ledger's state (``STATE_CURRENT``) where ``swarm-node feed`` and the dashboard read it.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from pathlib import Path
from typing import Any, Callable

import trio

from coordinator.agents import Agent, MutateAgent
from coordinator.peers import confirms
from coordinator.records import ClaimLike, Outcome, Policy, SeenResult, SwarmView
from coordinator.researcher import Researcher
from coordinator.workspace import Workspace
from protocol import Claim, Result, one_line, peer_id_from_public_key
from trainer import Progress, RunSummary, hardware_fingerprint, run_experiment, sandbox_available
from trainer.limits import ceiling_from_baseline, runs_in_flight

from node.feed.views import STATE_AGENT, STATE_CURRENT, STATE_NOISE, STATE_SWARM
from node.swarms import SwarmError, SwarmSpec, budget_rule

__all__ = ["ResearchLoop", "make_agent", "attestation_of", "verify_claim", "trusted_keys", "results_of",
           "budget_clock", "next_run_index", "baseline_ceiling"]

log = logging.getLogger(__name__)


def trusted_keys(config: Any) -> frozenset[bytes]:
    """The public keys of the peers the user trusts (``trusted_peers``, checked when the config was loaded)."""
    from node.config import public_key_of_peer_id

    keys = (public_key_of_peer_id(p) for p in getattr(config, "trusted_peers", ()))
    return frozenset(k for k in keys if k is not None)


def budget_clock(device: str, budget: Any) -> str:
    """What a seconds budget counts here: CPU-seconds on a CPU node whose trainer enforces them (its RunSummary
    carries ``clock``), else wall time (GPUs, token budgets, and trainers before CPU budgets)."""
    cpu_budgets = "clock" in getattr(RunSummary, "__dataclass_fields__", {})
    return "cpu" if cpu_budgets and device == "cpu" and str(budget_rule(budget).kind) == "seconds" else "wall"


def results_of(outcome: Outcome, *, swarm_id: bytes, author: bytes, fingerprint: str, budget: Any,
               now: float | None = None) -> list[Result]:
    """The signed-to-be Results of one Outcome: one per run (its action, run index, metric, CPU- and wall-seconds,
    clock); ``seq`` is a placeholder that ``publish_result`` replaces."""
    created = time.time() if now is None else now
    return [Result(swarm_id=swarm_id, author=author, seq=1, created_at=created, commit=outcome.commit,
                   parent=outcome.parent, blob=outcome.blob, hw_class=outcome.hw_class,
                   hw_fingerprint=fingerprint[:200], budget=budget_rule(budget),
                   description=one_line(outcome.description), reproduces=outcome.reproduces,
                   **run)  # type: ignore[arg-type]
            for run in outcome.run_results()]


def next_run_index(rows: Any, blob: str, hw_class: str) -> int:
    """One more than the highest run index the ledger rows hold for ``blob`` on ``hw_class`` (0 for none)."""
    return max((int(getattr(r, "run_index", 0)) + 1 for r in rows if r.blob == blob and r.hw_class == hw_class),
               default=0)


def baseline_ceiling(rows: Any, *, baseline_blob: str, hw_class: str, author: bytes, budget: str) -> float | None:
    """A token-budget run's compute ceiling from the baseline's own use on this class: ``ceiling_from_baseline`` of
    the mean CPU-seconds (cpu clock; wall seconds on a device) of this node's finished baseline runs, None before it
    has one. Only this node's own runs count: a peer's number could widen the ceiling its code then runs under."""
    used = [float(r.cpu_seconds) if r.clock == "cpu" else float(r.wall_seconds) for r in rows
            if r.author == author and r.blob == baseline_blob and r.hw_class == hw_class and r.action == "baseline"
            and r.status != "crash" and str(r.budget) == budget]
    used = [u for u in used if u > 0]
    return ceiling_from_baseline(sum(used) / len(used)) if used else None


def make_agent(config: Any, rng: random.Random) -> Agent:
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

    def __init__(self, *, service: Any, ledger: Any, config: Any, swarm: SwarmSpec, agent: Agent | None = None,
                 policy: Policy | None = None, on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self.service = service
        self.ledger = ledger
        self.config = config
        self.swarm = swarm
        self.hardware = hardware_fingerprint()
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
                                       only_verified_peer_code=strict, trusted_authors=trusted_keys(config))
        self.on_outcome = on_outcome
        self.work_root = Path(config.swarm_dir(swarm.swarm_id)) / "runs"
        self.workspace = Workspace.open_or_create(Path(config.swarm_dir(swarm.swarm_id)) / "workspace", swarm.baseline)
        self._token: trio.lowlevel.TrioToken | None = None
        self._stopped = False
        self._action = ""
        self._agent_note = ""

    def describe(self) -> str:
        """One line for the terminal: swarm, budget, hardware, agent, sandbox."""
        agent = getattr(self.agent, "name", type(self.agent).__name__)
        return (f"{self.swarm.manifest.name} | budget {self.swarm.budget} | {self.hardware.hw_class} | agent {agent}"
                f" | {'sandboxed' if self.sandboxed else 'NO SANDBOX'}")

    # ------------------------------------------------------------------ collaborators (called in the worker thread)

    def _run(self, train_py: str, seed: int) -> RunSummary:
        started = time.time()

        def progress(p: Progress) -> None:
            if self._stopped:  # the node is leaving; this run was abandoned and its ledger may be closed
                return
            fraction = max(0.0, min(1.0, p.budget_fraction))
            eta = (time.time() - started) * (1 - fraction) / fraction if fraction > 0.02 else None
            self.ledger.set_state(STATE_CURRENT, {"action": self._action, "description": self._description,
                                                  "fraction": fraction, "eta_seconds": eta, "step": p.step,
                                                  "tokens": p.tokens, "started_at": started})

        self._description = "training"
        ceiling = None
        if self.swarm.budget.kind == "tokens":  # the ceiling is recorded in the summary (compute_limit)
            ceiling = baseline_ceiling(self.ledger.results(self.swarm.swarm_id),
                                       baseline_blob=self.swarm.manifest.baseline_blob,
                                       hw_class=self.hardware.hw_class, author=self.service.identity.public_key,
                                       budget=str(budget_rule(self.swarm.budget)))
        try:
            return run_experiment(train_py, self.swarm.dataset, self.swarm.budget, work_root=self.work_root,
                                  seed=seed, require_sandbox=self.require_sandbox, progress=progress,
                                  cache_dir=Path(self.config.cache_dir) / "prepared", compute_ceiling=ceiling)
        finally:
            if not self._stopped:
                self.ledger.set_state(STATE_CURRENT, None)

    def _view(self) -> SwarmView:
        rows = self.ledger.results(self.swarm.swarm_id)
        claims: list[ClaimLike] = list(self.ledger.recent_claims(self.swarm.swarm_id))  # expired: were they kept?
        return SwarmView(results=[SeenResult(r.message_id, r) for r in rows], claims=claims)

    def _fetch(self, blob: str) -> str | None:
        text = self.ledger.get_commit(blob)
        if text is None:
            text = trio.from_thread.run(self.service.fetch_commit, blob, trio_token=self._token)
        if text is None:
            return None
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return None

    def _offer(self, blob: str, text: str, parent: str) -> None:
        """The text in flight, stored so the commit stream serves it: peers' study counts it as a pending trial."""
        if not self._stopped:
            self.ledger.put_commit(blob, text.encode("utf-8"), self.service.identity.public_key, parent)

    def _claim(self, blob: str, expires_at: float) -> None:
        if self._stopped:
            return
        claim = Claim(swarm_id=self.swarm.swarm_id, author=self.service.identity.public_key, seq=0,
                      created_at=time.time(), blob=blob, expires_at=expires_at)
        trio.from_thread.run(self.service.publish_claim, claim, trio_token=self._token)

    def _publish(self, outcome: Outcome) -> None:
        if self._stopped:  # an abandoned step finishing after the node left: its result is not published
            return
        me = self.service.identity.public_key
        text = outcome.train_py.encode("utf-8")
        self.ledger.put_commit(outcome.blob, text, me, outcome.parent)
        for result in results_of(outcome, swarm_id=self.swarm.swarm_id, author=me,
                                 fingerprint=self.hardware.fingerprint, budget=self.swarm.budget):
            trio.from_thread.run(self.service.publish_result, result, trio_token=self._token)
        for change in outcome.trust_changes:
            self.ledger.update_peer(peer_id_from_public_key(change.peer), trust=change.score)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    # ------------------------------------------------------------------ the loop

    def _researcher(self) -> Researcher:
        return Researcher(
            workspace=self.workspace, agent=self.agent, runner=self._run, hw_class=self.hardware.hw_class,
            budget=budget_rule(self.swarm.budget), author=self.service.identity.public_key,
            swarm_view=self._view, fetch_blob=self._fetch, publish=self._publish, announce_claim=self._claim,
            offer_text=self._offer,
            program=self.swarm.manifest.program, policy=self.policy, rng=self.rng,
            budget_clock=budget_clock(self.hardware.device, self.swarm.budget),
            parallel=runs_in_flight(self.hardware.device, int(getattr(self.config, "parallel", 0) or 0)),
        )

    def _step(self, researcher: Researcher) -> Outcome:
        self._action = "experiment"
        outcome = researcher.step()
        if self._stopped:
            return outcome
        self._note_agent()
        evidence = researcher.evidence()
        self.ledger.set_state(STATE_NOISE, {**dataclasses.asdict(evidence), "hw_class": self.hardware.hw_class,
                                            "best": researcher.best})
        log.info("%s %s %.4f (%s): %s", outcome.action, outcome.status, outcome.metric, outcome.reason,
                 outcome.description)
        return outcome

    def _note_agent(self) -> None:
        """An agent that stopped for good (the llm endpoint refused the key or the model) is said once, with the fix,
        in the log, the feed and ``status`` (ledger state ``STATE_AGENT``)."""
        note = str(getattr(self.agent, "disabled", "") or "")
        if note and note != self._agent_note:
            self._agent_note = note
            log.error("%s", note)
            self.ledger.set_state(STATE_AGENT, {"agent": getattr(self.agent, "name", "?"), "note": note})

    async def run(self, max_steps: int | None = None) -> None:
        """Run experiments one after another until cancelled (or ``max_steps``)."""
        self._token = trio.lowlevel.current_trio_token()
        self.ledger.set_state(STATE_SWARM, self.swarm.swarm_id.hex())
        self.ledger.set_state(STATE_AGENT, None)  # a note of an earlier run no longer holds
        try:
            researcher = await trio.to_thread.run_sync(self._researcher)
            steps = 0
            while max_steps is None or steps < max_steps:
                await trio.to_thread.run_sync(self._step, researcher, abandon_on_cancel=True)
                steps += 1
        finally:
            # A cancelled step's thread is abandoned (its sandbox dies with the node): let it write nothing more.
            self._stopped = True


def attestation_of(claim: Any, summary: RunSummary, *, swarm: SwarmSpec, author: bytes, hardware: Any,
                   tolerance: float, run_index: int = 0) -> tuple[Result, bool]:
    """The attestation Result of re-running ``claim`` (a ledger row) here, and whether it confirms the claim."""
    ok = summary.status == "ok" and summary.val_bpb is not None
    metric = float(summary.val_bpb) if ok and summary.val_bpb is not None else 0.0
    ran = Result(
        swarm_id=swarm.swarm_id, author=author, seq=1, created_at=time.time(), commit=claim.commit,
        parent=claim.parent, blob=claim.blob, metric=metric, status="keep" if ok else "crash",
        hw_class=hardware.hw_class, hw_fingerprint=hardware.fingerprint[:200], budget=budget_rule(swarm.budget),
        steps=summary.steps, tokens=summary.tokens, wall_seconds=summary.wall_seconds,
        peak_memory_mb=summary.peak_memory_mb, description="", reproduces=claim.message_id,
        action="verify", run_index=run_index, cpu_seconds=float(getattr(summary, "cpu_seconds", 0.0) or 0.0),
        clock=str(getattr(summary, "clock", budget_clock(hardware.device, swarm.budget))),
    )
    confirmed = confirms(ran, claim, tolerance)  # the same rule as the feed's verified marks
    verdict = "confirms" if confirmed else ("does not reproduce" if ok else "crashed")
    description = one_line(f"verify {claim.commit[:10]}: {verdict} {claim.metric:.4f} (here {metric:.4f})")
    status = ran.status if confirmed or not ok else "discard"
    return dataclasses.replace(ran, status=status, description=description), confirmed


async def verify_claim(*, service: Any, ledger: Any, config: Any, swarm: SwarmSpec, claim: Any,
                       tolerance: float = Policy().confirm_tolerance) -> tuple[Result, bool]:
    """Fetch the claim's train.py, re-run it here (sandboxed), publish the attestation; return it and the verdict."""
    text = await service.fetch_commit(claim.blob, author=claim.author, parent=claim.parent)
    if text is None:
        raise SwarmError(f"no peer served train.py {claim.blob[:12]} of commit {claim.commit[:10]}; try again later")
    ok, why = sandbox_available()
    if not ok and config.require_sandbox:
        raise SwarmError(f"the sandbox cannot start here ({why}); verifying a peer's code needs it "
                         "(--no-sandbox runs it unconfined, only for peers you trust)")
    hardware = hardware_fingerprint()
    k = next_run_index(ledger.results(swarm.swarm_id), claim.blob, hardware.hw_class)  # a re-run takes the next seed
    summary = await trio.to_thread.run_sync(lambda: run_experiment(
        bytes(text).decode("utf-8"), swarm.dataset, swarm.budget, work_root=Path(config.swarm_dir(swarm.swarm_id))
        / "runs", seed=k, require_sandbox=ok, cache_dir=Path(config.cache_dir) / "prepared"))
    result, confirmed = attestation_of(claim, summary, swarm=swarm, author=service.identity.public_key,
                                       hardware=hardware, tolerance=tolerance, run_index=k)
    await service.publish_result(result)
    return result, confirmed
