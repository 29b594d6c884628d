"""The rule-based reader itself: sentences scored, the best span picked, the answer and its citations.

A short answer span picked out of the retrieved pages' text, with page + box citations.

How it reads (pure Python, a few milliseconds a question):
1. Split the top pages into sentences and score each against the question: idf-weighted overlap of stemmed
   content words (idf over the sentences at hand), a bonus for question bigrams found in order, the dense
   similarity when an embedder is given, and the page's retrieval rank.
2. In the best sentences, enumerate short candidate spans that look like constituents (names, numbers, dates,
   noun phrases; clauses after "because"/"by" for why/how questions), drop the words the question already has,
   and score each by how well it fits the expected answer type, how close it sits to the question's words in
   the sentence, and whether its edges fall on phrase boundaries.
3. Return the best span with the union box of the page lines it touches (points and pixels). An answer whose
   evidence is too thin comes back empty with score 0 rather than as a guess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decoder.extractive.code import code_candidates, code_head
from decoder.extractive.passage import Passage, distinct, make_passage
from decoder.extractive.question import (
    QuestionInfo,
    analyze_question,
)
from decoder.extractive.spans import Sentence, candidates, span_score
from decoder.extractive.text import (
    STOPWORDS,
    Token,
    split_sentences,
    stem,
    tokenize,
)

DEFAULT_MAX_CHARS = 200
MAX_PASSAGES = 3  # supporting passages returned per answer, best first
_TOP_SENTENCES = 3  # sentences whose spans are considered
_TOP_CODE_SENTENCES = 5  # sentences whose code tokens are considered for a technical question
_DENSE_SENTENCES = 16  # sentences (best by words) whose dense similarity is computed
_MIN_EVIDENCE = 0.1  # best sentence must share at least this idf mass with the question
_RANK_PENALTY = 0.05  # per retrieval rank of the page a sentence is on


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Citation:
    """Where an answer was read: 1-based page and the union box of the page lines the answer touches.

    Boxes are in PDF points and in raster pixels (px = pt * dpi / 72); both are None when the page has no line
    geometry. `page_size` is the page's (width, height) in points, the frame of the point box (None when
    the page record has no geometry).
    """

    doc_id: str
    source: str
    page: int
    bbox_points: Box | None
    bbox_pixels: Box | None
    dpi: float = 72.0
    page_size: tuple[float, float] | None = None


@dataclass
class ExtractiveAnswer:
    """The reader's answer: `span` is (start, end) into the page text; empty text, score 0: no answer.

    `passages` ranks the supporting passages the reader found across the pages, best first; the first holds
    this answer (decoder/extractive/passage.py).
    """

    text: str
    score: float
    page_id: str = ""
    span: tuple[int, int] = (0, 0)
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    reader: str = ""  # which reader found it, when a caller chose between several ("" = the caller's own)


# ---------------------------------------------------------------------------------------------- public


def answer_extractive(
    question: str,
    hits: Sequence[Any],
    *,
    embedder: Any = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_pages: int = 5,
) -> ExtractiveAnswer:
    """Pick a short answer to `question` out of the text of the retrieved pages.

    Args:
        question: the user's question.
        hits: retrieved pages, best first (`SearchHit`s: `.page` with `text`, `lines`, `doc_id`, `page_no`,
            `source`, `dpi`).
        embedder: optional text embedder (`embed(texts)`, `embed_query(text)`, L2-normalised) whose sentence
            similarity is added to the lexical score.
        max_chars: longest answer returned (a longer best span is cut at a word boundary).
        max_pages: how many of the top hits are read.

    Returns:
        An `ExtractiveAnswer`; `text == ""` and `score == 0.0` when no sentence shares enough with the
        question. `score` (0..1) grows with the share of the question found and the span's fit; below about
        0.35 treat the answer as a guess.
    """
    q = analyze_question(question)
    pages = [h.page for h in list(hits)[:max_pages]]
    if not q.keys or not pages:
        return ExtractiveAnswer("", 0.0)
    sentences = _sentences(pages, q)
    if not sentences:
        return ExtractiveAnswer("", 0.0)
    _score_sentences(sentences, q, pages, embedder)
    ranked = sorted(sentences, key=lambda s: -s.score)
    if ranked[0].score < _MIN_EVIDENCE:
        return ExtractiveAnswer("", 0.0)
    head = code_head(question)
    if head is not None:  # an option, command, function…: a code token of the best sentences (code.py)
        words = {t.low for t in tokenize(question)}
        found = code_candidates(head, ranked[:_TOP_CODE_SENTENCES], pages, words)
        if found:
            passages = [make_passage(pages[sent.hit], s, e, round(score, 4)) for score, sent, s, e in found]
            confidence = round(max(0.0, min(1.0, ranked[0].score)), 4)
            return answer_from(distinct(passages, MAX_PASSAGES), score=confidence)
    scored: list[tuple[float, Sentence, int, int]] = []
    top = ranked[0].score
    for sent in ranked[:_TOP_SENTENCES]:
        for i, j, f in candidates(sent, q, sent.score / top):
            scored.append((span_score(f), sent, i, j))
    if not scored:
        return ExtractiveAnswer("", 0.0)
    by_span: list[tuple[float, Passage]] = []  # each sentence's best span, ranked by span score
    best_of: dict[int, tuple[float, Sentence, int, int]] = {}
    for c in scored:
        if id(c[1]) not in best_of or c[0] > best_of[id(c[1])][0]:
            best_of[id(c[1])] = c
    for total, sent, i, j in best_of.values():
        page = pages[sent.hit]
        start, end = sent.tokens[i].start, sent.tokens[j - 1].end
        if end - start > max_chars:
            cut = page.text.rfind(" ", start, start + max_chars)
            end = cut if cut > start else start + max_chars
        confidence = max(0.0, min(1.0, sent.score)) * (1.0 / (1.0 + math.exp(-(total - 2.0))))
        by_span.append((total, make_passage(page, start, end, round(confidence, 4))))
    by_span.sort(key=lambda r: -r[0])
    return answer_from(distinct([p for _, p in by_span], MAX_PASSAGES))


def answer_from(passages: list[Passage], score: float | None = None) -> ExtractiveAnswer:
    """The answer held by the best of `passages` (ranked, best first), cited by its span's lines; its
    score is `score`, else the best passage's."""
    if not passages:
        return ExtractiveAnswer("", 0.0)
    best = passages[0]
    page = best.page
    start, end = best.start + best.span[0], best.start + best.span[1]
    return ExtractiveAnswer(
        text=page.text[start:end],
        score=best.score if score is None else score,
        page_id=page.page_id,
        span=(start, end),
        citations=[page_citation(page, start, end)],
        passages=passages,
    )


# ---------------------------------------------------------------------------------------------- sentences


def _keys(tok: Token) -> list[str]:
    if not tok.key:
        return []
    if "-" in tok.low:
        parts = [stem(p) for p in tok.low.split("-") if p and p not in STOPWORDS]
        return [tok.key, *parts]
    return [tok.key]


def _sentences(pages: list[Any], q: QuestionInfo) -> list[Sentence]:
    out = []
    for h, page in enumerate(pages):
        text = page.text or ""
        for s, e in split_sentences(text):
            toks = tokenize(text[s:e], s)
            if toks:
                out.append(Sentence(h, s, e, toks, [0.0] * len(toks), [0] * len(toks)))
    return out


def _score_sentences(sentences: list[Sentence], q: QuestionInfo, pages: list[Any], embedder: Any) -> None:
    n = len(sentences)
    df: dict[str, int] = {}
    sent_keys = []
    for sent in sentences:
        ks = {k for t in sent.tokens for k in _keys(t)}
        sent_keys.append(ks)
        for k in ks:
            df[k] = df.get(k, 0) + 1
    qset = set(q.keys)
    weight = {k: math.log(1.0 + (n + 1) / (df.get(k, 0) + 0.5)) for k in qset}
    total = sum(weight.values()) or 1.0
    qpairs = {(a, b) for a, b in zip(q.keys, q.keys[1:], strict=False)}
    for n_s, (sent, ks) in enumerate(zip(sentences, sent_keys, strict=True)):
        hit_w = 0.0
        for k in qset:
            if k in ks:
                hit_w += weight[k]
        # "It was built in 1871 …": a sentence that opens on a pronoun continues the previous one's topic
        prev = sentences[n_s - 1] if n_s else None
        inherited: set[str] = set()
        if prev is not None and prev.hit == sent.hit and sent.tokens[0].low in _ANAPHORS:
            inherited = qset & sent_keys[n_s - 1] - ks
            hit_w += _ANAPHOR_SHARE * sum(weight[k] for k in inherited)
        for p, t in enumerate(sent.tokens):
            for k in _keys(t):
                if k in weight:
                    sent.match[p] = weight[k]
                    sent.side[p] = q.side.get(k, 0)
                    break
        if inherited:  # the pronoun stands where its antecedent's words would
            top_key = max(inherited, key=lambda k: weight[k])
            sent.match[0] = _ANAPHOR_SHARE * sum(weight[k] for k in inherited)
            sent.side[0] = q.side.get(top_key, 0)
        seq = [t.key for t in sent.tokens if t.key]
        pairs = sum(1 for a, b in zip(seq, seq[1:], strict=False) if (a, b) in qpairs)
        sent.score = hit_w / total + 0.1 * min(pairs, 3) - _RANK_PENALTY * sent.hit
        sent.qmass = total
    if embedder is not None:
        # Only the best sentences by words: on long manual pages (hundreds of sentences) embedding them all
        # cost seconds a question; a sentence outside these cannot catch up on 0.5 x cosine alone.
        best = sorted(sentences, key=lambda s: -s.score)[:_DENSE_SENTENCES]
        vecs = np.asarray(embedder.embed([_text(pages, s) for s in best]), dtype=np.float32)
        qv = np.asarray(embedder.embed_query(q.text), dtype=np.float32)
        sims = vecs @ qv
        for sent, sim in zip(best, sims, strict=True):
            sent.score += 0.5 * float(sim)


_ANAPHORS = frozenset(["it", "its", "he", "his", "she", "her", "they", "their", "this", "these"])
_ANAPHOR_SHARE = 0.5


def _text(pages: list[Any], sent: Sentence) -> str:
    return pages[sent.hit].text[sent.start : sent.end]


# ---------------------------------------------------------------------------------------------- citations


def line_box(lines: Sequence[Any], start: int, end: int) -> Box | None:
    """Union box (points) of the lines whose character span overlaps [start, end); None if none does."""
    boxes = [ln.bbox for ln in lines if ln.start < end and ln.end > start]
    if not boxes:
        return None
    return (
        float(min(b[0] for b in boxes)),
        float(min(b[1] for b in boxes)),
        float(max(b[2] for b in boxes)),
        float(max(b[3] for b in boxes)),
    )


def page_citation(page: Any, start: int, end: int) -> Citation:
    """Citation of chars [start, end) of `page`: the union box of the lines they touch (points, pixels)."""
    dpi = float(page.dpi or 72.0)
    pts = line_box(page.lines or [], start, end)
    px = None if pts is None else tuple(v * dpi / 72.0 for v in pts)
    width, height = getattr(page, "width", None), getattr(page, "height", None)
    size = (float(width), float(height)) if width and height else None
    return Citation(page.doc_id, page.source, int(page.page_no), pts, px, dpi, size)  # type: ignore[arg-type]
