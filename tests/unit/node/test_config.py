"""NodeConfig: defaults < TOML < environment < overrides, and ConfigError messages that name the key and its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.config import NodeConfig, load_config
from node.errors import ConfigError

PEER = "/ip4/10.0.0.7/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"


def write_toml(home: Path, text: str) -> Path:
    path = home / "config.toml"
    path.write_text(text)
    return path


def test_defaults_and_home_layout(node_home: Path) -> None:
    config = load_config(env={"SWARM_NODE_HOME": str(node_home)})
    assert config == NodeConfig(home=node_home)
    assert config.listen == ("/ip4/0.0.0.0/tcp/4001",) and config.bootstrap == () and config.mdns is True
    assert (config.agent, config.model, config.budget, config.watch) == ("mutate", "gpt-4o-mini", None, False)
    assert (config.verify_share, config.trust_threshold, config.require_sandbox) == (0.2, -2.0, True)
    assert (config.dashboard_host, config.dashboard_port) == ("127.0.0.1", 8737)
    assert config.identity_path == node_home / "identity.key"
    assert config.ledger_path == node_home / "ledger.sqlite"
    assert config.swarms_dir == node_home / "swarms" and config.cache_dir == node_home / "cache"
    assert config.swarm_dir(b"\x01" * 32) == node_home / "swarms" / ("01" * 32)
    assert load_config(env={}).home == Path.home() / ".swarm-node"


def test_layers_override_in_order(node_home: Path) -> None:
    write_toml(node_home, 'agent = "llm"\nmodel = "from-file"\nbudget = "90s"\nlisten = ["/ip4/127.0.0.1/tcp/5001"]\n'
                          "dashboard_port = 9000\nmdns = false\n")
    env = {"SWARM_NODE_HOME": str(node_home), "SWARM_NODE_MODEL": "from-env", "SWARM_NODE_PEERS": f"{PEER}, {PEER}",
           "SWARM_NODE_LISTEN": "/ip4/127.0.0.1/tcp/6001,/ip6/::1/tcp/6001", "SWARM_NODE_DASHBOARD_PORT": "9100",
           "SWARM_NODE_WATCH": "yes"}
    config = load_config(env=env, overrides={"model": "from-flag", "budget": None, "verify_share": 0.5})
    assert config.agent == "llm" and config.budget == "90s" and config.mdns is False
    assert config.model == "from-flag" and config.verify_share == 0.5
    assert config.listen == ("/ip4/127.0.0.1/tcp/6001", "/ip6/::1/tcp/6001")
    assert config.bootstrap == (PEER, PEER) and config.dashboard_port == 9100 and config.watch is True


def test_home_from_override_selects_its_config_file(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    home.mkdir()
    write_toml(home, 'agent = "llm"\n')
    config = load_config(env={"SWARM_NODE_HOME": str(tmp_path / "unused")}, overrides={"home": home})
    assert config.home == home and config.agent == "llm"


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_file=tmp_path / "missing.toml", env={})
    path = tmp_path / "custom.toml"
    path.write_text('trust_threshold = -5\n')
    assert load_config(config_file=path, env={}).trust_threshold == -5.0


def test_unknown_toml_key_lists_known_keys(node_home: Path) -> None:
    path = write_toml(node_home, 'agnet = "llm"\n')
    with pytest.raises(ConfigError) as info:
        load_config(env={"SWARM_NODE_HOME": str(node_home)})
    message = str(info.value)
    assert "agnet" in message and str(path) in message and "agent" in message and "dashboard_port" in message


def test_invalid_toml_is_a_config_error(node_home: Path) -> None:
    write_toml(node_home, "agent = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(env={"SWARM_NODE_HOME": str(node_home)})


@pytest.mark.parametrize(
    ("toml", "env", "overrides", "key", "source"),
    [
        ('agent = "gpt"', {}, {}, "agent", "config file"),
        ("", {"SWARM_NODE_AGENT": "random"}, {}, "agent", "environment SWARM_NODE_AGENT"),
        ("", {}, {"agent": "random"}, "agent", "override agent"),
        ('listen = "/ip4/0.0.0.0/tcp/4001"', {}, {}, "listen", "config file"),
        ('listen = ["/ip4/0.0.0.0/udp/4001"]', {}, {}, "listen", "config file"),
        ("listen = []", {}, {}, "listen", "config file"),
        ("", {"SWARM_NODE_PEERS": "/ip4/10.0.0.7/tcp/4001"}, {}, "bootstrap", "environment SWARM_NODE_PEERS"),
        ("bootstrap = [1]", {}, {}, "bootstrap", "config file"),
        ('mdns = "no"', {}, {}, "mdns", "config file"),
        ("", {"SWARM_NODE_MDNS": "maybe"}, {}, "mdns", "environment SWARM_NODE_MDNS"),
        ("verify_share = 1.5", {}, {}, "verify_share", "config file"),
        ("", {"SWARM_NODE_VERIFY_SHARE": "nan"}, {}, "verify_share", "environment SWARM_NODE_VERIFY_SHARE"),
        ("dashboard_port = 70000", {}, {}, "dashboard_port", "config file"),
        ("dashboard_port = true", {}, {}, "dashboard_port", "config file"),
        ("parallel = -1", {}, {}, "parallel", "config file"),
        ("", {"SWARM_NODE_PARALLEL": "many"}, {}, "parallel", "environment SWARM_NODE_PARALLEL"),
        ("baseline_repeats = 0", {}, {}, "baseline_repeats", "config file"),
        ("", {"SWARM_NODE_BASELINE_REPEATS": "11"}, {}, "baseline_repeats", "environment SWARM_NODE_BASELINE_REPEATS"),
        ('budget = "forever"', {}, {}, "budget", "config file"),
        ('model = ""', {}, {}, "model", "config file"),
        ("", {}, {"require_sandbox": "no"}, "require_sandbox", "override require_sandbox"),
    ],
)
def test_bad_values_name_key_and_source(
    node_home: Path, toml: str, env: dict[str, str], overrides: dict[str, object], key: str, source: str
) -> None:
    write_toml(node_home, toml + "\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)} \(from {re.escape(source)}"):
        load_config(env={"SWARM_NODE_HOME": str(node_home), **env}, overrides=overrides)


def test_unknown_override_is_an_error(node_home: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(env={"SWARM_NODE_HOME": str(node_home)}, overrides={"listen_addr": "x"})


def test_budget_forms_and_booleans_from_env(node_home: Path) -> None:
    for budget, canonical in (("60s", "60s"), ("90 s", "90s"), ("2m", "120s"), ("2M-tokens", "2M-tokens"),
                              ("500k-tokens", "500k-tokens")):
        env = {"SWARM_NODE_HOME": str(node_home), "SWARM_NODE_BUDGET": budget}
        assert load_config(env=env).budget == canonical
    env = {"SWARM_NODE_HOME": str(node_home), "SWARM_NODE_BUDGET": "", "SWARM_NODE_REQUIRE_SANDBOX": "0"}
    config = load_config(env=env)
    assert config.budget is None and config.require_sandbox is False


def test_parallel_runs_from_the_environment(node_home: Path) -> None:
    assert load_config(env={"SWARM_NODE_HOME": str(node_home)}).parallel == 0  # auto: usable cores on CPU
    assert load_config(env={"SWARM_NODE_HOME": str(node_home), "SWARM_NODE_PARALLEL": "2"}).parallel == 2


def test_trusted_peers_are_peer_ids_whose_keys_the_node_knows(node_home: Path) -> None:
    from node.config import public_key_of_peer_id
    from protocol import Identity

    peer = Identity.generate()
    config = load_config(env={"SWARM_NODE_HOME": str(node_home), "SWARM_NODE_TRUSTED_PEERS": f" {peer.peer_id} "})
    assert config.trusted_peers == (peer.peer_id,)
    assert public_key_of_peer_id(peer.peer_id) == peer.public_key
    assert public_key_of_peer_id("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG") is None  # not an Ed25519 key
    assert public_key_of_peer_id(peer.peer_id + "0") is None
    with pytest.raises(ConfigError, match="trusted_peers .*not an Ed25519 peer id"):
        load_config(env={"SWARM_NODE_HOME": str(node_home)}, overrides={"trusted_peers": ("12D3KooWnope",)})


def test_baseline_repeats_from_the_environment(node_home: Path) -> None:
    assert load_config(env={"SWARM_NODE_HOME": str(node_home)}).baseline_repeats == 3
    env = {"SWARM_NODE_HOME": str(node_home), "SWARM_NODE_BASELINE_REPEATS": "1"}
    assert load_config(env=env).baseline_repeats == 1
