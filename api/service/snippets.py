"""Search snippets: the window of page text where the query's words sit densest."""

from __future__ import annotations

import re

WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
    ]
)


def query_terms(query: str) -> set[str]:
    terms = {w.lower() for w in WORD.findall(query)}
    return (terms - STOPWORDS) or terms


def snippet(text: str, query: str, width: int = 240) -> str:
    """A ~`width`-character excerpt of `text` centred on the densest cluster of query words.

    Args:
        text: the page text.
        query: the search query.
        width: target length in characters.
    Returns:
        the excerpt, whitespace folded, with "…" where it was cut; the page start when no word matches.
    """
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    terms = query_terms(query)
    hits = [(m.start(), m.end()) for m in WORD.finditer(flat) if m.group().lower() in terms]
    if not hits:
        return _cut(flat, 0, width)
    # Slide a window over the hits; the one covering the most wins (earliest on ties), centred on its span.
    best = (0, hits[0][0], hits[0][1])  # (count, first hit start, last hit end)
    j = 0
    for i, (_, end) in enumerate(hits):
        while hits[j][0] < end - width:
            j += 1
        if i - j + 1 > best[0]:
            best = (i - j + 1, hits[j][0], end)
    centre = (best[1] + best[2]) // 2
    begin = max(0, min(centre - width // 2, len(flat) - width))
    return _cut(flat, begin, width)


def _cut(flat: str, begin: int, width: int) -> str:
    end = min(len(flat), begin + width)
    # Snap to word boundaries so no word is sliced in half.
    if begin > 0:
        space = flat.find(" ", begin)
        begin = space + 1 if 0 <= space < begin + 30 else begin
    if end < len(flat):
        space = flat.rfind(" ", begin, end)
        end = space if space > begin + width // 2 else end
    return ("…" if begin > 0 else "") + flat[begin:end] + ("…" if end < len(flat) else "")
