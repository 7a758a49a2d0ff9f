"""The locked scorer ends when the process that started it is gone.

The scorer runs in a session of its own (a Ctrl-C to the node's process group must not kill it mid-score), so when a
node died mid-run (killed, or interrupted while its run thread was still waiting), nothing aborted the scorer: one
outlived its node by 14 minutes in a CI run, waiting out its deadline (the run's wall limit + 60 s + 240 s) on the
model server's pipe. Now it looks at its parent while it waits and ends, with a rejection in its result file, once
the parent it was started by is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SCORER = Path(__file__).resolve().parents[2] / "trainer" / "locked" / "evaluate.py"

PARENT = """
import json, os, subprocess, sys, time
cfg_path = sys.argv[2]
cfg = json.loads(open(cfg_path).read())
cfg["parent_pid"] = os.getpid()
open(cfg_path, "w").write(json.dumps(cfg))
child = subprocess.Popen([sys.executable, "-u", sys.argv[1], cfg_path], start_new_session=True,
                         stdout=open(cfg_path + ".log", "wb"), stderr=subprocess.STDOUT)
print(child.pid, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    """The process ended (a zombie counts as ended: the parent that would reap it is what this test kills)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")


def test_the_scorer_ends_when_the_node_that_started_it_is_gone(tmp_path: Path) -> None:
    to_model, from_model = tmp_path / "to_model.fifo", tmp_path / "from_model.fifo"
    os.mkfifo(to_model, 0o600)
    os.mkfifo(from_model, 0o600)
    (tmp_path / "val.bin").write_bytes(bytes(range(256)) * 8)
    cfg = {"to_model": str(to_model), "from_model": str(from_model), "val_path": str(tmp_path / "val.bin"),
           "result_path": str(tmp_path / "result.json"), "wait_seconds": 600, "max_seconds": 240,
           "eval_context": 16, "eval_batch": 2, "threads": 1}
    cfg_path = tmp_path / "scorer.json"
    cfg_path.write_text(json.dumps(cfg))
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(SCORER), str(cfg_path)], stdout=subprocess.PIPE)
    scorer = 0
    try:
        assert parent.stdout is not None
        scorer = int(parent.stdout.readline())
        assert not gone(scorer)
        parent.send_signal(signal.SIGKILL)   # the node dies mid-run: nobody calls Evaluation.abort()
        parent.wait(timeout=30)
        # it imports torch, reads the val slice, then waits on the model server's pipe: its deadline is 840 s away
        wait_for(lambda: gone(scorer), timeout=90, what="the orphaned scorer to end")
        record = json.loads((tmp_path / "result.json").read_text())
        assert record["status"] == "rejected" and "exited" in record["reason"], record
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if scorer and not gone(scorer):
            os.kill(scorer, signal.SIGKILL)
