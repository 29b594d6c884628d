"""Training and validation questions for `vtrag reader train`, split by paragraph.

A question trains the reader only if its paragraph is in no excluded set (e.g. the paragraphs of the sample
the reader is later evaluated on), so the evaluation reads paragraphs the reader never saw; excluded
paragraphs are not used as negatives either. A seeded share of the remaining paragraphs is held out with all
their questions for validation.

Negatives: a reader answering from several retrieved pages must also learn that a page can hold no answer
(Clark & Gardner, ACL 2018). Each training question is also paired with the `negatives` paragraphs BM25 ranks
highest for it other than its own, labelled "no answer here"; each held-out question gets `distractors` such
paragraphs for the multi-page validation figure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from decoder.span_reader_train import QaExample, locate_answer
from evaluation.bm25 import BM25
from evaluation.datasets import EvalDataset


@dataclass(frozen=True)
class HeldOut:
    """A validation question: its own paragraph, BM25's best other paragraphs, and the gold answers."""

    question: str
    context: str
    distractors: list[str]
    answers: list[str]


@dataclass
class ReaderSplit:
    """Training examples (answers and negatives), held-out questions by id, and counts."""

    train: list[QaExample]
    validation: dict[str, HeldOut]
    excluded_paragraphs: int
    unlocated: int  # questions dropped because no gold answer occurs in the paragraph text


def split_for_reader(
    ds: EvalDataset,
    exclude: set[str],
    validation_share: float = 0.05,
    seed: int = 13,
    negatives: int = 2,
    distractors: int = 4,
) -> ReaderSplit:
    """Split `ds`'s answered questions by paragraph.

    Args:
        ds: a dataset with answers and one judged paragraph per question.
        exclude: paragraph ids none of whose questions may train or validate.
        validation_share: share of the other paragraphs held out for validation.
        seed: for the held-out draw.
        negatives: no-answer paragraphs per training question.
        distractors: other paragraphs per held-out question.

    Raises:
        ValueError: no question is left to train on.
    """
    if not 0.0 <= validation_share < 1.0:
        raise ValueError(f"validation share must be in [0, 1), got {validation_share}")
    usable: dict[str, list[str]] = {}
    for qid in ds.queries:
        judged = ds.relevant(qid)
        if qid in ds.answers and judged and judged[0] in ds.corpus and judged[0] not in exclude:
            usable.setdefault(judged[0], []).append(qid)
    paragraphs = sorted(usable)
    held = set(random.Random(seed).sample(paragraphs, round(validation_share * len(paragraphs))))
    allowed = [d for d in ds.corpus if d not in exclude]
    bm25 = BM25((d, f"{ds.corpus[d].title} {ds.corpus[d].text}") for d in allowed) if allowed else None

    def others(qid: str, own: str, k: int) -> list[str]:
        if k <= 0 or bm25 is None:
            return []
        ranked = [d for d, _ in bm25.search(ds.queries[qid], k=k + 1) if d != own]
        return [ds.corpus[d].text for d in ranked[:k]]

    train: list[QaExample] = []
    validation: dict[str, HeldOut] = {}
    unlocated = 0
    for pid in paragraphs:
        context = ds.corpus[pid].text
        for qid in usable[pid]:
            golds = ds.answers[qid]
            if pid in held:
                validation[qid] = HeldOut(ds.queries[qid], context, others(qid, pid, distractors), golds)
                continue
            located = [(g, locate_answer(context, g)) for g in golds if g.strip()]
            located = [(g, at) for g, at in located if at >= 0]
            if not located:
                unlocated += 1
                continue
            answer, at = located[0]
            train.append(QaExample(ds.queries[qid], context, context[at : at + len(answer)], at))
            train += [QaExample(ds.queries[qid], text, "", -1) for text in others(qid, pid, negatives)]
    if not train:
        raise ValueError("no question is left to train on after the exclusions")
    excluded = len({p for q in ds.queries for p in ds.relevant(q) if p in exclude})
    return ReaderSplit(train, validation, excluded, unlocated)
