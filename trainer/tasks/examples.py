"""The data of the two example tasks, built from the embedded corpus (no download, deterministic, small).

Usage::

    python -m trainer.tasks.examples shakespeare-genre OUT.jsonl   # classify: comedy | history | tragedy
    python -m trainer.tasks.examples next-line OUT.jsonl           # rank: the true next line among 20

The corpus (:func:`trainer.corpus.shakespeare_bytes`) is the 42 works in sorted file-name order, each opening with
its title line and "by William Shakespeare"; the 5 poems are left out, the 37 plays carry their First Folio genre
(Pericles, not in the Folio, as a comedy; Troilus and Cymbeline as the Folio's tragedies).

- ``shakespeare-genre``: :data:`GENRE_PASSAGES` passages of :data:`PASSAGE_LINES` consecutive non-blank lines from
  each play, spread evenly over it; the label is the play's genre.
- ``next-line``: :data:`NEXT_LINE_ROWS` rows per play: the query is :data:`QUERY_LINES` consecutive lines, the
  candidates its true next line and 19 lines of speech drawn from other plays, in a shuffled order.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

from trainer.corpus import shakespeare_bytes

__all__ = ["plays", "genre_rows", "next_line_rows", "build", "GENRES", "EXAMPLES"]

_HEADER = re.compile(r"(?m)^(.+)\n\n?by William Shakespeare\n")
POEMS = frozenset({"A LOVER'S COMPLAINT", "THE PASSIONATE PILGRIM", "THE PHOENIX AND THE TURTLE",
                   "THE RAPE OF LUCRECE", "THE SONNETS"})
_HISTORY = ("KING HENRY", "HENRY THE", "KING JOHN", "RICHARD THE SECOND", "RICHARD III")
_TRAGEDY = ("ANTONY", "CORIOLANUS", "CYMBELINE", "HAMLET", "JULIUS", "LEAR", "MACBETH", "OTHELLO", "ROMEO",
            "TIMON", "TITUS", "TROILUS")
GENRES = ("comedy", "history", "tragedy")
EXAMPLES = ("shakespeare-genre", "next-line")
GENRE_PASSAGES = 80
PASSAGE_LINES = 5
NEXT_LINE_ROWS = 30
QUERY_LINES = 4
CANDIDATES = 20
_SPEECH = re.compile(r"^[A-Za-z'\"(].*[a-z].*$")


def _genre(title: str) -> str:
    if any(word in title for word in _HISTORY):
        return "history"
    return "tragedy" if any(word in title for word in _TRAGEDY) else "comedy"


def plays() -> list[tuple[str, str, list[str]]]:
    """(title, genre, non-blank lines from the first act on) of each of the 37 plays, in corpus order."""
    text = shakespeare_bytes().decode("utf-8")
    heads = list(_HEADER.finditer(text))
    if len(heads) != 42:
        raise RuntimeError(f"expected 42 works in the embedded corpus, found {len(heads)}")
    found: list[tuple[str, str, list[str]]] = []
    for i, head in enumerate(heads):
        title = head.group(1).strip()
        if title in POEMS:
            continue
        body = text[head.end(): heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        lines = [line.rstrip() for line in body.split("\n") if line.strip()]
        first_act = next((i for i, line in enumerate(lines) if line.strip().upper().startswith(("ACT I", "ACT 1"))),
                         0)
        lines = lines[first_act:]  # the list of persons and the prologue before the first act are left out
        found.append((title, _genre(title), lines))
    return found


def _is_speech(line: str) -> bool:
    """A line somebody says (not a speaker's name, a stage direction or a scene heading)."""
    stripped = line.strip()
    return len(stripped) >= 20 and bool(_SPEECH.match(stripped)) and not stripped.startswith(("[", "ACT", "SCENE"))


def genre_rows() -> list[dict[str, object]]:
    """The shakespeare-genre rows: {"text": a passage, "label": its play's genre}."""
    rows: list[dict[str, object]] = []
    for _title, genre, lines in plays():
        starts = range(0, len(lines) - PASSAGE_LINES, (len(lines) - PASSAGE_LINES) // GENRE_PASSAGES)
        for start in list(starts)[:GENRE_PASSAGES]:
            rows.append({"text": "\n".join(lines[start:start + PASSAGE_LINES]), "label": genre})
    return rows


def next_line_rows(seed: int = 13) -> list[dict[str, object]]:
    """The next-line rows: {"query": lines, "candidates": 20 lines, "relevant": [the true next line's index]}."""
    rng = random.Random(seed)
    works = plays()
    speech = [[line.strip() for line in lines if _is_speech(line)] for _t, _g, lines in works]
    rows: list[dict[str, object]] = []
    for w, (_title, _genre_, lines) in enumerate(works):
        ends = [i for i in range(QUERY_LINES, len(lines)) if _is_speech(lines[i])]
        step = len(ends) // NEXT_LINE_ROWS
        for end in ends[::step][:NEXT_LINE_ROWS]:
            true = lines[end].strip()
            others: list[str] = []
            while len(others) < CANDIDATES - 1:
                other = rng.randrange(len(works))
                if other != w:
                    line = rng.choice(speech[other])
                    if line != true and line not in others:
                        others.append(line)
            position = rng.randrange(CANDIDATES)
            candidates = others[:position] + [true] + others[position:]
            rows.append({"query": "\n".join(lines[end - QUERY_LINES:end]), "candidates": candidates,
                         "relevant": [position]})
    return rows


def build(example: str, out: Path) -> int:
    """Write ``example``'s JSONL to ``out``; the number of rows."""
    if example not in EXAMPLES:
        raise SystemExit(f"unknown example {example!r}: choose one of {', '.join(EXAMPLES)}")
    rows = genre_rows() if example == "shakespeare-genre" else next_line_rows()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return len(rows)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    n = build(sys.argv[1], Path(sys.argv[2]))
    print(f"{sys.argv[2]}: {n} rows of {sys.argv[1]}")
