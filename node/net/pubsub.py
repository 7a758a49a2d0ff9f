"""py-libp2p's ``Pubsub`` with its inbound edge hardened: nothing a peer sends can end the node.

py-libp2p 0.8.1 lets a hostile peer stop a node with one message, and never charges anyone for bad signatures:

- an RPC frame of invalid protobuf raised ``DecodeError`` out of the stream handler, through the host;
- a message whose ``from_id`` embeds no key and whose ``key`` is garbage raised out of ``signature_validator``
  (``deserialize_public_key``) inside a pubsub task, which ended the pubsub service;
- a frame over the RPC bound (a 2 MiB message) closed the stream but was counted against nobody, so it could be
  repeated forever, and so could messages whose signature does not verify (each costs an Ed25519 verify).

:class:`GuardedPubsub` reads each peer's RPC stream itself: a malformed or oversized frame, or any exception while
handling one, resets that stream, is logged and is counted against that (Noise-authenticated) peer through
``blame``. Its ``push_msg`` asks ``admit`` (ban list and per-peer rate limit) before any signature check, bounds the
message size, checks the signature without letting an exception out, and blames the forwarder when it fails.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from google.protobuf.message import DecodeError
from libp2p.abc import INetStream
from libp2p.io.exceptions import IOException, MessageTooLarge
from libp2p.network.connection.exceptions import RawConnError
from libp2p.network.stream.exceptions import StreamEOF, StreamError
from libp2p.peer.id import ID
from libp2p.pubsub import pubsub as _pubsub_module
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import GossipsubEvent, Pubsub
from libp2p.pubsub.utils import maybe_consume_signed_record
from libp2p.pubsub.validators import signature_validator
from libp2p.utils.varint import read_varint_prefixed_bytes_limited

__all__ = ["GuardedPubsub", "signature_ok"]

log = logging.getLogger(__name__)

Blame = Callable[[str, str], None]

_PRECHECKED: set[int] = set()
"""ids of messages whose signature :class:`GuardedPubsub` just verified (py-libp2p's own check then passes them)."""


def signature_ok(msg: rpc_pb2.Message) -> bool:
    """py-libp2p's ``signature_validator``, False instead of an exception for a garbage key or peer id."""
    try:
        return bool(signature_validator(msg))
    except Exception as exc:
        log.debug("pubsub signature check raised %r: counted as a bad signature", exc)
        return False


def _prechecked_validator(msg: rpc_pb2.Message) -> bool:
    return id(msg) in _PRECHECKED or signature_ok(msg)


# py-libp2p's push_msg calls the module-level name: the guarded one never raises and skips a second verify.
_pubsub_module.signature_validator = _prechecked_validator  # type: ignore[attr-defined]


class _Misbehaved(Exception):
    """A frame that the sending peer is to blame for."""


class GuardedPubsub(Pubsub):
    """``Pubsub`` whose inbound side blames, never raises (see the module docstring)."""

    def __init__(self, *args: Any, admit: Callable[[str], bool], blame: Blame, max_data: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admit = admit
        self._blame = blame
        self._max_data = max_data

    async def stream_handler(self, stream: INetStream) -> None:
        await self.continuously_read_stream(stream)

    async def continuously_read_stream(self, stream: INetStream) -> None:
        """Handle one peer's RPC frames until the stream ends; every failure stays on this stream."""
        peer_id = stream.muxed_conn.peer_id
        peer = peer_id.to_base58()
        try:
            while self.manager.is_running:
                if not self._admit_frame(peer):
                    raise _Misbehaved("banned")
                incoming = await read_varint_prefixed_bytes_limited(stream, self.max_inbound_rpc_size)
                rpc = rpc_pb2.RPC()
                try:
                    rpc.ParseFromString(incoming)
                except DecodeError as exc:
                    raise _Misbehaved(f"a pubsub RPC frame of invalid protobuf ({exc})") from exc
                await self._handle_rpc(stream, peer_id, rpc, len(incoming))
        except (StreamEOF, StreamError, IOException, RawConnError) as exc:
            if isinstance(exc, MessageTooLarge):
                await self._drop(stream, peer_id, f"oversized pubsub RPC frame ({exc})")
            else:
                log.debug("pubsub stream of %s ended: %r", peer, exc)
        except _Misbehaved as exc:
            await self._drop(stream, peer_id, str(exc))
        except Exception as exc:  # whatever py-libp2p raised while handling this peer's frame
            log.warning("pubsub: handling a frame from %s raised %r; closing its stream", peer, exc, exc_info=True)
            await self._drop(stream, peer_id, f"pubsub frame raised {type(exc).__name__}: {str(exc)[:100]}")

    def _admit_frame(self, peer: str) -> bool:
        try:
            return not self.is_peer_blacklisted(ID.from_base58(peer))
        except Exception:
            return False

    async def _handle_rpc(self, stream: INetStream, peer_id: ID, rpc: rpc_pb2.RPC, size: int) -> None:
        """py-libp2p 0.8.1's loop body (``Pubsub.continuously_read_stream``), unchanged in what it does."""
        if not maybe_consume_signed_record(rpc, self.host, peer_id):
            log.debug("pubsub: an invalid signed peer record from %s; frame ignored", peer_id)
            return
        event = GossipsubEvent()
        event.peer_id = peer_id.pretty()
        event.message_size = size
        if rpc.publish:
            event.publish = True
            for msg in rpc.publish:
                if self._is_subscribed_to_msg(msg) and self.manager.is_running:
                    self.manager.run_task(self.push_msg, peer_id, msg)
        if rpc.subscriptions:
            event.subopts = True
            if len(rpc.subscriptions) > self.max_subscriptions_per_rpc:
                log.warning("peer %s sent %d subscriptions in one RPC (limit %d): ignored", peer_id,
                            len(rpc.subscriptions), self.max_subscriptions_per_rpc)
            else:
                for sub in rpc.subscriptions:
                    self.handle_subscription(peer_id, sub)
        if rpc.HasField("control"):
            event.control = True
            await self.router.handle_rpc(rpc, peer_id)
        if stream.metric_send_channel is not None:
            await stream.metric_send_channel.send(event)

    async def _drop(self, stream: INetStream, peer_id: ID, reason: str) -> None:
        if reason != "banned":
            self._charge(peer_id.to_base58(), reason)
        try:
            await stream.reset()
        except Exception:
            pass
        self._handle_dead_peer(peer_id)

    def _charge(self, peer: str, reason: str) -> None:
        try:
            self._blame(peer, reason)
        except Exception:
            log.exception("pubsub: blaming %s failed", peer)

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """Ban list, rate, size and signature first (charged to the forwarder), then py-libp2p's own path."""
        if msg_forwarder == self.my_id:
            await super().push_msg(msg_forwarder, msg)
            return
        peer = msg_forwarder.to_base58()
        try:
            if not self._admit(peer) or self._is_msg_seen(msg):
                return
            if len(msg.data) > self._max_data:
                self._charge(peer, f"oversized message ({len(msg.data)} bytes)")
                return
            if self.strict_signing and not signature_ok(msg):
                self._charge(peer, "a pubsub message whose signature does not verify")
                return
            _PRECHECKED.add(id(msg))
            try:
                await super().push_msg(msg_forwarder, msg)
            finally:
                _PRECHECKED.discard(id(msg))
        except Exception as exc:  # a pubsub task must never take the service down with it
            log.warning("pubsub: a message from %s raised %r; dropped", peer, exc, exc_info=True)
            self._charge(peer, f"pubsub message raised {type(exc).__name__}")
