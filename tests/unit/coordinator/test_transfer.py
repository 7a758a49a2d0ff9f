"""Ideas across hardware classes and up rungs: another class's keep is re-run here, judged against this class's best."""

from __future__ import annotations

import pytest

from coordinator.branch import knob_values
from coordinator.errors import CoordinatorError
from coordinator.simulate import SIM_TRAIN_PY, SimSwarm
from coordinator.transfer import (Rung, idea_classes, idea_key, parse_rungs, rung_of, transfer_counts,
                                  transfer_lines)
from protocol import BudgetRule

GPU, CPU = "cuda:H100-80GB", "cpu:Xeon:2t"


def activation_hurts_on_cpu(hw_class: str, text: str) -> float:
    """On the CPU class any activation but gelu is truly 0.1 bpb worse: such an idea does not travel."""
    return 0.1 if hw_class == CPU and knob_values(text).get("ACTIVATION") != "gelu" else 0.0


def test_a_kept_idea_of_another_class_is_rerun_here_before_it_can_be_this_nodes_best() -> None:
    swarm = SimSwarm(2, seed=3, classes=(GPU, CPU), shift=activation_hurts_on_cpu)
    swarm.run_until(target=0.0, max_time=45 * swarm.run_time)
    gpu, cpu = swarm.nodes
    transfers = [o for o in cpu.outcomes if o.description.startswith(f"from {GPU}: ")]
    assert transfers, [o.description for o in cpu.outcomes]
    own_runs = {}
    for _, author, s in swarm.results:
        if author == cpu.key:
            own_runs[s.result.blob] = own_runs.get(s.result.blob, 0) + 1
    for o in cpu.outcomes:
        if o.kept:   # a keep here is this node's own paired runs, whatever the other class measured
            assert o.hw_class == CPU and own_runs[o.blob] >= 2 and len(o.runs) >= 2, o
    assert cpu.researcher is not None and knob_values(cpu.researcher.head_text)["ACTIVATION"] == "gelu"
    results = [s for _, _, s in swarm.results]
    verdicts = idea_classes(results)
    assert any(GPU in kept for kept, _ in verdicts.values()), verdicts
    lines = transfer_lines(results)
    assert lines and all(f"kept on {GPU}" in line or f"kept on {CPU}" in line for line in lines), lines
    moved = [k for k, (kept, lost) in verdicts.items() if k.startswith("ACTIVATION")]
    for key in moved:   # an activation idea kept on the GPU lost here
        assert CPU in verdicts[key][1], (key, verdicts[key])


def test_a_rung_1_node_retests_rung_0_keeps_with_the_scaled_knobs() -> None:
    rung = Rung(budget=5.0, scale={"N_LAYER": 2, "N_EMBD": 2})
    swarm = SimSwarm(2, seed=1, classes=(CPU, f"{CPU}+r1"), rungs=[rung])
    swarm.run_until(target=0.0, max_time=40 * swarm.run_time)
    low, high = swarm.nodes
    assert high.researcher is not None
    base = knob_values(high.researcher.workspace.text_of(high.researcher.workspace.baseline()))
    assert (base["N_LAYER"], base["N_EMBD"]) == (4, 256)                 # the rung's own baseline is scaled
    up = [o for o in high.outcomes if o.description.startswith(f"from {CPU}: ")]
    assert up, [o.description for o in high.outcomes]
    low_keeps = {idea_key(o.description): o for o in low.outcomes if o.kept and o.action == "explore"}
    for o in up:
        idea = idea_key(o.description)
        assert idea in low_keeps                                           # only rung-0 keeps climb
        if idea.startswith(("N_EMBD", "N_LAYER")):                         # a scaled knob's change keeps its ratio
            name = idea.split()[0]
            ratio = knob_values(low_keeps[idea].train_py)[name] / knob_values(SIM_TRAIN_PY)[name]
            assert knob_values(o.train_py)[name] in (base[name] * ratio, base[name] * ratio * ratio), (idea, o)
    tested, held = transfer_counts([s for _, _, s in swarm.results])   # (the rung-1 node's own ideas count too
    assert tested >= len({idea_key(o.description) for o in up if o.status in ("keep", "discard")}) >= 1  # when a
    assert tested >= held >= sum(1 for o in up if o.kept)               # rung-0 keep named the same change)


def test_rungs_are_read_strictly() -> None:
    assert parse_rungs("") == []
    rungs = parse_rungs('[{"budget": 5, "scale": {"N_LAYER": 2, "N_EMBD": 2}}]')
    assert rungs == [Rung(5.0, {"N_LAYER": 2.0, "N_EMBD": 2.0})]
    assert knob_values(rungs[0].scale_text(SIM_TRAIN_PY))["N_EMBD"] == 256
    assert rung_of(f"{CPU}+r1") == 1 and rung_of(CPU) == 0
    for bad, says in (("[", "not JSON"), ("{}", "a list"), ('[{"budget": 0}]', "budget"),
                      ('[{"scale": {"lr": 2}}]', "UPPER_CASE"), ('[{"scale": {"N": 1e9}}]', "factor"),
                      ('[{"budget": 2, "x": 1}]', "only"), ("[" + "{}," * 9 + "{}]", "1 to 8"),
                      ("x" * 5000, "at most")):
        with pytest.raises(CoordinatorError, match=says):
            parse_rungs(bad)


def test_under_a_token_budget_classes_already_compete_and_nothing_is_transferred() -> None:
    swarm = SimSwarm(2, seed=3, classes=(GPU, CPU), budget=BudgetRule("tokens", 100_000))
    swarm.run_until(target=0.0, max_time=20 * swarm.run_time)
    assert not any(o.description.startswith("from ") for node in swarm.nodes for o in node.outcomes)
