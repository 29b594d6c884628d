"""The answer pipeline: retrieve → fetch stored rows → decode → judge → fallback → read → cite.

A question goes in, an answer with citations comes out; each step takes what the previous one returned, and
`AnswerPipeline.run` calls them in this order:

1. retrieve: the top-K pages (hybrid search, api/service/retrieval.py).
2. fetch: the stored vision-token rows of the top `answer_max_pages` of them.
3. decode: one generation from those rows with the multi-page question prompt.
4. judge: it stands unless the n-gram guard fired, the text is empty, or its mean token log-prob is under
   `answer_min_confidence` (decoder/judge.py); a generation that stands is cited (7) and returned.
5. fallback: when it cannot stand (or the request asks for `full_ocr` / mode `extract`), the top pages are
   re-rendered from their source files and read in full: by the model at `fallback_mode` (Gundam by
   default), by RapidOCR when that reading fails the same checks or there is no model
   (api/service/fallback.py).
6. read: the extractive reader (api/service/reader.py) answers from the pages' text: the fallback's reading,
   else the stored page text.
7. cite: the response, with the pages read and the citations.

Without a decoder (the lite profile) or with mode `extractive`, steps 2-5 are skipped. The response always
says which path produced it (`mode`, `fallback.reason`, `fallback.engine`, `trail`). Nothing here calls back
into the facade: each answer gets the loaded parts it reads with (`Parts`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.client.schemas import AnswerResponse, BBox, Citation, ContextTokens, Fallback, PageUsed, Passage
from api.service.fallback import FullOcr
from api.service.metrics import Metrics
from api.service.page_sources import PageSources
from api.service.reader import Reader
from api.service.retrieval import retrieve
from api.settings import Settings
from decoder import prompts
from decoder.extractive import ExtractiveAnswer, page_citation
from decoder.extractive import Passage as ReadPassage
from decoder.judge import Judged, judge
from encoder.text_embedder import TextEmbedder
from retriever.records import PageRecord, SearchHit
from retriever.store import IndexStore

if TYPE_CHECKING:
    from api.service.runtime import VisionRuntime
    from decoder.generate import Generation

_PAGE_REF = re.compile(r"\[\s*Page\s+(\d{1,3})\s*\]", re.IGNORECASE)
READ_PAGES = 5  # pages both readers read by default, and the pages an extractive answer reports


class ModeUnavailableError(ValueError):
    """The request asked for a path this server cannot take (generate without a decoder)."""


@dataclass(frozen=True)
class Parts:
    """What one answer reads with, loaded by the facade.

    Attributes:
        store: the open index. embedder: the text model that built it. reader: the extractive reader.
        vision: the vision model (None in the lite profile).
        vision_leg: the model for the question's vision vector in search (None: text legs only).
    """

    store: IndexStore
    embedder: TextEmbedder
    reader: Reader
    vision: VisionRuntime | None = None
    vision_leg: VisionRuntime | None = None


@dataclass(frozen=True)
class StoredRows:
    """The top pages that have stored vision-token rows, in rank order, and those rows."""

    hits: list[SearchHit]
    rows: list[Any]  # torch.Tensor (n_rows, hidden) each


class AnswerPipeline:
    """The online answer pipeline of one process.

    Args:
        settings: limits and thresholds (top_k, answer_*, fallback_*, ocr_cache_pages, fusion; read at each
            call).
        sources: re-reads stored source files (the fallback).
        model_lock: serialises use of the vision model across request threads.
        metrics: answers, fallbacks and guard trips are counted here.
        display: source path -> what responses show (the REST server: the uploaded filename).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sources: PageSources | None = None,
        model_lock: threading.Lock | None = None,
        metrics: Metrics | None = None,
        display: Callable[[str], str] | None = None,
    ) -> None:
        self.settings = settings
        self.model_lock = model_lock or threading.Lock()
        self.metrics = metrics or Metrics()
        self.display = display or str  # default: the indexed path as it is
        self.full_ocr = FullOcr(
            settings,
            sources=sources or PageSources(),
            model_lock=self.model_lock,
            metrics=self.metrics,
            display=self.display,
        )

    def run(
        self,
        parts: Parts,
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
        if mode == "generate" and parts.vision is None:
            raise ModeUnavailableError(
                "mode 'generate' needs a vision decoder; this server runs the lite profile (use auto, "
                "extract or extractive)"
            )
        timings: dict[str, float] = {}
        with _StageTimer(timings, "retrieve"):
            hits = self.retrieve(parts, question, top_k, doc_ids)
        trail: list[str] = []
        reason: str | None = "requested" if (full_ocr or mode == "extract") else None
        if reason is None and parts.vision is not None and mode in ("auto", "generate") and hits:
            with _StageTimer(timings, "fetch"):
                stored = self.fetch(parts.store, hits, trail)
            if not stored.hits:
                reason = "no_tokens"
            else:
                with _StageTimer(timings, "generate"):
                    generation = self.decode(parts.vision, question, stored)
                judged = self.judge(generation, stored, trail)
                if judged.reason is None:
                    response = self.cite_generated(parts.vision, judged, generation, stored, trail)
                    response.timings_ms = timings
                    return response
                reason = judged.reason
        fallback, pages = Fallback(), hits
        if reason is not None and hits:
            with _StageTimer(timings, "fallback"):
                fallback, pages = self.fallback(parts, hits, reason, trail)
        with _StageTimer(timings, "read"):
            found = self.read(parts, question, pages)
        response = self.cite(parts.vision, found, pages, fallback, reader=found.reader or parts.reader.name)
        response.timings_ms = timings
        return response

    # -- 1. retrieve --

    def retrieve(self, parts: Parts, question: str, top_k: int, doc_ids: list[str] | None) -> list[SearchHit]:
        return retrieve(
            parts.store,
            parts.embedder,
            question,
            top_k=top_k,
            doc_ids=doc_ids,
            vision=parts.vision_leg,
            fusion=self.settings.fusion,
        )

    # -- 2. fetch stored rows --

    def fetch(self, store: IndexStore, hits: list[SearchHit], trail: list[str]) -> StoredRows:
        top = hits[: self.settings.answer_max_pages]
        tokens = store.get_tokens([h.page for h in top])  # each from the token set its row names
        used = [h for h in top if h.page.page_id in tokens]
        if not used:
            trail.append("generate: no stored vision tokens for the top pages")
        return StoredRows(used, [tokens[h.page.page_id] for h in used])

    # -- 3. decode --

    def decode(self, vision: VisionRuntime, question: str, stored: StoredRows) -> Generation:
        titles = [f"{self.display(h.page.source)} p. {h.page.page_no}" for h in stored.hits]
        prompt = prompts.question_prompt(question, titles)
        with self.model_lock:
            generation = vision.generator.generate(stored.rows, prompt, self.settings.answer_max_new_tokens)
        if generation.guard_fired:
            self.metrics.inc("vtrag_guard_trips_total")
        return generation

    # -- 4. judge --

    def judge(self, generation: Generation, stored: StoredRows, trail: list[str]) -> Judged:
        judged = judge(generation, self.settings.answer_min_confidence)
        trail.append(
            f"generate ({len(stored.hits)} pages, {generation.vision_tokens} vision tokens): "
            f"{judged.reason or 'ok'} (confidence {generation.confidence:.3f})"
        )
        return judged

    # -- 5. fallback: full OCR of the top pages --

    def fallback(
        self, parts: Parts, hits: list[SearchHit], reason: str, trail: list[str]
    ) -> tuple[Fallback, list[SearchHit]]:
        """The fallback's record and the pages to read: the re-read ones, else (none could be) the stored.
        Pages the model read are written back to the index (api/service/write_back.py, `ocr_write_back`)."""
        self.metrics.inc("vtrag_answer_fallbacks_total", reason=reason)
        read, engines = self.full_ocr.read_pages(parts.vision, hits, trail)
        if parts.vision is not None and self.settings.ocr_write_back != "off":
            by_model = [h.page for h, e in zip(read, engines, strict=True) if e == parts.vision.name]
            if by_model:
                self._write_back(parts, by_model, trail)
        if not read:
            trail.append("no page could be re-read: answered from the stored page text")
            return Fallback(ran=True, reason=reason, trail=trail), hits
        return Fallback(ran=True, reason=reason, engine=",".join(dict.fromkeys(engines)), trail=trail), read

    def _write_back(self, parts: Parts, pages: list[PageRecord], trail: list[str]) -> None:
        from api.service.write_back import write_text

        for page in pages:
            with self.model_lock:  # the page row is rewritten once even when answers race
                done = write_text(
                    parts.store,
                    parts.embedder,
                    page.page_id,
                    page.text,
                    page.lines,
                    policy=self.settings.ocr_write_back,
                )
            if done:
                trail.append(f"p. {page.page_no}: the model's reading replaced the stored text")

    # -- 6. read --

    def read(self, parts: Parts, question: str, pages: Sequence[SearchHit]) -> ExtractiveAnswer:
        return parts.reader(question, pages, embedder=parts.embedder)

    # -- 7. cite --

    def cite(
        self,
        vision: VisionRuntime | None,
        found: ExtractiveAnswer,
        pages: list[SearchHit],
        fallback: Fallback,
        *,
        reader: str | None = None,
    ) -> AnswerResponse:
        """An extractive answer's response: from the fallback's reading when it re-read pages, else from the
        stored page text; with the supporting passages the reader ranked."""
        mode = "ocr-fallback" if fallback.engine else "extractive"
        shown = pages if fallback.engine else pages[:READ_PAGES]
        passages = [self._passage(p) for p in found.passages]
        self.metrics.inc("vtrag_answers_total", mode=mode)
        return AnswerResponse(
            answer=found.text,
            mode=mode,
            citations=self._citations(found),
            pages=[self._page_used(h) for h in shown],
            context_tokens=ContextTokens(text=sum(_count_tokens(vision, h.page.text) for h in shown)),
            fallback=fallback,
            score=found.score,
            passage=passages[0] if passages else None,
            passages=passages,
            reader=reader,
        )

    def cite_generated(
        self,
        vision: VisionRuntime,
        judged: Judged,
        generation: Generation,
        stored: StoredRows,
        trail: list[str],
    ) -> AnswerResponse:
        """A generated answer's response, citing the pages it names as [Page N] (else all it read)."""
        used = stored.hits
        cited = _cited_pages(judged.text, len(used)) or list(range(len(used)))
        self.metrics.inc("vtrag_answers_total", mode="generate")
        return AnswerResponse(
            answer=judged.text,
            mode="generate",
            citations=[self._page_citation(used[i].page) for i in cited],
            pages=[self._page_used(h) for h in used],
            context_tokens=ContextTokens(
                vision=generation.vision_tokens, text=generation.prompt_tokens - generation.vision_tokens
            ),
            fallback=Fallback(ran=False, trail=trail),
            confidence=generation.confidence,
        )

    def _citations(self, found: ExtractiveAnswer) -> list[Citation]:
        return [Citation(**self._cited(c)) for c in found.citations]

    def _passage(self, passage: ReadPassage) -> Passage:
        """A read passage as the response shows it: its text, the answer inside it, its page and box."""
        box = page_citation(passage.page, passage.start, passage.start + len(passage.text))
        return Passage(
            **self._cited(box), text=passage.text, span=passage.span, score=round(passage.score, 4)
        )

    def _cited(self, c: Any) -> dict[str, Any]:
        """The fields of a `decoder.extractive.Citation` as the response models name them."""
        bbox = None
        if c.bbox_points is not None and c.bbox_pixels is not None:
            bbox = BBox(points=c.bbox_points, pixels=c.bbox_pixels, dpi=c.dpi, page_size=c.page_size)
        return {
            "doc_id": c.doc_id,
            "source": self.display(c.source),
            "page": c.page,
            "page_id": f"{c.doc_id}:{c.page}",
            "bbox": bbox,
        }

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


def _cited_pages(text: str, n_pages: int) -> list[int]:
    """0-based indexes of the pages an answer cites as [Page N], in first-cited order."""
    found = [int(m.group(1)) - 1 for m in _PAGE_REF.finditer(text)]
    return list(dict.fromkeys(i for i in found if 0 <= i < n_pages))


def _count_tokens(vision: VisionRuntime | None, text: str) -> int:
    """Text tokens the reader saw: the decoder tokenizer's count when a model is loaded, else words."""
    if vision is not None and text:
        return len(vision.generator.tokenizer.encode(text))
    return len(text.split())


class _StageTimer:
    """`with _StageTimer(timings, stage):` adds the block's wall milliseconds to `timings[stage]` (the
    answer's `timings_ms`). A class, not a contextlib generator: its exit runs here, so the pipeline's path
    through the service's files stays one entry per file (tests/api/service/test_answer_path.py)."""

    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        ms = (time.perf_counter() - self.started) * 1000
        self.timings[self.stage] = round(self.timings.get(self.stage, 0.0) + ms, 2)
