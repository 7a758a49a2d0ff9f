"""Join strings: round trips, bare swarm ids, and a clear JoinStringError for every way a pasted string goes wrong."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import JoinStringError
from node.joinstring import MAX_JOIN_LENGTH, Join, format_join, parse_join

PEER = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"
SID = bytes.fromhex("3f" * 32)
ADDR = f"/ip4/192.168.1.5/tcp/4001/p2p/{PEER}"


def test_round_trip_with_several_peers() -> None:
    addrs = [ADDR, f"/ip6/::1/tcp/4001/p2p/{PEER}", f"/dns4/node.example/tcp/4001/p2p/{PEER}"]
    text = format_join(SID, addrs)
    assert text == "swarm://" + "3f" * 32 + "@" + ",".join(addrs)
    assert parse_join(text) == Join(SID, tuple(addrs))
    assert str(parse_join(text)) == text


def test_bare_ids_and_whitespace_are_accepted() -> None:
    assert parse_join("3F" * 32) == Join(SID, ())
    assert parse_join(f"  swarm://{'3f' * 32}\n") == Join(SID, ())
    assert parse_join(f"swarm://{'3f' * 32}@{ADDR}, {ADDR}") == Join(SID, (ADDR,))
    assert format_join(SID, []) == "swarm://" + "3f" * 32


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "empty"),
        ("swarm://abc@" + ADDR, "64 hex"),
        ("https://" + "3f" * 32, "must start with"),
        (f"swarm://{'3f' * 32}@", "empty peer address"),
        (f"swarm://{'3f' * 32}@/ip4/1.2.3.4/tcp/4001", "/p2p/"),
        (f"swarm://{'3f' * 32}@/ip4/1.2.3.4/tcp/4001/p2p/notapeer", "not a valid multiaddr"),
        (f"swarm://{'3f' * 32}@/ip4/999.2.3.4/tcp/4001/p2p/{PEER}", "not a valid multiaddr"),
        (f"swarm://{'3f' * 32}@ip4/1.2.3.4/tcp/1/p2p/{PEER}", "must start with '/'"),
        (f"swarm://{'3f' * 32}@/ip4/0.0.0.0/tcp/4001/p2p/{PEER}", "LAN or public address"),
        (f"swarm://{'3f' * 32}@" + ",".join([ADDR] * 17), "more than 16"),
        ("swarm://" + "3f" * 32 + "@" + "/ip4/1.2.3.4" * 400, "characters long"),
    ],
)
def test_bad_join_strings_say_what_to_fix(text: str, hint: str) -> None:
    with pytest.raises(JoinStringError, match=re.escape(hint)):
        parse_join(text)


def test_format_refuses_bad_inputs() -> None:
    with pytest.raises(JoinStringError, match="32 bytes"):
        format_join(b"short", [ADDR])
    with pytest.raises(JoinStringError, match="/p2p/"):
        format_join(SID, ["/ip4/1.2.3.4/tcp/4001"])


@given(st.text(max_size=MAX_JOIN_LENGTH + 50))
def test_arbitrary_text_parses_or_raises_join_string_error(text: str) -> None:
    try:
        join = parse_join(text)
    except JoinStringError:
        return
    assert len(join.swarm_id) == 32 and all("/p2p/" in p for p in join.peers)


@given(st.text(alphabet="/ip4630.:tcpudp2P12D3Koo,@swarm", max_size=200))
def test_multiaddr_shaped_garbage_never_escapes(text: str) -> None:
    try:
        parse_join(f"swarm://{'3f' * 32}@{text}")
    except JoinStringError:
        pass
