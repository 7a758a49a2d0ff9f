"""``swarm-node seed --task``: the task in the manifest, bad inputs named by their line (nothing left behind), a
custom evaluate.py pinned by hash, old manifests as lm, and the feed, ``best`` and ``export`` of a ``max`` metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from node.cli.main import _register_commands, cli
from node.feed.views import Viewer, build_feed
from node.errors import RecordRejected
from node.ledger import Ledger
from node.swarms import SwarmError, load_swarm, task_of
from protocol import Manifest, decode_and_verify, git_blob_hash, swarm_id_of
from tests.factories import ALICE, BOB, make_manifest, signed_result, write_identity
from trainer.tasks import LM_TASK

_register_commands()

PROGRAM = "# Genre\nRaise accuracy: classify each passage. You may edit train.py only.\n"
CLASSIFY = '{"direction":"max","kind":"classify","metric":"accuracy"}'


def rows(n: int = 80) -> str:
    words = {"comedy": "merry jest wit fool", "tragedy": "woe blood grave dagger"}
    return "".join(json.dumps({"text": f"line {i}: {words[label]} {i * 7}", "label": label}) + "\n"
                   for i in range(n) for label in words)


def seed(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["seed", *args, "--home", str(home)])


def assert_clean_error(result: Result, home: Path, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.startswith("error: "), result.output
    for word in words:
        assert word in result.output, (word, result.output)
    assert not home.exists() or not any(home.iterdir()), list(home.rglob("*"))  # nothing left behind


def manifest_of(home: Path) -> tuple[bytes, Manifest]:
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        [sid] = ledger.swarm_ids()
        message = decode_and_verify(bytes(ledger.get_manifest(sid))).message
    assert isinstance(message, Manifest)
    return sid, message


def test_seed_a_classify_swarm_names_its_task_metric_and_direction(tmp_path: Path) -> None:
    (tmp_path / "program.md").write_text(PROGRAM)
    (tmp_path / "genre.jsonl").write_text(rows())
    (tmp_path / "train.py").write_text("LEARNING_RATE = 1e-3\n")
    home = tmp_path / "home"
    out = seed(home, str(tmp_path / "program.md"), "--task", "classify", "--data", str(tmp_path / "genre.jsonl"),
               "--train", str(tmp_path / "train.py"), "--budget", "5s")
    assert out.exit_code == 0, out.output
    assert "task: classify, metric accuracy (higher is better)" in out.output and "join string: " in out.output
    sid, manifest = manifest_of(home)
    assert (manifest.task, manifest.metric_name, manifest.metric_direction) == (CLASSIFY, "accuracy", "max")
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        spec = load_swarm(ledger, sid)
    assert spec.task.kind == "classify" and spec.task.direction == "max" and spec.dataset.task == "classify"
    assert spec.baseline == "LEARNING_RATE = 1e-3\n"
    out = seed(tmp_path / "home2", str(tmp_path / "program.md"), "--task", "classify",
               "--metric", "macro_f1", "--data", str(tmp_path / "genre.jsonl"))
    assert out.exit_code == 1 and "mention macro_f1" in out.output  # program.md must name the metric it optimises


@pytest.mark.parametrize("case,words", [
    ("bad-json", ["line 3", "does not parse as JSON"]),
    ("one-label", ["only one label"]),
    ("no-data", ["a classify task needs its data", "--data"]),
    ("bad-metric", ["classify reports accuracy, macro_f1, cross_entropy, not 'auc'"]),
    ("wrong-direction", ["accuracy is better when higher"]),
    ("eval-not-custom", ["--eval is for --task custom"]),
    ("custom-no-eval", ["needs its evaluate.py"]),
    ("custom-no-direction", ["direction of its metric"]),
    ("eval-does-not-parse", ["evaluate.py does not parse: line 2"]),
    ("rank-no-relevant", ["line 1", "no relevant candidate"]),
])
def test_bad_seed_inputs_are_named_and_leave_nothing_behind(tmp_path: Path, case: str, words: list[str]) -> None:
    program = tmp_path / "program.md"
    program.write_text(PROGRAM + "Metrics: auc, score, ndcg@10.\n")
    data = tmp_path / "data.jsonl"
    lines = rows().splitlines(True)
    evaluate = tmp_path / "evaluate.py"
    evaluate.write_text("print(1.0)\n")
    args = {"bad-json": ["--task", "classify", "--data", str(data)],
            "one-label": ["--task", "classify", "--data", str(data)],
            "no-data": ["--task", "classify"],
            "bad-metric": ["--task", "classify", "--metric", "auc", "--data", str(data)],
            "wrong-direction": ["--task", "classify", "--direction", "min", "--data", str(data)],
            "eval-not-custom": ["--task", "classify", "--eval", str(evaluate), "--data", str(data)],
            "custom-no-eval": ["--task", "custom", "--metric", "auc", "--direction", "max"],
            "custom-no-direction": ["--task", "custom", "--metric", "auc", "--eval", str(evaluate)],
            "eval-does-not-parse": ["--task", "custom", "--metric", "auc", "--direction", "max", "--eval",
                                    str(evaluate)],
            "rank-no-relevant": ["--task", "rank", "--data", str(data)]}[case]
    if case == "bad-json":
        lines[2] = '{"text": "half a line", "label": \n'
    if case == "one-label":
        lines = [line for line in lines if '"comedy"' in line]
    if case == "eval-does-not-parse":
        evaluate.write_text("import sys\ndef score(:\n")
    if case == "rank-no-relevant":
        lines = [json.dumps({"query": "q", "candidates": ["a", "b"], "relevant": []}) + "\n"]
    data.write_text("".join(lines))
    train = tmp_path / "train.py"
    train.write_text("LEARNING_RATE = 1e-3\n")
    home = tmp_path / "home"
    assert_clean_error(seed(home, str(program), *args, "--train", str(train)), home, *words)


def test_a_custom_task_pins_its_evaluator_and_a_joiner_needs_it(tmp_path: Path) -> None:
    program = tmp_path / "program.md"
    program.write_text("# Custom\nRaise auc by editing train.py.\n")
    evaluate = tmp_path / "evaluate.py"
    evaluate.write_text("import sys\nprint(0.5)\n")
    home = tmp_path / "home"
    out = seed(home, str(program), "--task", "custom", "--metric", "auc", "--direction", "max", "--eval",
               str(evaluate), "--budget", "5s")
    assert out.exit_code == 0, out.output
    sid, manifest = manifest_of(home)
    assert manifest.eval_blob == git_blob_hash(evaluate.read_bytes()) and manifest.metric_direction == "max"
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        spec = load_swarm(ledger, sid)
    assert spec.task.kind == "custom" and spec.task.evaluator == evaluate.read_text() and spec.task.metric == "auc"
    with Ledger(tmp_path / "joiner.sqlite") as joiner:  # has the manifest, not yet the evaluator
        with pytest.raises(SwarmError, match="evaluate.py .* is not here yet"):
            task_of(manifest, joiner)
        with pytest.raises(RecordRejected, match="hashes to"):  # a peer's tampered copy never gets in
            joiner.put_commit(manifest.eval_blob, b"print(0.9)\n", ALICE.public_key, "")
        joiner.put_commit(manifest.eval_blob, evaluate.read_bytes(), ALICE.public_key, "")
        assert task_of(manifest, joiner).evaluator == evaluate.read_text()


def test_old_manifests_load_as_lm(tmp_path: Path) -> None:
    from node.net.seeding import builtin_swarm

    with Ledger(tmp_path / "l.sqlite") as ledger:
        seeded = builtin_swarm(ledger)
        spec = load_swarm(ledger, seeded.swarm_id)
    assert spec.task == LM_TASK and spec.manifest.task == "lm" and spec.manifest.eval_blob == ""
    assert seeded.envelope[0] == 0x95 and seeded.envelope[1] == 1  # msgpack [1, ...]: still signed at version 1
    assert task_of(decode_and_verify(make_manifest(ALICE)).message) == LM_TASK  # type: ignore[arg-type]


@pytest.fixture()
def max_home(tmp_path: Path) -> tuple[Path, bytes]:
    """BOB's home in a classify swarm (accuracy, max): ALICE's baseline 0.60 and a kept 0.80 that BOB re-ran."""
    home = tmp_path / "home"
    home.mkdir()
    write_identity(home, BOB)
    manifest = make_manifest(ALICE, name="genre", task=CLASSIFY, metric_name="accuracy", metric_direction="max")
    swarm = swarm_id_of(manifest)
    low, high = b"WIDTH = 8\n", b"WIDTH = 16\n"
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.put_manifest(swarm, manifest)
        made = [signed_result(ALICE, 1, swarm, metric=0.60, commit="a" * 40, blob=git_blob_hash(low),
                              description="baseline"),
                signed_result(ALICE, 2, swarm, metric=0.61, commit="a" * 40, blob=git_blob_hash(low),
                              description="baseline", run_index=1),
                signed_result(ALICE, 3, swarm, metric=0.80, commit="b" * 40, parent="a" * 40, blob=git_blob_hash(high),
                              description="wider")]
        made += [signed_result(BOB, 1, swarm, metric=0.79, reproduces=made[2].message_id, blob=git_blob_hash(high),
                               description="re-run", action="verify", run_index=1),
                 signed_result(BOB, 2, swarm, metric=0.45, status="discard", commit="", description="narrower")]
        assert ledger.add_results(made) == [True] * 5
        ledger.put_commit(git_blob_hash(low), low, ALICE.public_key, "")
        ledger.put_commit(git_blob_hash(high), high, ALICE.public_key, "a" * 40)
    return home, swarm


def test_the_feed_best_and_export_of_a_max_metric(max_home: tuple[Path, bytes], tmp_path: Path) -> None:
    home, swarm = max_home
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        feed = build_feed(ledger, swarm, viewer=Viewer(me=BOB.public_key))
    assert feed["swarm"]["metric"] == "accuracy" and feed["swarm"]["better"] == "higher"
    [best] = feed["best"]
    assert best["metric"] == pytest.approx(0.795) and best["verified"] and best["eligible"] == "re-run here"
    [line] = feed["plot"]["running_best"].values()
    assert [p["mean"] for p in line][-1] == pytest.approx(0.795)
    out = CliRunner().invoke(cli, ["best", "--home", str(home)])
    assert out.exit_code == 0 and "WIDTH = 16" in out.output, out.output
    assert "accuracy 0.7950 (higher is better" in out.output
    shown = CliRunner().invoke(cli, ["feed", "--home", str(home)])
    assert shown.exit_code == 0 and "accuracy (higher is better)" in shown.output and "0.7950" in shown.output
    target = tmp_path / "results.tsv"
    assert CliRunner().invoke(cli, ["export", str(target), "--home", str(home)]).exit_code == 0
    table = [line.split("\t") for line in target.read_text().splitlines()]
    assert table[0][:2] == ["commit", "accuracy"]
    assert ["bbbbbbb", "0.800000"] in [row[:2] for row in table[1:]]  # the kept experiment, in the task's own terms


def test_a_higher_claim_that_does_not_reproduce_is_refuted_in_the_feed(max_home: tuple[Path, bytes]) -> None:
    home, swarm = max_home
    with Ledger(home / "ledger.sqlite") as ledger:
        text = b"WIDTH = 4096\n"
        blob = git_blob_hash(text)
        lie = signed_result(ALICE, 4, swarm, metric=0.99, commit="c" * 40, parent="b" * 40, blob=blob,
                            description="miracle")
        again = signed_result(ALICE, 5, swarm, metric=0.99, commit="c" * 40, blob=blob, description="miracle",
                              action="rerun", run_index=1)
        check = signed_result(BOB, 3, swarm, metric=0.62, reproduces=lie.message_id, blob=blob,
                              description="re-run", action="verify", run_index=2)
        assert ledger.add_results([lie, again, check]) == [True] * 3
        ledger.put_commit(blob, text, ALICE.public_key, "")
        feed = build_feed(ledger, swarm, viewer=Viewer(me=BOB.public_key))
    [best] = feed["best"]
    assert best["metric"] == pytest.approx(0.795)  # the refuted 0.99 is not best, though it is higher
