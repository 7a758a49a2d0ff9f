"""Efficacy: does the swarm keep changes that reproduce? The README's swarm of two local nodes, then a quiet re-check.

    .venv/bin/python bench/efficacy.py                      # 60 min of swarm, 60 s budget (the README's swarm)
    .venv/bin/python bench/efficacy.py --minutes 5 --budget 15s --max-keeps 3   # the short mode (~10 min in all)
    .venv/bin/python bench/efficacy.py --agent tpe          # the same swarm with another agent (mutate, tpe, hybrid)
    .venv/bin/python bench/efficacy.py --agents mutate,tpe  # one swarm per agent, at the same time, side by side
    .venv/bin/python bench/efficacy.py --table a.json b.json  # the side-by-side table of earlier --out files

1. Two real ``swarm-node join`` processes (the built-in swarm under ``--budget``, ``--agent`` (mutate), loopback only,
   no mDNS; the second bootstraps from the first) research for ``--minutes``; then both are stopped (SIGINT).
2. On the machine they leave quiet, the baseline train.py, each node's final best train.py (its HEAD: the last
   train.py it kept) and each kept train.py (the latest ``--max-keeps``) are re-run ``--reruns`` times each, one
   after another, with paired seeds (run k of every train.py uses seed k, as in the swarm).
3. It prints, side by side: what the ledgers claimed (the baseline's mean and each node's best mean there), what the
   quiet re-runs give (each final best's paired gain over the baseline, in % and as a paired t), and the share of
   keeps that reproduce (a keep reproduces when its re-runs beat, paired, the re-runs of the train.py it was kept
   over). Targets (issue 10): >= 3% reproduced gain in 60 minutes; >= 90% of keeps reproduce.

Each node puts ``--parallel`` (1) runs in flight: the nodes share the machine's cores (two nodes on two cores with the
nodes' default, one run per core each, would put four runs on two cores and spend two runs on every idea; with one in
flight an idea whose first run gains nothing is discarded after it, and the second run is only paid for a gain).

With ``--agents a,b`` one such bench per agent runs at the same time (each its own two nodes and homes under
``--workdir``; the CPU budget makes the runs' shares of the machine fair), and a table puts the agents side by side.
Target (issue 15): the best agent >= 5% reproduced gain in 60 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.feed.standing import standings  # noqa: E402
from node.feed.views import pick_swarm  # noqa: E402
from node.ledger import Ledger  # noqa: E402
from protocol import Identity  # noqa: E402
from trainer import Budget, builtin_dataset, default_train_py, run_experiment, sandbox_available  # noqa: E402
from protocol import git_blob_hash  # noqa: E402

NEW_IDEAS = ("explore", "stack")


@dataclass(frozen=True)
class Keep:
    node: str
    blob: str
    parent_blob: str  # the HEAD it was kept over
    claimed: float    # its mean in the ledger
    description: str


def start_node(home: Path, budget: str, peer: str | None, log: Path, agent: str,
               parallel: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "node", "join", "--home", str(home), "--listen", "/ip4/127.0.0.1/tcp/0",
            "--no-mdns", "--budget", budget, "--agent", agent]
    if peer:
        argv += ["--peer", peer]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SWARM_NODE_PARALLEL": str(parallel)}
    return subprocess.Popen(["nice", "-n", "10", *argv], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def first_addr(home: Path, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    path = home / "node.json"
    while time.monotonic() < deadline:
        try:
            addrs = json.loads(path.read_text()).get("addrs") or []
            if addrs:
                return str(addrs[0])
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"node at {home} did not write its address in {timeout:.0f} s (see its log)")


def stop(procs: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    """SIGTERM to every node (each shuts down in order), SIGKILL to what is left after ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def read_node(home: Path) -> tuple[str, list[Keep], str, dict[str, bytes], list[object]]:
    """(the node's final best blob, its keeps in order, the baseline blob, texts by blob, all rows)."""
    me = Identity.load_or_create(home / "identity.key").public_key
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        swarm = pick_swarm(ledger)
        assert swarm is not None, f"no swarm in {home}"
        rows = ledger.results(swarm)
        base = git_blob_hash(default_train_py().encode())
        means = {s.blob: s.mean for s in standings(rows, min_runs=1)}
        head, keeps, texts = base, [], {}
        for row in sorted((r for r in rows if r.author == me and r.status == "keep"
                           and r.action in (*NEW_IDEAS, "adopt")), key=lambda r: r.created_at):
            if row.blob == head:
                continue
            if row.action in NEW_IDEAS:
                keeps.append(Keep(home.name, row.blob, head, means.get(row.blob, row.metric), row.description))
            head = row.blob
        for blob in {base, head, *(k.blob for k in keeps), *(k.parent_blob for k in keeps)}:
            text = ledger.get_commit(blob)
            if text is not None:
                texts[blob] = bytes(text)
    return head, keeps, base, texts, rows


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of b_k - a_k (a gain when positive: a is better) and its t statistic."""
    d = [y - x for x, y in zip(a, b)]
    mean = statistics.fmean(d)
    sd = statistics.stdev(d) if len(d) > 1 else math.inf
    return mean, (mean / (sd / math.sqrt(len(d))) if sd > 0 else math.inf)


def side_by_side(reports: list[dict[str, object]]) -> None:
    """The agents' figures in columns (from each bench's --out JSON)."""
    def row(name: str, cells: list[str]) -> None:
        print(f"{name:<34}" + "".join(f"{c:>16}" for c in cells))

    def pct(x: object) -> str:
        return f"{x:+.2%}" if isinstance(x, (int, float)) and math.isfinite(x) else "-"

    print()
    row("agent", [str(r["agent"]) for r in reports])
    row("results in the swarm", [str(r["results"]) for r in reports])
    row("keeps of new ideas (re-checked)", [f"{r['keeps']} ({r['checked']})" for r in reports])
    for node in ("node-a", "node-b"):
        finals = [r["finals"].get(node, {}) for r in reports]  # type: ignore[attr-defined]
        row(f"{node}: claimed gain (ledger)", [pct(f.get("claimed")) if f else "baseline" for f in finals])
        row(f"{node}: reproduced gain (quiet)", [pct(f.get("reproduced")) if f else "baseline" for f in finals])
    row("reproduced gain, best node", [pct(r["best_gain"]) for r in reports])
    row("keeps that reproduce", [f"{r['reproduced']}/{r['checked']}" for r in reports])
    print("targets: >= 3% reproduced gain and >= 90% of keeps reproduce (issue 10); best agent >= 5% (issue 15)")


def run_agents(args: argparse.Namespace, work: Path) -> None:
    """One bench per agent at the same time (child processes of this script), then the table."""
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    children = []
    for agent in agents:
        argv = [sys.executable, __file__, "--agent", agent, "--minutes", str(args.minutes), "--budget", args.budget,
                "--parallel", str(args.parallel),
                "--reruns", str(args.reruns), "--max-keeps", str(args.max_keeps), "--workdir", str(work / agent),
                "--out", str(work / f"{agent}.json")]
        log = (work / f"{agent}.out").open("wb")
        children.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        print(f"agent {agent}: {work / agent} (log {work / f'{agent}.out'})")
    try:
        codes = [c.wait() for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                os.killpg(c.pid, signal.SIGTERM)
    for agent, code in zip(agents, codes):
        print(f"--- agent {agent} (exit {code}) ---\n{(work / f'{agent}.out').read_text(errors='replace')}")
    side_by_side([json.loads((work / f"{a}.json").read_text()) for a in agents if (work / f"{a}.json").exists()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long the two nodes research")
    parser.add_argument("--budget", default="60s", help="the built-in swarm's budget (the README's: 60s)")
    parser.add_argument("--reruns", type=int, default=3, help="quiet re-runs of each train.py (paired seeds)")
    parser.add_argument("--max-keeps", type=int, default=8, help="re-check at most this many keeps (latest first)")
    parser.add_argument("--parallel", type=int, default=1,
                        help="runs in flight per node (the nodes' `parallel`); 1: a losing idea ends after one run")
    parser.add_argument("--agent", default="mutate", help="the agent both nodes run (mutate, tpe, hybrid)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the node homes here (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here as JSON")
    parser.add_argument("--agents", default=None, help="comma-separated: one bench per agent at once, side by side")
    parser.add_argument("--table", type=Path, nargs="+", default=None, help="print the table of these --out files")
    args = parser.parse_args()
    if args.table:
        side_by_side([json.loads(p.read_text()) for p in args.table])
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="efficacy-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.agents:
        run_agents(args, work)
        return
    homes = [work / "node-a", work / "node-b"]
    started = time.monotonic()
    print(f"swarm of two local nodes: built-in swarm, budget {args.budget}, agent {args.agent}, {args.minutes:g} min, "
          f"{args.parallel} run(s) in flight per node, homes in {work}")
    a = start_node(homes[0], args.budget, None, work / "node-a.log", args.agent, args.parallel)
    procs = [a]
    try:
        procs.append(start_node(homes[1], args.budget, first_addr(homes[0]), work / "node-b.log",
                                args.agent, args.parallel))
        deadline = started + args.minutes * 60
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a node exited early; see {work}/node-*.log")
            time.sleep(2)
    finally:
        stop(procs)
    swarm_seconds = time.monotonic() - started

    finals, keeps, texts, rows_all = {}, [], {}, []
    base = ""
    for home in homes:
        head, node_keeps, base, node_texts, rows = read_node(home)
        finals[home.name] = head
        keeps += node_keeps
        texts.update(node_texts)
        rows_all = rows if len(rows) > len(rows_all) else rows_all
    ledger_means = {s.blob: (s.mean, s.runs) for s in standings(rows_all, min_runs=1)}
    checked = keeps[-args.max_keeps:]
    blobs = [base, *dict.fromkeys([*finals.values(), *(k.blob for k in checked), *(k.parent_blob for k in checked)])]
    blobs = [b for i, b in enumerate(blobs) if b in texts and b not in blobs[:i]]
    print(f"\n{len(rows_all)} results in {swarm_seconds / 60:.1f} min; {len(keeps)} keeps of new ideas "
          f"({len(checked)} re-checked); re-running {len(blobs)} train.py x {args.reruns} (paired seeds 0..)")
    ok, why = sandbox_available()
    budget = Budget.parse(args.budget)
    dataset = builtin_dataset()
    quiet: dict[str, list[float]] = {}
    rerun_started = time.monotonic()
    for blob in blobs:
        values = []
        for k in range(args.reruns):
            summary = run_experiment(texts[blob].decode(), dataset, budget, work_root=work / "reruns", seed=k,
                                     require_sandbox=ok, cache_dir=work / "cache")
            values.append(summary.val_bpb if summary.val_bpb is not None else math.nan)
        quiet[blob] = values
        print(f"  {blob[:10]} {' '.join(f'{v:.4f}' for v in values)}  (ledger: "
              f"{ledger_means.get(blob, (math.nan, 0))[0]:.4f} over {ledger_means.get(blob, (0, 0))[1]} runs)")

    base_quiet = statistics.fmean(quiet[base])
    base_ledger = ledger_means.get(base, (math.nan, 0))[0]
    print(f"\nbaseline: ledger {base_ledger:.4f}, quiet re-runs {base_quiet:.4f} "
          f"(std {statistics.stdev(quiet[base]) if len(quiet[base]) > 1 else 0:.4f})")
    best_gain = -math.inf
    report: dict[str, object] = {"agent": args.agent, "minutes": args.minutes, "budget": args.budget,
                                 "results": len(rows_all), "keeps": len(keeps), "checked": len(checked),
                                 "baseline": {"ledger": base_ledger, "quiet": quiet[base]}, "finals": {},
                                 "keeps_checked": []}
    for node, head in finals.items():
        if head == base or head not in quiet:
            print(f"{node}: final best is the baseline (no keep)")
            best_gain = max(best_gain, 0.0)
            continue
        gain, t = paired(quiet[head], quiet[base])
        claimed = (base_ledger - ledger_means.get(head, (math.nan, 0))[0]) / base_ledger
        best_gain = max(best_gain, gain / base_quiet)
        report["finals"][node] = {"blob": head, "claimed": claimed, "reproduced": gain / base_quiet, "t": t,  # type: ignore[index]
                                  "quiet": quiet[head]}
        print(f"{node}: final best {head[:10]}: claimed gain {claimed:+.2%} in the ledger; reproduced "
              f"{gain / base_quiet:+.2%} (paired t {t:.1f}) on the quiet re-runs")
    reproduced = 0
    for k in checked:
        if k.blob in quiet and k.parent_blob in quiet:
            gain, t = paired(quiet[k.blob], quiet[k.parent_blob])
            reproduced += gain > 0
            report["keeps_checked"].append({"blob": k.blob, "parent": k.parent_blob, "node": k.node,  # type: ignore[attr-defined]
                                            "gain": gain, "t": t, "description": k.description})
            print(f"  keep {k.blob[:10]} over {k.parent_blob[:10]} ({k.node}): {gain:+.4f} paired (t {t:.1f}) "
                  f"{'reproduces' if gain > 0 else 'does NOT reproduce'}  {k.description[:50]}")
    share = reproduced / len(checked) if checked else math.nan
    report.update(best_gain=best_gain, reproduced=reproduced, share=share, swarm_minutes=swarm_seconds / 60,
                  rerun_minutes=(time.monotonic() - rerun_started) / 60)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"\nreproduced gain (best node) {best_gain:+.2%}  [target >= 3% in 60 min]")
    print(f"keeps that reproduce {reproduced}/{len(checked)} = {share:.0%}  [target >= 90%]")
    print(f"(swarm {swarm_seconds / 60:.1f} min, quiet re-runs {(time.monotonic() - rerun_started) / 60:.1f} min, "
          f"sandbox {'on' if ok else 'off: ' + why}, budget {args.budget}, agent {args.agent})")


if __name__ == "__main__":
    main()
