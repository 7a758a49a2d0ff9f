"""node: the swarm-node process (CLI, config, the runtime, libp2p host, gossip, DHT, sync, ledger, feed).

The only package that does network I/O or owns the event loop. Its top is one line deep::

    cli/ -> runtime.py -> net/ (NodeService), research.py + ports.py, ledger/, feed/

Files:
    cli/          the click command line (``swarm-node``): parse, build the config, one call, one error root
    runtime.py    ``Node.start(config, identity, ledger, swarm_id)``: the composition root; every task of a running
                  node (serve, research, obtain the swarm, peers and node.json for ``status``, claims pruning)
    config.py     NodeConfig: defaults < config.toml < SWARM_NODE_* environment < CLI flags
    errors.py     NodeError and its tree (the one error root the CLI maps to a message and exit status)
    joinstring.py join strings (``swarm://<swarm id>@<multiaddr>,...``)
    ledger/       the SQLite ledger: results (exact signed bytes), peers and their standing, claims, commits,
                  manifests, the typed status records of the running node
    net/          the libp2p side: host, gossip gate, inbox, peer guard, links, streams, sync, fetch, DHT, mDNS,
                  relays; ``NodeService`` composes them
    swarms.py     resolving a swarm manifest into what a run needs (baseline train.py, data, budget)
    research.py   the research loop: coordinator's Researcher in a worker thread, with real runs
    autorung.py   ``--rung auto``: which rung a node climbs to, from its baseline runs' tokens beside other classes'
    ports.py      ``ThreadPorts``: the Researcher's ports, the one trio<->thread adapter (Outcome -> Result, once)
    feed/         the results feed: read-only views over the ledger, the terminal view, the web dashboard
    packaging.py  checks that the four project packages were imported from one installation
    inputfiles.py reading a file the user named: regular files only, size checked before a byte is read
    housekeeping.py  upkeep tasks of a running node (expired claims pruned)
    assets/       program.md of the built-in swarm

``node.json`` in the home is the running node's pid, peer id, listen addresses, swarm, join string and rung (and
``--rung auto``'s reason), written for ``status`` (no API is served on those addresses but libp2p's).
"""
