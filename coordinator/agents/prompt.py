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

__all__ = ["SYSTEM_PROMPT", "build_messages", "parse_reply", "MAX_REPLY_CHARS", "MAX_FILE_BYTES"]

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

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)\n?```", re.DOTALL)
_DESC = re.compile(r"^\s*DESCRIPTION\s*:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lines(items: Sequence[HistoryItem]) -> str:
    if not items:
        return "(none yet)"
    out = []
    for item in list(items)[-MAX_ITEMS:]:
        metric = f"{item.metric:.4f}" if item.status != "crash" else "crash"
        out.append(f"- {item.status:7s} {metric:>8s}  {_clip(item.description, MAX_LINE_CHARS)}")
    return "\n".join(out)


def _study_section(context: ProposalContext) -> str:
    """What the swarm's study of this train.py has learned (only when the loop handed over trials)."""
    if not context.scored:
        return ""
    from coordinator.study import study_notes  # Optuna is imported only by agents that learn from trials

    notes = study_notes(context.train_py, context.scored, program=context.program, limit=MAX_STUDY_CHARS)
    return f"# What the swarm's study of this train.py has learned\n\n{notes}\n\n" if notes else ""


def build_messages(context: ProposalContext) -> list[dict[str, str]]:
    """The chat messages for one proposal: system format + program, best train.py, own and swarm results."""
    program = context.program[:MAX_PROGRAM_CHARS]
    best = "unmeasured" if context.best_metric is None else f"{context.best_metric:.4f}"
    user = (
        f"# Program\n\n{program}\n\n"
        f"# Current best train.py (val_bpb {best} on this machine)\n\n```python\n{context.train_py}\n```\n\n"
        f"# Your recent results (oldest first)\n\n{_lines(context.own_recent)}\n\n"
        f"# The swarm's best results\n\n{_lines(context.swarm_best)}\n\n"
        f"# The swarm's latest results\n\n{_lines(context.swarm_latest)}\n\n"
        f"{_study_section(context)}"
        "Propose one change now, in the format given."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


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
