"""The Kademlia DHT of a node: the swarm's manifest as a validated record, and provider records.

- ``/swarm-node/manifest/<swarm_id hex>`` holds the signed manifest envelope. :class:`ManifestValidator`
  accepts a value only if it is a signed ``Manifest`` whose sha256 is the swarm id in the key, so nobody
  can overwrite a swarm's record with anything else; every valid value is then the same bytes and
  ``select`` has nothing to choose.
- The provider key of a swarm is its id (32 bytes): "who works on this swarm".

py-libp2p 0.8.1 quirks handled here: its routing table does not fill itself from connections (the
service calls :meth:`SwarmDHT.add_peer` for every new connection), and ``find_providers`` may return
a peer more than once (deduplicated).
"""

from __future__ import annotations

import logging

from libp2p.abc import IHost
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.records.utils import InvalidRecordType
from libp2p.records.validator import Validator

from node.net.errors import BadPayload
from node.net.fetch import verify_manifest

__all__ = ["MANIFEST_NAMESPACE", "manifest_key", "ManifestValidator", "SwarmDHT"]

log = logging.getLogger(__name__)

MANIFEST_NAMESPACE = "swarm-node"
_PREFIX = f"/{MANIFEST_NAMESPACE}/manifest/"


def manifest_key(swarm_id: bytes) -> str:
    """The DHT key of a swarm's manifest."""
    return f"{_PREFIX}{swarm_id.hex()}"


def _swarm_of_key(key: str) -> bytes:
    if not key.startswith(_PREFIX):
        raise InvalidRecordType(f"not a manifest key: {key[:80]!r}")
    try:
        swarm_id = bytes.fromhex(key[len(_PREFIX):])
    except ValueError as exc:
        raise InvalidRecordType(f"manifest key without a hex swarm id: {key[:80]!r}") from exc
    if len(swarm_id) != 32:
        raise InvalidRecordType("a swarm id is 32 bytes")
    return swarm_id


class ManifestValidator(Validator):
    """Accepts only manifests whose hash is the swarm id named by the key (strict: raises otherwise)."""

    def validate(self, key: str, value: bytes) -> None:
        swarm_id = _swarm_of_key(key)
        try:
            verify_manifest(bytes(value), swarm_id)
        except BadPayload as exc:
            log.info("DHT record %s refused: %s", key[:90], exc)
            raise InvalidRecordType(str(exc)) from exc

    def select(self, key: str, values: list[bytes]) -> int:
        """Content-addressed: every valid value is identical; prefer the first that validates."""
        for index, value in enumerate(values):
            try:
                self.validate(key, value)
                return index
            except InvalidRecordType:
                continue
        return 0


class SwarmDHT:
    """A server-mode KadDHT with the manifest validator; run it with ``background_trio_service(dht.kad)``."""

    def __init__(self, host: IHost) -> None:
        self.kad = KadDHT(host, DHTMode.SERVER, enable_random_walk=False)
        self.kad.register_validator(MANIFEST_NAMESPACE, ManifestValidator())
        self._host = host

    async def add_peer(self, peer: ID) -> bool:
        """Put a connected peer in the routing table (py-libp2p does not do it from connections)."""
        try:
            return bool(await self.kad.add_peer(peer))
        except Exception as exc:
            log.debug("DHT add_peer %s: %r", peer, exc)
            return False

    async def put_manifest(self, swarm_id: bytes, envelope: bytes) -> None:
        """Store the manifest record locally and on the closest peers (validated first)."""
        ManifestValidator().validate(manifest_key(swarm_id), envelope)
        await self.kad.put_value(manifest_key(swarm_id), envelope)

    async def get_manifest(self, swarm_id: bytes) -> bytes | None:
        """The manifest record of ``swarm_id`` from the DHT, validated; None when nobody has it."""
        try:
            value = await self.kad.get_value(manifest_key(swarm_id))
        except Exception as exc:
            log.debug("DHT get %s: %r", swarm_id.hex(), exc)
            return None
        if value is None:
            return None
        try:
            verify_manifest(bytes(value), swarm_id)
        except BadPayload:
            return None
        return bytes(value)

    async def provide(self, swarm_id: bytes) -> bool:
        """Announce that this node works on ``swarm_id``."""
        try:
            return bool(await self.kad.provide(swarm_id.hex()))
        except Exception as exc:
            log.debug("DHT provide %s: %r", swarm_id.hex(), exc)
            return False

    async def providers(self, swarm_id: bytes, count: int = 20) -> list[PeerInfo]:
        """Peers that announced ``swarm_id``, each once, this node excluded."""
        try:
            found = await self.kad.find_providers(swarm_id.hex(), count)
        except Exception as exc:
            log.debug("DHT find_providers %s: %r", swarm_id.hex(), exc)
            return []
        unique: dict[ID, PeerInfo] = {}
        for info in found:
            if info.peer_id != self._host.get_id() and info.peer_id not in unique:
                unique[info.peer_id] = info
        return list(unique.values())
