"""AutoNAT with a fresh dial-back (node/net/nat.py), on 127.0.0.1 in one process; the UPnP opt-out in the config."""

from __future__ import annotations

import contextlib
import os
from typing import AsyncIterator

import trio
from libp2p.abc import IHost
from libp2p.host.autonat.autonat import AutoNATService
from libp2p.host.autonat.pb.autonat_pb2 import Message
import multiaddr

from node.config import load_config
from node.net.host import build_host, parse_peer_addr, peer_addrs
from node.net.links import NetSettings
from node.net.nat import PRIVATE, PUBLIC, DialBackService, Reachability, probe_libp2p


@contextlib.asynccontextmanager
async def _pair() -> AsyncIterator[tuple[IHost, IHost]]:
    async with contextlib.AsyncExitStack() as stack:
        hosts = []
        for _ in range(2):
            host, listen = build_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"])
            await stack.enter_async_context(host.run(listen_addrs=listen))
            hosts.append(host)
        await hosts[0].connect(parse_peer_addr(peer_addrs(hosts[1])[0]))
        yield hosts[0], hosts[1]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dial_back_to_an_address_nobody_listens_on_fails_though_the_peer_is_connected() -> None:
    async def main(server_cls: type[AutoNATService]) -> int:
        async with _pair() as (client, server):
            server_cls(server, serve=True)  # type: ignore[arg-type]
            asker = AutoNATService(client, serve=False)  # type: ignore[arg-type]
            dead = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{_closed_port()}").to_bytes()
            status, _ = await asker.query_server(server.get_id(), [dead], timeout=10)
            return status

    assert trio.run(main, AutoNATService) == int(Message.OK), "py-libp2p's server reused the open connection"
    assert trio.run(main, DialBackService) == int(Message.E_DIAL_ERROR)


def test_reachability_is_public_when_a_peer_dials_back_a_real_listener_and_private_when_not() -> None:
    async def main() -> tuple[str, str]:
        async with _pair() as (client, server):
            DialBackService(server, serve=True)  # type: ignore[arg-type]
            await trio.sleep(0.3)  # identify tells the client that the server speaks AutoNAT
            good = Reachability(client, lambda: [a.rsplit("/p2p/", 1)[0] for a in peer_addrs(client)])
            bad = Reachability(client, lambda: [f"/ip4/127.0.0.1/tcp/{_closed_port()}"])
            with trio.fail_after(20):
                while await good.check() != PUBLIC:
                    await trio.sleep(0.2)
                while await bad.check() != PRIVATE:
                    await trio.sleep(0.2)
            return good.status, bad.status

    assert trio.run(main) == (PUBLIC, PRIVATE)


def test_probe_wants_a_libp2p_greeting_not_just_an_open_port() -> None:
    async def main() -> tuple[bool, bool]:
        async def silent(stream: trio.SocketStream) -> None:
            await trio.sleep(10)

        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, silent, 0)
            port = listeners[0].socket.getsockname()[1]
            silent_ok = await probe_libp2p("127.0.0.1", port, timeout=1)
            closed_ok = await probe_libp2p("127.0.0.1", _closed_port(), timeout=1)
            nursery.cancel_scope.cancel()
        return silent_ok, closed_ok

    assert trio.run(main) == (False, False)


def test_relay_and_upnp_flags_reach_the_network_settings() -> None:
    relay = "/ip4/198.51.100.10/tcp/4001/p2p/12D3KooWQXX6c1L3rYvZK5acwBDVtX8k4xHnG3NpaLd4W8m9Ji73"
    config = load_config(env={}, overrides={"relays": (relay,), "upnp": False})
    settings = NetSettings.from_config(config)
    assert settings.relays == (relay,) and settings.upnp is False
    assert NetSettings.from_config(load_config(env={})).upnp is True
    env = load_config(env={"SWARM_NODE_UPNP": "0", "SWARM_NODE_RELAYS": relay})
    assert env.upnp is False and env.relays == (relay,)
