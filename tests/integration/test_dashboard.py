"""The web dashboard in a real headless browser: it loads, shows what a node stored, and updates live."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path


from node.feed.netpanel import STATE_NET
from node.ledger import Ledger
from protocol import swarm_id_of
from tests.factories import ALICE, BOB, make_manifest, signed_result, write_identity
from tests.waiting import wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_dashboard_shows_stored_results_and_updates(tmp_path: Path) -> None:
    assert CHROMIUM, "Debian's chromium is needed for this test (.ci/run installs it: apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    home.mkdir()
    write_identity(home, ALICE)  # ALICE's node: its own results are its best
    manifest = make_manifest(ALICE, name="dashboard-test")
    swarm = swarm_id_of(manifest)
    ledger = Ledger(home / "ledger.sqlite")
    ledger.put_manifest(swarm, manifest)
    base = "b" * 40
    ledger.add_results([
        signed_result(ALICE, 1, swarm, metric=2.5, blob=base, description="baseline run", action="baseline"),
        signed_result(ALICE, 2, swarm, metric=2.52, blob=base, description="baseline run", action="baseline",
                      run_index=1),
        signed_result(BOB, 1, swarm, metric=2.6, status="discard", commit="", description="<script>alert(1)</script>",
                      action="explore"),
        signed_result(BOB, 2, swarm, metric=0.0, status="crash", commit="", description="too wide", action="explore"),
    ])
    ledger.status.set_peers(["12D3KooWHomeBehindNat", "12D3KooWPublicSeed"])
    ledger.set_state(STATE_NET, {"reachability": "private", "relaying": 0,
                                 "links": {"12D3KooWHomeBehindNat": "relayed", "12D3KooWPublicSeed": "direct"}})
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "node", "dashboard", "--home", str(home), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: _answers(url + "api/feed"), timeout=30, what="the dashboard to answer")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("body[data-count='4']", timeout=15_000)
            assert "baseline run" in page.inner_text("#latest")
            assert "<script>alert(1)</script>" in page.inner_text("#latest")  # shown as text, never run
            assert "dashboard-test" in page.inner_text("#swarm")
            assert "2.5100" in page.inner_text("#best")  # the baseline's value is the mean of its 2 runs
            assert "12D3KooWHomeBehindNat (relayed)" in page.inner_text("#peers")
            assert "reachable: private" in page.inner_text("#reachability")
            assert page.locator("#plot .pt").count() == 4  # every result is a point, the crash too
            assert page.locator("#plot .pt.crash").count() == 1 and page.locator("#plot .pt.discard").count() == 1

            rotary = "c" * 40
            top = signed_result(ALICE, 3, swarm, metric=2.31, parent="1" * 40, blob=rotary,
                                description="rotary positions", action="explore")
            ledger.add_results([top, signed_result(ALICE, 4, swarm, metric=2.33, parent="1" * 40, blob=rotary,
                                                   description="rotary positions", action="rerun", run_index=1),
                                signed_result(BOB, 3, swarm, metric=2.325, blob=rotary, reproduces=top.message_id,
                                              description="verify", action="verify", run_index=2)])
            page.wait_for_selector("body[data-count='7']", timeout=15_000)
            assert "2.3217" in page.inner_text("#best")  # mean of the two runs and the attestation
            assert "rotary positions" in page.inner_text("#lineage")
            assert page.locator("#plot .pt.attestation").count() == 1
            assert page.locator("#plot .best-line").count() == 1 and page.locator("#plot .band").count() == 1
            assert "paired std" in page.inner_text("#noise") and "baselines" in page.inner_text("#noise")
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        ledger.close()
