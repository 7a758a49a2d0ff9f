"""A normal (non-editable) install of this project in a throwaway venv, and experiments run from it.

Where the package is installed for real, its files (the corpus included) sit in the venv's site-packages, which the
training sandbox binds read-only for imports; an editable install keeps them in the source tree, which no sandbox
binds, and would hide the hole. The venv borrows torch and the other dependencies from this interpreter's
site-packages through a ``.pth`` line (its ``.pth`` files, the editable finder among them, are not processed there).
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

RUNNER = '''
import json, sys
from pathlib import Path
import trainer
from trainer import Budget, builtin_dataset, run_experiment
args = json.loads(sys.argv[1])
assert "site-packages" in trainer.__file__, trainer.__file__
s = run_experiment(Path(args["source"]).read_text(), builtin_dataset(), Budget.parse(args["budget"]),
                   work_root=Path(args["work_root"]), cache_dir=Path(args["cache"]), require_sandbox=True)
print("@@summary " + json.dumps({"status": s.status, "val_bpb": s.val_bpb, "reason": s.reason,
                                  "log_tail": s.log_tail, "sandboxed": s.sandboxed, "package": trainer.__file__}))
'''


@pytest.fixture(scope="session")
def installed_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv with this project pip-installed into it (not editable)."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    target = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(REPO)], check=True, timeout=300, capture_output=True)
    (target / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def run_installed(python: Path, tmp_path: Path, source: str, budget: str, cache: Path) -> dict[str, object]:
    """Run one experiment from the installed package in a child process; its summary as a dict."""
    (tmp_path / "train.py").write_text(source)
    args = {"source": str(tmp_path / "train.py"), "budget": budget, "work_root": str(tmp_path / "runs"),
            "cache": str(cache)}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([str(python), "-c", RUNNER, json.dumps(args)], capture_output=True, text=True, timeout=900,
                          env=env, cwd=tmp_path)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@summary ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    summary: dict[str, object] = json.loads(lines[-1][len("@@summary "):])
    assert summary["sandboxed"] is True
    return summary
