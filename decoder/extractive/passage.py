"""The supporting passage of an answer span: the sentence or lines around it, at most 300 characters.

A short span ("dotglob", "1871") is only useful with the words that make it the answer, so every reader
returns it inside a passage a person can check at a glance:

1. the sentence that holds the span (decoder/extractive/text.py's sentences, also ended by a line break
   after a full stop, colon or semicolon, so a definition list's term and its description stay together);
2. too short (a term and a few words, a line of code): the neighbouring sentences or lines are added, the
   next one first (a description follows its term), while the passage stays within MAX_PASSAGE_CHARS;
3. too long: a window of MAX_PASSAGE_CHARS around the span, cut at word boundaries.

The passage is cited with the union box of the page lines it covers; the span keeps its own box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from decoder.extractive.text import split_sentences

MAX_PASSAGE_CHARS = 300
MIN_PASSAGE_CHARS = 80  # shorter than this, neighbouring sentences or lines are added
_LINE_END = re.compile(r"(?<=[.!?:;])\n\s*")


@dataclass(frozen=True)
class Passage:
    """An answer in context: `text[span[0]:span[1]]` is the answer; `start` is where `text` begins in the
    page text; `page` is the page record it was read from (for its id and citation); `score` ranks passages
    of one question (the reader's own scale)."""

    text: str
    span: tuple[int, int]
    start: int
    page: Any
    score: float


def passage_bounds(text: str, start: int, end: int, max_chars: int = MAX_PASSAGE_CHARS) -> tuple[int, int]:
    """The [lo, hi) chars of `text` that support the span [start, end): see the module docstring.

    Args:
        text: the page text (lines joined by newlines).
        start, end: the answer span in `text`.
        max_chars: the longest passage (a span longer than this is returned as it is).
    """
    if end - start >= max_chars:
        return start, end
    units = _units(text)
    inside = [k for k, (s, e) in enumerate(units) if s < end and start < e] or [0]
    first, last = inside[0], inside[-1]
    lo, hi = min(units[first][0], start), max(units[last][1], end)
    if hi - lo > max_chars:
        return _window(text, start, end, max_chars)
    while hi - lo < MIN_PASSAGE_CHARS:  # too short: the next unit first (a description follows its term)
        if last + 1 < len(units) and units[last + 1][1] - lo <= max_chars:
            last += 1
            hi = units[last][1]
        elif first > 0 and hi - units[first - 1][0] <= max_chars:
            first -= 1
            lo = units[first][0]
        else:
            break
    return lo, hi


def make_passage(page: Any, start: int, end: int, score: float) -> Passage:
    """The passage of chars [start, end) of `page.text`, with the span's place inside it."""
    text = page.text or ""
    lo, hi = passage_bounds(text, start, end)
    return Passage(text[lo:hi], (start - lo, end - lo), lo, page, score)


def distinct(ranked: list[Passage], limit: int) -> list[Passage]:
    """The first `limit` of `ranked` (best first), skipping any overlapping a better one on its page."""
    out: list[Passage] = []
    for p in ranked:
        lo, hi = p.start, p.start + len(p.text)
        if any(q.page.page_id == p.page.page_id and q.start < hi and lo < q.start + len(q.text) for q in out):
            continue
        out.append(p)
        if len(out) == limit:
            break
    return out


def _units(text: str) -> list[tuple[int, int]]:
    """Sentences, also ended by a line break after . ! ? : or ; (in manuals a term or an identifier often
    starts the next line in lower case, which the sentence splitter does not take for a new sentence)."""
    out = []
    for s, e in split_sentences(text):
        for m in _LINE_END.finditer(text, s, e):
            if m.start() > s:
                out.append((s, m.start()))
            s = m.end()
        if e > s:
            out.append((s, e))
    return out


def _window(text: str, start: int, end: int, max_chars: int) -> tuple[int, int]:
    """`max_chars` around the span, centred on it and cut at spaces."""
    room = max_chars - (end - start)
    lo = max(0, start - room // 2)
    hi = min(len(text), lo + max_chars)
    lo = max(0, hi - max_chars)
    if lo > 0:
        cut = text.find(" ", lo, start)
        lo = cut + 1 if cut >= 0 else lo
    if hi < len(text):
        cut = text.rfind(" ", end, hi)
        hi = cut if cut >= 0 else hi
    return lo, hi
