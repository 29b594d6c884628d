"""Answers with a full-OCR fallback: generate from stored tokens, and re-read the pages when that fails.

The path, in order:
1. Retrieve the top-K pages (the Service's hybrid search).
2. With a decoder configured (`service.vision`), decode an answer straight from the pages' **stored** vision
   tokens with the multi-page question prompt. It stands unless the n-gram guard fired, the text is empty,
   or its mean token log-prob is under `answer_min_confidence`.
3. Otherwise (or when the request asks for `full_ocr` / mode `extract`) re-render the top pages from their
   stored source files and OCR them in full: with the model at `fallback_mode` (Gundam by default) when one
   is loaded, falling back to RapidOCR when the model's own reading fails the same checks, or when there is
   no model. The extractive reader then answers from that text, with boxes from the OCR lines.
4. With no decoder configured, answers are extractive over the stored page text, as `vtrag ask`.
The response always says which path produced it (`mode`, `fallback.reason`, `fallback.engine`, `trail`).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from api.client.schemas import AnswerResponse, BBox, Citation, ContextTokens, Fallback, PageUsed
from api.service.facade import Service
from api.service.metrics import Metrics
from api.service.page_sources import PageSources, SourceUnavailableError
from api.settings import Settings
from decoder import prompts
from decoder.extractive import ExtractiveAnswer
from decoder.grounding import parse_grounding
from encoder.modes import Mode, get_mode
from indexer.ocr import Ocr, OcrError
from retriever.records import PageRecord, SearchHit, TextLine

_MARKUP = re.compile(r"<\|[^|<>]{0,40}\|>|<image>")
_PAGE_REF = re.compile(r"\[\s*Page\s+(\d{1,3})\s*\]", re.IGNORECASE)


class ModeUnavailableError(ValueError):
    """The request asked for a path this server cannot take (generate without a decoder)."""


@dataclass
class _Judged:
    text: str
    reason: str | None  # None: good enough


class Answerer:
    """The online answer pipeline of one server.

    Args:
        service: the facade (retrieval, store, embedder, vision model).
        settings: limits and thresholds (answer_*, fallback_*, ocr_cache_pages).
        sources: re-reads stored source files.
        model_lock: serialises use of the vision model across request threads.
        metrics: fallbacks and guard trips are counted here.
        display: source path -> what responses show (the uploaded filename).
    """

    def __init__(
        self,
        service: Service,
        settings: Settings,
        *,
        sources: PageSources,
        model_lock: threading.Lock,
        metrics: Metrics,
        display: Any = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.sources = sources
        self.model_lock = model_lock
        self.metrics = metrics
        self.display = display or (lambda source: source)
        self._ocr: Ocr | None = None
        self._ocr_lock = threading.Lock()  # RapidOCR is CPU-bound: one page at a time
        self._cache: OrderedDict[str, tuple[PageRecord, str]] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- the pipeline --

    def answer(
        self,
        question: str,
        *,
        top_k: int,
        mode: str = "auto",
        full_ocr: bool = False,
        doc_ids: list[str] | None = None,
    ) -> AnswerResponse:
        """Answer `question` from the index; see the module docstring for the path taken.

        Raises:
            ModeUnavailableError: mode "generate" with no decoder configured.
            ValueError: an empty question.
        """
        vision = self.service.vision
        if mode == "generate" and vision is None:
            raise ModeUnavailableError(
                "mode 'generate' needs a vision decoder; this server runs the lite profile (use auto, "
                "extract or extractive)"
            )
        hits = self.service.retrieve(question, top_k, doc_ids)
        trail: list[str] = []
        reason: str | None = "requested" if (full_ocr or mode == "extract") else None
        if reason is None and vision is not None and mode in ("auto", "generate") and hits:
            generated = self._generate(question, hits, trail)
            if isinstance(generated, AnswerResponse):
                return generated
            reason = generated
        if reason is None or not hits:
            return self._extractive(question, hits)
        self.metrics.inc("vtrag_answer_fallbacks_total", reason=reason)
        return self._from_ocr(question, hits, reason, trail)

    # -- 2. generation from stored tokens --

    def _generate(self, question: str, hits: list[SearchHit], trail: list[str]) -> AnswerResponse | str:
        """The generated answer, or the reason it cannot stand (and the OCR fallback must run)."""
        vision = self.service.vision
        assert vision is not None
        top = hits[: self.settings.answer_max_pages]
        tokens = self.service.store().get_tokens([h.page.page_id for h in top])
        used = [h for h in top if h.page.page_id in tokens]
        if not used:
            trail.append("generate: no stored vision tokens for the top pages")
            return "no_tokens"
        titles = [f"{self.display(h.page.source)} p. {h.page.page_no}" for h in used]
        prompt = prompts.question_prompt(question, titles)
        with self.model_lock:
            gen = vision.generator.generate(
                [tokens[h.page.page_id] for h in used], prompt, self.settings.answer_max_new_tokens
            )
        if gen.guard_fired:
            self.metrics.inc("vtrag_guard_trips_total")
        judged = self._judge(gen)
        trail.append(
            f"generate ({len(used)} pages, {gen.vision_tokens} vision tokens): "
            f"{judged.reason or 'ok'} (confidence {gen.confidence:.3f})"
        )
        if judged.reason is not None:
            return judged.reason
        cited = _cited_pages(judged.text, len(used)) or list(range(len(used)))
        self.metrics.inc("vtrag_answers_total", mode="generate")
        return AnswerResponse(
            answer=judged.text,
            mode="generate",
            citations=[self._page_citation(used[i].page) for i in cited],
            pages=[self._page_used(h) for h in used],
            context_tokens=ContextTokens(
                vision=gen.vision_tokens, text=gen.prompt_tokens - gen.vision_tokens
            ),
            fallback=Fallback(ran=False, trail=trail),
            confidence=gen.confidence,
        )

    def _judge(self, gen: Any) -> _Judged:
        text = clean_generated(gen.text)
        if gen.guard_fired:
            return _Judged(text, "guard_fired")
        if not text:
            return _Judged(text, "empty")
        if gen.confidence < self.settings.answer_min_confidence:
            return _Judged(text, "low_confidence")
        return _Judged(text, None)

    # -- 3. full OCR of the top pages, then the extractive reader --

    def _from_ocr(
        self, question: str, hits: list[SearchHit], reason: str, trail: list[str]
    ) -> AnswerResponse:
        read: list[SearchHit] = []
        engines: list[str] = []
        for hit in hits[: self.settings.fallback_pages]:
            record, engine = self._ocr_page(hit.page, trail)
            if record is not None:
                read.append(SearchHit(record, hit.score))
                engines.append(engine)
        if not read:
            trail.append("no page could be re-read: answered from the stored page text")
            response = self._extractive(question, hits)
            response.fallback = Fallback(ran=True, reason=reason, trail=trail)
            return response
        found = self.service.read_answer(question, read)
        self.metrics.inc("vtrag_answers_total", mode="ocr-fallback")
        return AnswerResponse(
            answer=found.text,
            mode="ocr-fallback",
            citations=self._citations(found),
            pages=[self._page_used(h) for h in read],
            context_tokens=ContextTokens(text=sum(self._count_tokens(h.page.text) for h in read)),
            fallback=Fallback(ran=True, reason=reason, engine=",".join(dict.fromkeys(engines)), trail=trail),
            score=found.score,
        )

    def _ocr_page(self, page: PageRecord, trail: list[str]) -> tuple[PageRecord | None, str]:
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
        lines: list[tuple[str, tuple[float, float, float, float] | None]] | None = None
        engine = ""
        vision = self.service.vision
        if vision is not None:
            mode: Mode | str = vision.mode  # OCR-2: its one layout
            if vision.name == "deepseek-ocr":
                mode = get_mode(self.settings.fallback_mode, self.settings.gundam_max_tiles)
            with self.model_lock:
                encoded = vision.encoder.encode([image], mode)[0]
                gen = vision.generator.generate(
                    [encoded.rows], prompts.MARKDOWN, self.settings.answer_max_new_tokens
                )
            if gen.guard_fired:
                self.metrics.inc("vtrag_guard_trips_total")
            judged = self._judge(gen)
            name = mode.name if isinstance(mode, Mode) else mode
            trail.append(f"{label}: {vision.name} full OCR in {name} mode: {judged.reason or 'ok'}")
            if judged.reason is None:
                lines, engine = grounded_lines(gen.text, image.width, image.height, page), vision.name
        if lines is None:
            try:
                with self._ocr_lock:
                    if self._ocr is None:
                        self._ocr = Ocr()
                    found = self._ocr.read(image)
            except OcrError as exc:
                trail.append(f"{label}: rapidocr failed ({exc})")
                return None, ""
            sx, sy = page.width / image.width, page.height / image.height
            lines = [
                (ln.text, (ln.bbox[0] * sx, ln.bbox[1] * sy, ln.bbox[2] * sx, ln.bbox[3] * sy))
                for ln in found
            ]
            engine = "rapidocr"
            trail.append(f"{label}: rapidocr read {len(lines)} lines")
        record = _with_text(page, lines)
        if self.settings.ocr_cache_pages:
            with self._cache_lock:
                self._cache[page.page_id] = (record, engine)
                while len(self._cache) > self.settings.ocr_cache_pages:
                    self._cache.popitem(last=False)
        return record, engine

    # -- 4. extractive over the stored text --

    def _extractive(self, question: str, hits: list[SearchHit]) -> AnswerResponse:
        found = self.service.read_answer(question, hits)
        self.metrics.inc("vtrag_answers_total", mode="extractive")
        read = hits[:5]  # what both readers read by default
        return AnswerResponse(
            answer=found.text,
            mode="extractive",
            citations=self._citations(found),
            pages=[self._page_used(h) for h in read],
            context_tokens=ContextTokens(text=sum(self._count_tokens(h.page.text) for h in read)),
            fallback=Fallback(),
            score=found.score,
        )

    # -- response pieces --

    def _citations(self, found: ExtractiveAnswer) -> list[Citation]:
        out = []
        for c in found.citations:
            bbox = None
            if c.bbox_points is not None and c.bbox_pixels is not None:
                bbox = BBox(points=c.bbox_points, pixels=c.bbox_pixels, dpi=c.dpi)
            out.append(
                Citation(
                    doc_id=c.doc_id,
                    source=self.display(c.source),
                    page=c.page,
                    page_id=f"{c.doc_id}:{c.page}",
                    bbox=bbox,
                )
            )
        return out

    def _page_citation(self, page: PageRecord) -> Citation:
        return Citation(
            doc_id=page.doc_id, source=self.display(page.source), page=page.page_no, page_id=page.page_id
        )

    def _page_used(self, hit: SearchHit) -> PageUsed:
        page = hit.page
        return PageUsed(
            doc_id=page.doc_id,
            source=self.display(page.source),
            page=page.page_no,
            page_id=page.page_id,
            score=hit.score,
        )

    def _count_tokens(self, text: str) -> int:
        vision = self.service.vision
        if vision is not None and text:
            return len(vision.generator.tokenizer.encode(text))
        return len(text.split())


def clean_generated(text: str) -> str:
    """Generated text for display: grounding spans, special tags and stray `<image>` markers removed."""
    spans = parse_grounding(text)
    for span in reversed(spans):
        text = text[: span.start] + text[span.end :]
    return " ".join(_MARKUP.sub(" ", text).split())


def _cited_pages(text: str, n_pages: int) -> list[int]:
    """0-based indexes of the pages an answer cites as [Page N], in first-cited order."""
    found = [int(m.group(1)) - 1 for m in _PAGE_REF.finditer(text)]
    return list(dict.fromkeys(i for i in found if 0 <= i < n_pages))


def grounded_lines(
    text: str, width_px: int, height_px: int, page: PageRecord
) -> list[tuple[str, tuple[float, float, float, float] | None]]:
    """Blocks of a grounded markdown reading as (text, box in page points): each block is the text after a
    `<|ref|>type<|/ref|><|det|>[[...]]<|/det|>` span, boxed by the span's first box."""
    spans = parse_grounding(text)
    if not spans:
        flat = clean_generated(text)
        return [(flat, None)] if flat else []
    out: list[tuple[str, tuple[float, float, float, float] | None]] = []
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


def _with_text(
    page: PageRecord, lines: Sequence[tuple[str, tuple[float, float, float, float] | None]]
) -> PageRecord:
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


def local_answerer(service: Service) -> Answerer:
    """The answer pipeline for one local process (the CLI): its own source reader, lock and counters."""
    return Answerer(
        service, service.settings, sources=PageSources(), model_lock=threading.Lock(), metrics=Metrics()
    )
