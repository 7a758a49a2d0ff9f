"""A writer SIGKILLed at a random moment loses no acknowledged row and leaves the ledger file intact.

A child process writes batches of real signed results (one ``add_results`` transaction each) and prints the batch id
after each commit returns. The test kills it with SIGKILL at a random point, reopens the ledger and checks that every
acknowledged row is there, ``PRAGMA integrity_check`` passes and the seq vector agrees with the rows. Several rounds
run on the same file, each one resuming after the rows that survived.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from node.ledger import Ledger
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
SWARM = bytes(range(32))
BATCH = 20
ROUNDS = 4

WRITER = r"""
import sys, time
from pathlib import Path
from node.ledger import Ledger
from protocol import BudgetRule, Identity, Result, decode_and_verify, sign_message

path, first_seq, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
me = Identity.from_private_bytes(b"k" * 32)
swarm = bytes(range(32))
now = time.time()

def result(seq):
    return Result(swarm_id=swarm, author=me.public_key, seq=seq, created_at=now, commit="", parent="",
                  blob="%040x" % seq, metric=2.5, status="discard", hw_class="cpu:2t", hw_fingerprint="test",
                  budget=BudgetRule("seconds", 60), steps=1, tokens=1, wall_seconds=1.0, peak_memory_mb=1.0,
                  description="sigkill test %d" % seq)

with Ledger(path) as ledger:
    seq = first_seq
    for batch_id in range(100_000):
        items = [decode_and_verify(sign_message(me, result(s)), now=now) for s in range(seq, seq + batch)]
        assert all(ledger.add_results(items))
        print(f"ack {batch_id} {seq} {seq + batch - 1}", flush=True)
        seq += batch
"""


def run_round(path: Path, first_seq: int, rng: random.Random) -> list[tuple[int, int]]:
    """Start the writer, SIGKILL it after a random number of acknowledged batches; return the acked seq ranges."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first_seq), str(BATCH)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    target = rng.randint(1, 12)
    try:
        wait_for(lambda: len(lines) >= target or child.poll() is not None, timeout=30, what=f"{target} acks")
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    reader.join(timeout=10)
    acked = []
    for line in lines:  # the pipe still holds everything printed before the kill
        if line.startswith("ack ") and line.endswith("\n"):
            _, _, lo, hi = line.split()
            acked.append((int(lo), int(hi)))
    assert len(acked) >= target
    return acked


def test_sigkill_loses_no_acknowledged_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    author = None
    first_seq = 1
    total_acked = 0
    for _ in range(ROUNDS):
        acked = run_round(path, first_seq, rng)
        total_acked += sum(hi - lo + 1 for lo, hi in acked)
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            seqs = {s for (s,) in conn.execute("SELECT seq FROM results")}
            author = conn.execute("SELECT author FROM results LIMIT 1").fetchone()[0]
        finally:
            conn.close()
        missing = [s for lo, hi in acked for s in range(lo, hi + 1) if s not in seqs]
        assert missing == [], f"acknowledged but lost: {missing[:10]}"
        with Ledger(path) as ledger:  # reopens cleanly after the crash; heads were written with the rows
            top = 0
            while top + 1 in seqs:
                top += 1
            assert ledger.seq_vector(SWARM) == {bytes(author): top}
            assert ledger.count() == len(seqs)
        first_seq = max(seqs) + 1
    assert total_acked >= ROUNDS
