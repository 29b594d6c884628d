"""Answer spans of the extractive reader: candidate spans inside a sentence, their features and score.

Split from reader.py (sentences, public API, citations), which imports what it needs from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from decoder.extractive.question import (
    COUNT,
    DATE,
    DURATION,
    ENTITY,
    LOCATION,
    MANNER,
    MONEY,
    PERCENT,
    PERSON,
    QUANTITY,
    REASON,
    YEAR,
    QuestionInfo,
)
from decoder.extractive.text import (
    AUXILIARIES,
    CONJUNCTIONS,
    CURRENCY,
    DATE_WORDS,
    DETERMINERS,
    PREPOSITIONS,
    PRONOUNS,
    STOPWORDS,
    TIME_UNITS,
    Token,
    is_adverb,
    is_number,
    is_ordinal,
    is_verbish,
    is_year,
    stem,
)
from decoder.extractive.text import (
    PERCENT as PERCENT_WORDS,
)


@dataclass
class Sentence:
    hit: int  # index into hits
    start: int
    end: int
    tokens: list[Token]
    match: list[float]  # per token: idf weight of the question word it matches (0 if none)
    side: list[int]  # per token: the matched question word's expected side of the answer (QuestionInfo.side)
    score: float = 0.0
    qmass: float = 1.0  # idf mass of all the question's words (proximity is a share of it)


# ---------------------------------------------------------------------------------------------- spans

_OPENERS = frozenset(["$", "£", "€", "¥", '"', "“", "'"])
_CLOSERS = frozenset(["%", '"', "”", "'"])
_CLAUSE_END = frozenset([",", ";", ":", ".", "!", "?", "(", ")", "[", "]", "—", "–"])
_REASON_TRIGGERS = ("because", "due", "since", "so", "as", "to", "for")
_MANNER_TRIGGERS = ("by", "through", "using", "via", "with")
_INNER_OK = frozenset(
    ["of", "and", "&", "-", "'", "de", "la", "le", "von", "van", "der", "du", "da", "di", "del", "bin", "al"]
)
_LOCATIVE = frozenset(["in", "at", "from", "near", "to", "into", "across", "outside", "inside", "on"])

# Span features, in order; the score of a span is their dot product with _WEIGHTS.
FEATURES = (
    "type",  # fit to the expected answer type, -1..1
    "near",  # idf mass of question words near the span on the side word order puts them, decaying
    "wrong",  # the same for question words on the other side
    "adjacent",  # a question word sits right next to the span (no content word between) on its expected side
    "qfrac",  # share of the span's words the question already has
    "cut_left",  # the span starts inside a longer phrase
    "cut_right",  # the span stops inside a longer phrase
    "long",  # words beyond the type's usual answer length
    "caps",  # share of capitalised words
    "quoted",  # the span is exactly a quoted string
    "paren",  # the span sits inside parentheses
    "focus",  # the span is next to the question's focus noun ("the team X", "X, a city")
    "subject",  # a subject question and the span comes before the sentence's first verb
    "sentence",  # the sentence's score relative to the best sentence
)
_WEIGHTS = dict(
    type=2.2,
    near=2.1,
    wrong=0.65,
    adjacent=0.5,
    qfrac=-0.7,
    cut_left=-0.4,
    cut_right=-1.3,
    long=0.08,
    caps=0.0,
    quoted=1.2,
    paren=-0.9,
    focus=0.6,
    subject=0.3,
    sentence=2.9,
)
_TYPE_LENGTH = {DATE: 4, PERSON: 4, LOCATION: 4, ENTITY: 4, REASON: 8, MANNER: 8}


def _is_content(t: Token, prev: Token | None = None) -> bool:
    if not t.text[0].isalnum():
        return t.text in _OPENERS or t.text in _CLOSERS
    low = t.low
    if low in DETERMINERS or low in PREPOSITIONS or low in CONJUNCTIONS or low in AUXILIARIES:
        return False
    if low in PRONOUNS or (low in STOPWORDS and not is_number(low)):
        return False
    if is_adverb(low):
        return False
    return not is_verbish(t, prev)


class _SentenceView:
    """Per-sentence arrays the span scorer reads many times."""

    def __init__(self, sent: Sentence, q: QuestionInfo, rel_score: float) -> None:
        toks = sent.tokens
        self.toks = toks
        self.content = [_is_content(t, toks[p - 1] if p else None) for p, t in enumerate(toks)]
        self.word = [t.text[0].isalnum() for t in toks]
        self.qword = [m > 0 for m in sent.match]
        # content-word index of each token, so distances skip function words and punctuation
        ci, idx = [], 0
        for p in range(len(toks)):
            ci.append(idx)
            if (self.content[p] or self.qword[p]) and self.word[p]:
                idx += 1
        self.ci = ci
        self.matched = [(p, m, sent.side[p]) for p, m in enumerate(sent.match) if m > 0]
        self.mass = sent.qmass
        self.rel_score = rel_score
        self.first_verb = next(
            (p for p, t in enumerate(toks) if is_verbish(t, toks[p - 1] if p else None)), len(toks)
        )
        focus = stem(q.focus) if q.focus else ""
        self.focus_at = {p for p, t in enumerate(toks) if focus and t.key == focus}
        depth, inside = 0, []
        for t in toks:
            if t.text == "(":
                depth += 1
            inside.append(depth > 0)
            if t.text == ")" and depth:
                depth -= 1
        self.in_paren = inside


def candidates(sent: Sentence, q: QuestionInfo, rel_score: float = 1.0):
    """Yield (i, j, features) for candidate spans tokens[i:j] of one sentence."""
    v = _SentenceView(sent, q, rel_score)
    toks, content, qword = v.toks, v.content, v.qword
    n = len(toks)
    clause = q.answer_type in (REASON, MANNER)
    max_len = 20 if clause else 8
    for i in range(n):
        if (
            not content[i]
            or (qword[i] and not (i in v.focus_at and toks[i].is_cap))
            or toks[i].text in _CLOSERS
        ):
            continue
        words = 0
        for j in range(i + 1, min(n, i + max_len) + 1):
            t = toks[j - 1]
            if j - 1 > i and not content[j - 1] and not _inner_ok(toks, j - 1):
                break
            if v.word[j - 1]:
                words += 1
            if not content[j - 1] or t.text in _OPENERS:
                continue  # a span cannot end on a function word or an opening mark
            f = _span_features(v, i, j, q, words)
            if f is not None:
                yield i, j, f
    if clause:
        yield from _clause_candidates(v, q)


def _tight_join(toks: list[Token], p: int) -> bool:
    """toks[p] binds its neighbours into one answer, so a span must not stop at it."""
    if not 0 < p < len(toks) - 1:
        return False
    t, left, right = toks[p], toks[p - 1], toks[p + 1]
    # "William P. Bell", "J. R. R. Tolkien": the period of an initial inside a name
    if t.text == "." and len(left.text) == 1 and left.is_cap and right.is_cap:
        return True
    # "5 to 15", "1914–1918": a numeric range is one answer
    return t.low in ("to", "–", "—") and is_number(left.low) and is_number(right.low)


def _name_link(toks: list[Token], p: int) -> bool:
    """toks[p] is a connector inside a capitalised name ("Court of Justice", "Bank of England")."""
    return 0 < p < len(toks) - 1 and toks[p].low in _INNER_OK and toks[p - 1].is_cap and toks[p + 1].is_cap


def _inner_ok(toks: list[Token], p: int) -> bool:
    t = toks[p]
    if t.low in _INNER_OK:
        return True
    if _tight_join(toks, p):
        return True
    if t.text == "," and 0 < p < len(toks) - 1:
        left, right = toks[p - 1], toks[p + 1]
        # "February 7, 2016", "Santa Clara, California"
        return (left.is_cap or is_number(left.low)) and (right.is_cap or is_number(right.low))
    return False


def _side_mass(
    v: _SentenceView, i: int, j: int, inside: frozenset[int] | set[int] = frozenset()
) -> tuple[float, float, float]:
    """(expected-side proximity, wrong-side proximity, adjacent) of the question words around span [i, j).

    Question words at positions `inside` (the focus noun heading the span) count as adjacent and expected.
    """
    near = wrong = 0.0
    adjacent = 0.0
    toks = v.toks
    # "built in 1871 by Thomas Stevenson": a passive agent answers a subject question from the right
    passive = i > 0 and (
        toks[i - 1].low == "by" or (i > 1 and toks[i - 2].low == "by" and toks[i - 1].low in DETERMINERS)
    )
    for p, m, side in v.matched:
        if p in inside:
            near += m
            adjacent = 1.0
            continue
        if i <= p < j:
            continue
        if p < i:
            d, expected = v.ci[i] - v.ci[p], side >= 0 or passive
        else:
            d, expected = v.ci[p] - v.ci[j - 1], side <= 0
        d = max(d, 1)
        w = m * math.exp(-(d - 1) / 3.0)
        if expected:
            near += w
            if d == 1:
                adjacent = 1.0
        else:
            wrong += w
    return near / v.mass, wrong / v.mass, adjacent


def _span_features(v: _SentenceView, i: int, j: int, q: QuestionInfo, words: int) -> list[float] | None:
    toks, content, qword = v.toks, v.content, v.qword
    n_content = sum(1 for p in range(i, j) if content[p] and v.word[p])
    if n_content == 0:
        return None
    # The question's focus noun at an edge of the span is the answer's own head ("which court" → "the Court
    # of Justice", "what commission" → "the Santer Commission"): not a repeated question word.
    edge_focus = {p for p in (i, j - 1) if p in v.focus_at and toks[p].is_cap}
    n_q = sum(1 for p in range(i, j) if qword[p] and p not in edge_focus)
    if n_q + len(edge_focus) >= n_content:
        return None
    span = toks[i:j]
    t_score = _type_score(span, q, toks, i, j)
    near, wrong, adjacent = _side_mass(v, i, j, edge_focus)
    cut_left = float(
        i > 0
        and content[i - 1]
        and not qword[i - 1]
        and v.word[i - 1]
        or _tight_join(toks, i - 1)
        or (toks[i].is_cap and _name_link(toks, i - 1))
    )
    cut_right = float(
        j < len(toks)
        and content[j]
        and not qword[j]
        and v.word[j]
        or _tight_join(toks, j)
        or (toks[j - 1].is_cap and _name_link(toks, j))
    )
    ws = [t for t in span if t.text[0].isalnum() and t.low not in _INNER_OK]
    caps = sum(1 for t in ws if t.is_cap and not is_number(t.low)) / max(1, len(ws))
    quoted = float(i > 0 and toks[i - 1].text in ('"', "“") and j < len(toks) and toks[j].text in ('"', "”"))
    focus = float(bool(edge_focus) or (i - 1) in v.focus_at or j in v.focus_at or (i - 2) in v.focus_at)
    subject = float(q.wh_is_subject and j <= v.first_verb)
    return [
        t_score,
        near,
        wrong,
        adjacent,
        n_q / (n_content - len(edge_focus)),
        cut_left,
        cut_right,
        max(0, words - _TYPE_LENGTH.get(q.answer_type, 3)),
        caps,
        quoted,
        float(v.in_paren[i]),
        focus,
        subject,
        v.rel_score,
    ]


def _type_score(span: list[Token], q: QuestionInfo, toks, i, j) -> float:
    lows = [t.low for t in span]
    words = [t for t in span if t.text[0].isalnum() and t.low not in _INNER_OK]
    has_year = any(is_year(w) for w in lows)
    has_num = any(is_number(w) for w in lows) or any(t.text in CURRENCY for t in span)
    has_date = has_year or any(w in DATE_WORDS for w in lows)
    caps = sum(1 for t in words if t.is_cap and not is_number(t.low)) / max(1, len(words))
    prev = toks[i - 1].low if i > 0 else ""
    at = q.answer_type
    if at == YEAR:
        return 1.0 if has_year else (-0.3 if has_num else -1.0)
    if at == DATE:
        if has_date:
            return 1.0
        return 0.0 if (has_num or any(is_ordinal(w) for w in lows)) else -1.0
    if at in (COUNT, QUANTITY, MONEY, PERCENT, DURATION):
        if not has_num:
            return -1.0
        s = 0.7
        if at == COUNT and is_number(lows[0]):
            s += 0.2
        if at == MONEY and any(t.text in CURRENCY for t in span):
            s += 0.3
        if at == PERCENT and any(w in PERCENT_WORDS for w in lows):
            s += 0.3
        if at == DURATION and any(w in TIME_UNITS for w in lows):
            s += 0.3
        if has_year and at != DURATION and len(words) == 1:
            s -= 0.5
        return s
    if at == PERSON:
        if has_num:
            return -0.8
        return 0.8 * caps + (0.0 if caps else -0.5)
    if at in (LOCATION, ENTITY):
        if has_num and not caps:
            return -0.6
        s = 0.8 * caps
        if at == LOCATION and prev in _LOCATIVE:
            s += 0.3
        return s
    if at in (REASON, MANNER):
        return -0.3
    return 0.25 * caps  # what/which with no special type: any noun phrase, names a little more likely


def _clause_candidates(v: _SentenceView, q: QuestionInfo):
    toks = v.toks
    triggers = _REASON_TRIGGERS if q.answer_type == REASON else _MANNER_TRIGGERS
    for p, t in enumerate(toks):
        if t.low not in triggers:
            continue
        i = p + 1
        if t.low == "due" and i < len(toks) and toks[i].low == "to":
            i += 1
        if t.low == "because" and i < len(toks) and toks[i].low == "of":
            i += 1
        if t.low == "to" and (i >= len(toks) or not toks[i].low.isalpha()):
            continue
        if q.answer_type == REASON and t.low == "to":
            i = p  # a purpose clause keeps its "to"
        j = i
        while j < len(toks) and toks[j].text not in _CLAUSE_END:
            j += 1
        if j - i < 1 or j - i > 25:
            continue
        near, wrong, adjacent = _side_mass(v, i, j)
        strong = 1.0 if t.low in ("because", "due", "by") else 0.5
        words = sum(1 for k in range(i, j) if v.word[k])
        yield (
            i,
            j,
            [
                strong,
                near,
                wrong,
                adjacent,
                0.0,
                0.0,
                0.0,
                max(0, words - 8),
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                v.rel_score,
            ],
        )


def span_score(f: list[float], w: dict[str, float] | None = None) -> float:
    w = w or _WEIGHTS
    return sum(w[k] * x for k, x in zip(FEATURES, f, strict=True))
