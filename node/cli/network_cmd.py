"""``swarm-node join`` and ``swarm-node verify``: thin commands over ``node.runtime``.

Each parses its flags, builds the config, makes one call (``run_join``, ``run_verify``) and maps the one error root
(``NodeError``) to a message and exit status 1. ``join`` stays in the swarm, stores every result it hears of,
serves sync/commit/manifest/data to peers and runs the research loop; with ``--watch`` it never trains and prints
the feed as it arrives. ``verify`` exits 0 when the claim holds here, 3 when it does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from node.cli.main import cli
from node.config import NodeConfig, load_config
from node.errors import NodeError
from node.joinstring import parse_join
from node.runtime import run_join, run_verify

__all__ = ["join", "verify"]

JOIN_EXAMPLES = """\b
Examples:
  swarm-node join                                   # the built-in swarm; LAN peers by mDNS
  swarm-node join swarm://3f2a...@/ip4/192.168.1.5/tcp/4001/p2p/12D3KooW...
  swarm-node join 3f2a...e9 --peer /ip4/10.0.0.7/tcp/4001/p2p/12D3KooW...
  swarm-node join --listen /ip4/127.0.0.1/tcp/0 --no-mdns --watch
  swarm-node join --agent llm --model qwen2.5-coder:7b    # with OPENAI_BASE_URL=http://localhost:11434/v1
  swarm-node join --agent tpe                       # Optuna TPE over the knobs, every node's results as trials
  swarm-node join --budget 2M-tokens --max-experiments 10  # the built-in program under a token budget
  swarm-node join 3f2a...e9 --rung 1                # re-test rung-0 keeps at the manifest's rung 1 (e.g. on a GPU)
  swarm-node join 3f2a...e9 --rung auto             # the default: climb once this node proves fast enough
  swarm-node join 3f2a...e9 --rung 0                # stay at rung 0 however fast this node is

\b
Rungs: a swarm's manifest may define rungs (swarm-node seed --rungs), each a budget multiple and knob scale
factors, e.g. rung 1 = 5x the budget with N_LAYER and N_EMBD doubled. A node at --rung K runs every experiment
under that budget, starts from the baseline with those knobs scaled, names its class <hw class>+rK (so it competes
only with rung-K results) and re-tests other nodes' rung-0 keeps, scaled the same way, against the rung-K best.
--rung auto (the default) starts at rung 0; after its own baseline runs it compares the tokens they trained with
the median other rung-0 class's, and climbs once to the highest rung K with speed >= 2 x K's cost (budget multiple
x cost per token of the scaled knobs: widths squared, depths and lengths linear). No other class heard of: rung 0.
swarm-node status shows the rung and why. A swarm without rungs (the built-in one) always runs at rung 0.
"""

class _RungType(click.ParamType["int | str"]):
    """``--rung``: a whole number (the config checks the range) or ``auto``."""

    name = "rung"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if not text.isdigit():
            self.fail(f"{value!r} is not a rung: a whole number (0: the swarm as seeded) or auto", param, ctx)
        return int(text)


RUNG = _RungType()

HOME_HELP = "The node home (default: $SWARM_NODE_HOME or ~/.swarm-node)."


class _ClickConsole:
    """The runtime's console on the terminal: ``say`` to stdout, ``note`` to stderr."""

    def say(self, text: str) -> None:
        click.echo(text)

    def note(self, text: str) -> None:
        click.echo(text, err=True)


CONSOLE = _ClickConsole()


def _config(home: Path | None, *, extra_bootstrap: tuple[str, ...] = (), **flags: object) -> NodeConfig:
    """The config with the CLI's flags on top; ``extra_bootstrap`` (--peer, a join string's peers) is added to the
    bootstrap peers that the file and the environment name."""
    config = load_config(overrides={"home": home, **flags})
    if not extra_bootstrap:
        return config
    return load_config(overrides={"home": home, **flags, "bootstrap": tuple(config.bootstrap) + extra_bootstrap})


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
@click.option("--rung", type=RUNG, default=None, metavar="K|auto",
              help="Run at rung K of the swarm's manifest: its budget multiple and scaled knobs, class <hw>+rK, "
                   "re-testing rung-0 keeps; auto (the default; config key rung): rung 0, climbing once its own "
                   "baseline runs show it fast enough. See Rungs below.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.pass_context
def join(ctx: click.Context, join_string: str | None, peers: tuple[str, ...], listen: tuple[str, ...], watch: bool,
         agent: str | None, model: str | None, budget: str | None, max_experiments: int | None, no_mdns: bool,
         relays: tuple[str, ...], no_upnp: bool, no_sandbox: bool, trust_peers: tuple[str, ...], rung: int | str | None,
         home: Path | None) -> None:
    """Join a swarm (a join string or swarm id; none: the built-in swarm), research in it until Ctrl-C."""
    if join_string is not None and not join_string.strip():  # "" is a mistake, not a request for the built-in swarm
        raise click.ClickException("empty join string: paste a join string (swarm://<swarm id>@<multiaddr>,...) or "
                                   "a 64-hex swarm id, or leave it out to join the built-in swarm")
    verbose = (ctx.parent.params.get("verbose", 0) if ctx.parent else 0) or 0
    try:
        target = parse_join(join_string) if join_string else None
        if target is not None and budget is not None:
            raise NodeError("--budget picks a variant of the built-in swarm; a joined swarm's budget is fixed by its "
                            "manifest (leave --budget out)")
        config = _config(home, extra_bootstrap=tuple(peers) + (target.peers if target else ()),
                         listen=listen or None, mdns=False if no_mdns else None, watch=watch or None, agent=agent,
                         model=model, budget=budget, require_sandbox=False if no_sandbox else None,
                         relays=relays or None, upnp=False if no_upnp else None, trusted_peers=trust_peers or None,
                         rung=rung)
        run_join(config, target, max_experiments=max_experiments, verbose=verbose, console=CONSOLE)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("stopped: ledger flushed, host closed", err=True)


EXIT_REFUTED = 3

VERIFY_EXAMPLES = """\b
Exit status: 0 confirmed, 3 refuted (the claim does not hold here), 1 could not verify.
A result of rung K (class <hw>+rK, see join --help) is re-run at rung K: the rung's budget, its own train.py, the
attestation's class <this hw>+rK; one naming a rung its swarm's manifest does not define is refused.
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
    try:
        config = _config(home, extra_bootstrap=peers, listen=listen or ("/ip4/0.0.0.0/tcp/0",),
                         mdns=False if no_mdns else None, require_sandbox=False if no_sandbox else None)
        verdict = run_verify(config, commit.lower(), linger=linger, console=CONSOLE)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'confirmed' if verdict.confirmed else 'refuted'}: {verdict.result.description}")
    if not verdict.confirmed:
        sys.exit(EXIT_REFUTED)
