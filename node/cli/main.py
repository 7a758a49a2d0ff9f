"""The ``swarm-node`` click group and the entry point; commands live in sibling modules."""

from __future__ import annotations

import logging
import sys
import warnings

import click

from node.packaging import check_own_packages

__all__ = ["cli", "main"]

EPILOG = """\b
Examples:
  swarm-node join                 # the built-in swarm on this machine, LAN peers found by mDNS
  swarm-node train --budget 30s   # one experiment with the default train.py, summary printed
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="swarm-node")
def cli(verbose: int) -> None:
    """swarm-node: a peer-to-peer research swarm that trains small GPTs and shares what works."""
    # torch warns at import when numpy is absent; swarm-node does not use numpy.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register_commands() -> None:
    """Import the command modules; each one adds its commands to :data:`cli`."""
    from node.cli import feed_cmd, network_cmd, seed_cmd, train_cmd  # noqa: F401 (imported for their @cli.command)


def main() -> None:
    """Console-script entry point."""
    problem = check_own_packages()
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    _register_commands()
    cli(prog_name="swarm-node")
