"""The full-OCR fallback: pages re-rendered from their source files and read in full, with their line boxes.

With a vision model loaded, a page is encoded again at `fallback_mode` (Gundam by default; OCR-2 has its one
layout) and read with the grounded markdown prompt; when that reading fails the same checks as an answer
(guard, empty, confidence) or there is no model, RapidOCR reads it. Readings are cached per page
(`ocr_cache_pages`), so a page is read once, not on every answer that falls back to it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from api.service.metrics import Metrics
from api.service.page_sources import PageSources, SourceUnavailableError
from api.settings import Settings
from decoder import prompts
from decoder.grounding import clean_generated, parse_grounding
from decoder.judge import judge
from encoder.modes import Mode, get_mode
from indexer.ocr import Ocr, OcrError
from retriever.records import PageRecord, SearchHit, TextLine

if TYPE_CHECKING:
    from PIL import Image

    from api.service.runtime import VisionRuntime

Box = tuple[float, float, float, float]
Lines = list[tuple[str, Box | None]]


class FullOcr:
    """Re-reads pages in full for one process: its RapidOCR instance and its cache of readings.

    Args:
        settings: fallback_pages, fallback_mode, gundam_max_tiles, answer_max_new_tokens,
            answer_min_confidence, ocr_cache_pages (read at each call).
        sources: re-reads stored source files.
        model_lock: serialises use of the vision model across request threads.
        metrics: guard trips are counted here.
        display: source path -> what the trail shows.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sources: PageSources,
        model_lock: threading.Lock,
        metrics: Metrics,
        display: Callable[[str], str],
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.model_lock = model_lock
        self.metrics = metrics
        self.display = display
        self._ocr: Ocr | None = None
        self._ocr_lock = threading.Lock()  # RapidOCR is CPU-bound: one page at a time
        self._cache: OrderedDict[str, tuple[PageRecord, str]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def read_pages(
        self, vision: VisionRuntime | None, hits: Sequence[SearchHit], trail: list[str]
    ) -> tuple[list[SearchHit], list[str]]:
        """The top `fallback_pages` hits re-read (records with the new text and line boxes, same scores) and
        the engine that read each; pages that cannot be re-read are left out (the trail says why)."""
        read: list[SearchHit] = []
        engines: list[str] = []
        for hit in hits[: self.settings.fallback_pages]:
            record, engine = self.read_page(vision, hit.page, trail)
            if record is not None:
                read.append(SearchHit(record, hit.score))
                engines.append(engine)
        return read, engines

    def read_page(
        self, vision: VisionRuntime | None, page: PageRecord, trail: list[str]
    ) -> tuple[PageRecord | None, str]:
        """The page re-read in full: (record with the OCR text and line boxes, engine), or (None, "")."""
        with self._cache_lock:
            cached = self._cache.get(page.page_id)
            if cached is not None:
                self._cache.move_to_end(page.page_id)
                trail.append(f"p. {page.page_no}: {cached[1]} (cached)")
                return cached
        label = f"{self.display(page.source)} p. {page.page_no}"
        try:
            with self.sources.open_page(page.doc_id, page.source, page.page_no) as source_page:
                image = source_page.render()
        except SourceUnavailableError as exc:
            trail.append(f"{label}: cannot re-read ({exc})")
            return None, ""
        lines: Lines | None = None
        engine = ""
        if vision is not None:
            lines = self._with_model(vision, image, page, label, trail)
            engine = vision.name
        if lines is None:
            lines = self._with_rapidocr(image, page, label, trail)
            if lines is None:
                return None, ""
            engine = "rapidocr"
        record = _with_text(page, lines)
        if self.settings.ocr_cache_pages:
            with self._cache_lock:
                self._cache[page.page_id] = (record, engine)
                while len(self._cache) > self.settings.ocr_cache_pages:
                    self._cache.popitem(last=False)
        return record, engine

    def _with_model(
        self, vision: VisionRuntime, image: Image.Image, page: PageRecord, label: str, trail: list[str]
    ) -> Lines | None:
        """The model's grounded markdown of the page, or None when that reading cannot stand."""
        mode: Mode | str = vision.mode  # OCR-2: its one layout
        if vision.name == "deepseek-ocr":
            mode = get_mode(self.settings.fallback_mode, self.settings.gundam_max_tiles)
        with self.model_lock:
            encoded = vision.encoder.encode([image], mode)[0]
            budget = self.settings.answer_max_new_tokens
            gen = vision.generator.generate([encoded.rows], prompts.MARKDOWN, budget)
        if gen.guard_fired:
            self.metrics.inc("vtrag_guard_trips_total")
        judged = judge(gen, self.settings.answer_min_confidence)
        name = mode.name if isinstance(mode, Mode) else mode
        trail.append(f"{label}: {vision.name} full OCR in {name} mode: {judged.reason or 'ok'}")
        if judged.reason is not None:
            return None
        return grounded_lines(gen.text, image.width, image.height, page)

    def _with_rapidocr(
        self, image: Image.Image, page: PageRecord, label: str, trail: list[str]
    ) -> Lines | None:
        try:
            with self._ocr_lock:
                if self._ocr is None:
                    self._ocr = Ocr()
                found = self._ocr.read(image)
        except OcrError as exc:
            trail.append(f"{label}: rapidocr failed ({exc})")
            return None
        sx, sy = page.width / image.width, page.height / image.height
        lines: Lines = [
            (ln.text, (ln.bbox[0] * sx, ln.bbox[1] * sy, ln.bbox[2] * sx, ln.bbox[3] * sy)) for ln in found
        ]
        trail.append(f"{label}: rapidocr read {len(lines)} lines")
        return lines


def grounded_lines(text: str, width_px: int, height_px: int, page: PageRecord) -> Lines:
    """Blocks of a grounded markdown reading as (text, box in page points): each block is the text after a
    `<|ref|>type<|/ref|><|det|>[[...]]<|/det|>` span, boxed by the span's first box."""
    spans = parse_grounding(text)
    if not spans:
        flat = clean_generated(text)
        return [(flat, None)] if flat else []
    out: Lines = []
    for i, span in enumerate(spans):
        end = spans[i + 1].start if i + 1 < len(spans) else len(text)
        block = clean_generated(text[span.end : end])
        if not block:
            continue
        box = None
        if span.boxes:
            x0, y0, x1, y1 = span.boxes[0].scaled(width_px, height_px)
            sx, sy = page.width / width_px, page.height / height_px
            box = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
        out.append((block, box))
    return out


def _with_text(page: PageRecord, lines: Lines) -> PageRecord:
    """A copy of `page` whose text and line boxes are the new reading."""
    text_lines: list[TextLine] = []
    pieces: list[str] = []
    pos = 0
    for text, box in lines:
        if box is not None:
            text_lines.append(TextLine(pos, pos + len(text), box))
        pieces.append(text)
        pos += len(text) + 1
    return replace(page, text="\n".join(pieces), lines=text_lines, text_source="ocr")
