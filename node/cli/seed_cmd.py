"""``swarm-node seed``: create a swarm from a program.md (and optionally a train.py and a corpus)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from protocol import Manifest, decode_and_verify

from node.cli.main import cli

__all__ = ["seed"]

SEED_EXAMPLES = """\b
Examples:
  swarm-node seed program.md --train train.py --data corpus.txt --budget 60s
  swarm-node seed program.md --data ./texts/          # default train.py, a folder of .txt files
  swarm-node seed examples/shakespeare-genre/program.md --task classify \\
      --train examples/shakespeare-genre/train.py --data genre.jsonl      # accuracy, higher is better
  swarm-node seed program.md --task classify --metric macro_f1 --train train.py --data intents.jsonl
  swarm-node seed examples/next-line/program.md --task rank --train examples/next-line/train.py \\
      --data next-line.jsonl                                               # ndcg@10, higher is better
  swarm-node seed program.md --task custom --metric auc --direction max --eval evaluate.py --data corpus.txt
  swarm-node seed program.md --budget 60s --rungs '[{"budget": 5, "scale": {"N_LAYER": 2, "N_EMBD": 2}}]'

\b
Tasks (--task):
  lm        next-byte language model on a text corpus; metric val_bpb (min). The default.
  classify  JSON Lines {"text": ..., "label": ...}; metric accuracy (default), macro_f1 (max) or cross_entropy (min).
  rank      JSON Lines {"query": ..., "candidates": [...], "relevant": [indexes]}; metric ndcg@10 (default) or mrr.
  custom    your evaluate.py (--eval) scores the model in the sandbox and prints one number; name it with
            --metric and say which way is better with --direction.

\b
Rungs (--rungs, seconds budgets only): a JSON list whose k-th entry is rung k, {"budget": MULTIPLE, "scale":
{KNOB: FACTOR, ...}}. A node that joins with --rung K trains every experiment under MULTIPLE x the budget,
from the baseline with each named UPPER_CASE knob of train.py multiplied by its FACTOR (ints stay ints), and
re-tests rung-0 keeps scaled the same way. Each scaled train.py must pass the gate; at most 8 rungs.
"""

HOME_HELP = "The node home (default: $SWARM_NODE_HOME or ~/.swarm-node)."


@cli.command(epilog=SEED_EXAMPLES)
@click.argument("program", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--task", "task", type=click.Choice(["lm", "classify", "rank", "custom"]), default="lm",
              show_default=True, help="What the swarm trains and scores (see Tasks below).")
@click.option("--metric", help="The metric that decides (default: the task's first; custom: your name for it).")
@click.option("--direction", type=click.Choice(["min", "max"]),
              help="Which way the metric is better: min (lower) or max (higher); built-in metrics know theirs.")
@click.option("--train", "train", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The baseline train.py (default: the built-in one of the task).")
@click.option("--data", "data", type=click.Path(exists=True, path_type=Path),
              help="lm/custom: a text file or a folder of .txt files (default: the built-in corpus); "
                   "classify/rank: one .jsonl file.")
@click.option("--eval", "evaluator", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="--task custom: the evaluate.py that scores a model (pinned by its hash in the manifest).")
@click.option("--budget", default="60s", show_default=True, help="Per experiment: '60s' or '2M-tokens'.")
@click.option("--rungs", default="", metavar="JSON",
              help='Larger scales to re-test keeps at, e.g. \'[{"budget": 5, "scale": {"N_LAYER": 2}}]\' '
                   "(see Rungs below; default none).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
def seed(program: Path, task: str, metric: str | None, direction: str | None, train: Path | None,
         data: Path | None, evaluator: Path | None, budget: str, rungs: str, home: Path | None) -> None:
    """Create a swarm: sign its manifest, file it here, print its id and a join string.

    Every input is checked before the home is touched (bad data is named by its line): a seed that fails leaves no
    identity key, corpus copy or ledger behind.
    """
    from node.config import load_config
    from node.errors import NodeError
    from node.joinstring import format_join
    from node.net.seeding import TaskFlags, dialable_addrs, seed_from_files
    from node.swarms import read_rungs, rung_words
    from protocol import ProtocolError
    from trainer import TrainerError

    try:
        config = load_config(overrides={"home": home})
        seeded, identity = seed_from_files(config, program, train=train, data=data, budget=budget,
                                           created_at=time.time(),
                                           task=TaskFlags(task, metric, direction, evaluator), rungs=rungs)
    except (NodeError, ProtocolError, TrainerError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    addrs = dialable_addrs(config.listen, identity.peer_id)
    manifest = decode_manifest(seeded.envelope)
    better = "higher" if manifest.metric_direction == "max" else "lower"
    click.echo(f"swarm id: {seeded.swarm_id.hex()}")
    click.echo(f"task: {manifest.task_kind}, metric {manifest.metric_name} ({better} is better)")
    for k, rung in enumerate(read_rungs(manifest.rungs), 1):
        click.echo(f"rung {rung_words(k, rung)} (swarm-node join --rung {k})")
    click.echo(f"join string: {format_join(seeded.swarm_id, addrs)}")
    click.echo(f"now run: swarm-node join {seeded.swarm_id.hex()}" + (f" --home {home}" if home else ""))


def decode_manifest(envelope: bytes) -> Manifest:
    """The manifest of an envelope this node just signed."""
    message = decode_and_verify(envelope).message
    assert isinstance(message, Manifest)
    return message
