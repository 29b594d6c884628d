"""The extractive reader answers are read with, chosen from the settings and loaded on first use.

The trained span reader (decoder/span_reader.py) when `reader_dir` is set (the settings default it to the
reader shipped in the package, when there is one), else the rule-based reader (decoder/extractive/) with the
dense embedder's sentence similarity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from decoder.extractive import ExtractiveAnswer, answer_extractive
from retriever.records import SearchHit


class Reader:
    """Reads a short answer out of the top pages.

    Args:
        reader_dir: a folder written by `vtrag reader train`, or None for the rule-based reader.
        device: where the trained reader runs (auto | cpu | cuda).
    """

    def __init__(self, reader_dir: Path | None, device: str) -> None:
        self.reader_dir = reader_dir
        self.device = device
        self._trained: Callable[[str, Sequence[SearchHit]], ExtractiveAnswer] | None = None

    @property
    def name(self) -> str:
        """Which reader answers: "rules", or the trained reader folder's name."""
        return "rules" if self.reader_dir is None else Path(self.reader_dir).name

    def __call__(self, question: str, hits: Sequence[SearchHit], *, embedder: Any) -> ExtractiveAnswer:
        """The answer to `question` from `hits` (best first); `embedder` serves the rule-based reader."""
        if self.reader_dir is None:
            return answer_extractive(question, hits, embedder=embedder)
        if self._trained is None:
            from decoder.span_reader import SpanReader
            from decoder.span_reader_format import folder_runtime

            device = "cpu"
            if folder_runtime(self.reader_dir) != "onnx-int8":  # the device check imports torch: only here
                from api.service.runtime import resolve_device

                device = resolve_device(self.device)
            self._trained = SpanReader(self.reader_dir, device=device)
        return self._trained(question, hits)
