"""No Docker engine runs here: keep docker/ honest by reading it against the project."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest
import yaml

from node.cli.main import _register_commands, cli

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"

_register_commands()


def _dockerfiles() -> list[Path]:
    return sorted(DOCKER.glob("Dockerfile*"))


@pytest.mark.parametrize("dockerfile", _dockerfiles(), ids=lambda p: p.name)
def test_dockerfile_copies_what_exists_and_runs_the_console_script(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which is not in the repository"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert 'ENTRYPOINT ["swarm-node"]' in text and "swarm-node" in scripts
    assert "bubblewrap" in text


def test_compose_parses_and_names_real_images_and_commands() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"node1", "node2", "node3", "feed"} <= set(services)
    for name, service in services.items():
        build = service["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve().is_file(), name
        command = service["command"]
        sub = cli.commands.get(command[0])
        assert sub is not None, f"service {name} runs 'swarm-node {command[0]}', which does not exist"
        try:
            sub.make_context(command[0], list(command[1:]))
        except click.UsageError as exc:
            pytest.fail(f"service {name}: 'swarm-node {' '.join(command)}' is not a valid command line: {exc}")
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name} mounts an undeclared volume {volume}"
    joins = [s for s in services.values() if s["command"][0] == "join"]
    assert len(joins) == 3
