"""The dashboard answers only requests that name it: DNS rebinding cannot read the feed from another origin."""

from __future__ import annotations

import http.client

import pytest

from node.feed.web import DashboardServer


def _get(port: int, host_header: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", "/api/feed", skip_host=True)
        conn.putheader("Host", host_header)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture()
def dash() -> DashboardServer:
    with DashboardServer(lambda: {"results": ["secret"]}, "127.0.0.1", 0) as server:
        yield server


def test_a_rebinding_host_header_is_refused(dash: DashboardServer) -> None:
    port = int(dash.url.rsplit(":", 1)[1].strip("/"))
    for evil in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.attacker.example", ""):
        status, body = _get(port, evil)
        assert status == 421, evil
        assert b"secret" not in body


def test_loopback_names_are_served(dash: DashboardServer) -> None:
    port = int(dash.url.rsplit(":", 1)[1].strip("/"))
    for good in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        status, body = _get(port, good)
        assert status == 200, good
        assert b"secret" in body
