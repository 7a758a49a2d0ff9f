"""node: the swarm-node process (CLI, config, trio main loop, libp2p host, gossip, DHT, sync, ledger, feed).

The only package that does network I/O or owns the event loop.

Files:
    cli/          the click command line (``swarm-node``); one module per group of commands
    config.py     NodeConfig: defaults < config.toml < SWARM_NODE_* environment < CLI flags
    errors.py     NodeError and its tree
    joinstring.py join strings (``swarm://<swarm id>@<multiaddr>,...``)
    ledger/       the SQLite ledger: results (exact signed bytes), peers, claims, commits, manifests, state
    net/          the libp2p side: host, gossip, streams, sync, fetch, DHT, mDNS, NodeService
    swarms.py     resolving a swarm manifest into what a run needs (baseline train.py, data, budget)
    research.py   the research loop driver: coordinator's Researcher with real runs, the ledger and the network
    feed/         the results feed: views over the ledger, the terminal view, the web dashboard
    packaging.py  checks that the four project packages were imported from one installation
    inputfiles.py reading a file the user named: regular files only, size checked before a byte is read
    housekeeping.py  upkeep tasks of a running node (expired claims pruned)
    assets/       program.md of the built-in swarm
"""
