"""``swarm-node join`` and ``swarm-node verify``: thin commands over ``node.net``.

Each parses its flags, builds the config, identity and ledger, and calls one library function. ``join`` stays in
the swarm, stores every result it hears of, serves sync/commit/manifest/data to peers and runs the research loop
(``node.research``); with ``--watch`` it never trains and prints the feed as it arrives.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import click
import trio

from node.cli.main import cli
from node.config import NodeConfig, load_config
from node.errors import NodeError
from node.housekeeping import prune_claims_forever
from node.joinstring import format_join, parse_join
from node.ledger import Ledger
from node.net.logs import route_libp2p_logs
from node.feed.netpanel import STATE_NET
from node.feed.views import STATE_CURRENT, STATE_PEERS
from node.net.seeding import BUILTIN_BUDGET, builtin_swarm, dialable_addrs
from node.net.service import NodeService
from node.swarms import budget_rule, is_builtin_data
from trainer import Budget
from protocol import Identity, Manifest, ProtocolError, Result, Verified, decode_and_verify

__all__ = ["join", "verify"]

log = logging.getLogger(__name__)

JOIN_EXAMPLES = """\b
Examples:
  swarm-node join                                   # the built-in swarm; LAN peers by mDNS
  swarm-node join swarm://3f2a...@/ip4/192.168.1.5/tcp/4001/p2p/12D3KooW...
  swarm-node join 3f2a...e9 --peer /ip4/10.0.0.7/tcp/4001/p2p/12D3KooW...
  swarm-node join --listen /ip4/127.0.0.1/tcp/0 --no-mdns --watch
  swarm-node join --agent llm --model qwen2.5-coder:7b    # with OPENAI_BASE_URL=http://localhost:11434/v1
  swarm-node join --agent tpe                       # Optuna TPE over the knobs, every node's results as trials
  swarm-node join --budget 2M-tokens --max-experiments 10  # the built-in program under a token budget
"""

HOME_HELP = "The node home (default: $SWARM_NODE_HOME or ~/.swarm-node)."


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _config(home: Path | None, **flags: Any) -> NodeConfig:
    return load_config(overrides={"home": home, **flags})


@cli.command(epilog=JOIN_EXAMPLES)
@click.argument("join_string", required=False)
@click.option("--peer", "peers", multiple=True, metavar="MULTIADDR", help="A bootstrap peer (repeatable).")
@click.option("--listen", "listen", multiple=True, metavar="MULTIADDR",
              help="Listen address (repeatable; default /ip4/0.0.0.0/tcp/4001, port 0 picks a free one).")
@click.option("--watch", is_flag=True, help="Observe only: print results as they arrive, never train.")
@click.option("--agent", type=click.Choice(["mutate", "tpe", "llm", "hybrid"]), default=None,
              help="Who proposes edits: mutate (no model, the default), tpe (Optuna's TPE over the knobs, with "
                   "everyone's results as trials), llm (OPENAI_BASE_URL/OPENAI_API_KEY) or hybrid (llm code changes, "
                   "tpe tunes their knobs).")
@click.option("--model", default=None, help="The LLM's model name for --agent llm or hybrid (default gpt-4o-mini).")
@click.option("--budget", default=None, metavar="BUDGET",
              help="With no swarm given: the built-in program under this budget ('60s' default, '2M-tokens').")
@click.option("--max-experiments", type=click.IntRange(min=1), default=None,
              help="Leave after this many experiments (default: run until Ctrl-C).")
@click.option("--no-mdns", is_flag=True, help="Do not announce or look for peers on the LAN.")
@click.option("--relay", "relays", multiple=True, metavar="MULTIADDR",
              help="Behind NAT: reserve a slot on this circuit relay (repeatable; default: public peers).")
@click.option("--no-upnp", is_flag=True, help="Do not ask the LAN's router (UPnP) to forward the listen port.")
@click.option("--no-sandbox", is_flag=True,
              help="Run peers' unverified code even where bubblewrap cannot start (unsafe; only with peers you trust).")
@click.option("--trust-peer", "trust_peers", multiple=True, metavar="PEER_ID",
              help="A peer (12D3KooW...) whose claims and attestations you trust as this node's own re-runs "
                   "(repeatable; env SWARM_NODE_TRUSTED_PEERS). Without a sandbox, only such peers' code runs here.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.pass_context
def join(ctx: click.Context, join_string: str | None, peers: tuple[str, ...], listen: tuple[str, ...], watch: bool,
         agent: str | None, model: str | None, budget: str | None, max_experiments: int | None, no_mdns: bool,
         relays: tuple[str, ...], no_upnp: bool, no_sandbox: bool, trust_peers: tuple[str, ...],
         home: Path | None) -> None:
    """Join a swarm (a join string or swarm id; none: the built-in swarm), research in it until Ctrl-C."""
    if join_string is not None and not join_string.strip():  # "" is a mistake, not a request for the built-in swarm
        _fail("empty join string: paste a join string (swarm://<swarm id>@<multiaddr>,...) or a 64-hex swarm id, "
              "or leave it out to join the built-in swarm")
    verbose = (ctx.parent.params.get("verbose", 0) if ctx.parent else 0) or 0
    try:
        target = parse_join(join_string) if join_string else None
        flags = dict(listen=listen or None, mdns=False if no_mdns else None, watch=watch or None, agent=agent,
                     model=model, budget=budget, require_sandbox=False if no_sandbox else None,
                     relays=relays or None, upnp=False if no_upnp else None, trusted_peers=trust_peers or None)
        config = _config(home, **flags)
        config = _config(home, **flags,
                         bootstrap=tuple(config.bootstrap) + tuple(peers) + (target.peers if target else ()))
        config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        route_libp2p_logs(config.home / "logs" / "libp2p.log", verbose=verbose >= 2)
        identity = Identity.load_or_create(config.identity_path)
        with Ledger(config.ledger_path) as ledger:
            if target is not None:
                if budget is not None:
                    raise NodeError("--budget picks a variant of the built-in swarm; a joined swarm's budget is "
                                    "fixed by its manifest (leave --budget out)")
                swarm_id = target.swarm_id
            else:
                rule = budget_rule(Budget.parse(config.budget)) if config.budget else BUILTIN_BUDGET
                swarm_id = builtin_swarm(ledger, rule).swarm_id
            check_ports_free(config.listen)
            trio.run(_run_join, config, identity, ledger, swarm_id, max_experiments)
        click.echo("stopped: ledger flushed, host closed", err=True)
    except (NodeError, ProtocolError) as exc:
        _fail(str(exc))


def check_ports_free(listen: Sequence[str]) -> None:
    """Fail early, with the fix, when a fixed TCP listen port is taken (py-libp2p binds with SO_REUSEPORT, so a
    second node on the same port would otherwise start and silently share the port's connections)."""
    for addr in listen:
        parts = addr.strip("/").split("/")
        if len(parts) < 4 or parts[0] not in ("ip4", "ip6") or parts[2] != "tcp" or parts[3] == "0":
            continue
        family = socket.AF_INET if parts[0] == "ip4" else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((parts[1], int(parts[3])))
            except OSError as exc:
                raise NodeError(f"cannot listen on {addr}: {exc.strerror} (is another swarm-node running? stop it, "
                                f"or pick another port: --listen /{parts[0]}/{parts[1]}/tcp/0 takes a free one)"
                                ) from exc


async def _run_join(config: NodeConfig, identity: Identity, ledger: Ledger, swarm_id: bytes,
                    max_experiments: int | None) -> None:
    """Run until SIGINT/SIGTERM (or the last experiment); ``NodeService`` then shuts down in order."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve, config, identity, ledger, swarm_id, max_experiments, nursery.cancel_scope)
            async for signum in signals:
                log.info("signal %d: shutting down", signum)
                nursery.cancel_scope.cancel()
                break


async def _serve(config: NodeConfig, identity: Identity, ledger: Ledger, swarm_id: bytes,
                 max_experiments: int | None, done: trio.CancelScope) -> None:
    async with NodeService(config, identity, ledger, swarm_id) as svc:
        addrs = dialable_addrs([a.rsplit("/p2p/", 1)[0] for a in svc.addrs()], svc.peer_id)
        click.echo(f"node {svc.peer_id}")
        click.echo(f"swarm {swarm_id.hex()}  ({ledger.count(swarm_id)} results in the ledger)")
        click.echo(f"join string: {format_join(swarm_id, addrs)}")
        click.echo("Ctrl-C to leave." + (" (watching: no training)" if config.watch else ""))
        write_node_file(config, svc.peer_id, addrs, swarm_id)
        results = svc.results_channel()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(prune_claims_forever, ledger)
                nursery.start_soon(_obtain_swarm, svc, config)
                nursery.start_soon(_publish_peers, svc, ledger)
                nursery.start_soon(_refresh_node_file, svc, config, swarm_id)
                if not config.watch:
                    nursery.start_soon(_research, svc, ledger, config, max_experiments, done)
                async for verified in results:
                    if config.watch:
                        click.echo(_feed_line(verified))
        finally:
            config.node_json_path.unlink(missing_ok=True)
            ledger.set_state(STATE_PEERS, [])
            ledger.set_state(STATE_NET, None)
            ledger.set_state(STATE_CURRENT, None)


def write_node_file(config: NodeConfig, peer_id: str, addrs: list[str], swarm_id: bytes,
                    reachability: str = "unknown") -> None:
    """``node.json`` in the home: what ``swarm-node status`` shows about the running node."""
    info = {"pid": os.getpid(), "peer_id": peer_id, "addrs": addrs, "swarm_id": swarm_id.hex(),
            "started_at": time.time(), "watch": config.watch, "reachability": reachability,
            "join_string": format_join(swarm_id, addrs)}
    config.node_json_path.write_text(json.dumps(info, indent=1))


async def _refresh_node_file(svc: NodeService, config: NodeConfig, swarm_id: bytes) -> None:
    """Keep node.json's addresses and reachability current: behind NAT they change once a relay slot is held."""
    shown: tuple[list[str], str] = ([], "")
    while True:
        await trio.sleep(2.0)
        addrs = dialable_addrs([a.rsplit("/p2p/", 1)[0] for a in svc.addrs()], svc.peer_id)
        now = (addrs, svc.relays.reachability.status)
        if now != shown:
            write_node_file(config, svc.peer_id, addrs, swarm_id, svc.relays.reachability.status)
            shown = now


async def _publish_peers(svc: NodeService, ledger: Ledger) -> None:
    """Keep the connected peers in the ledger's state, where the feed and status read them."""
    while True:
        ledger.set_state(STATE_PEERS, svc.peers())
        ledger.set_state(STATE_NET, svc.relays.panel())  # reachability and links: the feed's peer panel
        await trio.sleep(2.0)


async def _research(svc: NodeService, ledger: Ledger, config: NodeConfig, max_experiments: int | None,
                    done: trio.CancelScope) -> None:
    """Wait until the swarm's manifest, baseline and data are here, then run the research loop."""
    from node.research import ResearchLoop
    from node.swarms import SwarmError, load_swarm

    waiting_since = time.monotonic()
    while True:
        try:
            spec = load_swarm(ledger, svc.swarm_id)
            break
        except SwarmError as exc:
            if time.monotonic() - waiting_since > 30:
                click.echo(f"still waiting: {exc}", err=True)
                waiting_since = time.monotonic()
            await trio.sleep(1.0)
    loop = ResearchLoop(service=svc, ledger=ledger, config=config, swarm=spec, on_outcome=_print_outcome)
    click.echo(f"researching: {loop.describe()}")
    await loop.run(max_experiments)
    click.echo(f"done: {max_experiments} experiment(s)")
    done.cancel()


def _print_outcome(outcome: Any) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')}  {outcome.action:<8} {outcome.status:<7} {outcome.metric:.4f}  "
               f"{outcome.description[:70]}  ({outcome.reason})")


async def _obtain_swarm(svc: NodeService, config: NodeConfig) -> None:
    """Fetch the manifest, the baseline train.py and the data from peers or the DHT when this node lacks them."""
    while svc.ledger.get_manifest(svc.swarm_id) is None:
        if await svc.fetch_manifest() is not None:
            click.echo("manifest fetched and verified")
            break
        await trio.sleep(3.0)
    manifest = decode_and_verify(bytes(svc.ledger.get_manifest(svc.swarm_id))).message
    if not isinstance(manifest, Manifest):
        raise NodeError(f"the record filed as swarm {svc.swarm_id.hex()[:16]}'s manifest is a "
                        f"{type(manifest).__name__}: the ledger is damaged (move ledger.sqlite aside and join again)")
    while svc.ledger.get_commit(manifest.baseline_blob) is None and not config.watch:
        if await svc.fetch_commit(manifest.baseline_blob, author=manifest.author) is not None:
            break
        await trio.sleep(3.0)
    if svc.ledger.get_data_chunk_source(manifest.data_hash) is not None or is_builtin_data(manifest.data_hash):
        return
    dest = config.cache_dir / "data" / manifest.data_hash.hex() / "corpus"
    while not await svc.fetch_data(manifest.data_hash, dest):
        await trio.sleep(5.0)
    svc.ledger.put_data_chunk_source(manifest.data_hash, dest)
    click.echo(f"data fetched and verified: {dest}")


def _feed_line(verified: Verified) -> str:
    r = verified.message
    if not isinstance(r, Result):
        return f"{type(r).__name__} from {verified.author.hex()[:8]}"
    when = time.strftime("%H:%M:%S", time.localtime(r.created_at))
    return (f"{when}  {verified.author.hex()[:8]}#{r.seq:<5} {r.status:<7} {r.metric:.4f}  {r.hw_class:<14} "
            f"{r.description[:60]}")


EXIT_REFUTED = 3

VERIFY_EXAMPLES = """\b
Exit status: 0 confirmed, 3 refuted (the claim does not hold here), 1 could not verify.
\b
Examples:
  swarm-node verify 3f2a9c1                     # re-run the result with this commit (prefix) here
  swarm-node verify 3f2a9c1 --peer /ip4/10.0.0.7/tcp/4001/p2p/12D3KooW...   # fetch its train.py from that peer
  swarm-node verify 3f2a9c1 || echo "does not reproduce here"
"""


@cli.command(epilog=VERIFY_EXAMPLES)
@click.argument("commit")
@click.option("--peer", "peers", multiple=True, metavar="MULTIADDR", help="A peer to fetch from and tell (repeatable).")
@click.option("--listen", "listen", multiple=True, metavar="MULTIADDR",
              help="Listen address (default: any free port on all interfaces).")
@click.option("--no-mdns", is_flag=True, help="Do not look for peers on the LAN.")
@click.option("--no-sandbox", is_flag=True, help="Run the peer's code unconfined where bubblewrap cannot start.")
@click.option("--linger", default=5.0, show_default=True, help="Seconds to stay online after publishing.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
def verify(commit: str, peers: tuple[str, ...], listen: tuple[str, ...], no_mdns: bool, no_sandbox: bool,
           linger: float, home: Path | None) -> None:
    """Re-run a result's commit here and publish the attestation (confirmed, or refuted: exit status 3)."""
    commit = commit.lower()
    try:
        config = _config(home, listen=listen or ("/ip4/0.0.0.0/tcp/0",), mdns=False if no_mdns else None,
                         require_sandbox=False if no_sandbox else None)
        config = _config(home, listen=listen or ("/ip4/0.0.0.0/tcp/0",), mdns=False if no_mdns else None,
                         require_sandbox=False if no_sandbox else None, bootstrap=tuple(config.bootstrap) + peers)
        if not config.ledger_path.exists():
            raise NodeError(f"no ledger at {config.ledger_path}: join the swarm first (swarm-node join ...)")
        identity = Identity.load_or_create(config.identity_path)
        with Ledger(config.ledger_path) as ledger:
            claims = [r for sid in ledger.swarm_ids() for r in ledger.results(sid)
                      if not r.reproduces and r.commit and len(commit) >= 4 and r.commit.startswith(commit)]
            if not claims:
                raise NodeError(f"no result with commit {commit!r} in this node's ledger (at least 4 hex digits; "
                                "see swarm-node export -)")
            claim = max(claims, key=lambda r: r.created_at)
            outcome = trio.run(_verify, config, identity, ledger, claim, linger)
        if isinstance(outcome, NodeError):
            raise outcome
        result, confirmed = outcome
    except (NodeError, ProtocolError) as exc:
        _fail(str(exc))
        return
    click.echo(f"{'confirmed' if confirmed else 'refuted'}: {result.description}")
    if not confirmed:
        sys.exit(EXIT_REFUTED)


async def _verify(config: NodeConfig, identity: Identity, ledger: Ledger, claim: Any, linger: float) -> Any:
    from node.research import verify_claim
    from node.swarms import load_swarm

    spec = load_swarm(ledger, claim.swarm_id)
    async with NodeService(config, identity, ledger, claim.swarm_id) as svc:
        with trio.move_on_after(20):  # give the bootstrap peers (and mDNS) a moment to connect
            while not svc.peers() and ledger.get_commit(claim.blob) is None:
                await trio.sleep(0.2)
        click.echo(f"re-running {claim.commit[:10]} ({claim.metric:.4f} claimed by {claim.author.hex()[:8]}) "
                   f"under {spec.budget} ...", err=True)
        try:
            outcome = await verify_claim(service=svc, ledger=ledger, config=config, swarm=spec, claim=claim)
        except NodeError as exc:  # returned, not raised: the service's nursery would wrap it in a group
            return exc
        await trio.sleep(linger)
        return outcome
