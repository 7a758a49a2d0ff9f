"""``swarm-node seed``: create a swarm from a program.md (and optionally a train.py and a corpus)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from node.cli.main import cli

__all__ = ["seed"]

SEED_EXAMPLES = """\b
Examples:
  swarm-node seed program.md --train train.py --data corpus.txt --budget 60s
  swarm-node seed program.md --data ./texts/          # default train.py, a folder of .txt files
"""

HOME_HELP = "The node home (default: $SWARM_NODE_HOME or ~/.swarm-node)."


@cli.command(epilog=SEED_EXAMPLES)
@click.argument("program", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--train", "train", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The baseline train.py (default: the built-in one).")
@click.option("--data", "data", type=click.Path(exists=True, path_type=Path),
              help="The corpus: a file, or a folder of .txt files (default: the built-in corpus).")
@click.option("--budget", default="60s", show_default=True, help="Per experiment: '60s' or '2M-tokens'.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
def seed(program: Path, train: Path | None, data: Path | None, budget: str, home: Path | None) -> None:
    """Create a swarm: sign its manifest, file it here, print its id and a join string.

    Every input is checked before the home is touched: a seed that fails leaves no identity key, corpus copy or
    ledger behind.
    """
    from node.config import load_config
    from node.errors import NodeError
    from node.joinstring import format_join
    from node.net.seeding import dialable_addrs, seed_from_files
    from protocol import ProtocolError
    from trainer import TrainerError

    try:
        config = load_config(overrides={"home": home})
        seeded, identity = seed_from_files(config, program, train=train, data=data, budget=budget,
                                           created_at=time.time())
    except (NodeError, ProtocolError, TrainerError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    addrs = dialable_addrs(config.listen, identity.peer_id)
    click.echo(f"swarm id: {seeded.swarm_id.hex()}")
    click.echo(f"join string: {format_join(seeded.swarm_id, addrs)}")
    click.echo(f"now run: swarm-node join {seeded.swarm_id.hex()}" + (f" --home {home}" if home else ""))
