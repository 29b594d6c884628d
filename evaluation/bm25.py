"""A small in-memory BM25 over a corpus, with the reference baseline's analyzer (for offline evaluation only).

Same algorithm and defaults as `evaldata/tools/bm25_baseline.py` (lowercase [a-z0-9]+ tokens, a short English
stopword list, crude plural stripping; k1=0.9, b=0.4; ties broken by ascending id), so rankings made here are
the baseline's rankings. The service itself searches with Milvus; this exists to feed the reader without a
server.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable

# fmt: off
_STOP = frozenset(
    [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
        "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
        "this", "to", "was", "will", "with", "what", "which", "who", "whom", "when", "where", "why", "how",
        "does", "do", "did", "can", "could", "should", "would", "from", "has", "have", "had", "were",
        "been", "being", "its", "it's", "than", "so", "via",
    ]
)
# fmt: on
_TOK = re.compile(r"[a-z0-9]+")


def _stem(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us")):
        return w[:-1]
    return w


def analyze(text: str) -> list[str]:
    """The baseline analyzer: lower-case alphanumeric runs, stopwords dropped, plural -s/-ies stripped."""
    return [_stem(t) for t in _TOK.findall(text.lower()) if t not in _STOP]


class BM25:
    """Okapi BM25 over (id, text) documents.

    Args:
        docs: (doc_id, text) pairs.
        k1, b: the usual parameters (Anserini defaults).
    """

    def __init__(self, docs: Iterable[tuple[str, str]], k1: float = 0.9, b: float = 0.4) -> None:
        self.k1, self.b = k1, b
        self.ids: list[str] = []
        lengths: list[int] = []
        df: Counter[str] = Counter()
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, (doc_id, text) in enumerate(docs):
            tf = Counter(analyze(text))
            self.ids.append(doc_id)
            lengths.append(sum(tf.values()))
            df.update(tf.keys())
            for w, c in tf.items():
                self._postings[w].append((i, c))
        n = len(self.ids)
        avgdl = sum(lengths) / n if n else 1.0
        self._idf = {w: math.log(1 + (n - m + 0.5) / (m + 0.5)) for w, m in df.items()}
        self._norm = [k1 * (1 - b + b * dl / avgdl) for dl in lengths]

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every document sharing a term with the query (repeated query terms count again)."""
        acc: dict[int, float] = defaultdict(float)
        for w in analyze(query):
            idf = self._idf.get(w)
            if idf is None:
                continue
            for i, tf in self._postings[w]:
                acc[i] += idf * tf * (self.k1 + 1) / (tf + self._norm[i])
        return {self.ids[i]: s for i, s in acc.items()}

    def search(self, query: str, k: int = 100) -> list[tuple[str, float]]:
        """The top-k (doc_id, score), best first, ties by ascending id."""
        ranked = sorted(self.scores(query).items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:k]
