"""node: the swarm-node process (CLI, config, trio main loop, libp2p host, gossip, DHT, sync, ledger, feed).

The only package that does network I/O or owns the event loop.

Files:
    cli/        the click command line (``swarm-node``); one module per group of commands
    packaging.py checks that the four project packages were imported from one installation
"""
