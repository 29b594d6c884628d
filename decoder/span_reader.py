"""A trained extractive reader: a small BERT with a start/end head picks the answer span out of the pages.

The lite profile's rule-based reader (decoder/extractive/) needs no weights; this one needs a folder made by
`vtrag reader train` (decoder/span_reader_train.py) and reads much better. Each page is paired with the
question and cut into overlapping windows of the model's length; every window of every page runs in one
batched pass; the answer is the span whose start + end logit most exceeds its window's "no answer" logit
([CLS] as start and end; the reader is trained to put it there on pages without the answer) over all
windows, at most `max_answer_tokens` long and inside the page text, returned with its page and line-box
citation. Comparing against each window's own no-answer score, rather than raw logits, is what lets pages be
compared with one another: the best span of every window becomes a supporting passage
(decoder/extractive/passage.py) ranked by that margin, and the answer is the best passage's span. The
answer's score is its probability within its window (start x end softmax).

Two runtimes read a folder: a float model through torch + transformers (what training writes), or, when the
folder's metadata says `runtime: onnx-int8` (`vtrag reader export`), the int8 ONNX Runtime graph of
decoder/span_reader_onnx.py, which imports neither torch nor transformers: a single `vtrag ask` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decoder.extractive import MAX_PASSAGES, ExtractiveAnswer, answer_from, distinct, make_passage
from decoder.span_reader_format import (
    MAX_ANSWER_TOKENS,
    MAX_LENGTH,
    MAX_QUESTION_TOKENS,
    MODEL_INPUTS,
    READER_FORMAT,
    READER_META,
    STRIDE,
)

MAX_WINDOWS = 5  # windows read per answer (the best by words): SQuAD's 5 one-window pages all, manuals' few

__all__ = ["MAX_ANSWER_TOKENS", "MODEL_INPUTS", "READER_FORMAT", "READER_META", "ReaderError", "SpanReader"]


class ReaderError(RuntimeError):
    """The reader folder is missing, incomplete or not one `vtrag reader train` wrote."""


@dataclass(frozen=True)
class Span:
    """The best span of one window: start + end logit minus the window's no-answer logit, offsets (tokens
    from `best_span`, chars from `SpanReader.read`), probability within the window."""

    score: float
    start: int
    end: int
    probability: float


def encode_windows(tokenizer: Any, questions: Sequence[str], contexts: Sequence[str]) -> Any:
    """Question/context pairs as padded windows (`overflow_to_sample_mapping` says whose), with offsets.

    Questions are clipped to MAX_QUESTION_TOKENS first, so the context always gets most of a window.
    """
    clipped = [_clip(tokenizer, q) for q in questions]
    return tokenizer(
        clipped,
        list(contexts),
        truncation="only_second",
        max_length=MAX_LENGTH,
        stride=STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="longest",
        return_tensors="pt",
    )


def best_span(start_logits: Any, end_logits: Any, context: Any) -> Span | None:
    """The highest-scoring (start <= end < start + MAX_ANSWER_TOKENS) span inside `context` (bool mask) of one
    window, as token positions in `Span.start/end` (end inclusive), scored relative to position 0 ([CLS], no
    answer); None if the window has no context. Takes numpy arrays (or CPU tensors)."""
    context = np.asarray(context, dtype=bool)
    if not context.any():
        return None
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    null = float(start_logits[0] + end_logits[0])
    s = np.where(context, start_logits, -np.inf)
    e = np.where(context, end_logits, -np.inf)
    n = s.shape[0]
    pairs = s[:, None] + e[None, :]
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]  # end - start
    pairs = np.where((offset < 0) | (offset >= MAX_ANSWER_TOKENS), -np.inf, pairs)
    i, j = divmod(int(np.argmax(pairs)), n)
    prob = _softmax(s)[i] * _softmax(e)[j]
    return Span(float(pairs[i, j]) - null, i, j, float(prob))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


class SpanReader:
    """Answers from retrieved pages with a reader folder written by `vtrag reader train`.

    Args:
        model_dir: the folder (config.json, model.safetensors, tokenizer files, vtrag-reader.json).
        device: torch device.
        batch_size: windows per forward pass.
    Raises:
        ReaderError: the folder is missing or incomplete.
    """

    def __init__(
        self,
        model_dir: Path,
        device: str = "cpu",
        batch_size: int = 16,
        max_windows: int | None = MAX_WINDOWS,
    ) -> None:
        model_dir = Path(model_dir)
        meta_path = model_dir / READER_META
        if not meta_path.is_file():
            raise ReaderError(
                f"{model_dir} is not a reader folder (no {READER_META}); make one with `vtrag reader train`"
            )
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != READER_FORMAT:
            raise ReaderError(f"{meta_path}: format {self.meta.get('format')!r}, expected {READER_FORMAT!r}")
        self.runtime = self.meta.get("runtime", "torch")
        self.device, self.batch_size, self.max_windows = device, batch_size, max_windows
        try:
            if self.runtime == "onnx-int8":
                from decoder.span_reader_onnx import OnnxSpanModel

                self.onnx = OnnxSpanModel(model_dir)
            else:
                self._load_torch(model_dir, device)
        except (OSError, ValueError) as exc:
            raise ReaderError(f"cannot load the reader from {model_dir}: {exc}") from exc

    def _load_torch(self, model_dir: Path, device: str) -> None:
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        from encoder.quiet import quiet_loading

        with quiet_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            model = AutoModelForQuestionAnswering.from_pretrained(
                str(model_dir), local_files_only=True, dtype=torch.float32
            )
        self.model = model.to(device).eval()

    def __call__(self, question: str, hits: Sequence[Any], *, max_pages: int = 5) -> ExtractiveAnswer:
        """The best answer span in the first `max_pages` hits (`SearchHit`s, best first), with the ranked
        supporting passages of the best windows across those pages; empty if none."""
        pages = [h.page for h in list(hits)[:max_pages] if (h.page.text or "").strip()]
        if not pages or not question.strip():
            return ExtractiveAnswer("", 0.0)
        texts = [p.text for p in pages]
        found = sorted(self.windows(question, texts, limit=self.max_windows), key=lambda t: -t[1].score)
        if not found:
            return ExtractiveAnswer("", 0.0)
        passages = [make_passage(pages[k], s.start, s.end, round(s.score, 4)) for k, s in found]
        return answer_from(distinct(passages, MAX_PASSAGES), score=round(found[0][1].probability, 4))

    def read(self, question: str, texts: Sequence[str]) -> list[Span | None]:
        """Per text, its best span in char offsets (None: nothing readable), over all its windows."""
        best: list[Span | None] = [None] * len(texts)
        for k, span in self.windows(question, texts):
            current = best[k]
            if current is None or span.score > current.score:
                best[k] = span
        return best

    def windows(
        self, question: str, texts: Sequence[str], *, limit: int | None = None
    ) -> list[tuple[int, Span]]:
        """The best span of every window of every text (of the `limit` windows sharing most with the
        question, when given), in char offsets, with the index of its text."""
        found: list[tuple[int, Span]] = []
        for owner, start, end, offsets in self._logits(question, texts, limit):
            context = np.array([o is not None for o in offsets])
            span = best_span(start, end, context)
            if span is None:
                continue
            first, last = offsets[span.start], offsets[span.end]
            assert first is not None and last is not None  # best_span keeps to the context
            found.append((owner, Span(span.score, first[0], last[1], span.probability)))
        return found

    def _logits(
        self, question: str, texts: Sequence[str], limit: int | None
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, list[tuple[int, int] | None]]]:
        """Per window read: its text's index, start and end logits, and each token's char offsets in the
        text (None outside the context)."""
        if self.runtime == "onnx-int8":
            windows = self.onnx.windows(question, texts)
            keep = select_windows(question, [_window_text(texts, w.owner, w.offsets) for w in windows], limit)
            windows = [windows[k] for k in keep]
            for lo in range(0, len(windows), self.batch_size):
                batch = windows[lo : lo + self.batch_size]
                starts, ends = self.onnx.logits(batch)
                for r, w in enumerate(batch):
                    n = len(w.ids)
                    yield w.owner, starts[r, :n], ends[r, :n], w.offsets
            return
        import torch

        enc = encode_windows(self.tokenizer, [question] * len(texts), texts)
        owners = enc["overflow_to_sample_mapping"].tolist()
        all_offsets = [
            [(int(a), int(b)) if sid == 1 else None
             for (a, b), sid in zip(enc["offset_mapping"][k].tolist(), enc.sequence_ids(k), strict=True)]
            for k in range(len(owners))
        ]  # fmt: skip
        keep = select_windows(
            question, [_window_text(texts, owners[k], o) for k, o in enumerate(all_offsets)], limit
        )
        for lo in range(0, len(keep), self.batch_size):
            rows = torch.tensor(keep[lo : lo + self.batch_size])
            inputs = {k: enc[k][rows].to(self.device) for k in MODEL_INPUTS if k in enc}
            with torch.no_grad():
                out = self.model(**inputs)
            for r in range(out.start_logits.shape[0]):
                k = keep[lo + r]
                offsets = all_offsets[k]
                yield (
                    owners[k],
                    out.start_logits[r].float().cpu().numpy(),
                    out.end_logits[r].float().cpu().numpy(),
                    offsets,
                )


def select_windows(question: str, contexts: Sequence[str], limit: int | None) -> list[int]:
    """Indexes (in order) of the `limit` windows whose context shares most with the question: idf-weighted
    stems (idf over these windows), ties to the earlier window (pages come best first). All when `limit` is
    None or not smaller than their number. On long manual pages this is what keeps the reader to a few
    windows a question instead of a dozen."""
    if limit is None or len(contexts) <= limit:
        return list(range(len(contexts)))
    from decoder.extractive.text import tokenize

    wanted = {t.key for t in tokenize(question) if t.key}
    keys = [{t.key for t in tokenize(c) if t.key in wanted} for c in contexts]
    n = len(contexts)
    idf = {k: np.log(1 + n / (1 + sum(k in ks for ks in keys))) for k in wanted}
    score = [sum(idf[k] for k in ks) for ks in keys]
    best = sorted(range(n), key=lambda k: (-score[k], k))[:limit]
    return sorted(best)


def _window_text(texts: Sequence[str], owner: int, offsets: Sequence[tuple[int, int] | None]) -> str:
    spans = [o for o in offsets if o is not None]
    return texts[owner][spans[0][0] : spans[-1][1]] if spans else ""


def _clip(tokenizer: Any, question: str) -> str:
    ids = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(ids["input_ids"]) <= MAX_QUESTION_TOKENS:
        return question
    return question[: ids["offset_mapping"][MAX_QUESTION_TOKENS - 1][1]]
