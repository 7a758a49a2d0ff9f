"""The Researcher loop with plain records: an in-memory workspace, a synthetic objective as the runner, no network."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from typing import Callable

from coordinator.agents.mutate import MutateAgent
from coordinator.errors import AgentError
from coordinator.records import Outcome, Policy, Proposal, ProposalContext, SeenResult, SwarmView
from coordinator.researcher import Researcher
from coordinator.simulate import SIM_TRAIN_PY, MemoryWorkspace, SimRun, objective, true_value
from coordinator.workspace import blob_hash
from protocol import BudgetRule, Result

from tests.unit.coordinator.make import LIAR, ME, PEER, PEER2, claim, knob_mutations, result, seen

LR = SIM_TRAIN_PY.replace("LEARNING_RATE = 4e-3", "LEARNING_RATE = 6e-3")
WIDE = SIM_TRAIN_PY.replace("N_EMBD = 128 ", "N_EMBD = 256 ")
DEEP = SIM_TRAIN_PY.replace("N_LAYER = 2 ", "N_LAYER = 4 ")
BAD = SIM_TRAIN_PY.replace("DROPOUT = 0.0", "DROPOUT = 0.3")
OOM = SIM_TRAIN_PY.replace("N_EMBD = 128 ", "N_EMBD = 8192 ")


def line_merge(base: str, a: str, b: str) -> str | None:
    """merge3 for same-length files without a subprocess (unit tests)."""
    rows = list(zip(base.splitlines(True), a.splitlines(True), b.splitlines(True)))
    if any(x != y and x != z and y != z for x, y, z in rows):
        return None
    return "".join(y if y != x else z for x, y, z in rows)


class Script:
    """An agent that proposes fixed texts in order, skipping taken ones."""

    name = "script"

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)

    def propose(self, context: ProposalContext) -> Proposal:
        for text in self.texts:
            if blob_hash(text) not in context.taken:
                return Proposal(train_py=text, description=f"script {self.texts.index(text)}", agent=self.name)
        raise AgentError("script exhausted")


class Harness:
    def __init__(self, policy: Policy = Policy(baseline_repeats=2)) -> None:
        self.results: list[SeenResult] = []
        self.claims: list = []
        self.texts: dict[str, str] = {}
        self.published: list[Outcome] = []
        self.now = 1000.0
        self.ws = MemoryWorkspace(SIM_TRAIN_PY)
        self.policy = policy
        self.seq = 0

    def publish(self, o: Outcome) -> None:
        self.now += 1
        self.published.append(o)
        for run in o.run_results():  # one Result per run, as node/ publishes them
            self.seq += 1
            self.results.append(seen(Result(
                swarm_id=b"\0" * 32, author=ME, seq=self.seq, created_at=self.now, commit=o.commit,
                parent=o.parent, blob=o.blob, hw_class=o.hw_class, hw_fingerprint="t",
                budget=BudgetRule("seconds", 60), description=o.description, reproduces=o.reproduces,
                **run)))  # type: ignore[arg-type]

    def peer_keep(self, text: str, metric: float, *, author: bytes = PEER, parent: str = "") -> SeenResult:
        self.texts[blob_hash(text)] = text
        s = seen(result(author=author, blob=blob_hash(text), metric=metric, created_at=self.now, commit=blob_hash(text),
                        parent=parent or self.ws.baseline(), description=f"peer {blob_hash(text)[:6]}"))
        self.results.append(s)
        return s

    def make(self, agent: object | None = None,
             runner: Callable[[str, int], SimRun] = lambda t, s: objective(t, s, noise=0.0),
             parallel: int = 1) -> Researcher:
        return Researcher(workspace=self.ws, agent=agent or MutateAgent(random.Random(5)), runner=runner,  # type: ignore
                          hw_class="cpu:2t", budget=BudgetRule("seconds", 60), author=ME,
                          swarm_view=lambda: SwarmView(results=list(self.results), claims=list(self.claims)),
                          fetch_blob=self.texts.get, publish=self.publish,
                          announce_claim=lambda b, t: self.claims.append(claim(author=ME, blob=b, expires_at=t)),
                          policy=self.policy, rng=random.Random(6), clock=lambda: self.now, merge=line_merge,
                          parallel=parallel)


def test_baseline_repeats_then_keeps_and_discards_matching_history() -> None:
    h = Harness()
    r = h.make()
    outs = [r.step() for _ in range(12)]
    assert [o.action for o in outs[:2]] == ["baseline", "baseline"]
    assert r.evidence().baseline_runs == 2 and r.margin == Policy().margin_floor
    kept = [o for o in outs if o.kept]
    assert kept and any(o.status == "discard" for o in outs)
    assert [e.commit for e in h.ws.log()][:-1] == [o.commit for o in reversed(kept)]
    best = outs[1].best_metric
    for o in kept:
        assert o.metric < best - o.margin  # type: ignore[operator]
        best = o.metric
    assert r.best == kept[-1].metric and h.ws.head_text() == kept[-1].train_py
    assert all(c.author == ME for c in h.claims) and len(h.claims) == 10  # a claim before every experiment


def test_restart_resumes_from_head_and_reruns_nothing() -> None:
    h = Harness()
    first = h.make()
    for _ in range(6):
        first.step()
    second = h.make()
    assert (second.head, second.best, second.tally) == (first.head, first.best, first.tally)
    ran = {o.blob for o in h.published}
    nxt = second.step()
    assert nxt.action == "explore" and nxt.blob not in ran


def test_dedupe_and_claims_skip_what_the_swarm_has() -> None:
    h = Harness()
    h.results.append(seen(result(blob=blob_hash(LR), metric=2.5, status="discard")))          # scored here: skip
    h.results.append(seen(result(blob=blob_hash(WIDE), metric=2.5, hw_class="cuda:H100")))   # other class: fair
    h.claims.append(claim(author=PEER2, blob=blob_hash(DEEP), expires_at=h.now + 100))      # claimed: skip
    r = h.make(Script(LR, DEEP, WIDE))
    r.step(), r.step()
    assert r.step().train_py == WIDE
    h.claims[0] = claim(author=PEER2, blob=blob_hash(DEEP), expires_at=h.now - 1)            # expired: fair again
    assert r.step().train_py == DEEP


def test_honest_claim_is_reproduced_attested_and_adopted() -> None:
    h = Harness()
    r = h.make()
    r.step(), r.step()
    honest = h.peer_keep(WIDE, true_value(WIDE) or 0.0)
    out = r.step()
    assert out.action == "adopt" and out.reproduces == honest.result_id
    assert out.status == "keep" and out.kept and h.ws.head_text() == WIDE
    assert [(c.peer, c.event) for c in out.trust_changes] == [(PEER, "confirmed")] and r.trust.score(PEER) == 1.0


def test_lying_claim_is_refuted_and_its_later_claims_ignored() -> None:
    h = Harness()
    r = h.make()
    r.step(), r.step()
    lie = h.peer_keep(BAD, 1.5, author=LIAR)
    out = r.step()
    assert out.action == "adopt" and out.reproduces == lie.result_id and out.status == "discard"
    assert len(out.runs) == 2  # a claim that fails is re-run once before it is called a lie
    assert not out.kept and h.ws.head_text() == SIM_TRAIN_PY
    assert [c.event for c in out.trust_changes] == ["refuted"] and not r.trust.trusted(LIAR)
    h.peer_keep(OOM, 1.0, author=LIAR)
    later = [r.step() for _ in range(6)]
    assert all(o.action != "adopt" for o in later)
    assert not h.make().trust.trusted(LIAR)  # rebuilt from records on restart


def test_verification_is_bounded_to_its_share() -> None:
    h = Harness()
    r = h.make()
    r.step(), r.step()
    liars = [bytes([0x10 + i]) * 32 for i in range(20)]
    for i, liar in enumerate(liars):
        h.peer_keep(BAD.replace("0.3", f"0.{i + 10}"), 1.0, author=liar)
    outs = [r.step() for _ in range(20)]
    adopts = sum(o.action == "adopt" for o in outs)
    assert 3 <= adopts <= 5  # about one in five, not twenty in a row


def test_two_improvements_of_one_base_are_stacked_and_kept_when_better_than_both() -> None:
    h = Harness()
    r = h.make(Script(BAD))
    r.step(), r.step()
    a = h.peer_keep(LR, true_value(LR) or 0.0, author=PEER)
    b = h.peer_keep(DEEP, true_value(DEEP) or 0.0, author=PEER2)
    outs = [r.step() for _ in range(3)]
    stack = next(o for o in outs if o.action == "stack")
    assert "LEARNING_RATE = 6e-3" in stack.train_py and "N_LAYER = 4 " in stack.train_py
    assert stack.status == "keep" and stack.metric < min(a.result.metric, b.result.metric)
    assert stack.description.startswith("stack: ")


def test_crash_is_recorded_and_reset() -> None:
    h = Harness()
    r = h.make(Script(OOM))
    r.step(), r.step()
    out = r.step()
    assert out.status == "crash" and out.metric == 0.0 and not out.kept and out.commit
    assert h.ws.head() == h.ws.baseline() and "(crash)" in out.description


def test_gain_within_noise_is_rerun_before_keeping() -> None:
    values = {blob_hash(SIM_TRAIN_PY): [2.400, 2.400], blob_hash(LR): [2.397, 2.3975]}
    h = Harness()
    r = h.make(Script(LR), runner=lambda t, s: SimRun("ok", values[blob_hash(t)].pop(0)))
    r.step(), r.step()
    out = r.step()
    assert out.runs == (2.397, 2.3975) and out.status == "keep" and abs(out.metric - 2.39725) < 1e-9
    assert [(x.action, x.run_index) for x in out.records] == [("explore", 0), ("rerun", 1)]  # seeds 0 and 1
    assert out.paired  # run k against the baseline's run k


def test_parallel_runs_of_a_step_are_in_flight_together_and_recorded_in_index_order() -> None:
    values = {(blob_hash(SIM_TRAIN_PY), 0): 2.400, (blob_hash(SIM_TRAIN_PY), 1): 2.401, (blob_hash(LR), 0): 2.390,
              (blob_hash(LR), 1): 2.391, (blob_hash(BAD), 0): 2.402, (blob_hash(BAD), 1): 2.399}
    both = threading.Barrier(2, timeout=10)  # a run returns only once its partner is running too
    ran: list[tuple[str, int]] = []

    def runner(text: str, seed: int) -> SimRun:
        both.wait()
        if seed == 0:
            time.sleep(0.05)  # run 0 finishes last: the records still come in index order
        ran.append((blob_hash(text), seed))
        return SimRun("ok", values[(blob_hash(text), seed)])
    h = Harness()
    r = h.make(Script(LR, BAD), runner=runner, parallel=2)
    base = r.step()  # both baseline repeats in one step
    assert [(x.action, x.run_index) for x in base.records] == [("baseline", 0), ("baseline", 1)]
    assert base.runs == (2.400, 2.401) and r.evidence().baseline_runs == 2
    kept, dropped = r.step(), r.step()  # each: the candidate's runs 0 and 1 at once, no re-run step
    assert [(x.action, x.run_index) for x in kept.records] == [("explore", 0), ("rerun", 1)]
    assert kept.status == "keep" and kept.runs == (2.390, 2.391) and kept.paired
    assert dropped.status == "discard" and len(dropped.records) == 2
    assert ran[-1][1] == 0 and len(ran) == 6  # run 0 did finish last


def test_unfetchable_claim_is_skipped_and_not_fetched_every_step() -> None:
    h = Harness()
    asked: list[str] = []
    r = h.make(Script(LR, DEEP, BAD))
    r.fetch_blob = lambda blob: asked.append(blob)  # type: ignore[assignment,func-returns-value]
    r.step(), r.step()
    h.results.append(seen(result(author=PEER, blob=blob_hash(WIDE), metric=2.0)))
    outs = [r.step() for _ in range(3)]
    assert [o.action for o in outs] == ["explore"] * 3
    assert asked.count(blob_hash(WIDE)) == 1


def test_without_a_sandbox_fresh_attesters_never_get_peer_code_run() -> None:
    h = Harness(Policy(baseline_repeats=2, only_verified_peer_code=True, verify_share=1.0))
    r = h.make(Script(BAD, OOM, BAD, OOM))
    r.step(), r.step()
    claim_r = h.peer_keep(WIDE, true_value(WIDE) or 0.0)
    assert r.step().action == "explore"  # unverified: not run here
    for i, who in enumerate((PEER2, LIAR)):  # two identities nobody here ever reproduced
        h.results.append(seen(result(author=who, blob=blob_hash(WIDE), metric=claim_r.result.metric,
                                     reproduces=claim_r.result_id, created_at=h.now + i)))
    assert r.step().action == "explore"


def test_without_a_sandbox_the_users_trusted_peers_code_is_run() -> None:
    h = Harness(Policy(baseline_repeats=2, only_verified_peer_code=True, trusted_authors=frozenset({PEER2, LIAR})))
    r = h.make(Script(BAD, OOM))
    r.step(), r.step()
    claim_r = h.peer_keep(WIDE, true_value(WIDE) or 0.0)
    assert r.step().action == "explore"  # its author is not on the user's list, nor verified by those who are
    for i, who in enumerate((PEER2, LIAR)):
        h.results.append(seen(result(author=who, blob=blob_hash(WIDE), metric=claim_r.result.metric,
                                     reproduces=claim_r.result_id, created_at=h.now + i)))
    out = r.step()
    assert out.action == "adopt" and out.reproduces == claim_r.result_id


class Watcher:
    """An agent that learns from trials: records what the loop hands it, proposes nothing."""

    name = "watcher"
    uses_trials = True

    def __init__(self) -> None:
        self.seen: list[ProposalContext] = []

    def propose(self, context: ProposalContext) -> Proposal:
        self.seen.append(context)
        raise AgentError("watching")


def test_trials_are_own_and_trusted_peers_results_and_live_claims_with_their_texts() -> None:
    h = Harness()
    watcher = Watcher()
    r = h.make(agent=watcher)
    r.step(), r.step()
    h.peer_keep(BAD, 1.5, author=LIAR)
    assert r.step().action == "adopt" and not r.trust.trusted(LIAR)            # the lie is refuted
    h.peer_keep(OOM, 1.0, author=LIAR)                                         # and its next claim is no trial
    h.peer_keep(WIDE, 2.3, author=PEER)
    h.texts[blob_hash(DEEP)] = DEEP                                            # a peer's claim in flight, servable
    h.claims.append(claim(author=PEER2, blob=blob_hash(DEEP), expires_at=h.now + 100))
    r.step()
    scored = {(s.train_py, s.status) for s in watcher.seen[-1].scored}
    assert (WIDE, "keep") in scored and (DEEP, "pending") in scored and (SIM_TRAIN_PY, "keep") in scored
    assert not any(text == OOM for text, _ in scored)
    assert (BAD, "discard") in scored                                          # our own re-run of the lie counts
    assert not any(s.train_py == BAD and s.metric == 1.5 for s in watcher.seen[-1].scored)


def test_claim_squatting_by_a_fresh_key_does_not_stop_exploration() -> None:
    h = Harness()
    texts = knob_mutations(SIM_TRAIN_PY)
    assert len(texts) > 200
    squatter = bytes([0x66]) * 32
    h.claims.extend(claim(author=squatter, blob=blob_hash(t), expires_at=h.now + 86_000) for t in texts)
    r = h.make()
    r.step(), r.step()
    outs = [r.step() for _ in range(3)]
    assert [o.action for o in outs] == ["explore"] * 3
    assert not any(o.description.startswith("baseline run") for o in outs)


def test_the_kth_run_of_a_blob_uses_seed_k_and_peers_runs_count() -> None:
    seeds: list[tuple[str, int]] = []

    def runner(text: str, seed: int) -> SimRun:
        seeds.append((blob_hash(text), seed))
        return objective(text, seed, noise=0.0)

    h = Harness()
    base = blob_hash(SIM_TRAIN_PY)
    h.results.append(seen(result(author=PEER, blob=base, metric=2.4, description="peer baseline")))  # run 0, peer
    r = h.make(Script(LR), runner=runner)
    r.step(), r.step()
    # the swarm held run 0 of the baseline: this node's own run takes 1, the peer's run 0 is pooled (same class,
    # within the band: runbook.py), and the candidate's runs pair with both
    assert seeds == [(base, 1), (blob_hash(LR), 0), (blob_hash(LR), 1)]
    assert r.evidence().baseline_runs == 1 and r.noise.baseline_indexes() == 2


def test_resume_reads_the_action_field_not_the_description() -> None:
    h = Harness()
    r = h.make(Script(LR, WIDE))
    for _ in range(4):
        r.step()
    h.results = [seen(dataclasses.replace(s.result, description="free text, no prefix at all"))  # type: ignore
                 for s in h.results]
    again = h.make(Script(LR, WIDE))
    assert again.tally == r.tally and again.evidence().baseline_runs == 2
