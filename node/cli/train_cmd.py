"""``swarm-node train``: run one experiment (the default train.py or a given one) and print its summary."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import click

from node.cli.main import cli

if TYPE_CHECKING:
    from trainer import Progress, RunSummary

__all__ = ["train"]

ProgressCallback = Callable[["Progress"], None]

EXAMPLES = """\b
Examples:
  swarm-node train --budget 30s                     # the default train.py on the embedded Shakespeare
  swarm-node train --train my_train.py --data corpus/ --budget 2M-tokens
  swarm-node train --no-sandbox --json              # where bubblewrap is missing (runs unconfined!)
"""


@cli.command(epilog=EXAMPLES)
@click.option("--train", "train_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The train.py to run (default: the built-in seed train.py).")
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path),
              help="A UTF-8 text file or a folder of .txt files (default: the embedded Shakespeare).")
@click.option("--budget", default="60s", show_default=True,
              help="Seconds ('60s') or training tokens ('2M-tokens'). On CPU, seconds are CPU-seconds of the one "
                   "training thread from the first batch (contention does not shorten a run); on CUDA/MPS, the "
                   "device's wall time. A token budget counts the tokens served and has a compute ceiling.")
@click.option("--seed", default=0, show_default=True, type=int, help="The harness seed.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda", "mps"]),
              help="Where to train (auto: CUDA, then MPS, then CPU).")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the run folder and the prepared data go (default: a temporary folder).")
@click.option("--no-sandbox", is_flag=True, help="Run train.py without bubblewrap when it cannot start (unsafe).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def train(train_file: Path | None, data_path: Path | None, budget: str, seed: int, device: str,
          work_dir: Path | None, no_sandbox: bool, as_json: bool) -> None:
    """Run one experiment: train.py in the sandbox under the budget, then the locked evaluator; print the summary."""
    from trainer import (Budget, TrainerError, builtin_dataset, default_train_py, hardware_fingerprint,
                         load_dataset, run_experiment, sandbox_available)

    try:
        parsed = Budget.parse(budget)
        dataset = load_dataset(data_path) if data_path else builtin_dataset()
        source = train_file.read_text(encoding="utf-8") if train_file else default_train_py()
    except (TrainerError, OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc
    ok, why = sandbox_available()
    if not ok:
        if not no_sandbox:
            raise click.ClickException(f"the sandbox cannot start here: {why}\n"
                                       "(pass --no-sandbox to run train.py unconfined, only with code you trust)")
        click.echo(f"warning: running WITHOUT a sandbox: {why}", err=True)
    hardware = hardware_fingerprint(device)
    if not as_json:
        click.echo(f"data {dataset.name} ({dataset.data_hash[:12]}), budget {parsed}, seed {seed}, "
                   f"hardware {hardware.hw_class}", err=True)
    with tempfile.TemporaryDirectory(prefix="swarm-train-") as tmp:
        root = work_dir if work_dir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        try:
            summary = _run_with_bar(lambda cb: run_experiment(
                source, dataset, parsed, work_root=root, seed=seed, require_sandbox=not no_sandbox,
                progress=cb, device=device), show=not as_json and sys.stderr.isatty())
        except TrainerError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        record = asdict(summary) | {"hw_class": hardware.hw_class, "budget": str(parsed),
                                    "data_hash": dataset.data_hash}
        click.echo(json.dumps(record))
    else:
        _print_summary(summary)
    if summary.status != "ok":
        sys.exit(1)


def _run_with_bar(run: Callable[[ProgressCallback | None], RunSummary], *, show: bool) -> RunSummary:
    if not show:
        return run(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("training"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("step {task.fields[step]}"), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("train", total=1.0, step=0)

        def on_progress(p: Progress) -> None:
            bar.update(task, completed=p.budget_fraction, step=p.step)

        return run(on_progress)


def _print_summary(summary: RunSummary) -> None:
    if summary.log_tail and summary.status != "ok":
        click.echo(summary.log_tail[-1500:])
        click.echo("---")
    bpb = f"{summary.val_bpb:.4f}" if summary.val_bpb is not None else "-"
    click.echo(f"status:          {summary.status}")
    click.echo(f"val_bpb:         {bpb}")
    click.echo(f"steps:           {summary.steps}")
    click.echo(f"tokens:          {summary.tokens}")
    click.echo(f"train_seconds:   {summary.train_seconds:.1f}")
    click.echo(f"clock:           {summary.clock} (budget limit {summary.compute_limit:.1f} "
               f"{'CPU-seconds' if summary.clock == 'cpu' else 'seconds'})")
    click.echo(f"cpu_seconds:     {summary.cpu_seconds:.1f} (start-up {summary.startup_cpu_seconds:.1f})")
    click.echo(f"wall_seconds:    {summary.wall_seconds:.1f}")
    click.echo(f"peak_memory_mb:  {summary.peak_memory_mb:.0f}")
    click.echo(f"sandboxed:       {summary.sandboxed}")
    if summary.reason:
        click.echo(f"reason:          {summary.reason}")
