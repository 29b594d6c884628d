"""Paragraph-disjoint training data for the span reader: exclusions, held-out paragraphs, BM25 negatives."""

from __future__ import annotations

import pytest

from evaluation.datasets import CorpusDoc, EvalDataset
from evaluation.reader_data import split_for_reader

TOPICS = ["lighthouse keeper lamp", "rye bread starter", "printing press type", "harbour crane cargo"]


def dataset() -> EvalDataset:
    corpus, queries, qrels, answers = {}, {}, {}, {}
    for t, topic in enumerate(TOPICS):
        for k in range(5):
            pid, qid = f"p{t}{k}", f"q{t}{k}"
            text = f"The {topic} number {t}{k} was made in {1800 + k}."
            corpus[pid] = CorpusDoc(pid, topic.split()[0], text)
            queries[qid] = f"When was the {topic} number {t}{k} made?"
            qrels[qid] = {pid: 1}
            answers[qid] = [str(1800 + k)]
    answers["q00"] = ["not in the text"]  # cannot be located: dropped, counted
    return EvalDataset("topics", corpus, queries, qrels, answers)


def test_excluded_paragraphs_neither_train_nor_serve_as_negatives_or_distractors() -> None:
    ds = dataset()
    excluded = {"p10", "p11"}
    split = split_for_reader(ds, excluded, validation_share=0.25, seed=1, negatives=2, distractors=3)
    texts = {ds.corpus[p].text for p in excluded}
    assert split.excluded_paragraphs == 2
    assert not [e for e in split.train if e.context in texts]
    assert not [h for h in split.validation.values() if h.context in texts or set(h.distractors) & texts]
    assert len(split.validation) == round(0.25 * 18)
    positives = [e for e in split.train if e.answer_start >= 0]
    negatives = [e for e in split.train if e.answer_start < 0]
    assert split.unlocated == (0 if "q00" in split.validation else 1)
    assert len(positives) == 18 - len(split.validation) - split.unlocated
    assert len(negatives) == 2 * len(positives)
    for e in positives:
        assert e.context[e.answer_start : e.answer_start + len(e.answer)] == e.answer
    by_question: dict[str, list[str]] = {}
    for e in split.train:
        by_question.setdefault(e.question, []).append(e.context)
    for question, contexts in by_question.items():
        own, *others = contexts
        assert own not in others and len(others) == 2
        topic = next(t for t in TOPICS if t in question)
        assert topic in others[0]  # BM25's best other paragraph is a sibling on the same topic
    for h in split.validation.values():
        assert len(h.distractors) == 3 and h.context not in h.distractors


def test_nothing_left_to_train_on_is_an_error() -> None:
    ds = dataset()
    with pytest.raises(ValueError, match="no question is left"):
        split_for_reader(ds, set(ds.corpus))
    with pytest.raises(ValueError, match="validation share"):
        split_for_reader(ds, set(), validation_share=1.0)
