"""The rule-based extractive reader: a short answer span out of the top pages, with page + box citations.

`answer_extractive(question, hits) -> ExtractiveAnswer` is the reader the lite profile answers with when no
trained span reader (decoder/span_reader.py) is configured. Its parts, read top-down: `question.py` (what kind
of answer is wanted), `text.py` (tokens, sentences, stems, word classes), `spans.py` (candidate spans, their
features and score), `reader.py` (sentence scoring, the best span, citations). README.md lists the features.
"""

from decoder.extractive.reader import Citation, ExtractiveAnswer, answer_extractive, line_box, page_citation

__all__ = ["Citation", "ExtractiveAnswer", "answer_extractive", "line_box", "page_citation"]
