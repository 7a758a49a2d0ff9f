"""``swarm-node join`` and ``swarm-node seed``: thin commands over ``node.net``.

Each parses its flags, builds the config, identity and ledger, and calls one library function. Until the
research loop lands, ``join`` only networks and records: it stays in the swarm, stores every result it
hears of, serves sync/commit/manifest/data to peers, and with ``--watch`` prints the feed as it arrives.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import trio

from node.cli.main import cli
from node.config import NodeConfig, load_config
from node.errors import NodeError
from node.joinstring import format_join, parse_join
from node.ledger import Ledger
from node.net.logs import route_libp2p_logs
from node.net.seeding import builtin_swarm, dialable_addrs, seed_swarm
from node.net.service import NodeService
from protocol import BudgetRule, Identity, ProtocolError, Verified, decode_and_verify

__all__ = ["join", "seed"]

log = logging.getLogger(__name__)

JOIN_EXAMPLES = """\b
Examples:
  swarm-node join                                   # the built-in swarm; LAN peers by mDNS
  swarm-node join swarm://3f2a...@/ip4/192.168.1.5/tcp/4001/p2p/12D3KooW...
  swarm-node join 3f2a...e9 --peer /ip4/10.0.0.7/tcp/4001/p2p/12D3KooW...
  swarm-node join --listen /ip4/127.0.0.1/tcp/0 --no-mdns --watch
"""

SEED_EXAMPLES = """\b
Examples:
  swarm-node seed program.md --train train.py --data corpus.txt --budget 60s
  swarm-node seed program.md --data ./texts/          # default train.py, a folder of .txt files
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
@click.option("--no-mdns", is_flag=True, help="Do not announce or look for peers on the LAN.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.pass_context
def join(ctx: click.Context, join_string: str | None, peers: tuple[str, ...], listen: tuple[str, ...], watch: bool,
         no_mdns: bool, home: Path | None) -> None:
    """Join a swarm (a join string or swarm id; none: the built-in swarm) and stay until Ctrl-C."""
    verbose = (ctx.parent.params.get("verbose", 0) if ctx.parent else 0) or 0
    try:
        target = parse_join(join_string) if join_string else None
        config = _config(home, listen=listen or None, mdns=False if no_mdns else None, watch=watch or None)
        config = _config(home, listen=listen or None, mdns=False if no_mdns else None, watch=watch or None,
                         bootstrap=tuple(config.bootstrap) + tuple(peers) + (target.peers if target else ()))
        config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        route_libp2p_logs(config.home / "logs" / "libp2p.log", verbose=verbose >= 2)
        identity = Identity.load_or_create(config.identity_path)
        with Ledger(config.ledger_path) as ledger:
            swarm_id = target.swarm_id if target else builtin_swarm(ledger).swarm_id
            trio.run(_run_join, config, identity, ledger, swarm_id, watch)
        click.echo("stopped: ledger flushed, host closed", err=True)
    except (NodeError, ProtocolError) as exc:
        _fail(str(exc))


async def _run_join(config: NodeConfig, identity: Identity, ledger: Ledger, swarm_id: bytes, watch: bool) -> None:
    """Run until SIGINT/SIGTERM; the signal cancels the work and ``NodeService`` shuts down in order."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve, config, identity, ledger, swarm_id, watch)
            async for signum in signals:
                log.info("signal %d: shutting down", signum)
                nursery.cancel_scope.cancel()
                break


async def _serve(config: NodeConfig, identity: Identity, ledger: Ledger, swarm_id: bytes, watch: bool) -> None:
    async with NodeService(config, identity, ledger, swarm_id) as svc:
        addrs = dialable_addrs([a.rsplit("/p2p/", 1)[0] for a in svc.addrs()], svc.peer_id)
        click.echo(f"node {svc.peer_id}")
        click.echo(f"swarm {swarm_id.hex()}  ({ledger.count(swarm_id)} results in the ledger)")
        click.echo(f"join string: {format_join(swarm_id, addrs)}")
        click.echo("Ctrl-C to leave." + ("" if watch else " (research loop not wired yet: networking and recording)"))
        results = svc.results_channel()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_obtain_swarm, svc, config)
            async for verified in results:
                if watch:
                    click.echo(_feed_line(verified))


async def _obtain_swarm(svc: NodeService, config: NodeConfig) -> None:
    """Fetch the manifest (and its data) from peers or the DHT when this node has never seen the swarm."""
    while svc.ledger.get_manifest(svc.swarm_id) is None:
        if await svc.fetch_manifest() is not None:
            click.echo("manifest fetched and verified")
            break
        await trio.sleep(1.0)
    manifest = decode_and_verify(bytes(svc.ledger.get_manifest(svc.swarm_id))).message
    if svc.ledger.get_data_chunk_source(manifest.data_hash) is not None or '"builtin"' in manifest.data_spec:
        return
    dest = config.cache_dir / "data" / manifest.data_hash.hex() / "corpus"
    while not await svc.fetch_data(manifest.data_hash, dest):
        await trio.sleep(2.0)
    svc.ledger.put_data_chunk_source(manifest.data_hash, dest)
    click.echo(f"data fetched and verified: {dest}")


def _feed_line(verified: Verified) -> str:
    r = verified.message
    when = time.strftime("%H:%M:%S", time.localtime(r.created_at))
    return (f"{when}  {verified.author.hex()[:8]}#{r.seq:<5} {r.status:<7} {r.metric:.4f}  {r.hw_class:<14} "
            f"{r.description[:60]}")


@cli.command(epilog=SEED_EXAMPLES)
@click.argument("program", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--train", "train", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The baseline train.py (default: the built-in one).")
@click.option("--data", "data", type=click.Path(exists=True, path_type=Path),
              help="The corpus: a file, or a folder of .txt files (default: the built-in corpus).")
@click.option("--budget", default="60s", show_default=True, help="Per experiment: '60s' or '2M-tokens'.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
def seed(program: Path, train: Path | None, data: Path | None, budget: str, home: Path | None) -> None:
    """Create a swarm: sign its manifest, file it here, print its id and a join string."""
    from trainer import Budget, TrainerError, builtin_dataset, default_train_py, load_dataset

    try:
        config = _config(home)
        config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        parsed = Budget.parse(budget)
        dataset = load_dataset(data) if data is not None else builtin_dataset()
        corpus = config.cache_dir / "data" / dataset.data_hash / "corpus"
        if not corpus.is_file():
            corpus.parent.mkdir(parents=True, exist_ok=True)
            corpus.write_bytes(dataset.corpus_bytes())
        identity = Identity.load_or_create(config.identity_path)
        train_py = train.read_bytes() if train is not None else default_train_py().encode()
        with Ledger(config.ledger_path) as ledger:
            seeded = seed_swarm(ledger, identity, program=program.read_text(encoding="utf-8"), train_py=train_py,
                                data_path=corpus, budget=BudgetRule(kind=parsed.kind, amount=parsed.amount),
                                created_at=time.time())
    except (NodeError, ProtocolError, TrainerError, OSError, UnicodeDecodeError) as exc:
        _fail(str(exc))
        return
    addrs = dialable_addrs(config.listen, identity.peer_id)
    click.echo(f"swarm id: {seeded.swarm_id.hex()}")
    click.echo(f"join string: {format_join(seeded.swarm_id, addrs)}")
    click.echo(f"now run: swarm-node join {seeded.swarm_id.hex()}" + (f" --home {home}" if home else ""))
