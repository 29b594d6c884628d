"""Evaluation metrics: ranked retrieval, SQuAD answer overlap, OCR character accuracy.

Retrieval metrics follow the shared reference script (`evaldata/tools/bm25_baseline.py`) exactly: per query,
over queries that have at least one relevant document, then averaged. nDCG@10 uses linear gain (the qrel
grade) and a log2(rank + 1) discount, trec_eval style; Recall@k is |top-k ∩ relevant| / |relevant|; MRR@10 is
the reciprocal rank of the first relevant document in the top 10, else 0. A query that has relevant documents
but no ranking counts 0.

Answer metrics follow the official SQuAD v1.1 evaluation: both strings are normalised (lower case,
punctuation removed, the articles a/an/the removed, whitespace collapsed); EM is string equality, F1 is
token-bag overlap; each prediction is scored against every gold answer and the maximum is kept.

Character accuracy is 1 - CER where CER = Levenshtein(reference, hypothesis) / len(reference), on characters.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

RETRIEVAL_KEYS = ("nDCG@10", "MRR@10", "Recall@1", "Recall@5", "Recall@10", "Recall@100")

# ---------------------------------------------------------------------------------------------- retrieval


def rank_by_score(scores: Mapping[str, float], k: int | None = None) -> list[str]:
    """Document ids by descending score; ties broken by ascending id (the reference script's order)."""
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [d for d, _ in (ranked if k is None else ranked[:k])]


def _dedupe(ranking: Iterable[str]) -> list[str]:
    # A run that lists a document twice would otherwise be paid twice in DCG; the first position counts.
    seen: set[str] = set()
    out = []
    for d in ranking:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def ndcg_at_k(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gain = qrel grade; 0.0 when nothing is relevant."""
    rel = {d: g for d, g in relevant.items() if g > 0}
    if not rel:
        return 0.0
    ranked = _dedupe(ranking)[:k]
    dcg = sum(rel.get(d, 0) / math.log2(r + 2) for r, d in enumerate(ranked))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg


def recall_at_k(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """|top-k ∩ relevant| / |relevant| (relevant = grade > 0); 0.0 when nothing is relevant."""
    rel = {d for d, g in relevant.items() if g > 0}
    if not rel:
        return 0.0
    return len(set(_dedupe(ranking)[:k]) & rel) / len(rel)


def mrr_at_k(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k, else 0."""
    for r, d in enumerate(_dedupe(ranking)[:k]):
        if relevant.get(d, 0) > 0:
            return 1.0 / (r + 1)
    return 0.0


def evaluate_retrieval(
    runs: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    ks: Sequence[int] = (1, 5, 10, 100),
) -> dict[str, float]:
    """Mean retrieval metrics over the queries of `qrels` that have a relevant document.

    Args:
        runs: query id -> ranked document ids (best first). Queries missing here score 0.
        qrels: query id -> {document id: grade}; grade <= 0 means not relevant.
        ks: the cut-offs of Recall@k.

    Returns:
        {"nDCG@10", "MRR@10", "Recall@k" for each k, "queries": number of queries evaluated}.
    """
    keys = ["nDCG@10", "MRR@10"] + [f"Recall@{k}" for k in ks]
    agg = dict.fromkeys(keys, 0.0)
    n = 0
    for qid, judged in qrels.items():
        rel = {d: g for d, g in judged.items() if g > 0}
        if not rel:
            continue
        ranking = runs.get(qid, ())
        agg["nDCG@10"] += ndcg_at_k(ranking, rel, 10)
        agg["MRR@10"] += mrr_at_k(ranking, rel, 10)
        for k in ks:
            agg[f"Recall@{k}"] += recall_at_k(ranking, rel, k)
        n += 1
    out = {k: (v / n if n else 0.0) for k, v in agg.items()}
    out["queries"] = n
    return out


# ---------------------------------------------------------------------------------------------- SQuAD

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 normalisation: lower, drop punctuation, drop articles, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-bag F1 between normalised strings (0 when they share no token, as in v1.1)."""
    p = normalize_answer(prediction).split()
    g = normalize_answer(gold).split()
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision = same / len(p)
    recall = same / len(g)
    return 2 * precision * recall / (precision + recall)


def contains_answer(passage: str, gold: str) -> float:
    """1.0 when the normalised `gold` occurs in the normalised `passage` as whole words (0 for an empty
    gold): whether a passage shown to a person holds the answer."""
    g, text = _unicode_plain(normalize_answer(gold)), _unicode_plain(normalize_answer(passage))
    return float(bool(g) and f" {g} " in f" {text} ")


def _unicode_plain(s: str) -> str:
    # Manuals quote with ‘…’ and “…”, which SQuAD's ASCII punctuation list keeps; drop every punctuation mark.
    return " ".join("".join(" " if unicodedata.category(c).startswith("P") else c for c in s).split())


def max_over_gold(metric, prediction: str, golds: Sequence[str]) -> float:
    """The best score of `prediction` against any gold answer (0.0 with no gold)."""
    return max((metric(prediction, g) for g in golds), default=0.0)


def evaluate_answers(
    predictions: Mapping[str, str], answers: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """SQuAD EM and F1 in percent over every question of `answers` (a missing prediction scores 0).

    Returns:
        {"exact_match", "f1", "questions", "predicted"}.
    """
    em = f1 = 0.0
    predicted = 0
    for qid, golds in answers.items():
        if qid not in predictions:
            continue
        predicted += 1
        em += max_over_gold(exact_match, predictions[qid], golds)
        f1 += max_over_gold(f1_score, predictions[qid], golds)
    n = len(answers)
    return {
        "exact_match": 100.0 * em / n if n else 0.0,
        "f1": 100.0 * f1 / n if n else 0.0,
        "questions": n,
        "predicted": predicted,
    }


# ---------------------------------------------------------------------------------------------- characters


def levenshtein(a: str, b: str) -> int:
    """Character edit distance (unit insert/delete/substitute).

    Bit-parallel over the shorter string (Myers 1999 / Hyyrö 2001), so a 1,000-character pair costs about a
    thousand big-integer steps instead of a million DP cells.
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, dist = full, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & top:
            dist += 1
        elif mh & top:
            dist -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return dist


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edits / len(reference); an empty reference gives 0 (empty hypothesis) or 1."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return levenshtein(reference, hypothesis) / len(reference)


def char_accuracy(reference: str, hypothesis: str) -> float:
    """1 - CER, floored at 0 (a hypothesis can need more edits than the reference has characters)."""
    return max(0.0, 1.0 - cer(reference, hypothesis))


def corpus_char_accuracy(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Character accuracy over many (reference, hypothesis) pairs.

    Returns:
        {"char_accuracy": 1 - total edits / total reference characters (micro, floored at 0),
         "mean_char_accuracy": mean of the per-pair accuracies (macro), "pairs": count}.
    """
    edits = chars = 0
    macro = 0.0
    n = 0
    for ref, hyp in pairs:
        d = levenshtein(ref, hyp)
        edits += d
        chars += len(ref)
        macro += char_accuracy(ref, hyp)
        n += 1
    micro = max(0.0, 1.0 - edits / chars) if chars else (1.0 if edits == 0 else 0.0)
    return {"char_accuracy": micro, "mean_char_accuracy": macro / n if n else 0.0, "pairs": n}
