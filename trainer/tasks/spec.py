"""The task of a swarm: its kind, the metric that decides, and that metric's direction.

A :class:`TaskSpec` travels in the manifest as canonical JSON (:meth:`TaskSpec.to_json`); a custom task's
``evaluate.py`` travels beside it as a blob (pinned by its hash), never inside the JSON.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Literal, cast

from trainer.errors import TaskError

__all__ = ["TaskKind", "Direction", "TaskSpec", "LM_TASK", "KINDS", "metrics_of", "task_spec", "check_evaluator",
           "MAX_EVALUATOR_BYTES", "MAX_METRIC_NAME"]

TaskKind = Literal["lm", "classify", "rank", "custom"]
Direction = Literal["min", "max"]
KINDS: tuple[TaskKind, ...] = ("lm", "classify", "rank", "custom")
MAX_EVALUATOR_BYTES = 64 * 1024
MAX_METRIC_NAME = 40

_METRICS: dict[str, dict[str, Direction]] = {
    "lm": {"val_bpb": "min"},
    "classify": {"accuracy": "max", "macro_f1": "max", "cross_entropy": "min"},
    "rank": {"ndcg@10": "max", "mrr": "max"},
    "custom": {},
}
_DEFAULT_METRIC = {"lm": "val_bpb", "classify": "accuracy", "rank": "ndcg@10", "custom": "score"}


def metrics_of(kind: TaskKind) -> dict[str, Direction]:
    """The metrics a built-in kind reports, with their directions (``custom``: empty, the seeder names its own)."""
    if kind not in _METRICS:
        raise TaskError(f"unknown task kind {kind!r}: choose one of {', '.join(KINDS)}")
    return dict(_METRICS[kind])


def _check_metric_name(name: str) -> None:
    if not (0 < len(name) <= MAX_METRIC_NAME) or not all(c.isalnum() or c in "_@.-" for c in name) \
            or not name.isascii():
        raise TaskError(f"metric name {name!r} must be 1-{MAX_METRIC_NAME} ASCII letters, digits or _@.-")


def check_evaluator(source: str) -> str:
    """A custom ``evaluate.py``'s source, if it is bounded UTF-8 Python that parses; ``TaskError`` saying why not."""
    raw = source.encode("utf-8", errors="surrogatepass")
    if not source.strip():
        raise TaskError("a custom task needs an evaluate.py (--eval evaluate.py); it is empty")
    if len(raw) > MAX_EVALUATOR_BYTES:
        raise TaskError(f"evaluate.py is {len(raw)} bytes; the limit is {MAX_EVALUATOR_BYTES}")
    if "\x00" in source:
        raise TaskError("evaluate.py contains a NUL byte")
    try:
        ast.parse(source, filename="evaluate.py")
    except SyntaxError as exc:
        raise TaskError(f"evaluate.py does not parse: line {exc.lineno}: {exc.msg}; fix it and seed again") from exc
    return source


@dataclass(frozen=True)
class TaskSpec:
    """What a swarm optimises. ``evaluator``: a custom task's evaluate.py source (empty for built-in kinds)."""

    kind: TaskKind = "lm"
    metric: str = "val_bpb"
    direction: Direction = "min"
    evaluator: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _METRICS:
            raise TaskError(f"unknown task kind {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.direction not in ("min", "max"):
            raise TaskError(f"direction {self.direction!r} must be min or max")
        _check_metric_name(self.metric)
        if self.kind == "custom":
            if self.evaluator:
                check_evaluator(self.evaluator)
            return
        if self.evaluator:
            raise TaskError(f"only a custom task takes an evaluate.py, not {self.kind}")
        known = _METRICS[self.kind]
        if self.metric not in known:
            raise TaskError(f"{self.kind} reports {', '.join(known)}, not {self.metric!r}")
        if known[self.metric] != self.direction:
            raise TaskError(f"{self.metric} is better when {'higher' if known[self.metric] == 'max' else 'lower'}: "
                            f"its direction is {known[self.metric]}, not {self.direction}")

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces); the evaluator's source is not in it (it travels as a blob)."""
        return json.dumps({"kind": self.kind, "metric": self.metric, "direction": self.direction},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, evaluator: str = "") -> TaskSpec:
        """Strict decode: ``"lm"`` (old manifests) or the object of :meth:`to_json`; ``TaskError`` otherwise."""
        if text.strip() == "lm":
            return LM_TASK
        if len(text) > 1024:
            raise TaskError("the task field is over 1024 characters")
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise TaskError(f"the task field is not JSON: {exc}") from exc
        if not isinstance(record, dict) or set(record) != {"kind", "metric", "direction"} \
                or not all(isinstance(v, str) for v in record.values()):
            raise TaskError('the task field must be {"kind": ..., "metric": ..., "direction": ...} with strings')
        if record["kind"] == "custom" and not evaluator:
            raise TaskError("a custom task needs its evaluate.py")
        return cls(kind=cast(TaskKind, record["kind"]), metric=record["metric"],
                   direction=cast(Direction, record["direction"]), evaluator=evaluator)


LM_TASK = TaskSpec()


def task_spec(kind: str, metric: str | None = None, direction: str | None = None, evaluator: str = "") -> TaskSpec:
    """The spec of ``kind``: its default metric when ``metric`` is None, that metric's direction when ``direction`` is
    None; ``TaskError`` naming the choices otherwise. ``custom`` needs ``evaluator``, a metric name and a direction."""
    if kind not in _METRICS:
        raise TaskError(f"unknown task kind {kind!r}: choose one of {', '.join(KINDS)}")
    typed = cast(TaskKind, kind)
    name = metric if metric is not None else _DEFAULT_METRIC[kind]
    if typed == "custom":
        if not evaluator:
            raise TaskError("a custom task needs its evaluate.py (--eval evaluate.py)")
        if direction is None:
            raise TaskError("a custom task needs the direction of its metric: min or max")
    elif direction is None:
        known = _METRICS[kind]
        if name not in known:
            raise TaskError(f"{kind} reports {', '.join(known)}, not {name!r}")
        direction = known[name]
    if direction not in ("min", "max"):
        raise TaskError(f"direction {direction!r} must be min or max")
    return TaskSpec(kind=typed, metric=name, direction=cast(Direction, direction), evaluator=evaluator)
