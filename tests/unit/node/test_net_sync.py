"""The sync server answers "what you hold above my seq vector", bounded, from the ledger."""

from __future__ import annotations

from pathlib import Path

import trio

from node.ledger import Ledger
from node.net.sync import SyncServer
from protocol import SyncRequest, SyncResponse, decode_and_verify, decode_request, encode_request
from tests.factories import ALICE, BOB, signed_result

SWARM = b"\x11" * 32


def ask(server: SyncServer, have: dict[bytes, int], limit: int = 100, swarm: bytes = SWARM) -> SyncResponse:
    req = encode_request(SyncRequest(swarm_id=swarm, have=tuple(sorted(have.items())), limit=limit))
    return decode_request(trio.run(server.handle, "peer", req), SyncResponse)


def test_answers_exactly_what_the_asker_lacks(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add_results([signed_result(ALICE, s, SWARM) for s in range(1, 6)])
        ledger.add_results([signed_result(BOB, s, SWARM) for s in range(1, 3)])
        server = SyncServer(SWARM, ledger)
        resp = ask(server, {ALICE.public_key: 3})
        got = sorted((v.author, v.message.seq) for v in map(decode_and_verify, resp.envelopes))
        assert got == sorted([(ALICE.public_key, 4), (ALICE.public_key, 5), (BOB.public_key, 1), (BOB.public_key, 2)])
        assert resp.more is False
        assert ask(server, {ALICE.public_key: 5, BOB.public_key: 2}).envelopes == ()


def test_pages_with_more_and_refuses_other_swarms(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add_results([signed_result(ALICE, s, SWARM) for s in range(1, 8)])
        server = SyncServer(SWARM, ledger)
        first = ask(server, {}, limit=3)
        assert len(first.envelopes) == 3 and first.more is True
        other = ask(server, {}, swarm=b"\x22" * 32)
        assert other.envelopes == () and other.more is False
