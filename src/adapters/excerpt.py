"""A message cut to one line around what a search matched, for result lists in both clients
(a result list reads one line per message, however long the message: a pasted log once made the
terminal's ``/search`` print 600 lines)."""

from __future__ import annotations

import re
from collections.abc import Sequence

WIDTH = 100
"""The most characters of a message a search result shows by default, "…" included."""
BEFORE = 20
"""How much of the text before the first match is kept, for context (at most a quarter of the
width)."""


def excerpt(body: str, words: Sequence[str], width: int = WIDTH) -> str:
    """``body`` on one line (runs of spaces and newlines made one space), at most ``width``
    characters with "…" on each side where cut, starting a few words before the first of
    ``words`` it contains (at a word's start, as the search matches prefixes, else anywhere)."""
    flat = " ".join(body.split())
    if len(flat) <= width:
        return flat
    starts = [m.start() for w in words if w and (m := _find(w, flat))]
    hit = min(starts, default=0)
    last_start = len(flat) - width + 1  # the end shown whole, after one "…"
    start = max(0, min(hit - min(BEFORE, width // 4), last_start))
    if 0 < start < last_start:
        space = flat.find(" ", start, hit)  # start at a word's beginning when one is close
        start = space + 1 if space >= 0 else start
    room = width - (start > 0)
    end = start + room
    if end < len(flat):
        end -= 1  # room for the closing "…"
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _find(word: str, text: str) -> re.Match[str] | None:
    """Where ``word`` is in ``text``: at the start of a word, else anywhere; in any case."""
    pattern = re.escape(word)
    return re.search(r"(?<!\w)" + pattern, text, re.IGNORECASE) or re.search(
        pattern, text, re.IGNORECASE
    )
