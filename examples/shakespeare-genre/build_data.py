"""Build this example's data from the embedded corpus (no download, deterministic): `python build_data.py [OUT]`.

The rows come from :mod:`trainer.tasks.examples` (the package's builder); the default output is `data.jsonl` here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from trainer.tasks.examples import build

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "data.jsonl"
    print(f"{out}: {build('shakespeare-genre', out)} rows of shakespeare-genre")
