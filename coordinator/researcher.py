"""The research loop of one node on one swarm, with its collaborators injected: ``Researcher.step()`` runs one experiment.

One step: read the swarm (``swarm_view``) -> plan (baseline / adopt / stack / explore) -> claim -> run (``runner``,
re-run once when the gain is within noise) -> decide -> commit or reset the workspace -> ``publish`` the Outcome.
The node drives it from a worker thread; nothing here touches the network, the ledger or an event loop.

Resume: the workspace HEAD is the last kept commit; the noise evidence, the tally, the trust book and the blobs already
scored are rebuilt from the results the node passes in (its own included), so a restarted node re-runs nothing.
"""

from __future__ import annotations

import ast
import logging
import random
import time
from typing import Any, Callable, Protocol

from coordinator.agents.base import Agent
from coordinator.decide import comparable, decide
from coordinator.noise import NoiseEvidence, NoiseModel
from coordinator.peers import (adopt_candidates, claimed_blobs, parent_blobs, scored_blobs, stack_pairs,
                              unfulfilled_claims, verified_ids, vouched_peers)
from coordinator.plan import Tally, plan_next
from coordinator.records import (Action, HistoryItem, Outcome, Policy, ProposalContext, ScoredText, SeenResult,
                                 SwarmView, TrustChange)
from coordinator.branch import trial_texts
from coordinator.trust import TrustBook
from coordinator.workspace import Workspace, blob_hash, commit_message, merge3

__all__ = ["Researcher", "RunLike", "MAX_TRAIN_PY"]

log = logging.getLogger(__name__)

MAX_TRAIN_PY = 64 * 1024
STACK_PREFIX = "stack: "
ADOPT_PREFIX = "adopt "
BASELINE_PREFIX = "baseline run"
FETCH_RETRY_STEPS = 5
TRIAL_FETCHES = 24  # texts of peers' results fetched per step for agents that learn from trials


class RunLike(Protocol):
    """The fields of ``trainer.RunSummary`` the loop reads."""

    status: str
    val_bpb: float | None
    steps: int
    tokens: int
    wall_seconds: float
    peak_memory_mb: float
    log_tail: str
    reason: str


def gate(text: str) -> bool:
    """The coordinator's own lint of a proposal: UTF-8, at most 64 KiB, parses."""
    try:
        if len(text.encode("utf-8")) > MAX_TRAIN_PY:
            return False
        ast.parse(text)
    except (SyntaxError, ValueError, UnicodeError):
        return False
    return True


class Researcher:
    """One node's research on one swarm; see the module docstring. ``step()`` is synchronous."""

    def __init__(self, *, workspace: Workspace, agent: Agent, runner: Callable[[str, int], RunLike], hw_class: str,
                 budget: Any, author: bytes, swarm_view: Callable[[], SwarmView],
                 fetch_blob: Callable[[str], str | None], publish: Callable[[Outcome], None],
                 announce_claim: Callable[[str, float], None] | None = None, program: str = "",
                 policy: Policy = Policy(), trust: TrustBook | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time,
                 merge: Callable[[str, str, str], str | None] = merge3,
                 offer_text: Callable[[str, str, str], None] | None = None) -> None:
        self.workspace = workspace
        self.agent = agent
        self.runner = runner
        self.hw_class = hw_class
        self.budget_kind: str = budget if isinstance(budget, str) else budget.kind
        self.author = author
        self.swarm_view = swarm_view
        self.fetch_blob = fetch_blob
        self.publish = publish
        self.announce_claim = announce_claim
        self.program = program
        self.policy = policy
        self.trust = trust or TrustBook(policy.trust_threshold)
        self.rng = rng or random.Random()
        self.clock = clock
        self.merge = merge
        self.offer_text = offer_text  # (blob, train.py, parent) before its claim: peers can fetch what is in flight
        self._texts: dict[str, str] = {}
        self._missing: dict[str, int] = {}  # blob -> step count before which a failed fetch is not retried
        self._steps = 0
        self._ran: set[str] = set()
        self._tried_stacks: set[tuple[str, str]] = set()
        self._resume(self.swarm_view())

    # ---------------------------------------------------------------- state
    def _resume(self, view: SwarmView) -> None:
        ws = self.workspace
        self.baseline_commit = ws.baseline()
        baseline_text = ws.text_of(self.baseline_commit)
        self.baseline_blob = self._remember(baseline_text)
        self._load_head()
        self.noise = NoiseModel(baseline_blob=self.baseline_blob, sigmas=self.policy.margin_sigmas,
                                floor=self.policy.margin_floor)
        mine = sorted((s for s in view.results if s.result.author == self.author and s.result.hw_class == self.hw_class),
                      key=lambda s: s.result.created_at)
        experiments = adopts = stacks = 0
        by_id = {s.result_id: s.result for s in view.results}
        for s in mine:
            r = s.result
            self._ran.add(r.blob)
            if r.status != "crash":
                self.noise.add(r.blob, r.metric)
            if r.description.startswith(BASELINE_PREFIX):
                continue
            experiments += 1
            if r.reproduces:
                adopts += 1
                claim = by_id.get(r.reproduces)
                if claim is not None and claim.author != self.author:
                    if r.status == "crash" or r.metric > claim.metric + self.noise.margin:
                        self.trust.refute(claim.author)
                    else:
                        self.trust.confirm(claim.author)
            elif r.description.startswith(STACK_PREFIX):
                stacks += 1
        self.tally = Tally(experiments, adopts, stacks)
        runs = self.noise.runs_of(self.head_blob)
        self.best: float | None = sum(runs) / len(runs) if runs else None
        if mine:
            log.info("resumed at %s: best %s, %d experiments, %d baseline runs", self.head[:10], self.best,
                     experiments, self.noise.baseline_runs())

    def _load_head(self) -> None:
        self.head = self.workspace.head()
        self.head_text = self.workspace.head_text()
        self.head_blob = self._remember(self.head_text)

    def _remember(self, text: str) -> str:
        blob = blob_hash(text)
        self._texts[blob] = text
        return blob

    def _text(self, blob: str) -> str | None:
        """A train.py by blob: known here, or fetched (verified against the hash; a miss is retried 5 steps later)."""
        if blob in self._texts:
            return self._texts[blob]
        if self._steps < self._missing.get(blob, -1):
            return None
        text = self.fetch_blob(blob)
        if text is not None and blob_hash(text) == blob:
            self._texts[blob] = text
            return text
        self._missing[blob] = self._steps + FETCH_RETRY_STEPS
        return None

    @property
    def margin(self) -> float:
        return self.noise.margin

    def evidence(self) -> NoiseEvidence:
        """The margin and how it was measured (for ``swarm-node status``)."""
        return self.noise.evidence()

    # ---------------------------------------------------------------- planning
    def _runnable(self, view: SwarmView) -> SwarmView:
        """Without a sandbox (``only_verified_peer_code``), a peer's kept claim counts only when its author is on the
        user's list (``trusted_authors``) or it is verified here by those peers and the ones this node reproduced
        (never by identities merely existing; see peers.verified_ids)."""
        if not self.policy.only_verified_peer_code:
            return view
        trusted = self.policy.trusted_authors
        verifiers = vouched_peers(view.results, me=self.author, tolerance=self.policy.confirm_tolerance)
        ok = verified_ids(view.results, self.policy.confirm_tolerance, me=self.author, verifiers=verifiers,
                          trusted=trusted)
        results = [s for s in view.results if s.result.author == self.author or s.result.author in trusted
                   or s.result_id in ok or s.result.status != "keep"]
        return SwarmView(results=results, claims=view.claims, invalid=view.invalid)

    def _taken(self, view: SwarmView) -> set[str]:
        taken = scored_blobs(view.results, hw_class=self.hw_class, budget_kind=self.budget_kind)
        taken |= claimed_blobs(view.claims, me=self.author, now=self.clock(), trust=self.trust)
        return taken | self._ran | {self.head_blob}

    def _history(self, view: SwarmView) -> ProposalContext:
        rel = sorted((s.result for s in view.results
                      if comparable(s.result.hw_class, self.budget_kind, self.hw_class)),
                     key=lambda r: r.created_at)
        items = [HistoryItem(r.description, r.metric, r.status, r.author == self.author, r.created_at) for r in rel]
        n = self.policy.recent_limit
        best: dict[str, HistoryItem] = {}
        for r, item in zip(rel, items):
            if r.status == "keep" and not r.reproduces and (r.blob not in best or r.metric < best[r.blob].metric):
                best[r.blob] = item
        return ProposalContext(
            program=self.program, train_py=self.head_text, best_metric=self.best,
            own_recent=[i for i in items if i.mine][-n:],
            swarm_best=sorted(best.values(), key=lambda i: i.metric)[:n],
            swarm_latest=[i for i in items if not i.mine][-n:],
            taken=frozenset(self._taken(view)), history=items[-200:], scored=self._scored(rel, view))

    def _scored(self, rel: list[Any], view: SwarmView) -> list[ScoredText]:
        """Trials for agents that learn from texts (``uses_trials``): known texts, and a few fetches per step."""
        if not getattr(self.agent, "uses_trials", False):
            return []
        fetches = [TRIAL_FETCHES]

        def text_of(blob: str) -> str | None:
            if blob in self._texts or fetches[0] <= 0:
                return self._texts.get(blob)
            fetches[0] -= 1
            return self._text(blob)
        pending = sorted(claimed_blobs(view.claims, me=self.author, now=self.clock(), trust=self.trust))
        trusted = [r for r in rel if r.author == self.author or self.trust.trusted(r.author)]  # a liar's are no trials
        return trial_texts(trusted, pending, text_of, self.author)

    def _baseline_action(self) -> Action:
        n = self.noise.baseline_runs() + 1
        what = f"{n}/{self.policy.baseline_repeats}" if self.head_blob == self.baseline_blob else "of base"
        return Action(kind="baseline", train_py=self.head_text, description=f"{BASELINE_PREFIX} {what}")

    def _adopt_action(self, view: SwarmView) -> Action | None:
        if self.best is None:
            return None
        for s in adopt_candidates(view.results, me=self.author, best=self.best, trust=self.trust,
                                  hw_class=self.hw_class, budget_kind=self.budget_kind, already_run=self._ran):
            text = self._text(s.result.blob)
            if text is None or not gate(text):
                continue
            desc = f"{ADOPT_PREFIX}{s.result.author.hex()[:8]}: {s.result.description}"
            return Action(kind="adopt", train_py=text, description=desc[:280], parents=(s.result.blob,),
                          attests=s.result_id, claimed_metric=s.result.metric, claimed_by=s.result.author)
        return None

    def _stack_action(self, view: SwarmView, taken: set[str]) -> Action | None:
        if self.best is None:
            return None
        index = parent_blobs(view.results, baseline_commit=self.baseline_commit, baseline_blob=self.baseline_blob)
        for pair in stack_pairs(view.results, me=self.author, best=self.best, margin=self.margin, trust=self.trust,
                                hw_class=self.hw_class, budget_kind=self.budget_kind, commit_blob=index,
                                tried=self._tried_stacks)[:8]:
            self._tried_stacks.add(pair.key)
            base, a, b = self._text(pair.base), self._text(pair.a.blob), self._text(pair.b.blob)
            if base is None or a is None or b is None:
                continue
            merged = self.merge(base, a, b)
            if merged is None or not gate(merged) or blob_hash(merged) in taken:
                continue
            desc = f"{STACK_PREFIX}{pair.a.description} + {pair.b.description}"
            return Action(kind="stack", train_py=merged, description=desc[:280], parents=(pair.a.blob, pair.b.blob),
                          rivals=(pair.a.metric, pair.b.metric))
        return None

    def _explore_base(self, view: SwarmView) -> tuple[str, str]:
        """The text to build on: this node's HEAD, or a trusted peer's better kept train.py (tested here before keep)."""
        if self.best is not None:
            for s in adopt_candidates(view.results, me=self.author, best=self.best, trust=self.trust,
                                      hw_class=self.hw_class, budget_kind=self.budget_kind, already_run=self._ran):
                text = self._text(s.result.blob)
                if text is not None and gate(text):
                    return text, f" (on {s.result.author.hex()[:8]}'s {s.result.metric:.4f})"
        return self.head_text, ""

    def _explore_action(self, view: SwarmView) -> Action | None:
        context = self._history(view)
        base, note = self._explore_base(view)
        if base != self.head_text:
            context = ProposalContext(**{**context.__dict__, "train_py": base})
        taken = set(context.taken)
        for _ in range(self.policy.proposal_tries):
            try:
                proposal = self.agent.propose(context)
            except Exception as exc:  # an agent never stops the loop
                log.info("agent %s gave nothing: %s", getattr(self.agent, "name", "?"), exc)
                return None
            blob = blob_hash(proposal.train_py)
            if blob not in taken and gate(proposal.train_py):
                desc = " ".join(proposal.description.split())[:240] + note
                return Action(kind="explore", train_py=proposal.train_py, description=desc[:280])
            taken.add(blob)
            context = ProposalContext(**{**context.__dict__, "taken": frozenset(taken)})
        return None

    # ---------------------------------------------------------------- one step
    def step(self) -> Outcome:
        """Plan, run, decide, commit or reset, publish; return the Outcome (also given to ``publish``)."""
        self._steps += 1
        seen = self.swarm_view()
        view = self._runnable(seen)
        changes = self.trust.sync_invalid(view.invalid)
        changes += self.trust.sync_unfulfilled(unfulfilled_claims(seen.claims, seen.results, me=self.author,
                                                                  now=self.clock()))
        taken = self._taken(view)
        action = plan_next(calibrated=self.noise.calibrated(self.policy.baseline_repeats) and self.best is not None,
                           tally=self.tally, policy=self.policy, baseline=self._baseline_action,
                           adopt=lambda: self._adopt_action(view), stack=lambda: self._stack_action(view, taken),
                           explore=lambda: self._explore_action(view))
        try:
            outcome = self._execute(action, changes)
        finally:
            self.workspace.reset()
        self.publish(outcome)
        return outcome

    def _run(self, text: str) -> RunLike:
        seed = len(self._ran) + self.noise.evidence().runs + self.rng.randrange(1 << 16)
        return self.runner(text, seed)

    def _execute(self, action: Action, changes: list[TrustChange]) -> Outcome:
        blob = self._remember(action.train_py)
        if action.kind != "baseline" and self.offer_text is not None:
            self.offer_text(blob, action.train_py, self.head)
        if action.kind != "baseline" and self.announce_claim is not None:
            self.announce_claim(blob, self.clock() + self.policy.claim_ttl)
        self.workspace.write_candidate(action.train_py)
        first = self._run(action.train_py)
        self._ran.add(blob)
        parent = self.head
        if action.kind == "baseline":
            return self._finish_baseline(action, first, blob, changes)
        self.tally = Tally(self.tally.experiments + 1, self.tally.adopts + (action.kind == "adopt"),
                           self.tally.stacks + (action.kind == "stack"))
        if first.status != "ok" or first.val_bpb is None:
            if action.kind == "adopt":
                changes.append(self.trust.refute(action.claimed_by))
            reason = f"crash: {first.reason or first.status}"
            commit = self.workspace.commit_discarded(action.train_py, commit_message(
                action.description, 0.0, status="crash", hw_class=self.hw_class, action=action.kind))
            return self._outcome(action, first, commit, parent, blob, (), "crash", reason, changes)
        runs = [first.val_bpb]
        self.noise.add(blob, first.val_bpb)
        assert self.best is not None
        reference = min((self.best, *action.rivals))
        margin = self.margin
        verdict = decide(runs, reference, margin)
        refute_first = action.kind == "adopt" and runs[0] > (action.claimed_metric or 0.0) + margin
        last = first
        if verdict.verdict == "rerun" or refute_first:
            last = self._run(action.train_py)
            if last.status == "ok" and last.val_bpb is not None:
                runs.append(last.val_bpb)
                self.noise.add(blob, last.val_bpb)
            verdict = decide(runs, reference, margin)
        mean = sum(runs) / len(runs)
        if action.kind == "adopt":
            holds = mean <= (action.claimed_metric or 0.0) + margin
            changes.append(self.trust.confirm(action.claimed_by) if holds else self.trust.refute(action.claimed_by))
        status = "keep" if verdict.verdict == "keep" else "discard"
        message = commit_message(action.description, mean, status=status, hw_class=self.hw_class, action=action.kind)
        if status == "keep":
            commit = self.workspace.commit_kept(action.train_py, message)
            self._load_head()
            self.best = mean
        else:
            commit = self.workspace.commit_discarded(action.train_py, message)
        log.info("%s %s: %.4f (%s) %s", action.kind, status, mean, verdict.reason, action.description)
        return self._outcome(action, last, commit, parent, blob, tuple(runs), status, verdict.reason, changes,
                             steps_from=first)

    def _finish_baseline(self, action: Action, run: RunLike, blob: str, changes: list[TrustChange]) -> Outcome:
        entries = self.workspace.log(limit=1)
        parent = entries[0].parent if entries else ""
        if run.status != "ok" or run.val_bpb is None:
            return self._outcome(action, run, self.head, parent, blob, (), "crash",
                                 f"baseline crashed: {run.reason or run.status}", changes)
        self.noise.add(blob, run.val_bpb)
        runs = self.noise.runs_of(blob)
        first = self.best is None
        self.best = sum(runs) / len(runs)
        return self._outcome(action, run, self.head, parent, blob, (run.val_bpb,), "keep",
                             f"baseline: mean {self.best:.4f} over {len(runs)} runs", changes, new_best=first)

    def _outcome(self, action: Action, run: RunLike, commit: str, parent: str, blob: str, runs: tuple[float, ...],
                 status: str, reason: str, changes: list[TrustChange], *, steps_from: RunLike | None = None,
                 new_best: bool | None = None) -> Outcome:
        metric = sum(runs) / len(runs) if runs else 0.0
        kept = status == "keep" and action.kind != "baseline"
        desc = action.description if status != "crash" else f"{action.description} (crash)"
        src = steps_from or run
        return Outcome(
            action=action.kind, commit=commit, parent=parent, blob=blob, train_py=action.train_py, metric=metric,
            status=status, hw_class=self.hw_class, steps=int(src.steps), tokens=int(src.tokens),  # type: ignore[arg-type]
            wall_seconds=float(src.wall_seconds), peak_memory_mb=float(src.peak_memory_mb), description=desc[:280],
            reproduces=action.attests, runs=runs, kept=kept, new_best=kept if new_best is None else new_best,
            best_metric=self.best, margin=self.margin, reason=reason, trust_changes=tuple(changes),
            agent=getattr(self.agent, "name", "") if action.kind == "explore" else "")
