"""Protocol version 2: results carry action, run_index, cpu_seconds and clock; version-1 results still decode.

``golden_v1.json`` holds the envelopes the version-1 code signed (the golden file before the bump): they must keep
decoding, with the new fields filled in (clock "wall", run 0, the action read once from the description).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol import (PROTOCOL_VERSION, SIGNED_VERSION, InvalidValue, decode_and_verify, legacy_action,
                      sign_message, swarm_id_of)
from protocol import SchemaError
from protocol.canonical import unpack
from tests.unit.protocol.factories import ALICE, NOW, result, sign_body, wire_fields

GOLDEN_V1 = json.loads(Path(__file__).with_name("golden_v1.json").read_text())


def v1_fields(message: object) -> tuple[object, ...]:
    return wire_fields(message)[:-4]  # the four version-2 fields are the last ones


def test_version_1_golden_results_still_decode_with_defaults() -> None:
    plain = decode_and_verify(bytes.fromhex(GOLDEN_V1["signed"]["result"]), now=NOW).message
    assert plain == result(seq=7, action="explore", run_index=0, cpu_seconds=0.0, clock="wall")
    attest = decode_and_verify(bytes.fromhex(GOLDEN_V1["signed"]["attestation"]), now=NOW).message
    assert attest.action == "adopt" and attest.clock == "wall" and attest.reproduces


def test_version_1_manifest_keeps_its_bytes_and_swarm_id() -> None:
    from tests.unit.protocol.factories import manifest

    raw = sign_message(ALICE, manifest())
    assert raw.hex() == GOLDEN_V1["signed"]["manifest"]
    assert swarm_id_of(raw).hex() == GOLDEN_V1["swarm_id"]


@pytest.mark.parametrize("description,reproduces,action", [
    ("baseline run 2/3", b"", "baseline"),
    ("stack: a + b", b"", "stack"),
    ("adopt 0a1b2c3d: lr up", b"\1" * 32, "adopt"),
    ("verify 0123456789: confirms 2.4100 (here 2.4120)", b"\1" * 32, "verify"),
    ("LR 4e-3 -> 6e-3", b"", "explore"),
    ("", b"", "unknown"),
])
def test_action_is_derived_once_from_old_prefixes(description: str, reproduces: bytes, action: str) -> None:
    old = result(description=description, reproduces=reproduces)
    raw = sign_body(ALICE, "result", v1_fields(old), version=1)
    got = decode_and_verify(raw, now=NOW).message
    assert got.action == action == legacy_action(description, reproduces)
    assert (got.run_index, got.cpu_seconds, got.clock) == (0, 0.0, "wall")


def test_results_are_signed_at_version_2_with_their_fields() -> None:
    new = result(action="rerun", run_index=3, cpu_seconds=119.5, clock="cpu", description="any words at all")
    raw = sign_message(ALICE, new)
    assert unpack(raw, max_len=len(raw))[0] == SIGNED_VERSION["result"] == 2
    assert decode_and_verify(raw, now=NOW).message == new  # the action does not come from the description


def test_version_2_fields_are_strict() -> None:
    for bad in ({"action": "promote"}, {"clock": "gpu"}, {"run_index": -1}, {"cpu_seconds": -1.0}):
        fields = wire_fields(result())
        names = ("action", "run_index", "cpu_seconds", "clock")
        (key, value), = bad.items()
        fields = fields[:-4] + tuple(value if n == key else fields[-4 + i] for i, n in enumerate(names))
        with pytest.raises(InvalidValue):
            decode_and_verify(sign_body(ALICE, "result", fields), now=NOW)


def test_a_version_1_body_with_version_2_fields_is_refused() -> None:
    from protocol import SchemaError

    with pytest.raises(SchemaError):
        decode_and_verify(sign_body(ALICE, "result", wire_fields(result()), version=1), now=NOW)
    with pytest.raises(SchemaError):
        decode_and_verify(sign_body(ALICE, "result", v1_fields(result()), version=2), now=NOW)


CLASSIFY = '{"direction": "max", "kind": "classify", "metric": "accuracy"}'


def test_a_version_1_manifest_decodes_as_an_lm_swarm() -> None:
    from tests.unit.protocol.factories import manifest

    got = decode_and_verify(bytes.fromhex(GOLDEN_V1["signed"]["manifest"]), now=NOW).message
    assert got == manifest() and (got.task, got.eval_blob, got.task_kind) == ("lm", "", "lm")


def test_a_task_manifest_is_signed_at_version_2_and_round_trips() -> None:
    from tests.unit.protocol.factories import manifest

    new = manifest(task=CLASSIFY, metric_name="accuracy", metric_direction="max")
    raw = sign_message(ALICE, new)
    assert unpack(raw, max_len=len(raw))[0] == 2 < SIGNED_VERSION["manifest"]  # no rungs: version 2
    got = decode_and_verify(raw, now=NOW).message
    assert got == new and got.task_kind == "classify" and swarm_id_of(raw) != GOLDEN_V1["swarm_id"]
    custom = manifest(task='{"direction": "max", "kind": "custom", "metric": "auc"}', eval_blob="6" * 40,
                      metric_name="auc", metric_direction="max")
    assert decode_and_verify(sign_message(ALICE, custom), now=NOW).message.eval_blob == "6" * 40


@pytest.mark.parametrize("changes,words", [
    ({"task": "classify"}, "neither 'lm' nor JSON"),
    ({"task": '{"kind": "regress"}'}, "not one of"),
    ({"task": CLASSIFY}, "metric 'accuracy' is not the manifest's 'val_bpb'"),
    ({"task": CLASSIFY, "metric_name": "accuracy"}, "direction 'max' is not the manifest's 'min'"),
    ({"task": CLASSIFY, "metric_name": "accuracy", "metric_direction": "max", "eval_blob": "6" * 40}, "only a custom"),
    ({"task": '{"direction": "max", "kind": "custom", "metric": "auc"}', "metric_name": "auc",
      "metric_direction": "max"}, "names its evaluate.py"),
])
def test_a_manifest_whose_task_disagrees_is_refused(changes: dict[str, str], words: str) -> None:
    from tests.unit.protocol.factories import manifest

    bad = manifest(**changes)
    with pytest.raises(InvalidValue, match=words.replace("(", r"\(")):
        sign_message(ALICE, bad)
    fields = wire_fields(bad)[:-1]  # a version-2 body: no rungs
    with pytest.raises(InvalidValue, match=words.replace("(", r"\(")):
        decode_and_verify(sign_body(ALICE, "manifest", fields, version=2), now=NOW)


RUNGS = '[{"budget": 5, "scale": {"N_EMBD": 2, "N_LAYER": 2}}]'


def test_a_manifest_with_rungs_is_signed_at_version_3_and_round_trips() -> None:
    from tests.unit.protocol.factories import manifest

    new = manifest(rungs=RUNGS)
    raw = sign_message(ALICE, new)
    assert unpack(raw, max_len=len(raw))[0] == SIGNED_VERSION["manifest"] == PROTOCOL_VERSION == 3
    assert decode_and_verify(raw, now=NOW).message == new and swarm_id_of(raw).hex() != GOLDEN_V1["swarm_id"]
    task = manifest(task=CLASSIFY, metric_name="accuracy", metric_direction="max", rungs=RUNGS)
    assert decode_and_verify(sign_message(ALICE, task), now=NOW).message.rungs == RUNGS


def test_manifests_before_version_3_have_no_rungs() -> None:
    from tests.unit.protocol.factories import manifest

    assert decode_and_verify(bytes.fromhex(GOLDEN_V1["signed"]["manifest"]), now=NOW).message.rungs == ""
    v2 = manifest(task=CLASSIFY, metric_name="accuracy", metric_direction="max")
    assert decode_and_verify(sign_body(ALICE, "manifest", wire_fields(v2)[:-1], version=2), now=NOW).message == v2
    with pytest.raises(SchemaError):  # a version-2 body with a rungs field, or a version-3 body without one
        decode_and_verify(sign_body(ALICE, "manifest", wire_fields(manifest(rungs=RUNGS)), version=2), now=NOW)
    with pytest.raises(SchemaError):
        decode_and_verify(sign_body(ALICE, "manifest", wire_fields(v2)[:-1], version=3), now=NOW)


@pytest.mark.parametrize("rungs,words", [
    ("rung 1: 5x", "not JSON"),
    ('{"budget": 5}', "JSON array of objects"),
    ("[]", "JSON array of objects"),
    ("[5]", "JSON array of objects"),
    ("[" + "{}," * 2000 + "{}]", "characters"),
    ('[{"budget": 5}]\n', "control characters"),
])
def test_hostile_rungs_are_refused(rungs: str, words: str) -> None:
    from protocol import LimitExceeded
    from tests.unit.protocol.factories import manifest

    with pytest.raises((InvalidValue, LimitExceeded), match=words):
        sign_message(ALICE, manifest(rungs=rungs))
    with pytest.raises((InvalidValue, LimitExceeded), match=words):
        decode_and_verify(sign_body(ALICE, "manifest", wire_fields(manifest(rungs=rungs)), version=3), now=NOW)
