"""Optical loss per resolution mode: text pages rendered as the vision encoder would see them, read back.

For each mode the page is rasterised at 144 dpi and cut to the mode's global view (`make_views`: Tiny/Small
stretched to 512/640 px squares, Base/Large padded to 1024/1280 px squares, Gundam's 1024 global view), then
read by the lite profile's OCR fallback (RapidOCR, `indexer/ocr.py`) and compared with the text the page
carries: character accuracy = 1 − CER. Pages are bucketed by their text tokens, so the table has the shape of
the DeepSeek-OCR paper's Fox table: text tokens per page against the vision tokens of the mode (compression =
text tokens / vision tokens).

With a vision model configured (VTRAG_ENCODER + VTRAG_WEIGHTS_DIR), the same pages are indexed in each mode
and decoded from their stored tokens with the "Free OCR." prompt (`Service.extract`) instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from encoder.modes import get_mode
from evaluation.datasets import CorpusDoc, EvalDataset
from evaluation.metrics import char_accuracy, corpus_char_accuracy, levenshtein
from evaluation.render import PageLayout, mode_view

DEFAULT_MODES = ("tiny", "small", "base", "large")
BUCKET_EDGES = (0, 100, 200, 300, 600, 900, 1300)  # text tokens per page


@dataclass(frozen=True)
class OcrPage:
    """One evaluation page: one record, or `pack` consecutive records of the same title."""

    id: str
    title: str
    text: str


def make_pages(ds: EvalDataset, sample: int | None, pack: int = 1, seed: int = 13) -> list[OcrPage]:
    """Pages to read: records in corpus order grouped `pack` at a time within a title, then sampled.

    Args:
        ds: the dataset.
        sample: keep a seeded random sample of this many pages (None: all).
        pack: records per page (several paragraphs make a denser page, like Fox's 600-1300-token pages).
        seed: sampling seed.
    """
    if pack < 1:
        raise ValueError(f"pack must be >= 1, got {pack}")
    pages: list[OcrPage] = []
    group: list[CorpusDoc] = []

    def flush() -> None:
        if group:
            pages.append(OcrPage(group[0].id, group[0].title, "\n".join(d.text for d in group)))
            group.clear()

    for doc in ds.corpus.values():
        if group and (len(group) == pack or doc.title != group[0].title):
            flush()
        group.append(doc)
    flush()
    if sample is not None and sample < len(pages):
        keep = set(random.Random(seed).sample(range(len(pages)), sample))
        pages = [p for k, p in enumerate(pages) if k in keep]
    return pages


def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces (line breaks differ between a page and its reading)."""
    return " ".join(text.split())


def vision_tokens(mode: str) -> int:
    """Vision tokens of the mode's global view (64/100/256/400; Gundam's global view 256, Gundam-M's 400)."""
    return get_mode(mode).base_tokens


def bucket_of(n: int, edges: Sequence[int] = BUCKET_EDGES) -> str:
    for lo, hi in zip(edges, edges[1:], strict=False):
        if lo <= n < hi:
            return f"{lo}-{hi}"
    return f"{edges[-1]}+"


class TokenCounter:
    """Text tokens of a page, counted with the bundled MiniLM WordPiece tokenizer (no special tokens).

    DeepSeek's own BPE tokenizer (Fox's unit) needs the model's files; WordPiece counts English prose within a
    few percent of it, which is precise enough for the buckets.
    """

    def __init__(self) -> None:
        from transformers import AutoTokenizer

        from encoder.text_embedder import bundled_model_dir

        self._tok = AutoTokenizer.from_pretrained(str(bundled_model_dir()), local_files_only=True)
        self._tok.model_max_length = 1 << 30  # counting only: no "longer than 512" warning for dense pages

    def __call__(self, text: str) -> int:
        return len(self._tok(text, add_special_tokens=False)["input_ids"])


def run_ocr(
    pages: Sequence[OcrPage],
    modes: Sequence[str] = DEFAULT_MODES,
    *,
    reader: Callable[[Any, OcrPage], str] | None = None,
    count_tokens: Callable[[str], int] | None = None,
    title: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Read every page in every mode and score the characters.

    Args:
        pages: the pages.
        modes: resolution modes.
        reader: (image, page) -> text (default: RapidOCR lines of the image joined by spaces).
        count_tokens: text -> tokens (default: `TokenCounter`).
        title: set the title above the text.
        progress: called with a short line now and then.

    Returns:
        {"engine", "pages", "modes": {mode: {"size", "vision_tokens", "char_accuracy", "mean_char_accuracy",
         "pairs", "text_tokens_mean", "compression", "ms_per_page", "buckets": {bucket: {...}}}},
         "records": [per page and mode]}.
    """
    say = progress or (lambda line: None)
    engine = "reader"
    if reader is None:
        from indexer.ocr import Ocr

        ocr = Ocr()
        engine = "rapidocr (indexer/ocr.py)"

        def reader(image: Any, page: OcrPage) -> str:
            return " ".join(line.text for line in ocr.read(image))

    count = count_tokens or TokenCounter()
    records: list[dict[str, Any]] = []
    out: dict[str, Any] = {"engine": engine, "pages": len(pages), "modes": {}}
    for mode in modes:
        m = get_mode(mode)
        pairs = []
        elapsed = 0.0
        for n, page in enumerate(pages, 1):
            image, carried = mode_view(
                page.text, mode, title=page.title if title else None, layout=PageLayout()
            )
            ref = normalise(carried)
            t0 = time.perf_counter()
            hyp = normalise(reader(image, page))
            elapsed += time.perf_counter() - t0
            tokens = count(ref)
            edits = levenshtein(ref, hyp)
            pairs.append((ref, hyp))
            records.append(
                {
                    "id": page.id,
                    "mode": mode,
                    "text_tokens": tokens,
                    "chars": len(ref),
                    "edits": edits,
                    "char_accuracy": char_accuracy(ref, hyp),
                    "bucket": bucket_of(tokens),
                }
            )
            if n % 25 == 0:
                say(f"{mode}: {n}/{len(pages)} pages")
        mine = [r for r in records if r["mode"] == mode]
        summary: dict[str, Any] = {"size": m.size, "vision_tokens": vision_tokens(mode)}
        summary.update(corpus_char_accuracy(pairs))
        summary["text_tokens_mean"] = sum(r["text_tokens"] for r in mine) / max(1, len(mine))
        summary["compression"] = summary["text_tokens_mean"] / summary["vision_tokens"]
        summary["ms_per_page"] = round(1000.0 * elapsed / max(1, len(pages)), 1)
        buckets: dict[str, Any] = {}
        for r in mine:
            b = buckets.setdefault(r["bucket"], {"pages": 0, "chars": 0, "edits": 0, "tokens": 0})
            b["pages"] += 1
            b["chars"] += r["chars"]
            b["edits"] += r["edits"]
            b["tokens"] += r["text_tokens"]
        for b in buckets.values():
            b["char_accuracy"] = max(0.0, 1.0 - b["edits"] / b["chars"]) if b["chars"] else 0.0
            b["text_tokens_mean"] = b["tokens"] / b["pages"]
            b["compression"] = b["text_tokens_mean"] / summary["vision_tokens"]
        summary["buckets"] = dict(
            sorted(buckets.items(), key=lambda kv: int(kv[0].split("-")[0].rstrip("+")))
        )
        out["modes"][mode] = summary
        say(f"{mode}: char accuracy {summary['char_accuracy']:.4f}")
    out["records"] = records
    return out


def vision_readers(
    name: str,
    pages: Sequence[OcrPage],
    modes: Sequence[str],
    *,
    cache_dir: Any = None,
    title: bool = False,
) -> dict[str, Callable[[Any, OcrPage], str]]:
    """Readers that decode each page from the tokens a vision model stored for it, one index per mode.

    The pages are indexed (as PDFs, with the configured encoder: VTRAG_ENCODER, VTRAG_WEIGHTS_DIR) into a
    cached scratch index per mode; a reader ignores the image it is handed and runs `Service.extract(page,
    "free_ocr")` on the stored rows, which is what the vision profile answers from.
    """
    from evaluation.scratch import prepare

    docs = [CorpusDoc(p.id, p.title, p.text) for p in pages]
    readers: dict[str, Callable[[Any, OcrPage], str]] = {}
    for mode in modes:
        index = prepare(f"{name}-ocr", docs, text_source="pdf", mode=mode, title=title, cache_dir=cache_dir)
        service = index.service()
        doc_of = {index.record_id(d.source): d.doc_id for d in service.store().list_docs(status="complete")}

        def read(image: Any, page: OcrPage, service: Any = service, doc_of: dict = doc_of) -> str:
            return str(service.extract(f"{doc_of[page.id]}:1", "free_ocr").text)

        readers[mode] = read
    return readers
