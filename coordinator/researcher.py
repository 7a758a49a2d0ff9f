"""The research loop of one node on one swarm, with its collaborators injected: ``Researcher.step()`` runs one experiment.

One step: read the swarm (``swarm_view``) -> plan (baseline / adopt / stack / explore) -> claim -> run (``runner``;
with ``parallel`` >= 2 a candidate's first two runs go in flight at once, else one run and a re-run when it gains:
runs.py) -> decide -> commit or reset the workspace -> ``publish`` the Outcome.
The node drives it from a worker thread; nothing here touches the network, the ledger or an event loop.

Resume: the workspace HEAD is the last kept commit; the noise evidence, the tally, the trust book and the blobs already
scored are rebuilt from the results the node passes in (its own included, read by their ``action`` field, never by
their description), so a restarted node re-runs nothing.

Paired seeds: the k-th run of a blob on this class uses seed k (``runner(text, k)``), k = one more than the highest
run index the swarm holds for that blob on this class; each run is one ``RunRecord`` of the Outcome and one signed
Result. Decisions compare a candidate's run k with the best's run k (``decide_runs``); "best" is the mean of this
node's own runs of the HEAD train.py (peers' numbers are hints; the feed's best counts every run), and of the baseline
also the trusted same-class peers' runs that ``RunBook`` pooled (one own run at least: runbook.py). Results of another
clock (a wall-clock result beside CPU-seconds ones, e.g. every version-1 result) do not compete and are left out.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, Sequence

from coordinator.agents.base import Agent
from coordinator.decide import Decision, decide_runs
from coordinator.direction import CostRun, check_direction, cost_view, shown, shown_outcome
from coordinator.noise import NoiseEvidence, NoiseModel
from coordinator.peers import (adopt_candidates, claimed_blobs, parent_blobs, scored_blobs, stack_pairs,
                              unfulfilled_claims, verified_ids, vouched_peers)
from coordinator.plan import Tally, plan_next, replay, share_allows
from coordinator.records import (Action, HistoryItem, Outcome, Policy, ProposalContext, RunRecord, ScoredText,
                                 SeenResult, SwarmView, TrustChange)
from coordinator.runbook import RunBook
from coordinator.runs import RunLike, first_wave, run_wave
from coordinator.texts import MAX_TRAIN_PY, TextBook, gate
from coordinator.transfer import TRANSFER_PREFIX, Rung, transfer_action
from coordinator.trust import TrustBook
from coordinator.workspace import Workspace, blob_hash, commit_message, merge3

__all__ = ["Researcher", "RunLike", "MAX_TRAIN_PY", "gate"]

log = logging.getLogger(__name__)

STACK_PREFIX = "stack: "  # description text only: the action is the Result's ``action`` field
ADOPT_PREFIX = "adopt "
BASELINE_PREFIX = "baseline run"


class Researcher:
    """One node's research on one swarm; see the module docstring. ``step()`` is synchronous."""

    def __init__(self, *, workspace: Workspace, agent: Agent, runner: Callable[[str, int], RunLike], hw_class: str,
                 budget: Any, author: bytes, swarm_view: Callable[[], SwarmView],
                 fetch_blob: Callable[[str], str | None], publish: Callable[[Outcome], None],
                 announce_claim: Callable[[str, float], None] | None = None, program: str = "",
                 policy: Policy = Policy(), trust: TrustBook | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time,
                 merge: Callable[[str, str, str], str | None] = merge3,
                 offer_text: Callable[[str, str, str], None] | None = None, budget_clock: str = "wall",
                 parallel: int = 1, rungs: Sequence[Rung] = (), direction: str = "min",
                 metric_name: str = "val_bpb", task_kind: str = "lm") -> None:
        self.workspace = workspace
        self.agent = agent
        # The decisions work on costs (coordinator.direction): results and runs come in as costs, Outcomes go out as
        # the task's metric. ``direction`` "max": a higher metric is better.
        self.direction = check_direction(direction)
        self.metric_name = metric_name
        self.task_kind = task_kind
        self.runner: Callable[[str, int], RunLike] = lambda text, k: CostRun(runner(text, k), self.direction)
        self.hw_class = hw_class
        self.budget_kind: str = budget if isinstance(budget, str) else budget.kind
        self.author = author
        self.swarm_view: Callable[[], SwarmView] = lambda: cost_view(swarm_view(), self.direction)
        self.fetch_blob = fetch_blob
        self.publish: Callable[[Outcome], None] = lambda outcome: publish(shown_outcome(outcome, self.direction))
        self.announce_claim = announce_claim
        self.program = program
        self.policy = policy
        self.trust = trust or TrustBook(policy.trust_threshold)
        self.rng = rng or random.Random()
        self.clock = clock
        self.merge = merge
        self.offer_text = offer_text  # (blob, train.py, parent) before its claim: peers can fetch what is in flight
        self.budget_clock = budget_clock  # "cpu" | "wall": what this node's seconds budget counts
        self.parallel = max(1, int(parallel))  # runs of one step in flight at once (runs.py)
        self.texts = TextBook(lambda blob: self.fetch_blob(blob))  # read late: a test may swap fetch_blob
        self.rungs = tuple(rungs)         # the manifest's rungs (coordinator.transfer): rung k scales rung-0 ideas
        self._tried_transfers: set[str] = set()
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
                                floor=self.policy.margin_floor, owner=self.author)
        self.book = RunBook(noise=self.noise, hw_class=self.hw_class, budget_kind=self.budget_kind,
                            clock=self.budget_clock, author=self.author, trusted=lambda peer: self.trust.trusted(peer),
                            pool_band=self.policy.baseline_pool_band)
        view = self.book.same_clock(view)
        self.book.observe(view)
        mine = sorted((s for s in view.results if s.result.author == self.author and self._competes(s.result)),
                      key=lambda s: s.result.created_at)
        self._ran.update(s.result.blob for s in mine)
        self.tally = replay(mine, view, author=self.author, trust=self.trust, margin=self.noise.margin)
        runs = self.noise.runs_of(self.head_blob)
        self.best: float | None = sum(runs) / len(runs) if runs else None
        if mine:
            log.info("resumed at %s: best %s, %d experiments, %d baseline runs", self.head[:10], self.best,
                     self.tally.experiments, self.noise.baseline_runs())

    def _competes(self, r: object) -> bool:
        return self.book.competes(r)

    def _head_mean(self) -> float | None:
        return self.book.mean_of(self.head_blob)

    def _load_head(self) -> None:
        self.head = self.workspace.head()
        self.head_text = self.workspace.head_text()
        self.head_blob = self._remember(self.head_text)

    def _remember(self, text: str) -> str:
        return self.texts.remember(text)

    def _text(self, blob: str) -> str | None:
        return self.texts.get(blob)

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
        view = self.book.same_clock(view)
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
        rel = sorted((s.result for s in view.results if self._competes(s.result)), key=lambda r: r.created_at)
        items = [HistoryItem(r.description, r.metric, r.status, r.author == self.author, r.created_at,
                             getattr(r, "action", "unknown")) for r in rel]
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
            taken=frozenset(self._taken(view)), history=items[-200:], scored=self._scored(rel, view),
            metric_name=self.metric_name, direction=self.direction, task_kind=self.task_kind)

    def _scored(self, rel: list[Any], view: SwarmView) -> list[ScoredText]:
        """Trials for agents that learn from texts (``uses_trials``): known texts, and a few fetches per step."""
        if not getattr(self.agent, "uses_trials", False):
            return []
        pending = sorted(claimed_blobs(view.claims, me=self.author, now=self.clock(), trust=self.trust))
        trusted = [r for r in rel if r.author == self.author or self.trust.trusted(r.author)]  # a liar's are no trials
        return self.texts.trials(trusted, pending, self.author)

    def _baseline_action(self) -> Action:
        n, r = self.noise.baseline_indexes() + 1, self.policy.baseline_repeats
        m = max(n, min(r, n + self.parallel - 1))  # the last of the runs this step puts in flight
        what = (f"{n}/{r}" if m == n else f"{n}-{m}/{r}") if self.head_blob == self.baseline_blob else "of base"
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

    def _transfer_action(self, view: SwarmView) -> Action | None:
        """Under a seconds budget, another class's (or a lower rung's) kept idea merged onto HEAD, within the verify
        share of this node's experiments (coordinator.transfer; judged here like any explore)."""
        mine = sum(1 for s in view.results if s.result.author == self.author and getattr(s.result, "action", "") ==
                   "explore" and s.result.description.startswith(TRANSFER_PREFIX))
        if self.budget_kind != "seconds" or not share_allows(mine, self.tally.experiments, self.policy.verify_share):
            return None
        index = parent_blobs(view.results, baseline_commit=self.baseline_commit, baseline_blob=self.baseline_blob)
        action = transfer_action(view.results, me=self.author, hw_class=self.hw_class, trust=self.trust,
                                 head_text=self.head_text, text_of=self._text, commit_blob=index, merge=self.merge,
                                 taken=self._taken(view), tried=self._tried_transfers, blob_of=blob_hash,
                                 rungs=self.rungs)
        return action if action is not None and gate(action.train_py) else None

    def _explore_action(self, view: SwarmView) -> Action | None:
        transfer = self._transfer_action(view)  # the view holds every class's results (same clock)
        if transfer is not None:
            return transfer
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
        """Plan, run, decide, commit or reset, publish; return the Outcome (also given to ``publish``), its metrics
        in the task's own terms (``best`` and the rest of the state stay costs)."""
        return shown_outcome(self._step(), self.direction)

    def best_metric(self) -> float | None:
        """This node's best as the task's metric (``best`` is its cost)."""
        return None if self.best is None else shown(self.best, self.direction)

    def _step(self) -> Outcome:
        self.texts.steps += 1
        seen = self.swarm_view()
        view = self._runnable(seen)
        self.book.observe(view)
        mean = self._head_mean()
        if mean is not None:
            self.best = mean  # the mean of every competing run of HEAD (peers' re-runs of it included)
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
        self.publish(outcome)  # turned into the task's metric by the wrapper set in __init__
        return outcome

    def _runs(self, text: str, blob: str, actions: list[str]) -> list[tuple[RunLike, RunRecord]]:
        """Runs with the blob's next run indexes as seeds (the swarm's k-th seed for its k-th run; the baseline's: the
        indexes no run of it has yet, ``RunBook.baseline_indexes``), in flight at once up to ``parallel``."""
        indices = (self.book.baseline_indexes(self.policy.baseline_repeats, self.rng, len(actions))
                   if blob == self.baseline_blob and actions[0] == "baseline" else None)
        return run_wave(self.runner, self.book, text, blob, actions, self.parallel, indices)

    def _execute(self, action: Action, changes: list[TrustChange]) -> Outcome:
        blob = self._remember(action.train_py)
        if action.kind != "baseline" and self.offer_text is not None:
            self.offer_text(blob, action.train_py, self.head)
        if action.kind != "baseline" and self.announce_claim is not None:
            self.announce_claim(blob, self.clock() + self.policy.claim_ttl)
        self.workspace.write_candidate(action.train_py)
        _, reference = self.book.reference(self.head_blob, action.parents if action.kind == "stack" else ())
        margin, paired_margin = self.margin, self.noise.paired_margin  # measured before this candidate's runs
        missing = self.policy.baseline_repeats - self.noise.baseline_indexes()
        wave = self._runs(action.train_py, blob, first_wave(action.kind, self.parallel, missing))
        (first, record), records = wave[0], [rec for _, rec in wave]
        self._ran.add(blob)
        parent = self.head
        if action.kind == "baseline":
            return self._finish_baseline(action, first, records, blob, changes)
        self.tally = Tally(self.tally.experiments + 1, self.tally.adopts + (action.kind == "adopt"),
                           self.tally.stacks + (action.kind == "stack"))
        if record.status == "crash":
            if action.kind == "adopt":
                changes.append(self.trust.refute(action.claimed_by))
            reason = f"crash: {first.reason or first.status}"
            commit = self.workspace.commit_discarded(action.train_py, commit_message(
                action.description, 0.0, status="crash", hw_class=self.hw_class, action=action.kind))
            return self._outcome(action, first, commit, parent, blob, (), "crash", reason, changes, records=records)
        runs = {rec.run_index: rec.metric for rec in records if rec.status == "ok"}
        assert self.best is not None
        reference = reference or {-1: self.best}  # the best's mean where it has no run by index
        verdict = decide_runs(runs, reference, margin=margin, paired_margin=paired_margin)
        refute_first = action.kind == "adopt" and record.metric > (action.claimed_metric or 0.0) + margin
        if len(records) == 1 and (verdict.verdict == "rerun" or refute_first):
            [(_, again)] = self._runs(action.train_py, blob, ["rerun"])
            records.append(again)
            if again.status == "ok":
                runs[again.run_index] = again.metric
            verdict = decide_runs(runs, reference, margin=margin, paired_margin=paired_margin)
        if verdict.verdict == "rerun":
            verdict = Decision("discard", verdict.gain, verdict.margin, "the re-run crashed", verdict.paired)
        mean = sum(runs.values()) / len(runs)
        if action.kind == "adopt":
            holds = mean <= (action.claimed_metric or 0.0) + margin
            changes.append(self.trust.confirm(action.claimed_by) if holds else self.trust.refute(action.claimed_by))
        status = "keep" if verdict.verdict == "keep" else "discard"
        message = commit_message(action.description, mean, status=status, hw_class=self.hw_class, action=action.kind)
        if status == "keep":
            commit = self.workspace.commit_kept(action.train_py, message)
            self._load_head()
            self.best = self._head_mean()
        else:
            commit = self.workspace.commit_discarded(action.train_py, message)
        log.info("%s %s: %.4f (%s) %s", action.kind, status, mean, verdict.reason, action.description)
        return self._outcome(action, first, commit, parent, blob, tuple(v for _, v in sorted(runs.items())), status,
                             verdict.reason, changes, records=records, paired=verdict.paired)

    def _finish_baseline(self, action: Action, run: RunLike, records: list[RunRecord], blob: str,
                         changes: list[TrustChange]) -> Outcome:
        entries = self.workspace.log(limit=1)
        parent = entries[0].parent if entries else ""
        if records[0].status == "crash":
            return self._outcome(action, run, self.head, parent, blob, (), "crash",
                                 f"baseline crashed: {run.reason or run.status}", changes, records=records)
        runs = self.noise.runs_of(blob)
        first = self.best is None
        self.best = sum(runs) / len(runs)
        mine = tuple(r.metric for r in records if r.status == "ok")
        return self._outcome(action, run, self.head, parent, blob, mine, "keep",
                             f"baseline: mean {shown(self.best, self.direction):.4f} over {len(runs)} runs", changes,
                             new_best=first,
                             records=records)

    def _outcome(self, action: Action, run: RunLike, commit: str, parent: str, blob: str, runs: tuple[float, ...],
                 status: str, reason: str, changes: list[TrustChange], *, new_best: bool | None = None,
                 records: list[RunRecord] | None = None, paired: bool = False) -> Outcome:
        metric = sum(runs) / len(runs) if runs else 0.0
        kept = status == "keep" and action.kind != "baseline"
        desc = action.description if status != "crash" else f"{action.description} (crash)"
        src = run
        return Outcome(
            action=action.kind, commit=commit, parent=parent, blob=blob, train_py=action.train_py, metric=metric,
            status=status, hw_class=self.hw_class, steps=int(src.steps), tokens=int(src.tokens),  # type: ignore[arg-type]
            wall_seconds=float(src.wall_seconds), peak_memory_mb=float(src.peak_memory_mb), description=desc[:280],
            reproduces=action.attests, runs=runs, kept=kept, new_best=kept if new_best is None else new_best,
            best_metric=self.best, margin=self.margin, reason=reason, trust_changes=tuple(changes),
            agent=getattr(self.agent, "name", "") if action.kind == "explore" else "",
            records=tuple(records or ()), paired=paired)
