"""Semantic bounds: what a well-typed message must also satisfy.

``check_intrinsic`` holds for a message wherever it is (the signer runs it too, so a node cannot sign what its peers
would reject); ``check_context`` depends on the receiver: its clock (``now``, ``Limits.future_skew``) and the swarm it
expects. Replays are the receiver's to drop (node/: the gossip gate's seq heads and the ledger's dedupe).
"""

from __future__ import annotations

import json

from protocol.errors import InvalidValue, StaleMessage, WrongSwarm
from protocol.limits import Limits
from protocol.messages import BudgetRule, Claim, Manifest, Message, Result, task_kind

__all__ = ["check_intrinsic", "check_context", "MAX_BUDGET_SECONDS"]

MAX_BUDGET_SECONDS = 24 * 3600


def _check_budget(budget: BudgetRule) -> None:
    if budget.kind == "seconds" and budget.amount > MAX_BUDGET_SECONDS:
        raise InvalidValue(f"budget of {budget.amount} s is over {MAX_BUDGET_SECONDS} s")


def check_intrinsic(message: Message, limits: Limits) -> None:
    """Bounds that do not depend on the receiver (raises ``InvalidValue``)."""
    if isinstance(message, Result):
        if message.status != "crash" and not limits.metric_min <= message.metric <= limits.metric_max:
            raise InvalidValue(
                f"metric {message.metric!r} out of range {limits.metric_min}..{limits.metric_max}"
                f" for a {message.status} result"
            )
        if message.status == "keep" and not message.commit:
            raise InvalidValue("a kept result must name its commit")
        _check_budget(message.budget)
    elif isinstance(message, Claim):
        if message.expires_at <= message.created_at:
            raise InvalidValue("a claim must expire after it is made")
        if message.expires_at - message.created_at > limits.max_claim_seconds:
            raise InvalidValue(f"a claim may last at most {limits.max_claim_seconds:.0f} s")
    elif isinstance(message, Manifest):
        _check_budget(message.budget)
        _check_task(message)
        _check_rungs(message.rungs)


def _check_rungs(rungs: str) -> None:
    """``rungs`` is "" or a JSON array of objects (their fields are the coordinator's to read: ``parse_rungs``)."""
    if not rungs:
        return
    try:
        raw = json.loads(rungs)
    except ValueError as exc:
        raise InvalidValue(f"manifest rungs are not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw or not all(isinstance(entry, dict) for entry in raw):
        raise InvalidValue("manifest rungs must be a JSON array of objects, e.g. "
                           '[{"budget": 5, "scale": {"N_LAYER": 2}}]')


def _check_task(manifest: Manifest) -> None:
    """The task names a known kind and agrees with the manifest's metric and direction; only custom has eval_blob."""
    try:
        kind = task_kind(manifest.task)
    except ValueError as exc:
        raise InvalidValue(f"manifest task: {exc}") from None
    if manifest.task != "lm":
        spec = json.loads(manifest.task)
        for key, value in (("metric", manifest.metric_name), ("direction", manifest.metric_direction)):
            if key in spec and spec[key] != value:
                raise InvalidValue(f"manifest task's {key} {spec[key]!r:.40} is not the manifest's {value!r}")
    if (kind == "custom") != bool(manifest.eval_blob):
        raise InvalidValue("a custom task names its evaluate.py (eval_blob), and only a custom task does")


def check_context(message: Message, limits: Limits, *, now: float, expected_swarm: bytes | None) -> None:
    """Bounds against the receiver's clock and swarm (raises ``StaleMessage`` or ``WrongSwarm``).

    For a ``Manifest`` the swarm is checked by the caller (its id is the hash of its envelope)."""
    if message.created_at > now + limits.future_skew:
        raise StaleMessage(
            f"created_at is {message.created_at - now:.0f} s in the future (allowed skew {limits.future_skew:.0f} s)"
        )
    if isinstance(message, Claim) and message.expires_at <= now:
        raise StaleMessage(f"claim expired {now - message.expires_at:.0f} s ago")
    if expected_swarm is not None and not isinstance(message, Manifest) and message.swarm_id != expected_swarm:
        raise WrongSwarm(f"message for swarm {message.swarm_id.hex()[:16]}, expected {expected_swarm.hex()[:16]}")
