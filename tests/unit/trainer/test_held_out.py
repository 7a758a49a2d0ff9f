"""The val split ships apart and every sandbox covers its folder, wherever a bind exposes it."""

from __future__ import annotations

import lzma
from pathlib import Path

from trainer.corpus import HELD_OUT_DIR, TRAIN_FILE, VAL_FILE, shakespeare_bytes
from trainer.data import split_sizes
from trainer.sandbox import SandboxSpec, bwrap_argv


def test_the_shipped_files_are_the_train_and_val_splits() -> None:
    data = shakespeare_bytes()
    n_train, _, _ = split_sizes(len(data))
    assert lzma.decompress((HELD_OUT_DIR.parent / TRAIN_FILE).read_bytes()) == data[:n_train]
    assert lzma.decompress((HELD_OUT_DIR / VAL_FILE).read_bytes()) == data[n_train:]
    assert [p.name for p in HELD_OUT_DIR.parent.glob("*.xz")] == [TRAIN_FILE]


def covered(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--tmpfs" and argv[i + 1] != "/tmp"]


def test_every_sandbox_covers_the_held_out_folder_under_any_bind(tmp_path: Path) -> None:
    package = HELD_OUT_DIR.parent.parent  # trainer/
    link = tmp_path / "linked"
    link.symlink_to(package.parent)
    for bound, where in ((package, HELD_OUT_DIR), (link, link / "trainer" / "corpus" / "held_out")):
        argv = bwrap_argv(["true"], SandboxSpec(workdir=tmp_path / "w", ro_paths=(bound,)), bwrap="bwrap",
                          seccomp_fd=3, env_paths=())
        assert covered(argv) == [str(where)]
        assert argv.index(str(where)) > argv.index(str(bound))  # mounted after (over) the bind
    argv = bwrap_argv(["true"], SandboxSpec(workdir=tmp_path / "w"), bwrap="bwrap", seccomp_fd=3, env_paths=())
    assert covered(argv) == []  # nothing bound that holds it: nothing to cover
