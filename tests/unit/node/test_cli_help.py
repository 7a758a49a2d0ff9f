"""Every command is documented: a one-line summary and --help with an example."""

from __future__ import annotations

from click.testing import CliRunner

from node.cli.main import _register_commands, cli

_register_commands()

EXPECTED = {"join", "seed", "train", "feed", "status", "best", "export", "verify", "dashboard"}


def test_every_command_has_help_with_an_example() -> None:
    assert EXPECTED <= set(cli.commands)
    runner = CliRunner()
    for name in sorted(cli.commands):
        out = runner.invoke(cli, [name, "--help"])
        assert out.exit_code == 0, (name, out.output)
        assert "Examples:" in out.output and f"swarm-node {name}" in out.output, name
        assert cli.commands[name].get_short_help_str(), name
