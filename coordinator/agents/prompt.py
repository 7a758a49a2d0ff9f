"""The LLM's prompt (bounded in items and characters) and the strict parsing of its reply.

Reply format (stated in the system prompt): one line ``DESCRIPTION: <what changed and why>``, then ONE fenced
```` ```python ```` block holding the whole new train.py. A reply over 256 KiB, without a block, with a file over
64 KiB, a file that does not parse, or a file identical to the current one is refused with ``ReplyError``.
"""

from __future__ import annotations

import ast
import re
from typing import Sequence

from coordinator.errors import ReplyError
from coordinator.records import HistoryItem, ProposalContext

__all__ = ["SYSTEM_PROMPT", "TASK_BRIEFS", "system_prompt", "build_messages", "parse_reply", "MAX_REPLY_CHARS", "MAX_FILE_BYTES"]

MAX_REPLY_CHARS = 256 * 1024
MAX_FILE_BYTES = 64 * 1024
MAX_PROGRAM_CHARS = 12_000
MAX_ITEMS = 10
MAX_LINE_CHARS = 200
MAX_STUDY_CHARS = 2_000

SYSTEM_PROMPT = """You are a careful ML researcher editing train.py to lower val_bpb (lower is better).
Propose exactly ONE change per reply. Reply in exactly this format and nothing else:

DESCRIPTION: <one line, at most 200 characters: what you changed and why>
```python
<the whole new train.py, complete, not a diff>
```"""

TASK_BRIEFS: dict[str, str] = {
    "lm": "The task: a byte-level causal language model. train.py gets batches of int64 bytes [B, T] and hands back "
          "a model mapping int64 bytes [B, T] to next-byte logits [B, T, 256]; the locked evaluator scores val_bpb "
          "(bits per byte) on a held-out split train.py never sees.",
    "classify": "The task: text classification. The data is JSON Lines {\"text\": ..., \"label\": ...}; train.py gets "
                "batches of (int64 bytes [B, T], label ids [B]) and the label names, and hands back a model mapping "
                "int64 bytes [B, T] to logits [B, n_labels]; the locked evaluator scores accuracy, macro-F1 and "
                "cross-entropy on a held-out split train.py never sees.",
    "rank": "The task: ranking. The data is JSON Lines {\"query\": ..., \"candidates\": [...], \"relevant\": "
            "[indexes]}; the model scores (query, candidate) pairs given as int64 bytes; the locked evaluator ranks "
            "each query's candidates by score and computes NDCG@10 and MRR on a held-out split train.py never sees.",
    "custom": "The task: the swarm's own evaluate.py scores the exported model on a held-out split train.py never "
              "sees (see the program for the data and the model interface).",
}
"""What the llm agent is told of each task kind: the data shapes and the model interface."""


def system_prompt(context: ProposalContext) -> str:
    """The system prompt for the context's task: its metric and which way is better (val_bpb, lower: as ever)."""
    if context.metric_name == "val_bpb" and context.direction == "min":
        return SYSTEM_PROMPT
    way = "raise" if context.direction == "max" else "lower"
    better = "higher" if context.direction == "max" else "lower"
    return SYSTEM_PROMPT.replace("to lower val_bpb (lower is better)",
                                 f"to {way} {context.metric_name} ({better} is better)", 1)


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)\n?```", re.DOTALL)
_DESC = re.compile(r"^\s*DESCRIPTION\s*:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lines(items: Sequence[HistoryItem], context: ProposalContext) -> str:
    if not items:
        return "(none yet)"
    out = []
    for item in list(items)[-MAX_ITEMS:]:
        metric = f"{context.shown(item.metric):.4f}" if item.status != "crash" else "crash"
        out.append(f"- {item.status:7s} {metric:>8s}  {_clip(item.description, MAX_LINE_CHARS)}")
    return "\n".join(out)


def _study_section(context: ProposalContext) -> str:
    """What the swarm's study of this train.py has learned (only when the loop handed over trials)."""
    if not context.scored:
        return ""
    from coordinator.study import study_notes  # Optuna is imported only by agents that learn from trials

    notes = study_notes(context.train_py, context.scored, program=context.program, limit=MAX_STUDY_CHARS,
                        shown=context.shown)
    return f"# What the swarm's study of this train.py has learned\n\n{notes}\n\n" if notes else ""


def build_messages(context: ProposalContext) -> list[dict[str, str]]:
    """The chat messages for one proposal: system format + program, best train.py, own and swarm results."""
    program = context.program[:MAX_PROGRAM_CHARS]
    best = "unmeasured" if context.best_metric is None else f"{context.shown(context.best_metric):.4f}"
    brief = TASK_BRIEFS.get(context.task_kind, TASK_BRIEFS["custom"])
    better = "higher" if context.direction == "max" else "lower"
    user = (
        f"# Program\n\n{program}\n\n"
        f"# Task\n\n{brief} The metric that decides: {context.metric_name} ({better} is better).\n\n"
        f"# Current best train.py ({context.metric_name} {best} on this machine)\n\n"
        f"```python\n{context.train_py}\n```\n\n"
        f"# Your recent results (oldest first)\n\n{_lines(context.own_recent, context)}\n\n"
        f"# The swarm's best results\n\n{_lines(context.swarm_best, context)}\n\n"
        f"# The swarm's latest results\n\n{_lines(context.swarm_latest, context)}\n\n"
        f"{_study_section(context)}"
        "Propose one change now, in the format given."
    )
    return [{"role": "system", "content": system_prompt(context)}, {"role": "user", "content": user}]


def parse_reply(reply: str | None, current: str) -> tuple[str, str]:
    """(new train.py, one-line description) from a reply, or ReplyError saying why it cannot be used."""
    if not reply:
        raise ReplyError("empty reply")
    if len(reply) > MAX_REPLY_CHARS:
        raise ReplyError(f"reply of {len(reply)} characters exceeds {MAX_REPLY_CHARS}")
    blocks = _FENCE.findall(reply)
    if not blocks:
        raise ReplyError("no fenced python block in the reply")
    text = max(blocks, key=len)
    if not text.endswith("\n"):
        text += "\n"
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ReplyError(f"train.py of {len(text.encode('utf-8'))} bytes exceeds {MAX_FILE_BYTES}")
    try:
        ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise ReplyError(f"train.py does not parse: {exc}") from exc
    if text.strip() == current.strip():
        raise ReplyError("train.py unchanged")
    match = _DESC.search(reply)
    description = _clip(match.group(1), 240) if match else "llm edit (no description given)"
    return text, description
