"""``swarm-node export``: results.tsv as autoresearch's analysis reads it (one series, experiments only, commits)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli.main import _register_commands, cli
from node.ledger import Ledger
from node.ledger.export import write_results_tsv
from protocol import git_blob_hash, swarm_id_of
from tests.factories import ALICE, BOB, CAROL, make_manifest, signed_result, write_identity

_register_commands()

AUTORESEARCH = ["commit", "val_bpb", "memory_gb", "status", "description"]
T0 = 1_767_225_600.0


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """A CPU baseline and improvement, a GPU result far below both, attestations, a discard without a commit, and
    a hostile result whose "commit" is its blob hash."""
    home = tmp_path / "home"
    home.mkdir()
    manifest = make_manifest(ALICE, name="mixed")
    swarm = swarm_id_of(manifest)
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.put_manifest(swarm, manifest)
        base = signed_result(ALICE, 1, swarm, metric=2.50, commit="a" * 40, created_at=T0, description="baseline")
        top = signed_result(ALICE, 2, swarm, metric=2.40, commit="b" * 40, parent="a" * 40, created_at=T0 + 1,
                            description="LR 4e-3 -> 6e-3")
        gpu = signed_result(CAROL, 1, swarm, metric=1.00, commit="c" * 40, hw_class="cuda:H100-80GB",
                            peak_memory_mb=40_960.0, created_at=T0 + 2, description="gpu baseline")
        att = signed_result(BOB, 1, swarm, metric=2.41, commit="d" * 40, reproduces=top.message_id,
                            created_at=T0 + 3, description="verify")
        gone = signed_result(BOB, 2, swarm, metric=2.70, status="discard", commit="", created_at=T0 + 4,
                             description="wider  and   deeper")
        blob = git_blob_hash(b"sneaky")
        liar = signed_result(CAROL, 2, swarm, metric=2.45, status="discard", commit=blob, blob=blob,
                             created_at=T0 + 5, description="commit is a blob")
        assert ledger.add_results([base, top, gpu, att, gone, liar]) == [True] * 6
    return home


def export(home: Path, *args: str) -> tuple[list[dict[str, str]], str]:
    out = CliRunner().invoke(cli, ["export", "-", "--home", str(home), *args])
    assert out.exit_code == 0, out.output
    lines = [line for line in out.output.splitlines() if "\t" in line]
    return list(csv.DictReader(io.StringIO("\n".join(lines) + "\n"), delimiter="\t")), out.output


def analysis(rows: list[dict[str, str]]) -> tuple[int, float]:
    """What autoresearch's analysis computes: kept experiments, and the improvement of the best over the baseline
    (the first kept row)."""
    assert {r["status"] for r in rows} <= {"keep", "discard", "crash"}
    kept = [float(r["val_bpb"]) for r in rows if r["status"] == "keep"]
    return len(kept), (kept[0] - min(kept)) / kept[0]


def test_one_hardware_class_gives_the_true_improvement(home: Path) -> None:
    rows, _ = export(home, "--hw-class", "cpu:2t")
    assert list(rows[0])[:5] == AUTORESEARCH
    assert {r["hw_class"] for r in rows} == {"cpu:2t"}
    kept, improvement = analysis(rows)
    assert kept == 2  # the baseline and one improvement: BOB's re-run of it is not a third experiment
    assert improvement == pytest.approx(0.04)  # not (2.5 - 1.0) / 2.5 = 60% against a GPU


def test_mixed_classes_are_named_in_a_warning(home: Path) -> None:
    rows, output = export(home)
    assert {r["hw_class"] for r in rows} == {"cpu:2t", "cuda:H100-80GB"}
    assert "2 hardware classes mixed" in output and "--hw-class" in output
    assert float(next(r for r in rows if r["hw_class"].startswith("cuda"))["memory_gb"]) == 40.0


def test_the_commit_column_holds_commits_never_blob_hashes(home: Path) -> None:
    rows, _ = export(home, "--attestations")
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        [swarm] = ledger.swarm_ids()
        stored = ledger.results(swarm)
    commits = {r.commit[:7] for r in stored if r.commit and r.commit != r.blob}
    blobs = {r.blob[:7] for r in stored}
    assert [r["commit"] for r in rows] == ["aaaaaaa", "bbbbbbb", "ccccccc", "ddddddd", "", ""]
    assert all(r["commit"] in commits for r in rows if r["commit"]) and not blobs & {r["commit"] for r in rows}


def test_attestations_are_left_out_or_marked(home: Path) -> None:
    plain, _ = export(home)
    assert len(plain) == 5 and "verify" not in {r["description"] for r in plain}
    marked, _ = export(home, "--attestations")
    [att] = [r for r in marked if r["status"] == "attest"]
    assert att["description"] == "re-run of bbbbbbb: verify" and len(marked) == 6
    assert next(r for r in marked if r["description"].startswith("wider"))["description"] == "wider and deeper"


def test_write_results_tsv_reports_what_it_wrote(home: Path) -> None:
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        [swarm] = ledger.swarm_ids()
        done = write_results_tsv(ledger, swarm, io.StringIO(), hw_class="cpu:2t")
    assert (done.rows, done.attestations_left_out, done.classes) == (4, 1, ("cpu:2t",))


def test_export_to_an_unwritable_path_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["export", str(tmp_path / "no" / "such" / "dir.tsv"), "--home", str(home)])
    assert out.exit_code == 1 and "cannot write" in out.output and out.exception is not None
    assert isinstance(out.exception, SystemExit)


def test_the_readme_s_sqlite_utils_query_works_on_a_ledger(home: Path) -> None:
    from sqlite_utils.cli import cli as sqlite_utils_cli

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    [query] = re.findall(r'sqlite-utils query ~/.swarm-node/ledger.sqlite \\\n  "([^"]+)"', readme)
    out = CliRunner().invoke(sqlite_utils_cli, ["query", str(home / "ledger.sqlite"), query])
    assert out.exit_code == 0, out.output
    rows = {r["hw_class"]: r for r in json.loads(out.output)}
    assert rows["cpu:2t"]["val_bpb"] == 2.40 and rows["cuda:H100-80GB"]["val_bpb"] == 1.00


def test_one_row_per_experiment_with_the_mean_of_its_runs_and_the_mean_based_best(tmp_path: Path) -> None:
    """Per-run Results (paired seeds) fold into one row per experiment; the best line is the mean rule's, never
    a lucky single run."""
    home = tmp_path / "home"
    home.mkdir()
    write_identity(home, ALICE)  # this node's own runs: eligible for best
    manifest = make_manifest(ALICE, name="runs")
    swarm = swarm_id_of(manifest)
    base, lucky, top = (git_blob_hash(b"base"), git_blob_hash(b"lucky"), git_blob_hash(b"top"))
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.put_manifest(swarm, manifest)
        runs = [  # (seq, blob, commit, action, run index, metric)
            (1, base, "a" * 40, "baseline", 0, 2.50), (2, base, "a" * 40, "baseline", 1, 2.52),
            (3, lucky, "e" * 40, "explore", 0, 2.30),  # one run: never the best
            (4, top, "b" * 40, "explore", 0, 2.42), (5, top, "b" * 40, "rerun", 1, 2.44),
        ]
        ledger.add_results([signed_result(ALICE, seq, swarm, blob=blob, commit=commit, action=action,
                                          run_index=k, metric=metric, created_at=T0 + seq, description=action)
                            for seq, blob, commit, action, k, metric in runs])
        for text in (b"base", b"lucky", b"top"):
            ledger.put_commit(git_blob_hash(text), text, ALICE.public_key, "")
    rows, output = export(home)
    assert [(r["commit"], r["runs"]) for r in rows] == [("aaaaaaa", "2"), ("eeeeeee", "1"), ("bbbbbbb", "2")]
    assert float(rows[0]["val_bpb"]) == pytest.approx(2.51) and float(rows[2]["val_bpb"]) == pytest.approx(2.43)
    assert {r["verified"] for r in rows} == {"no"}
    [best] = [line for line in output.splitlines() if line.startswith("best ")]
    assert "val_bpb 2.4300 (mean of 2 runs, not verified) commit bbbbbbb" in best  # not the lucky 2.30 run
