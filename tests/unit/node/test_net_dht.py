"""The DHT's manifest validator: only a signed manifest whose hash is the key's swarm id."""

from __future__ import annotations

import pytest
from libp2p.records.utils import InvalidRecordType

from node.net.dht import ManifestValidator, manifest_key
from protocol import swarm_id_of
from tests.factories import ALICE, make_manifest


def test_accepts_only_the_manifest_that_hashes_to_the_key() -> None:
    envelope, other = make_manifest(ALICE), make_manifest(ALICE, name="other")
    key = manifest_key(swarm_id_of(envelope))
    assert key == f"/swarm-node/manifest/{swarm_id_of(envelope).hex()}"
    validator = ManifestValidator()
    validator.validate(key, envelope)
    for bad_key, value in ((key, other), (key, b"garbage"), ("/swarm-node/manifest/zz", envelope),
                           ("/swarm-node/other/" + "00" * 32, envelope)):
        with pytest.raises(InvalidRecordType):
            validator.validate(bad_key, value)
    assert validator.select(key, [b"garbage", other, envelope]) == 2
