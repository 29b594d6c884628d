"""The extractive reader answers are read with, chosen from the settings and loaded on first use.

The trained span reader (decoder/span_reader.py) when `reader_dir` is set (the settings default it to the
reader shipped in the package, when there is one), else the rule-based reader (decoder/extractive/) with the
dense embedder's sentence similarity. With a trained reader, questions that ask for a code token ("which
option…", "what command…": `code.code_head`) still go to the rule-based reader's code-token extraction when
`code_questions_by_rules` is on (the default): a reader trained on SQuAD's prose picks the words around an
option rather than the option. On the manuals dev set (45 of 62 questions are such) the mix scores span F1
50.4 against 40.4 (trained alone) and 40.6 (rules alone), docs/BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from decoder.extractive import ExtractiveAnswer, answer_extractive
from decoder.extractive.code import code_head
from retriever.records import SearchHit


class Reader:
    """Reads a short answer out of the top pages.

    Args:
        reader_dir: a folder written by `vtrag reader train`, or None for the rule-based reader.
        device: where the trained reader runs (auto | cpu | cuda).
        code_questions_by_rules: send questions asking for a code token to the rule-based reader.
    """

    RULES = "rules"

    def __init__(self, reader_dir: Path | None, device: str, code_questions_by_rules: bool = True) -> None:
        self.reader_dir = reader_dir
        self.device = device
        self.code_questions_by_rules = code_questions_by_rules
        self._trained: Callable[[str, Sequence[SearchHit]], ExtractiveAnswer] | None = None

    @property
    def name(self) -> str:
        """Which reader answers: "rules", or the trained reader folder's name."""
        return self.RULES if self.reader_dir is None else Path(self.reader_dir).name

    def __call__(self, question: str, hits: Sequence[SearchHit], *, embedder: Any) -> ExtractiveAnswer:
        """The answer to `question` from `hits` (best first), naming the reader that found it; `embedder`
        serves the rule-based reader."""
        if self.reader_dir is None:
            return answer_extractive(question, hits, embedder=embedder)
        if self.code_questions_by_rules and code_head(question) is not None:
            found = answer_extractive(question, hits, embedder=embedder)
            if found.text:
                found.reader = self.RULES
                return found
        if self._trained is None:
            from decoder.span_reader import SpanReader
            from decoder.span_reader_format import folder_runtime

            device = "cpu"
            if folder_runtime(self.reader_dir) != "onnx-int8":  # the device check imports torch: only here
                from api.service.runtime import resolve_device

                device = resolve_device(self.device)
            self._trained = SpanReader(self.reader_dir, device=device)
        found = self._trained(question, hits)
        found.reader = self.name
        return found
