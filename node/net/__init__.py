"""node.net: the libp2p side of a node (host, gossip, streams, sync, fetch, DHT, mDNS).

Files:
    errors.py   the network error tree (under ``node.errors.NetworkError`` / ``PeerError``)
    logs.py     routes py-libp2p's noisy loggers to a file or to DEBUG
    host.py     builds the py-libp2p host (TCP + Noise only + Yamux/Mplex) from the node's Ed25519 seed; guards
                every inbound stream handler and py-libp2p's Noise transport
    pubsub.py   py-libp2p's Pubsub with its inbound edge hardened (bad frames and signatures charged, never raised)
    streams.py  length-framed request/response over one stream, bounded sizes, per-stream deadlines
    peers.py    per-peer rate limits, invalid-message penalties and bans (reason, expiry), in memory
    guard.py    ``PeerGuard``: charges a peer, bans it (recorded in the ledger), lifts expired bans
    gossip.py   versioned topic names and the topic validator (``GossipGate``)
    inbox.py    ``ResultInbox``: what the validator or a sync accepted, written to the ledger in batches off the
                trio thread; listeners told of each new result
    sync.py     anti-entropy over ``/swarm-node/sync/1`` (per-author seq vectors)
    fetch.py    commit, manifest and data streams (hash-verified)
    dht.py      the Kademlia DHT: manifest records (validated) and swarm provider records
    mdns.py     LAN discovery through py-libp2p's mDNS
    links.py    ``NetSettings`` (from ``NodeConfig``) and ``Links``, the background tasks: dial bootstrap and
                remembered peers, sync on connect and periodically, keep the DHT records alive; its
                collaborators (host, ledger, guard, inbox, DHT) are passed in, it reaches into nothing
    service.py  ``NodeService``: composes all of the above with an ``async with`` lifecycle
    seeding.py  creating a swarm (signed manifest filed with its baseline and data; the built-in swarm)

Messages are opaque bytes here; ``protocol`` decodes and verifies them, ``node.ledger`` stores them.
"""

from __future__ import annotations
