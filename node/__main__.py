"""``python -m node`` is ``swarm-node``."""

from node.cli.main import main

main()
