"""``swarm-node feed | status | best | export | dashboard``: read the ledger of a node home and show it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import click

from node.cli.main import cli
from node.cli.observer import observer

if TYPE_CHECKING:
    from node.ledger import Ledger, ResultRow

__all__ = ["feed", "status", "best", "export", "dashboard", "open_ledger"]

HOME_HELP = "The node home (default: $SWARM_NODE_HOME or ~/.swarm-node)."
STANDING_ROWS = 50
SWARM_HELP = "Which swarm (a hex id or prefix); default: the node's active swarm, or the only one."


def open_ledger(home: Path | None) -> Ledger:
    """The ledger of a node home, read-only, or a clean error that says how to get one."""
    from node.config import load_config
    from node.errors import NodeError
    from node.ledger import Ledger

    try:
        config = load_config(overrides={"home": home} if home else None)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from exc
    if not config.ledger_path.exists():
        raise click.ClickException(f"no ledger at {config.ledger_path}: start a node first (swarm-node join) "
                                   "or point --home at a node's home")
    try:
        return Ledger(config.ledger_path, readonly=True)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from exc


def _swarm(ledger: Ledger, wanted: str | None) -> bytes:
    from node.feed.views import pick_swarm

    swarm_id = pick_swarm(ledger, wanted)
    if swarm_id is None:
        known = ", ".join(s.hex()[:16] for s in ledger.swarm_ids()) or "none"
        raise click.ClickException(f"cannot tell which swarm to show (known: {known}); pass --swarm ID")
    return swarm_id


def _new_results(ledger: Ledger, swarm_id: bytes, printed: set[bytes]) -> Iterator[ResultRow]:
    for row in ledger.results(swarm_id):
        if row.message_id not in printed:
            printed.add(row.message_id)
            yield row


FEED_EXAMPLES = """\b
Examples:
  swarm-node feed                    # one screen of the feed of the node on this machine
  swarm-node feed --follow           # live, beside a running node (Ctrl-C to stop)
  swarm-node feed --json --follow    # one JSON object per result, for scripts
  swarm-node feed swarm://<id>@/ip4/1.2.3.4/tcp/4001/p2p/12D3KooW...   # observe a swarm, no node of your own
"""


@cli.command(epilog=FEED_EXAMPLES)
@click.argument("join_string", required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep the view live until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result instead of tables.")
@click.option("--rows", default=15, show_default=True, help="How many of the latest results to show.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.option("--swarm", "wanted", help=SWARM_HELP)
def feed(join_string: str | None, follow: bool, as_json: bool, rows: int, home: Path | None,
         wanted: str | None) -> None:
    """The shared results feed: best per hardware class, latest results, the current run, peers.

    With a JOIN_STRING it first starts an observer node (``join --watch``, in the background, home
    ~/.swarm-node/observer unless --home) that syncs the swarm, and follows its feed.
    """
    from node.config import load_config
    from node.feed.terminal import follow as follow_live, render_feed
    from node.feed.views import build_feed, result_dict, viewer_of

    if join_string is not None:
        with observer(join_string, home) as (observer_home, swarm_hex):
            feed.callback(None, True, as_json, rows, observer_home, swarm_hex)  # type: ignore[misc]
        return
    ledger = open_ledger(home)
    swarm_id = _swarm(ledger, wanted)
    viewer = viewer_of(load_config(overrides={"home": home} if home else None))
    if as_json:
        printed: set[bytes] = set()
        try:
            while True:
                for row in _new_results(ledger, swarm_id, printed):
                    click.echo(json.dumps(result_dict(row), allow_nan=False))
                sys.stdout.flush()
                if not follow:
                    return
                time.sleep(1.0)
        except KeyboardInterrupt:
            return
    if follow:
        follow_live(lambda: build_feed(ledger, swarm_id, viewer=viewer), rows=rows)
    else:
        from rich.console import Console

        Console().print(render_feed(build_feed(ledger, swarm_id, viewer=viewer), rows=rows))


def read_node_file(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(running node's info, None), or (None, the stale info + ``why``) when ``node.json`` outlived its node (a
    SIGKILL leaves it behind): its pid is gone, or the pid now belongs to a process started after the file was
    written. (None, None) when there is no file."""
    import psutil

    try:
        info = json.loads(path.read_bytes()) if path.is_file() else None
    except (OSError, ValueError) as exc:
        return None, {"pid": None, "why": f"unreadable ({exc.__class__.__name__})"}
    if info is None:
        return None, None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int) or isinstance(info.get("pid"), bool):
        return None, {"pid": None, "why": "no pid in it"}
    pid = info["pid"]
    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, OverflowError):
        return None, {**info, "why": "no such process"}
    written = info.get("started_at")
    if isinstance(written, (int, float)) and started > float(written) + 1.0:
        return None, {**info, "why": "that pid now belongs to another process"}
    return info, None


def rung_lines(rungs: str) -> list[str]:
    """The manifest's rungs for ``status``: ``r1: 5x budget, N_EMBD x2 (join --rung 1)``, or why they are unusable."""
    from node.swarms import RungError, read_rungs, rung_words

    try:
        return [f"{rung_words(k, r)} (join --rung {k})" for k, r in enumerate(read_rungs(rungs), 1)]
    except RungError as exc:
        return [f"unusable: {exc}"]


def _as_dict(record: object) -> dict[str, Any] | None:
    """A status record (``node.ledger.status``) as the JSON report shows it."""
    import dataclasses

    return None if record is None else dataclasses.asdict(record)  # type: ignore[call-overload]


@cli.command(epilog="\b\nExamples:\n  swarm-node status\n  swarm-node status --json")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.option("--swarm", "wanted", help=SWARM_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(home: Path | None, wanted: str | None, as_json: bool) -> None:
    """The node: identity, swarms, peers (their standing: trust from reproduced claims, invalid messages, and bans:
    who, why, until when), the current step, the measured (paired)
    noise and margin, and the share of compute that went to baselines, re-runs, verification and new ideas."""
    from node.config import load_config
    from node.feed.netpanel import STATE_NET, net_lines, net_state
    from node.feed.terminal import noise_lines
    from node.feed.views import build_feed, swarm_info, viewer_of

    ledger = open_ledger(home)
    config = load_config(overrides={"home": home} if home else None)
    running, stale = read_node_file(config.node_json_path)
    known = ledger.peers()
    swarms = []
    for sid in ledger.swarm_ids():
        info = swarm_info(ledger, sid)
        built = build_feed(ledger, sid, viewer=viewer_of(config), latest=0)
        swarms.append({"swarm_id": sid.hex(), "name": info.name, "budget": info.budget, "results": ledger.count(sid),
                       "metric": info.metric, "direction": info.direction,
                       "best": built["best"], "noise": built["plot"]["noise"], "compute": built["compute"],
                       "lines": noise_lines(built), "rungs": rung_lines(info.rungs)})
    report: dict[str, Any] = {
        "home": str(config.home),
        "node": running,
        "stale_node_file": stale,
        "swarms": swarms,
        "peers": ledger.status.peers(),
        "net": net_state(ledger.get_state(STATE_NET)),
        "current": _as_dict(ledger.status.current()),
        "noise": _as_dict(ledger.status.noise()),
        "agent": _as_dict(ledger.status.agent_note()),
        "known_peers": len(known),
        "standing": [{"peer": p.peer_id, "trust": p.trust, "invalid": p.invalid_count, "last_invalid": p.last_invalid}
                     for p in known if p.trust or p.invalid_count][:STANDING_ROWS],
        "bans": [{"peer": peer, "reason": reason, "until": until} for peer, reason, until in ledger.bans()],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.echo(f"home      {report['home']}")
    if running:
        click.echo(f"node      running, pid {running.get('pid')}")
    elif stale is not None:
        click.echo(f"node      not running (stale node.json from pid {stale.get('pid')}: {stale['why']}; "
                   "the node was killed, its next start replaces the file)")
    else:
        click.echo("node      not running")
    if running:
        click.echo(f"peer id   {running.get('peer_id', '?')}")
        for addr in running.get("addrs", []):
            click.echo(f"listening {addr}")
        if running.get("reachability"):
            click.echo(f"reachable {running['reachability']} (AutoNAT; private: joined through a relay)")
        if running.get("join_string"):
            click.echo(f"join      {running['join_string']}")
        if running.get("rung") or running.get("rung_why"):
            at = f"its class ends +r{running['rung']}" if running.get("rung") else "the swarm as seeded"
            why = f"; auto: {running['rung_why']}" if running.get("rung_why") else ""
            click.echo(f"rung      {running.get('rung', 0)} ({at}{why}; see swarm-node join --help)")
    for s in swarms:
        click.echo(f"swarm     {s['swarm_id'][:16]}  {s['name']}  budget {s['budget']}  {s['results']} results")
        for b in s["best"]:
            click.echo(f"best      {s['metric']} {b['metric']:.4f} mean of {b['runs']} runs"
                       f"{', verified' if b['verified'] else ''}  {b['label']}  {b['description'][:60]}")
        for line in s["rungs"]:
            click.echo(f"rungs     {line}")
        for line in s["lines"]:
            click.echo(f"          {line}")
    click.echo(f"peers     {len(report['peers'] or [])} connected, {report['known_peers']} known")
    for line in net_lines(report["net"])[1:]:  # direct/relayed links (the reachability line is above)
        click.echo(f"          {line}")
    for peer in report["standing"]:
        last = f" (last: {peer['last_invalid'][:60]})" if peer["invalid"] else ""
        click.echo(f"standing  {peer['peer']} trust {peer['trust']:+.2f}, {peer['invalid']} invalid{last}")
    for ban in report["bans"]:
        until = time.strftime("%Y-%m-%d %H:%M", time.localtime(ban["until"]))
        click.echo(f"banned    {ban['peer']} until {until}: {ban['reason']}")
    cur = report["current"]
    click.echo(f"now       {cur.get('action')}: {cur.get('description')} ({float(cur.get('fraction') or 0):.0%})"
               if isinstance(cur, dict) else "now       idle")
    agent = report["agent"]
    if isinstance(agent, dict) and agent.get("note"):
        click.echo(f"agent     {agent['note']}")
    noise = report["noise"]
    if isinstance(noise, dict) and noise.get("margin") is not None:
        paired = noise.get("paired_std")
        click.echo(f"noise     this node: margin {noise['margin']:.4f} bpb (std {noise.get('std')}, {noise.get('runs')} "
                   f"runs); paired std {'-' if paired is None else f'{paired:.4f}'}, paired margin "
                   f"{noise.get('paired_margin') or '-'}")


@cli.command(epilog="\b\nExamples:\n  swarm-node best\n  swarm-node best --out best_train.py --hw-class cpu:2t")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the train.py here.")
@click.option("--hw-class", help="Only results of this hardware class (e.g. cpu:2t, cuda:H100-80GB).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.option("--swarm", "wanted", help=SWARM_HELP)
def best(out: Path | None, hw_class: str | None, home: Path | None, wanted: str | None) -> None:
    """The best kept train.py of the swarm by the mean of its runs (at least 2), among those this node ran, re-ran,
    or that peers it trusts confirmed (printed, or written with --out). A peer's claim nobody here reproduced is never
    handed out."""
    from node.config import load_config
    from node.feed.standing import cohort_label, standings
    from node.feed.views import eligible_best, swarm_info, viewer_of

    ledger = open_ledger(home)
    swarm_id = _swarm(ledger, wanted)
    info = swarm_info(ledger, swarm_id)
    viewer = viewer_of(load_config(overrides={"home": home} if home else None))
    rows = [r for r in ledger.results(swarm_id) if hw_class is None or r.hw_class == hw_class]
    eligible = eligible_best(rows, viewer, lambda blob: ledger.get_commit(blob) is not None, direction=info.direction)
    ranked = standings(rows, eligible=lambda row: row.message_id in eligible, direction=info.direction)
    if not ranked:
        where = f" for {hw_class}" if hw_class else ""
        raise click.ClickException(f"no kept train.py{where} with 2 or more runs that this node ran, re-ran, or that "
                                   "peers it trusts confirmed yet (unverified peers' claims are not shown; see the "
                                   "README's 'What is verified')")
    top = ranked[0]
    text = ledger.get_commit(top.blob)
    if text is None:
        raise click.ClickException(f"the best train.py ({top.mean:.4f}, mean of {top.runs} runs) is blob "
                                   f"{top.blob[:12]}, which this node has not fetched yet; try again later")
    click.echo(f"# {info.metric} {top.mean:.4f} ({info.better} is better; mean of {top.runs} runs)  "
               f"{cohort_label(top.cohort)}  by "
               f"{top.claim.author.hex()[:16]}  {top.claim.description}", err=True)
    if out:
        out.write_bytes(text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text.decode("utf-8"), nl=False)


EXPORT_EXAMPLES = """\b
Examples:
  swarm-node export results.tsv                   # every result, attestations left out
  swarm-node export results.tsv --hw-class cpu:2t # one hardware class: the series autoresearch's analysis expects
  swarm-node export - --attestations | column -t -s $'\\t'
"""


@cli.command(epilog=EXPORT_EXAMPLES)
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--hw-class", help="Only results of this hardware class (e.g. cpu:2t); results of different classes "
                                 "under a time budget are not comparable.")
@click.option("--attestations", is_flag=True,
              help="Also write re-runs of others' results, with status 'attest' (left out by default).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.option("--swarm", "wanted", help=SWARM_HELP)
def export(path: Path, hw_class: str | None, attestations: bool, home: Path | None, wanted: str | None) -> None:
    """Write the results as TSV in autoresearch's columns (commit, val_bpb, memory_gb, status, description),
    plus author, hardware class, runs and verified: one row per experiment, its metric the mean of its runs (the
    column is named after the swarm's metric: val_bpb, accuracy, ndcg@10, ...). Then prints the best per class by
    the mean of its runs (at least 2), with the run count and the verified mark."""
    from node.config import load_config
    from node.feed.standing import best_line
    from node.feed.views import eligible_best, viewer_of
    from node.ledger.export import metric_of_swarm, write_results_tsv

    ledger = open_ledger(home)
    swarm_id = _swarm(ledger, wanted)
    viewer = viewer_of(load_config(overrides={"home": home} if home else None))
    rows = [r for r in ledger.results(swarm_id) if hw_class is None or r.hw_class == hw_class]
    metric, direction = metric_of_swarm(ledger, swarm_id)
    eligible = eligible_best(rows, viewer, lambda blob: ledger.get_commit(blob) is not None, direction=direction)
    try:
        handle = sys.stdout if str(path) == "-" else path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        done = write_results_tsv(ledger, swarm_id, handle, hw_class=hw_class, attestations=attestations,
                                 eligible=lambda row: row.message_id in eligible)
    finally:
        if handle is not sys.stdout:
            handle.close()
    if len(done.classes) > 1:
        click.echo(f"warning: {len(done.classes)} hardware classes mixed ({', '.join(done.classes)}); under a time "
                   "budget they are not comparable: pick one with --hw-class", err=True)
    for entry in done.best:
        click.echo(best_line(entry, metric), err=True)
    if str(path) != "-":
        left = f" ({done.attestations_left_out} attestations left out)" if done.attestations_left_out else ""
        click.echo(f"wrote {done.rows} experiments to {path}{left}", err=True)


@cli.command(epilog="\b\nExamples:\n  swarm-node dashboard              # http://127.0.0.1:8737/\n"
                    "  swarm-node dashboard --port 9000")
@click.option("--host", default=None, help="Address to serve on (default 127.0.0.1: this machine only).")
@click.option("--port", default=None, type=int, help="Port (default 8737).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.option("--swarm", "wanted", help=SWARM_HELP)
def dashboard(host: str | None, port: int | None, home: Path | None, wanted: str | None) -> None:
    """Serve the web dashboard: the feed as a page with a live plot of the best metric (val_bpb, accuracy, ...: the
    page says which way is better) and the lineage of commits."""
    from node.config import load_config
    from node.feed.views import build_feed, viewer_of
    from node.feed.web import DashboardServer

    ledger = open_ledger(home)
    swarm_id = _swarm(ledger, wanted)
    config = load_config(overrides={"home": home} if home else None)
    viewer = viewer_of(config)
    try:
        server = DashboardServer(lambda: build_feed(ledger, swarm_id, viewer=viewer), host or config.dashboard_host,
                                 config.dashboard_port if port is None else port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host or config.dashboard_host}:{port}: {exc} "
                                   "(is another dashboard running? try --port)") from exc
    with server:
        click.echo(f"dashboard at {server.url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
