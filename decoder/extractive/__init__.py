"""The rule-based extractive reader: a short answer span out of the top pages, with page + box citations.

`answer_extractive(question, hits) -> ExtractiveAnswer` is the reader the lite profile answers with when no
trained span reader (decoder/span_reader.py) is configured. Its parts, read top-down: `question.py` (what kind
of answer is wanted), `text.py` (tokens, sentences, stems, word classes), `spans.py` (candidate spans, their
features and score), `reader.py` (sentence scoring, the best span, citations). README.md lists the features.
"""

from decoder.extractive.passage import Passage, distinct, make_passage
from decoder.extractive.reader import (
    MAX_PASSAGES,
    Citation,
    ExtractiveAnswer,
    answer_extractive,
    answer_from,
    line_box,
    page_citation,
)

__all__ = [
    "MAX_PASSAGES",
    "Citation",
    "ExtractiveAnswer",
    "Passage",
    "answer_extractive",
    "answer_from",
    "distinct",
    "line_box",
    "make_passage",
    "page_citation",
]
