"""``Node``: the composition root of a running node, and the one place its tasks are started.

::

    async with Node.start(config, identity, ledger, swarm_id, console=console) as node:
        await node.join(max_experiments)          # serve, research, ... until the last experiment or cancelled
        verdict = await node.verify(claim)        # or: re-run one claim here and publish the attestation

``Node.start`` brings up the network side (``node.net.service.NodeService``: host, gossip, streams, links, relays);
``join`` runs every task a node in a swarm runs, in one nursery: the results feed (printed with ``watch``), obtaining
the swarm (manifest, baseline train.py, data from peers or the DHT), the research loop (``node.research``, whose
worker thread reaches the network only through ``node.ports``), the connected peers and ``node.json`` kept current
for ``status``, and claims pruned from the ledger. ``verify`` re-runs one claim.

:func:`run_join` and :func:`run_verify` are what the CLI calls: one call each, signals handled, the ledger opened
and closed, and every failure one :class:`~node.errors.NodeError` (protocol errors included) with its fix. The process
leaves right after them, so they end with :func:`leave_quickly`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import AsyncIterator, Iterator, Protocol, Sequence

import trio

from coordinator.records import Outcome
from node.autorung import RungChoice, research_auto
from node.config import NodeConfig
from node.errors import NodeError
from node.feed.netpanel import STATE_NET
from node.housekeeping import prune_claims_forever
from node.joinstring import Join, format_join
from node.ledger import Ledger
from node.ledger.rows import ResultRow
from node.net.logs import route_libp2p_logs
from node.net.seeding import BUILTIN_BUDGET, builtin_swarm, dialable_addrs
from node.net.service import NodeService
from node.research import ResearchLoop, verify_claim
from node.swarms import (RungError, SwarmError, SwarmSpec, at_rung, budget_rule, claim_swarm, is_builtin_data,
                         load_swarm, manifest_rung, rung_words)
from protocol import Identity, Manifest, ProtocolError, Result, Verified, decode_and_verify
from trainer import Budget

__all__ = ["Node", "Console", "Verdict", "run_join", "run_verify", "check_ports_free", "write_node_file",
           "leave_quickly"]

log = logging.getLogger(__name__)

NODE_FILE_INTERVAL = 2.0
PEERS_INTERVAL = 2.0


class Console(Protocol):
    """Where a running node talks to its user: ``say`` (stdout: what a script may read), ``note`` (stderr)."""

    def say(self, text: str) -> None: ...

    def note(self, text: str) -> None: ...


class Quiet:
    """A console that logs instead (for library use and tests)."""

    def say(self, text: str) -> None:
        log.info("%s", text)

    def note(self, text: str) -> None:
        log.info("%s", text)


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: the attestation it published, and whether it confirms the claim."""

    result: Result
    confirmed: bool


@contextlib.contextmanager
def one_error_root() -> Iterator[None]:
    """Everything below the CLI fails as a :class:`NodeError`: protocol errors are turned into one here."""
    try:
        yield
    except ProtocolError as exc:
        raise NodeError(f"{type(exc).__name__}: {exc}") from exc


def _lone(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception a nursery wrapped in a group (None when there are several, or a group inside)."""
    leaves = group.exceptions
    while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
        leaves = leaves[0].exceptions
    return leaves[0] if len(leaves) == 1 else None


class Node:
    """A node running in one swarm (see the module docstring). Build it with :meth:`start`."""

    def __init__(self, service: NodeService, config: NodeConfig, ledger: Ledger, console: Console) -> None:
        self.service = service
        self.config = config
        self.ledger = ledger
        self.console = console
        self._done: trio.CancelScope | None = None
        self.rung_now: tuple[int, str] = (config.start_rung, "")  # the rung it runs at, and --rung auto's why

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, config: NodeConfig, identity: Identity, ledger: Ledger, swarm_id: bytes, *,
                    console: Console | None = None) -> AsyncIterator[Node]:
        """The node online in ``swarm_id`` for the body of the ``async with``; shut down in order on exit. A lone
        error of the body comes out as itself, not wrapped in the nurseries' exception groups."""
        try:
            async with NodeService(config, identity, ledger, swarm_id) as service:
                yield cls(service, config, ledger, console or Quiet())
        except BaseExceptionGroup as group:
            lone = _lone(group)
            if isinstance(lone, (NodeError, ProtocolError)):
                raise lone from None
            raise

    @property
    def swarm_id(self) -> bytes:
        return self.service.swarm_id

    def dialable(self) -> list[str]:
        return dialable_addrs([a.rsplit("/p2p/", 1)[0] for a in self.service.addrs()], self.service.peer_id)

    # ------------------------------------------------------------------ join

    async def join(self, max_experiments: int | None = None) -> None:
        """Stay in the swarm until cancelled or (when training) the last of ``max_experiments`` experiments."""
        svc, config, ledger = self.service, self.config, self.ledger
        addrs = self.dialable()
        self.console.say(f"node {svc.peer_id}")
        self.console.say(f"swarm {self.swarm_id.hex()}  ({ledger.count(self.swarm_id)} results in the ledger)")
        self.console.say(f"join string: {format_join(self.swarm_id, addrs)}")
        self.console.say("Ctrl-C to leave." + (" (watching: no training)" if config.watch else ""))
        write_node_file(config, svc.peer_id, addrs, self.swarm_id)
        results = svc.results_channel()
        try:
            async with trio.open_nursery() as nursery:
                self._done = nursery.cancel_scope
                nursery.start_soon(prune_claims_forever, ledger)
                nursery.start_soon(self._obtain_swarm)
                nursery.start_soon(self._publish_peers)
                nursery.start_soon(self._refresh_node_file)
                if not config.watch:
                    nursery.start_soon(self._research, max_experiments)
                async for verified in results:
                    if config.watch:
                        self.console.say(feed_line(verified))
        finally:
            config.node_json_path.unlink(missing_ok=True)
            ledger.status.clear_running()
            ledger.set_state(STATE_NET, None)

    async def _refresh_node_file(self) -> None:
        """Keep node.json's addresses and reachability current: behind NAT they change once a relay slot is held."""
        shown: tuple[list[str], str, tuple[int, str]] = ([], "", (0, ""))
        while True:
            await trio.sleep(NODE_FILE_INTERVAL)
            now = (self.dialable(), self.service.relays.reachability.status, self.rung_now)
            if now != shown:
                write_node_file(self.config, self.service.peer_id, now[0], self.swarm_id, now[1], rung=now[2])
                shown = now

    async def _publish_peers(self) -> None:
        """Keep the connected peers in the ledger's state, where the feed and status read them."""
        while True:
            self.ledger.status.set_peers(self.service.peers())
            self.ledger.set_state(STATE_NET, self.service.relays.panel())  # node/feed/netpanel.py
            await trio.sleep(PEERS_INTERVAL)

    async def _research(self, max_experiments: int | None) -> None:
        """Wait until the swarm's manifest, baseline and data are here, then run the research loop."""
        waiting_since = time.monotonic()
        while True:
            try:
                spec = load_swarm(self.ledger, self.swarm_id)
                break
            except RungError:
                raise
            except SwarmError as exc:
                if time.monotonic() - waiting_since > 30:
                    self.console.note(f"still waiting: {exc}")
                    waiting_since = time.monotonic()
                await trio.sleep(1.0)
        if self.config.rung == "auto" and spec.rungs:  # rung 0 until the node knows it is fast enough to climb
            await research_auto(spec, self._loop, ledger=self.ledger, me=self.service.identity.public_key,
                                say=self.console.say, on_choice=self._chose_rung, max_steps=max_experiments)
        else:
            loop = self._loop(at_rung(spec, self.config.start_rung))  # rung 0: the swarm as seeded
            self.console.say(f"researching: {loop.describe()}")
            await loop.run(max_experiments)
        self.console.say(f"done: {max_experiments} experiment(s)")
        if self._done is not None:
            self._done.cancel()

    def _loop(self, spec: SwarmSpec) -> ResearchLoop:
        return ResearchLoop(network=self.service, author=self.service.identity.public_key, ledger=self.ledger,
                            config=self.config, swarm=spec, on_outcome=self._print_outcome)

    def _chose_rung(self, choice: RungChoice) -> None:
        """``--rung auto`` decided (or changed its reason): say it; ``_refresh_node_file`` puts it in node.json."""
        self.rung_now = (choice.rung, choice.why)
        self.console.say(f"rung auto: {choice.why}")

    def _print_outcome(self, outcome: Outcome) -> None:
        self.console.say(f"{time.strftime('%H:%M:%S')}  {outcome.action:<8} {outcome.status:<7} "
                         f"{outcome.metric:.4f}  {outcome.description[:70]}  ({outcome.reason})")

    async def _obtain_swarm(self) -> None:
        """Fetch the manifest, the baseline train.py, a custom task's evaluate.py and the data from peers or the DHT
        when this node lacks them (each checked against its hash; the data against its task's format in
        ``load_swarm``)."""
        svc, ledger, config = self.service, self.ledger, self.config
        envelope = ledger.get_manifest(self.swarm_id)
        while envelope is None:
            if await svc.fetch_manifest() is not None:
                self.console.say("manifest fetched and verified")
                envelope = ledger.get_manifest(self.swarm_id)
                break
            await trio.sleep(3.0)
        with one_error_root():
            manifest = decode_and_verify(bytes(envelope)).message if envelope is not None else None
        if not isinstance(manifest, Manifest):
            raise NodeError(f"the record filed as swarm {self.swarm_id.hex()[:16]}'s manifest is a "
                            f"{type(manifest).__name__}: the ledger is damaged (move ledger.sqlite aside and join "
                            "again)")
        if not config.watch:
            manifest_rung(manifest, config.start_rung)  # a --rung it does not define ends the node, with the rungs it has
        while ledger.get_commit(manifest.baseline_blob) is None and not config.watch:
            if await svc.fetch_commit(manifest.baseline_blob, author=manifest.author) is not None:
                break
            await trio.sleep(3.0)
        while manifest.eval_blob and ledger.get_commit(manifest.eval_blob) is None and not config.watch:
            if await svc.fetch_commit(manifest.eval_blob, author=manifest.author) is not None:  # custom: evaluate.py
                self.console.say("evaluate.py fetched and verified")
                break
            await trio.sleep(3.0)
        if ledger.get_data_chunk_source(manifest.data_hash) is not None or is_builtin_data(manifest.data_hash):
            return
        dest = config.cache_dir / "data" / manifest.data_hash.hex() / "corpus"
        while not await svc.fetch_data(manifest.data_hash, dest):
            await trio.sleep(5.0)
        ledger.put_data_chunk_source(manifest.data_hash, dest)
        self.console.say(f"data fetched and verified: {dest}")

    # ------------------------------------------------------------------ verify

    async def verify(self, claim: ResultRow, *, linger: float = 5.0, connect_wait: float = 20.0,
                     swarm: SwarmSpec | None = None) -> Verdict:
        """Re-run ``claim`` as it ran (``swarm``, default ``claim_swarm``: at its rung), publish, stay ``linger`` s."""
        spec = swarm or claim_swarm(self.ledger, claim)
        with trio.move_on_after(connect_wait):  # give the bootstrap peers (and mDNS) a moment to connect
            while not self.service.peers() and self.ledger.get_commit(claim.blob) is None:
                await trio.sleep(0.2)
        at = f" at rung {spec.rung} ({rung_words(spec.rung, spec.rungs[spec.rung - 1])})" if spec.rung else ""
        self.console.note(f"re-running {claim.commit[:10]} ({claim.metric:.4f} claimed by {claim.author.hex()[:8]})"
                          f"{at} under {spec.budget} ...")
        result, confirmed = await verify_claim(network=self.service, author=self.service.identity.public_key,
                                               ledger=self.ledger, config=self.config, swarm=spec, claim=claim)
        await trio.sleep(linger)
        return Verdict(result, confirmed)


# ---------------------------------------------------------------------------------------------------------------------
# What the CLI calls
# ---------------------------------------------------------------------------------------------------------------------


def run_join(config: NodeConfig, target: Join | None, *, max_experiments: int | None = None,
             verbose: int = 0, console: Console | None = None) -> None:
    """``swarm-node join``: the swarm of ``target`` (None: the built-in swarm under ``config.budget``), until
    SIGINT/SIGTERM or the last experiment. Every failure is a :class:`NodeError`. The process is expected to exit
    after it (:func:`leave_quickly`)."""
    with contextlib.ExitStack() as leaving, one_error_root():
        leaving.callback(leave_quickly)
        config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        route_libp2p_logs(config.home / "logs" / "libp2p.log", verbose=verbose >= 2)
        identity = Identity.load_or_create(config.identity_path)
        with Ledger(config.ledger_path) as ledger:
            if target is not None:
                swarm_id = target.swarm_id
            else:
                rule = budget_rule(Budget.parse(config.budget)) if config.budget else BUILTIN_BUDGET
                swarm_id = builtin_swarm(ledger, rule).swarm_id
            _check_rung(config, ledger, swarm_id)
            check_ports_free(config.listen)
            trio.run(_until_signalled, config, identity, ledger, swarm_id, max_experiments, console)


def _check_rung(config: NodeConfig, ledger: Ledger, swarm_id: bytes) -> None:
    """Refuse a ``--rung`` the swarm's manifest does not define before going online, when the manifest is here
    (otherwise ``Node._obtain_swarm`` checks it once fetched)."""
    envelope = ledger.get_manifest(swarm_id)
    if config.start_rung == 0 or config.watch or envelope is None:
        return
    manifest = decode_and_verify(bytes(envelope)).message
    if isinstance(manifest, Manifest):
        manifest_rung(manifest, config.start_rung)


async def _until_signalled(config: NodeConfig, identity: Identity, ledger: Ledger, swarm_id: bytes,
                           max_experiments: int | None, console: Console | None) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            async def joined() -> None:
                async with Node.start(config, identity, ledger, swarm_id, console=console) as node:
                    await node.join(max_experiments)
                nursery.cancel_scope.cancel()

            nursery.start_soon(joined)
            async for signum in signals:
                log.info("signal %d: shutting down", signum)
                nursery.cancel_scope.cancel()
                break


def run_verify(config: NodeConfig, commit: str, *, linger: float = 5.0, console: Console | None = None) -> Verdict:
    """``swarm-node verify``: re-run the latest result of this node's ledger whose commit starts with ``commit``; the
    process is expected to exit after it (:func:`leave_quickly`)."""
    with contextlib.ExitStack() as leaving, one_error_root():
        leaving.callback(leave_quickly)
        if not config.ledger_path.exists():
            raise NodeError(f"no ledger at {config.ledger_path}: join the swarm first (swarm-node join ...)")
        identity = Identity.load_or_create(config.identity_path)
        with Ledger(config.ledger_path) as ledger:
            claims = [r for sid in ledger.swarm_ids() for r in ledger.results(sid)
                      if not r.reproduces and r.commit and len(commit) >= 4 and r.commit.startswith(commit)]
            if not claims:
                raise NodeError(f"no result with commit {commit!r} in this node's ledger (at least 4 hex digits; "
                                "see swarm-node export -)")
            claim = max(claims, key=lambda r: r.created_at)
            spec = claim_swarm(ledger, claim)  # before going online: a rung the manifest lacks is refused here

            async def verified() -> Verdict:
                async with Node.start(config, identity, ledger, claim.swarm_id, console=console) as node:
                    return await node.verify(claim, linger=linger, swarm=spec)

            return trio.run(verified)


def leave_quickly() -> None:
    """Spare a node that has shut down (ledger flushed and closed, host closed) the interpreter's last garbage
    collections: at exit CPython's module teardown walks every object the imports made (libp2p, trio, sqlite-utils,
    click, ...), 0.4-0.5 CPU-s per node measured on a 2-core machine and seconds of wall time on a loaded one, after
    the node has already said "stopped". Frozen objects are skipped by those walks; they are still freed by their
    reference counts, and the standard streams are still flushed. Only for a process that is leaving: what is frozen
    is never collected."""
    gc.freeze()


def check_ports_free(listen: Sequence[str]) -> None:
    """Fail early, with the fix, when a fixed TCP listen port is taken (py-libp2p binds with SO_REUSEPORT, so a
    second node on the same port would otherwise start and silently share the port's connections)."""
    for addr in listen:
        parts = addr.strip("/").split("/")
        if len(parts) < 4 or parts[0] not in ("ip4", "ip6") or parts[2] != "tcp" or parts[3] == "0":
            continue
        family = socket.AF_INET if parts[0] == "ip4" else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((parts[1], int(parts[3])))
            except OSError as exc:
                raise NodeError(f"cannot listen on {addr}: {exc.strerror} (is another swarm-node running? stop it, "
                                f"or pick another port: --listen /{parts[0]}/{parts[1]}/tcp/0 takes a free one)"
                                ) from exc


def write_node_file(config: NodeConfig, peer_id: str, addrs: list[str], swarm_id: bytes,
                    reachability: str = "unknown", rung: tuple[int, str] | None = None) -> None:
    """``node.json`` in the home: what ``swarm-node status`` shows about the running node (``rung``: the rung it
    runs at and, under ``--rung auto``, why)."""
    at, why = rung if rung is not None else (config.start_rung, "")
    info = {"pid": os.getpid(), "peer_id": peer_id, "addrs": addrs, "swarm_id": swarm_id.hex(),
            "started_at": time.time(), "watch": config.watch, "reachability": reachability,
            "join_string": format_join(swarm_id, addrs), "rung": at, "rung_auto": config.rung == "auto",
            "rung_why": why}
    config.node_json_path.write_text(json.dumps(info, indent=1))


def feed_line(verified: Verified) -> str:
    """One line of ``join --watch``'s output for a result it heard of."""
    r = verified.message
    if not isinstance(r, Result):
        return f"{type(r).__name__} from {verified.author.hex()[:8]}"
    when = time.strftime("%H:%M:%S", time.localtime(r.created_at))
    return (f"{when}  {verified.author.hex()[:8]}#{r.seq:<5} {r.status:<7} {r.metric:.4f}  {r.hw_class:<14} "
            f"{r.description[:60]}")
