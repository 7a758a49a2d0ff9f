"""docs/config.example.toml and the README document every NodeConfig setting, and the example parses."""

from __future__ import annotations

import re
from pathlib import Path

from node.config import NodeConfig, load_config


def test_the_example_config_file_parses_into_the_defaults(tmp_path: Path) -> None:
    import dataclasses
    import tomllib

    example = Path(__file__).resolve().parents[3] / "docs" / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    config = load_config(config_file=example, env={"SWARM_NODE_HOME": str(tmp_path)})
    assert config == NodeConfig(home=tmp_path)  # the file documents the defaults
    documented = set(re.findall(r"^#? ?([a-z_]+) = ", text, re.M))
    assert documented == {f.name for f in dataclasses.fields(NodeConfig)}, "every setting has its entry"
    # the commented examples are real values too
    uncommented = "\n".join(line.lstrip("# ") if re.match(r"# [a-z_]+ = ", line) else line
                            for line in text.splitlines())
    uncommented = uncommented.replace("bootstrap = []  # example: ", "bootstrap = ")
    (tmp_path / "config.toml").write_text(uncommented)
    tuned = load_config(env={"SWARM_NODE_HOME": str(tmp_path)})
    assert tuned.budget == "2M-tokens" and len(tuned.bootstrap) == 1 and tomllib.loads(uncommented)["home"]


def test_every_setting_and_variable_is_in_the_readme() -> None:
    import dataclasses

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(NodeConfig):
        name = "SWARM_NODE_PEERS" if field.name == "bootstrap" else f"SWARM_NODE_{field.name.upper()}"
        assert f"`{field.name}`" in readme and name in readme, field.name
    assert "docs/config.example.toml" in readme
