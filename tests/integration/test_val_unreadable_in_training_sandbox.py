"""No byte of the val split is readable in the training sandbox, found by content, not by name.

A train.py run from a normal (non-editable) install walks every readable file of its sandbox (``/proc``, ``/sys`` and
``/dev`` aside), decompresses what is compressed (xz, gzip, bzip2, zip members; nested up to 3 deep), and looks for
any 256-byte window of the val split: such a window always holds a whole 128-byte chunk aligned in the file, so it
looks up every aligned 128-byte chunk among the hashes of all the val split's 128-byte substrings. The hashes
(``hash()`` under the sandbox's ``PYTHONHASHSEED=0``, not val bytes) reach it through a file the test puts in the
installed venv (bound read-only for imports). A canary beside it (one 256-byte val window inside a gzip file, put
there by the test) shows in the same run that the walk finds what it looks for. Two processes share the files.

Hashing every chunk of ~8 GB in Python cost ~10 CPU-s per GB, so a sieve at numpy speed goes first and hashes only
the chunks it lets through: a chunk that is a val substring ``val[i:i + 128]`` starts with the 8-gram ``val[i:i + 8]``
and ends with ``val[i + 120:i + 128]``; the test passes a 24-bit mix of each such head and tail 8-gram (not the bytes),
and a chunk whose head or tail mix is not among them cannot be a val substring. The sieve drops no chunk the full
lookup would find: the walk still reads and checks every byte.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cheats import needs_sandbox
from tests.integration.installed import installed_python, run_installed  # noqa: F401 - the fixture
from trainer import builtin_dataset
from trainer.data import split_sizes

pytestmark = needs_sandbox

HASHES = "import sys; d = open(sys.argv[1], 'rb').read(); print('\\n'.join(str(hash(d[i:i + 128])) " \
         "for i in range(len(d) - 127)))"
MIX, SHIFT = 0x9E3779B97F4A7C15, 40  # the sieve's 24-bit mix of a little-endian 8-gram: (w * MIX mod 2**64) >> SHIFT


def sieve_of(val: bytes, at: int) -> bytes:
    """The sieve's table: byte m is 1 when some 128-byte val substring's 8-gram at offset ``at`` mixes to m."""
    table = bytearray(1 << (64 - SHIFT))
    for i in range(len(val) - 127):
        table[(int.from_bytes(val[i + at:i + at + 8], "little") * MIX % (1 << 64)) >> SHIFT] = 1
    return bytes(table)


WALKER = r'''
import bz2, io, json, lzma, os, sys, zipfile, zlib
import numpy as np
assert sys.flags.hash_randomization == 0
NEEDLES_PATH = os.path.join(sys.prefix, "needles.txt")
NEEDLES = {int(line) for line in open(NEEDLES_PATH)}
SIEVE_PATHS = [os.path.join(sys.prefix, f"sieve{at}.bin") for at in (0, 120)]
HEADS, TAILS = (np.frombuffer(open(path, "rb").read(), dtype=np.uint8).astype(bool) for path in SIEVE_PATHS)
MIX, SHIFT = np.uint64(@MIX@), np.uint64(@SHIFT@)
LIMIT = 1 << 30
stats = {"files": 0, "bytes": 0, "unpacked": 0, "unreadable": 0, "hashed": 0}
hits = []


def unpack(data):
    if data[:6] == b"\xfd7zXZ\x00":
        yield "xz", lzma.LZMADecompressor().decompress(data, max_length=LIMIT)
    elif data[:2] == b"\x1f\x8b":
        yield "gz", zlib.decompressobj(wbits=31).decompress(data, LIMIT)
    elif data[:3] == b"BZh":
        yield "bz2", bz2.BZ2Decompressor().decompress(data, max_length=LIMIT)
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.file_size <= LIMIT:
                    yield info.filename, archive.read(info)


def candidates(data):
    """Indexes of the aligned 128-byte chunks whose head and tail 8-grams pass the sieve (all val chunks do)."""
    words = np.frombuffer(data, dtype="<u8", count=len(data) // 128 * 16).reshape(-1, 16)
    keep = HEADS[(words[:, 0] * MIX) >> SHIFT]
    keep &= TAILS[(words[:, 15] * MIX) >> SHIFT]
    return np.flatnonzero(keep).tolist()


def scan(data, where, depth):
    for start in range(0, len(data), 16 << 20):
        part = data[start:start + (16 << 20)]
        small = len(part) < 1 << 13  # where numpy's per-call cost is more than hashing every chunk
        chunks = [part[128 * k:128 * k + 128] for k in (range(len(part) // 128) if small else candidates(part))]
        stats["hashed"] += len(chunks)
        if not NEEDLES.isdisjoint(map(hash, chunks)):
            hits.append(where)
            break
    if depth < 3:
        try:
            for name, inner in unpack(data):
                stats["unpacked"] += 1
                scan(inner, where + "!" + name, depth + 1)
        except Exception:
            pass


paths = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in files:
        path = os.path.join(root, name)
        if not (os.path.islink(path) or not os.path.isfile(path) or path in (NEEDLES_PATH, *SIEVE_PATHS)):
            paths.append(path)
# Two processes, every other file each (CI has 2 cores): the child reports its counts and hits through a pipe.
reader, writer = os.pipe()
child = os.fork()
if child == 0:
    os.close(reader)
for path in paths[1 if child == 0 else 0::2]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        stats["unreadable"] += 1
        continue
    stats["files"] += 1
    stats["bytes"] += len(data)
    scan(data, path, 0)
if child == 0:
    with os.fdopen(writer, "w") as out:
        out.write(json.dumps({**stats, "hits": hits[:20]}))
    os._exit(0)
os.close(writer)
with os.fdopen(reader) as report:
    theirs = json.loads(report.read())
os.waitpid(child, 0)
stats = {key: stats[key] + theirs[key] for key in stats}
print("WALK " + json.dumps({**stats, "hits": (hits + theirs["hits"])[:20]}))
sys.exit(5)
'''.replace("@MIX@", hex(MIX)).replace("@SHIFT@", str(SHIFT))


@pytest.mark.timeout(900)  # it reads the whole environment: about 8 GB, 200,000 files here
def test_no_window_of_the_val_split_is_readable_while_training(installed_python: Path, tmp_path: Path) -> None:
    dataset = builtin_dataset()
    cache = tmp_path / "cache"
    dataset.prepare(cache)
    n_train, n_val, _ = split_sizes(len(dataset.corpus))
    val = tmp_path / "val.bin"  # outside every sandbox: only its hashes go in
    val.write_bytes(dataset.corpus[n_train:])
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    needles = subprocess.run([sys.executable, "-c", HASHES, str(val)], env=env, check=True, capture_output=True,
                             timeout=120).stdout
    venv = installed_python.parent.parent
    (venv / "needles.txt").write_bytes(needles)
    for at in (0, 120):
        (venv / f"sieve{at}.bin").write_bytes(sieve_of(val.read_bytes(), at))
    canary = venv / "canary.gz"
    canary.write_bytes(gzip.compress(b"x" * 37 + dataset.corpus[n_train + 1001: n_train + 1257] + b"y" * 11))
    assert len(needles.splitlines()) == n_val - 127
    summary = run_installed(installed_python, tmp_path, WALKER, "600000-tokens", cache)
    log = str(summary["log_tail"])
    walk = [line for line in log.splitlines() if line.startswith("WALK ")]
    assert summary["status"] == "crash" and walk, log
    stats = json.loads(walk[-1][5:])
    print("walk:", stats)
    assert stats["files"] > 1000 and stats["bytes"] > 100 << 20, stats  # it did read the whole environment
    assert stats["hits"] == [f"{canary}!gz"], stats  # the canary, and nothing else
