"""NodeConfig: every setting of a node, filled from defaults < config file (TOML) < environment < overrides.

The config file is ``<home>/config.toml`` unless one is named; its keys are the field names of :class:`NodeConfig`
(``listen``, ``bootstrap`` and ``trusted_peers`` are arrays of strings). The environment uses ``SWARM_NODE_<FIELD>``
(upper case), with two pinned aliases: ``SWARM_NODE_PEERS`` for ``bootstrap`` and comma-separated lists for the list
settings.
Overrides are the CLI flags by field name; a ``None`` value means "flag not given" and is skipped.

Every problem is a :class:`~node.errors.ConfigError` naming the key and where the bad value came from.

Layout of the home::

    identity.key        Ed25519 key (0600)
    ledger.sqlite       results, peers, claims, commits (+ -wal/-shm)
    config.toml         this file
    swarms/<id hex>/workspace   the git workspace of one swarm
    cache/data/<hash>/  prepared train/val splits
    node.json           the running node's pid, peer id, listen addresses and swarm (``status`` reads it; a
                        SIGKILL leaves it behind, and ``status`` then calls it stale)
    logs/libp2p.log     py-libp2p's own log (rotated: 5 MiB, three old files)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import multiaddr
from multiaddr.exceptions import Error as MultiaddrLibError

from node.errors import ConfigError, InputFileError, JoinStringError
from node.inputfiles import read_text
from node.joinstring import check_peer_multiaddr
from protocol import peer_id_from_public_key
from trainer.budget import Budget
from trainer.errors import TrainerError

__all__ = ["NodeConfig", "load_config", "default_home", "ENV_PREFIX", "AGENTS", "public_key_of_peer_id"]

log = logging.getLogger(__name__)

ENV_PREFIX = "SWARM_NODE_"
AGENTS = ("mutate", "tpe", "llm", "hybrid")
MAX_ADDRS = 32
MAX_PARALLEL = 256
MAX_BASELINE_REPEATS = 10
MAX_CONFIG_BYTES = 64 * 1024
MAX_RUNGS = 8  # coordinator.transfer.MAX_RUNGS (not imported: the coordinator package loads the agents' libraries)
_ENV_ALIASES = {"bootstrap": "SWARM_NODE_PEERS"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def default_home() -> Path:
    """``~/.swarm-node`` (the environment's ``SWARM_NODE_HOME`` is applied by :func:`load_config`)."""
    return Path.home() / ".swarm-node"


@dataclass(frozen=True)
class NodeConfig:
    """The settings of one node. Build it with :func:`load_config`; the defaults here are the documented ones."""

    home: Path = dataclasses.field(default_factory=default_home)
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/4001",)
    bootstrap: tuple[str, ...] = ()
    mdns: bool = True
    relays: tuple[str, ...] = ()      # --relay: circuit relays to reserve a slot on (behind NAT)
    upnp: bool = True                 # --no-upnp: never ask the LAN's router to forward the port
    agent: str = "mutate"
    model: str = "gpt-4o-mini"
    budget: str | None = None
    watch: bool = False
    verify_share: float = 0.2
    trust_threshold: float = -2.0
    baseline_repeats: int = 3  # baseline runs per hardware class before exploring (1-10)
    require_sandbox: bool = True
    trusted_peers: tuple[str, ...] = ()  # peer ids (12D3KooW...) whose claims and attestations this user trusts
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8737
    sync_interval: float = 5.0        # seconds between anti-entropy rounds (one connected peer per round)
    parallel: int = 0  # runs of one step in flight at once, 1 thread each; 0: usable cores (CPU node), 1 on a GPU
    rung: int | str = "auto"  # --rung: the manifest's rung to run at (0: as seeded), or "auto" (node.autorung)

    @property
    def start_rung(self) -> int:
        """The rung this node starts at: ``rung``, or 0 under ``auto`` (``node.autorung`` may climb from there)."""
        return self.rung if isinstance(self.rung, int) else 0

    @property
    def identity_path(self) -> Path:
        return self.home / "identity.key"

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.sqlite"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def swarms_dir(self) -> Path:
        return self.home / "swarms"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def node_json_path(self) -> Path:
        return self.home / "node.json"

    def swarm_dir(self, swarm_id: bytes) -> Path:
        """``swarms/<swarm id hex>``: the folder of one swarm (its git workspace lives in ``workspace/`` inside)."""
        return self.swarms_dir / swarm_id.hex()


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(NodeConfig))


# ---------------------------------------------------------------------------------------------------------------------
# Coercion: one function per field type, each told the key and the source for its message
# ---------------------------------------------------------------------------------------------------------------------


def _fail(key: str, source: str, why: str) -> ConfigError:
    return ConfigError(f"{key} (from {source}): {why}")


def _as_path(key: str, value: object, source: str) -> Path:
    if isinstance(value, Path):
        path = value
    elif isinstance(value, str) and value.strip():
        path = Path(value.strip())
    else:
        raise _fail(key, source, f"expected a directory path, got {value!r}")
    return path.expanduser().absolute()


def _as_str_list(key: str, value: object, source: str, from_text: bool) -> list[str]:
    if isinstance(value, str):
        if not from_text:
            raise _fail(key, source, f"expected a list of multiaddrs, got the string {value!r}")
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _fail(key, source, f"expected a list of multiaddrs, got {type(value).__name__}")
    if len(items) > MAX_ADDRS:
        raise _fail(key, source, f"{len(items)} addresses, at most {MAX_ADDRS}")
    for item in items:
        if not isinstance(item, str):
            raise _fail(key, source, f"every address must be a string, got {item!r}")
    return [item.strip() for item in items]


def _as_listen(key: str, value: object, source: str, from_text: bool) -> tuple[str, ...]:
    addrs = _as_str_list(key, value, source, from_text)
    if not addrs:
        raise _fail(key, source, "at least one listen multiaddr is needed, e.g. /ip4/0.0.0.0/tcp/4001")
    for addr in addrs:
        try:
            names = [p.name for p in multiaddr.Multiaddr(addr).protocols()]
        except (MultiaddrLibError, ValueError, TypeError, KeyError) as exc:
            raise _fail(key, source, f"{addr!r} is not a valid multiaddr ({exc}); e.g. /ip4/0.0.0.0/tcp/4001") from exc
        if "tcp" not in names:
            raise _fail(key, source, f"{addr!r} has no /tcp/<port> part; e.g. /ip4/0.0.0.0/tcp/4001")
    return tuple(addrs)


def _as_bootstrap(key: str, value: object, source: str, from_text: bool) -> tuple[str, ...]:
    out: list[str] = []
    for addr in _as_str_list(key, value, source, from_text):
        try:
            out.append(check_peer_multiaddr(addr))
        except JoinStringError as exc:
            raise _fail(key, source, str(exc)) from exc
    return tuple(out)


def _as_peer_ids(key: str, value: object, source: str, from_text: bool) -> tuple[str, ...]:
    ids = _as_str_list(key, value, source, from_text)
    for peer_id in ids:
        if public_key_of_peer_id(peer_id) is None:
            raise _fail(key, source, f"{peer_id!r} is not an Ed25519 peer id (12D3KooW..., as `swarm-node status` "
                                     "or a join string shows it)")
    return tuple(ids)


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def public_key_of_peer_id(peer_id: str) -> bytes | None:
    """The 32-byte Ed25519 public key inside a libp2p peer id ("12D3KooW..."), or None if it is not one."""
    if not 40 <= len(peer_id) <= 60 or any(c not in _B58 for c in peer_id):
        return None
    number = 0
    for c in peer_id:
        number = number * 58 + _B58.index(c)
    raw = number.to_bytes(38, "big") if number < 1 << (38 * 8) else b""
    if len(raw) != 38 or not raw.startswith(b"\x00\x24\x08\x01\x12\x20"):
        return None
    pub = raw[6:]
    return pub if peer_id_from_public_key(pub) == peer_id else None


def _as_bool(key: str, value: object, source: str, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_text and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(key, source, f"expected true or false, got {value!r}")


def _as_float(key: str, value: object, source: str, from_text: bool) -> float:
    if isinstance(value, bool):
        raise _fail(key, source, f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif from_text and isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError as exc:
            raise _fail(key, source, f"expected a number, got {value!r}") from exc
    else:
        raise _fail(key, source, f"expected a number, got {value!r}")
    if not math.isfinite(number):
        raise _fail(key, source, f"expected a finite number, got {value!r}")
    return number


def _as_int(key: str, value: object, source: str, from_text: bool) -> int:
    if isinstance(value, bool):
        raise _fail(key, source, f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if from_text and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise _fail(key, source, f"expected a whole number, got {value!r}")


def _as_text(key: str, value: object, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, source, f"expected a non-empty string, got {value!r}")
    if len(value) > 256:
        raise _fail(key, source, f"{len(value)} characters, at most 256")
    return value.strip()


def _coerce(key: str, value: object, source: str, from_text: bool) -> Any:
    """Turn one raw value into the field's type; text from the environment may be parsed, TOML/overrides may not."""
    if key == "home":
        return _as_path(key, value, source)
    if key == "listen":
        return _as_listen(key, value, source, from_text)
    if key in ("bootstrap", "relays"):
        return _as_bootstrap(key, value, source, from_text)
    if key == "trusted_peers":
        return _as_peer_ids(key, value, source, from_text)
    if key in ("mdns", "watch", "require_sandbox", "upnp"):
        return _as_bool(key, value, source, from_text)
    if key in ("verify_share", "trust_threshold", "sync_interval"):
        return _as_float(key, value, source, from_text)
    if key == "rung":
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and not from_text):
            raise _fail(key, source, f"expected a whole number (a rung) or \"auto\", got {value!r}")
    if key in ("dashboard_port", "parallel", "rung", "baseline_repeats"):
        return _as_int(key, value, source, from_text)
    if key == "budget":
        if value is None or (from_text and isinstance(value, str) and not value.strip()):
            return None
        try:
            return str(Budget.parse(_as_text(key, value, source)))  # canonical: "90 s" -> "90s", "2m" -> "120s"
        except TrainerError as exc:
            raise _fail(key, source, f"{value!r} is not a budget ({exc}); use e.g. '60s' or '2M-tokens'") from exc
    return _as_text(key, value, source)


def _check(config: NodeConfig, sources: Mapping[str, str]) -> None:
    """Range checks that need the final value; the message names the source that set it."""

    def src(key: str) -> str:
        return sources.get(key, "defaults")

    if config.agent not in AGENTS:
        raise _fail("agent", src("agent"), f"unknown agent {config.agent!r}; choose one of {', '.join(AGENTS)}")
    if not 0.0 <= config.verify_share <= 1.0:
        raise _fail("verify_share", src("verify_share"), f"{config.verify_share} is not between 0 and 1")
    if not 1 <= config.baseline_repeats <= MAX_BASELINE_REPEATS:
        raise _fail("baseline_repeats", src("baseline_repeats"), f"{config.baseline_repeats} baseline runs: choose "
                    f"1-{MAX_BASELINE_REPEATS} (fewer measure the noise less well: the default is 3)")
    if not 0.1 <= config.sync_interval <= 3600.0:
        raise _fail("sync_interval", src("sync_interval"), f"{config.sync_interval} is not between 0.1 and 3600 s")
    if not 0 <= config.dashboard_port <= 65535:
        raise _fail("dashboard_port", src("dashboard_port"), f"{config.dashboard_port} is not a port (0-65535)")
    if not 0 <= config.parallel <= MAX_PARALLEL:
        raise _fail("parallel", src("parallel"), f"{config.parallel} runs in flight: choose 1-{MAX_PARALLEL}, "
                    "or 0 for one per usable core (one on a GPU)")
    if config.rung != "auto" and not (isinstance(config.rung, int) and 0 <= config.rung <= MAX_RUNGS):
        raise _fail("rung", src("rung"), f"{config.rung} is not a rung: auto (the default), 0 (the swarm as seeded) "
                    f"or one its manifest defines, at most {MAX_RUNGS}")
    if config.home.exists() and not config.home.is_dir():
        raise _fail("home", src("home"), f"{config.home} exists and is not a directory")


# ---------------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, object]:
    """The file's table: a regular file, size checked first, strict UTF-8, then TOML; each failure names the fix."""
    try:
        text = read_text(path, MAX_CONFIG_BYTES, "config file")
    except InputFileError as exc:
        raise ConfigError(f"{exc} (a TOML file like docs/config.example.toml; or delete it to use the defaults)"
                          ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc} (see docs/config.example.toml)") from exc
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(FIELDS)}"
        )
    return data


def _env_layer(env: Mapping[str, str]) -> dict[str, tuple[object, str]]:
    found: dict[str, tuple[object, str]] = {}
    for key in FIELDS:
        name = _ENV_ALIASES.get(key, ENV_PREFIX + key.upper())
        if name in env:
            found[key] = (env[name], f"environment {name}")
    return found


def load_config(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> NodeConfig:
    """Build the node's config: defaults < config file (TOML) < environment < overrides (CLI flags).

    ``config_file`` defaults to ``<home>/config.toml`` (home from overrides, else ``SWARM_NODE_HOME``, else
    ``~/.swarm-node``) and may then be absent; a named file must exist. ``env`` defaults to ``os.environ``.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known settings: {', '.join(FIELDS)}")

    env_values = _env_layer(environ)
    layers: list[tuple[str, Mapping[str, object], Callable[[str], str], bool]] = []

    if config_file is None:
        if "home" in given:
            home = _as_path("home", given["home"], "override home")
        elif "home" in env_values:
            home = _as_path("home", env_values["home"][0], env_values["home"][1])
        else:
            home = default_home()
        path = home / "config.toml"
        toml = _read_toml(path) if path.exists() or path.is_symlink() else {}
    else:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        toml = _read_toml(path)

    layers.append(("toml", toml, lambda key: f"config file {path}", False))
    layers.append(("env", {k: v[0] for k, v in env_values.items()}, lambda key: env_values[key][1], True))
    layers.append(("override", given, lambda key: f"override {key}", False))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for _name, layer, source_of, from_text in layers:
        for key, raw in layer.items():
            source = source_of(key)
            values[key] = _coerce(key, raw, source, from_text)
            sources[key] = source
    config = NodeConfig(**values)
    _check(config, sources)
    log.debug("config: %s (sources %s)", config, sources)
    return config
