"""The local patches to py-libp2p's pubsub (node.net.pubsub): a garbage key is a bad signature, not an exception."""

from __future__ import annotations

import os

import pytest
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import signature_validator

from node.net.host import key_pair_from_seed
from node.net.pubsub import signature_ok
from protocol import Identity
from tests.integration.hostile_net import signed_message


def _poison() -> rpc_pb2.Message:
    """from_id is a sha2-256 multihash (no key inside), so the garbage ``key`` field is parsed."""
    return rpc_pb2.Message(from_id=b"\x12\x20" + os.urandom(32), data=b"x", seqno=os.urandom(8), topicIDs=["t"],
                           signature=os.urandom(64), key=b"garbage")


def test_py_libp2p_raises_on_a_garbage_key_and_the_guard_says_false() -> None:
    with pytest.raises(Exception):
        signature_validator(_poison())  # what took a node down: raised inside a pubsub task
    assert signature_ok(_poison()) is False


def test_a_valid_signature_passes_and_a_random_one_fails() -> None:
    key_pair = key_pair_from_seed(Identity.generate().private_bytes)
    good = signed_message(key_pair, "t", b"data")
    assert signature_ok(good) is True
    bad = rpc_pb2.Message()
    bad.CopyFrom(good)
    bad.signature = os.urandom(64)
    assert signature_ok(bad) is False


def test_py_libp2p_push_msg_uses_the_guarded_validator() -> None:
    assert pubsub_module.signature_validator is not signature_validator
    assert pubsub_module.signature_validator(_poison()) is False
