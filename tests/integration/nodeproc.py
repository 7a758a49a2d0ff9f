"""A test driver: one ``NodeService`` in its own process, driven by JSON lines on stdin/stdout.

    python -m tests.integration.nodeproc --home DIR --swarm HEX [--listen ADDR] [--peer ADDR]... \
        [--manifest FILE] [--data FILE]

Prints ``{"event": "ready", "addrs": [...], "peer_id": ...}`` once listening, then answers commands:

    {"cmd": "publish", "n": 3, "interval": 0.0}  -> one {"event": "published", "seq": s} per stored result,
                                                     then {"event": "done", "cmd": "publish"}
    {"cmd": "claim", "blob": B, "seconds": 60}    -> {"event": "claimed"} once stored and gossiped
    {"cmd": "claim_result", "text": T, "metric": m, "budget_tokens": n, "description": D, "parent": C}
                                                  -> files train.py text T as a commit (so peers can fetch it;
                                                     not with "serve": false) and publishes a kept Result claiming
                                                     ``metric`` for it: {"event": "published", "seq": s, "id": HEX}
    {"cmd": "attest", "id": HEX, "blob": B, "commit": C, "metric": m, "budget_tokens": n}
                                                  -> publishes an attestation confirming result HEX:
                                                     {"event": "published", "seq": s, "id": HEX}
    {"cmd": "claims", "blobs": [B...], "seconds": 60, "interval": 0.0}
                                                  -> one claim per blob, {"event": "claimed", "n": n}
    {"cmd": "peers"}                              -> {"event": "peers", "peers": [...]}
    {"cmd": "addrs"}                              -> {"event": "addrs", "addrs": [...], "reachability": R}
                                                     (relay circuits included; R: AutoNAT's public/private/unknown)
    {"cmd": "links"}                              -> {"event": "links", "links": {peer: "direct" | "relayed"}}
    {"cmd": "relay"}                              -> {"event": "relay", "reservations": n, "circuits": n,
                                                     "released": n} (slots held here, circuits relayed here now,
                                                     relayed connections closed after a direct upgrade)
    {"cmd": "heads"}                              -> {"event": "heads", "heads": {author hex: seq}} (the ledger's)
    {"cmd": "connect", "addr": A}                 -> {"event": "connected", "peer": id} or {"event": "error", ...}
    {"cmd": "sync"}                               -> {"event": "synced", "new": n}
    {"cmd": "blacklist"}                          -> {"event": "blacklist", "peers": [...]}
    {"cmd": "fetch_manifest"}                     -> {"event": "manifest", "found": bool, "swarm_ok": bool}
    {"cmd": "fetch_data", "hash": HEX, "dest": P} -> {"event": "data", "ok": bool}
    {"cmd": "fetch_commit", "blob": B}            -> {"event": "commit", "ok": bool} (hash-checked, stored)
    {"cmd": "stats"}                              -> {"event": "stats", "accepted": n, "rejected": n,
                                                     "invalid": {peer: count}} (from the ledger)
    {"cmd": "stop"}                               -> graceful shutdown, {"event": "stopped"}

With ``--rogue`` it is instead a hostile peer (plain py-libp2p, no validators) that answers
``{"cmd": "attack", "replay": HEX}`` by sending forged, tampered, replayed (the given envelope),
oversized and garbage messages on the results topic and garbage on the streams, then
``{"event": "attacked", "sent": n}``.

A published result is acknowledged (its line printed) only after the ledger stored it.
Tests drive it through :class:`NodeProc` (the parent side).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import trio

from node.config import load_config
from node.ledger import Ledger
from node.net.logs import route_libp2p_logs
from node.net.service import NodeService
from protocol import BudgetRule, Claim, Identity, Result, git_blob_hash, sign_message, swarm_id_of


ROOT = Path(__file__).resolve().parents[2]


class NodeProc:
    """The parent side: start a driver process, send commands, wait for events (with deadlines)."""

    def __init__(self, home: Path, swarm_id: bytes, *, peers: Sequence[str] = (), manifest: Path | None = None,
                 data: Path | None = None, listen: str = "/ip4/127.0.0.1/tcp/0", env: dict[str, str] | None = None,
                 rogue: bool = False, commit: Path | None = None, wait: bool = True, wrap: Sequence[str] = ()):
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home = home
        argv = [*wrap, sys.executable, "-m", "tests.integration.nodeproc", "--home", str(home), "--swarm", swarm_id.hex(),
                "--listen", listen]
        for peer in peers:
            argv += ["--peer", peer]
        if manifest is not None:
            argv += ["--manifest", str(manifest)]
        if data is not None:
            argv += ["--data", str(data)]
        if commit is not None:
            argv += ["--commit", str(commit)]
        if rogue:
            argv.append("--rogue")
        full_env = {**os.environ, "SWARM_NODE_SYNC_INTERVAL": "2", **(env or {})}
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(home / "stderr.log", "ab"), env=full_env)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.addrs: list[str] = []
        self.peer_id = ""
        if wait:
            self.ready()

    def ready(self, timeout: float = 60) -> NodeProc:
        """Wait for the ``ready`` event (start several with ``wait=False``, then call this on each)."""
        event = self.wait("ready", timeout=timeout)
        self.addrs, self.peer_id = event["addrs"], event["peer_id"]
        return self

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue

    def send(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        self.proc.stdin.flush()

    def wait(self, event: str, timeout: float) -> dict[str, Any]:
        """The next event named ``event`` (earlier others are kept in :attr:`seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.home.name}: no {event!r} event within {timeout}s; "
                                     f"stderr: {(self.home / 'stderr.log').read_text()[-2000:]}")
            try:
                item = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.home.name} exited with {self.proc.returncode}: "
                                         f"{(self.home / 'stderr.log').read_text()[-2000:]}")
                continue
            self.seen.append(item)
            if item.get("event") == event:
                return item

    def ask(self, cmd: str, event: str, timeout: float = 20, **fields: Any) -> dict[str, Any]:
        self.send(cmd, **fields)
        return self.wait(event, timeout)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            try:
                self.send("stop")
            except (BrokenPipeError, ValueError):  # it is already on its way out (stop_all asked first)
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    @staticmethod
    def stop_all(nodes: Sequence[NodeProc], timeout: float = 20) -> list[int]:
        """Ask every node to stop at once, then wait for each; return their exit codes."""
        for node in nodes:
            if node.proc.poll() is None:
                node.send("stop")
        return [node.stop(timeout) for node in nodes]

    def stderr_tail(self, n: int = 3000) -> str:
        """The end of the process's stderr (for failure messages)."""
        try:
            return (self.home / "stderr.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.sqlite"


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def synthetic_result(i: int) -> Result:
    """A valid Result; ``NodeService.publish_result`` fills in swarm, author and seq."""
    text = f"# synthetic train.py {i} {time.time_ns()}\n".encode()
    return Result(
        swarm_id=b"\0" * 32, author=b"\0" * 32, seq=1, created_at=time.time(), commit="", parent="",
        blob=git_blob_hash(text), metric=3.0 + (i % 1000) / 1000, status="discard", hw_class="cpu:2t",
        hw_fingerprint="test", budget=BudgetRule(kind="seconds", amount=60), steps=1, tokens=1, wall_seconds=1.0,
        peak_memory_mb=1.0, description=f"synthetic {i}",
    )


async def lines(stream: trio.lowlevel.FdStream) -> Any:
    buffer = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


async def handle(svc: NodeService, cmd: dict[str, Any]) -> bool:
    name = cmd.get("cmd")
    if name == "publish":
        for i in range(int(cmd.get("n", 1))):
            verified = await svc.publish_result(synthetic_result(i))
            emit("published", seq=verified.message.seq)
            await trio.sleep(float(cmd.get("interval", 0.0)))
        emit("done", cmd="publish")
    elif name == "claim_result":
        text = cmd["text"].encode()
        blob = git_blob_hash(text)
        if cmd.get("serve", True):
            svc.ledger.put_commit(blob, text, svc.identity.public_key, "")
        commit = hashlib.sha1(text + str(time.time_ns()).encode()).hexdigest()
        claim = replace(synthetic_result(0), blob=blob, commit=commit, status="keep",
                        metric=float(cmd["metric"]), description=cmd.get("description", "claimed result"),
                        parent=cmd.get("parent", ""),
                        budget=BudgetRule(kind="tokens", amount=int(cmd["budget_tokens"])))
        verified = await svc.publish_result(claim)
        emit("published", seq=verified.message.seq, id=verified.message_id.hex())
    elif name == "attest":
        attestation = replace(synthetic_result(0), blob=cmd["blob"], commit=cmd["commit"], status="keep",
                              metric=float(cmd["metric"]),
                              reproduces=bytes.fromhex(cmd["id"]), description="verify: confirms",
                              budget=BudgetRule(kind="tokens", amount=int(cmd["budget_tokens"])))
        verified = await svc.publish_result(attestation)
        emit("published", seq=verified.message.seq, id=verified.message_id.hex())
    elif name == "claims":
        now = time.time()
        for blob in cmd["blobs"]:
            await svc.publish_claim(Claim(swarm_id=svc.swarm_id, author=svc.identity.public_key, seq=0,
                                          created_at=now, blob=blob, expires_at=now + float(cmd.get("seconds", 60))))
            await trio.sleep(float(cmd.get("interval", 0.0)))
        emit("claimed", n=len(cmd["blobs"]))
    elif name == "claim":
        now = time.time()
        await svc.publish_claim(Claim(swarm_id=svc.swarm_id, author=svc.identity.public_key, seq=0, created_at=now,
                                      blob=cmd["blob"], expires_at=now + float(cmd.get("seconds", 60))))
        emit("claimed")
    elif name == "peers":
        emit("peers", peers=svc.peers())
    elif name == "addrs":
        emit("addrs", addrs=svc.addrs(), reachability=svc.relays.reachability.status)
    elif name == "links":
        emit("links", links=svc.relays.links())
    elif name == "relay":
        emit("relay", reservations=svc.relays.relay_count(), circuits=svc.relays.circuit_count(),
             released=svc.relays.dcutr.released)
    elif name == "heads":
        emit("heads", heads={a.hex(): s for a, s in svc.ledger.seq_vector(svc.swarm_id).items()})
    elif name == "connect":
        try:
            emit("connected", peer=await svc.connect(cmd["addr"]))
        except Exception as exc:
            emit("error", cmd="connect", error=repr(exc))
    elif name == "sync":
        emit("synced", new=await svc.sync_now())
    elif name == "blacklist":
        emit("blacklist", peers=sorted(svc.book.blacklisted()))
    elif name == "fetch_manifest":
        env = await svc.fetch_manifest()
        emit("manifest", found=env is not None, swarm_ok=env is not None and swarm_id_of(env) == svc.swarm_id)
    elif name == "fetch_data":
        ok = await svc.fetch_data(bytes.fromhex(cmd["hash"]), Path(cmd["dest"]))
        emit("data", ok=ok)
    elif name == "fetch_commit":
        text = await svc.fetch_commit(cmd["blob"])
        emit("commit", ok=text is not None and git_blob_hash(text) == cmd["blob"])
    elif name == "stats":
        invalid = {row.peer_id: row.invalid_count for row in svc.ledger.peers() if row.invalid_count}
        emit("stats", accepted=svc.gate.accepted, rejected=svc.gate.rejected, invalid=invalid)
    elif name == "stop":
        return False
    else:
        emit("error", cmd=name, error="unknown command")
    return True


async def run(args: argparse.Namespace) -> None:
    home = Path(args.home)
    config = load_config(env={}, overrides={
        "home": home, "listen": tuple(args.listen), "bootstrap": tuple(args.peer), "mdns": False,
        "sync_interval": float(os.environ.get("SWARM_NODE_SYNC_INTERVAL", "5"))})
    route_libp2p_logs(home / "libp2p.log")
    identity = Identity.load_or_create(config.identity_path)
    swarm_id = bytes.fromhex(args.swarm)
    with Ledger(config.ledger_path) as ledger:
        if args.manifest:
            ledger.put_manifest(swarm_id, Path(args.manifest).read_bytes())
        if args.commit:
            text = Path(args.commit).read_bytes()
            ledger.put_commit(git_blob_hash(text), text, identity.public_key, "")
        async with NodeService(config, identity, ledger, swarm_id) as svc:
            if args.data:
                path = Path(args.data)
                import hashlib

                svc.share_data(hashlib.sha256(path.read_bytes()).digest(), path)
            emit("ready", addrs=svc.addrs(), peer_id=svc.peer_id, pid=os.getpid())
            stdin = trio.lowlevel.FdStream(os.dup(0))
            async for cmd in lines(stdin):
                if not await handle(svc, cmd):
                    break
    emit("stopped")


async def rogue(args: argparse.Namespace) -> None:
    """A hostile peer: speaks libp2p and gossipsub, validates nothing, sends junk."""
    import hashlib

    from libp2p.custom_types import TProtocol
    from libp2p.pubsub.gossipsub import GossipSub
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.tools.anyio_service import background_trio_service

    from node.net.gossip import Topics
    from node.net.host import build_host, parse_peer_addr
    from node.net.streams import _HEADER, read_frame
    from protocol.canonical import pack, unpack

    me = Identity.generate()
    other = Identity.generate()
    swarm_id = bytes.fromhex(args.swarm)
    host, listen = build_host(me.private_bytes, args.listen)
    gossip = GossipSub(protocols=[TProtocol("/meshsub/1.1.0")], degree=6, degree_low=4, degree_high=12,
                       heartbeat_interval=1, spam_protection_enabled=False)
    pubsub = Pubsub(host, gossip, msg_id_constructor=lambda m: hashlib.sha256(m.data).digest())
    topic = Topics(swarm_id).results
    async with host.run(listen_addrs=listen), background_trio_service(pubsub), background_trio_service(gossip):
        await pubsub.wait_until_ready()
        await pubsub.subscribe(topic)
        peers = [parse_peer_addr(a) for a in args.peer]
        for info in peers:
            await host.connect(info)
        emit("ready", addrs=[], peer_id=me.peer_id, pid=os.getpid())
        stdin = trio.lowlevel.FdStream(os.dup(0))
        async for cmd in lines(stdin):
            if cmd.get("cmd") != "attack":
                break
            with trio.move_on_after(10):  # until an honest peer is in the topic's mesh (then sends reach someone)
                while not pubsub.peer_topics.get(topic):
                    await trio.sleep(0.05)
            own = sign_message(me, replace(synthetic_result(0), swarm_id=swarm_id, author=me.public_key))
            version, kind, author, body, signature = unpack(own, max_len=1 << 20)
            forged = pack((version, kind, other.public_key, body, signature))   # claims another author
            tampered = bytearray(own)
            tampered[len(tampered) // 2] ^= 0x01
            wrong_swarm = sign_message(me, replace(synthetic_result(1), swarm_id=b"\x07" * 32, author=me.public_key))
            junk = [forged, bytes(tampered), bytes.fromhex(cmd["replay"]), b"\x00" * (40 << 10), b"\xc1garbage",
                    wrong_swarm]
            for data in junk:
                await pubsub.publish(topic, data)
            for info in peers:  # the streams: garbage, an absurd frame length, a truncated frame
                for payload in (_HEADER.pack(9) + b"\xc1garbage", _HEADER.pack(1 << 31), _HEADER.pack(50) + b"x"):
                    with trio.move_on_after(3):
                        try:
                            stream = await host.new_stream(info.peer_id, [TProtocol("/swarm-node/sync/1")])
                            await stream.write(payload)
                            await stream.close_write()
                            await read_frame(stream, 1 << 20)
                        except Exception:
                            pass
            emit("attacked", sent=len(junk))
    emit("stopped")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--swarm", required=True)
    parser.add_argument("--listen", action="append", default=[])
    parser.add_argument("--peer", action="append", default=[])
    parser.add_argument("--manifest")
    parser.add_argument("--data")
    parser.add_argument("--commit")
    parser.add_argument("--rogue", action="store_true")
    args = parser.parse_args()
    if not args.listen:
        args.listen = ["/ip4/127.0.0.1/tcp/0"]
    trio.run(rogue if args.rogue else run, args)
    gc.freeze()  # stopped: skip the interpreter's last full collections, as node.runtime.leave_quickly does


if __name__ == "__main__":
    main()
