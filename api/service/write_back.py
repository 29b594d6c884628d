"""OCR on read, written back: a page the model has just read (from its stored tokens by `extract`, or
re-rendered by the answer pipeline's full-OCR fallback) takes the transcript as its searchable text, so the
next search finds what the model read.

Which pages (`Settings.ocr_write_back`): "weak" (the default) those whose text came from RapidOCR or was
empty — the text layer of a PDF is exact and stays; "always" every page; "off" none. Only a reading that
stands is written (the answer pipeline's rule, `decoder.judge`: no repetition-guard trip, not empty,
confidence at least `answer_min_confidence`). The page's text, line boxes, dense vector and text source
("model") change, Milvus recomputes its BM25 terms, and the earlier text is kept for audit
(`PageRecord.prior_text`, `prior_text_source`). Vision vector and token rows are untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal, Protocol

import numpy as np

from api.client.schemas import ExtractBox, PageReading
from retriever.records import PageRecord, TextLine
from retriever.store import IndexStore

WriteBack = Literal["off", "weak", "always"]
WEAK_SOURCES = ("ocr",)  # text from RapidOCR: the model's reading is usually better
MODEL_SOURCE = "model"
WRITE_BACK_TASKS = (
    "markdown",
    "free_ocr",
)  # tasks whose output is the page's text (not a figure or a phrase)


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


def wanted(policy: WriteBack, page: PageRecord) -> bool:
    """Whether `policy` lets a model transcript replace this page's text."""
    if policy == "always":
        return True
    return policy == "weak" and (page.text_source in WEAK_SOURCES or not page.text.strip())


def transcript_lines(text: str, boxes: list[ExtractBox], page: PageRecord) -> list[TextLine]:
    """Line boxes for a transcript: each grounded span where its label occurs in the text (in order), else
    one line per text line boxed as the whole page (a citation then points at the page, never elsewhere)."""
    lines: list[TextLine] = []
    cursor = 0
    for box in boxes:
        at = text.find(box.label, cursor) if box.label else -1
        if at >= 0:
            lines.append(TextLine(at, at + len(box.label), box.points))
            cursor = at + len(box.label)
    if lines:
        return lines
    whole = (0.0, 0.0, float(page.width), float(page.height))
    start = 0
    for part in text.split("\n"):
        if part.strip():
            lines.append(TextLine(start, start + len(part), whole))
        start += len(part) + 1
    return lines


def write_back(
    store: IndexStore,
    embedder: Embedder,
    reading: PageReading,
    *,
    policy: WriteBack,
    min_confidence: float,
) -> bool:
    """Replace a page's text with what the model read, when the policy and the reading allow it.

    Args:
        store: the index. embedder: the text model that built it (the page's new dense vector).
        reading: the extraction (task, text with grounding markup stripped, boxes, confidence, guard).
        policy: see the module docstring. min_confidence: the lowest mean token log-prob that stands.
    Returns:
        True when the page was rewritten.
    """
    text = reading.text.strip()
    if reading.task not in WRITE_BACK_TASKS or reading.guard_fired or not text:
        return False
    if reading.confidence is None or reading.confidence < min_confidence:
        return False
    return write_text(
        store,
        embedder,
        reading.page_id,
        text,
        lambda page: transcript_lines(text, reading.boxes, page),
        policy=policy,
    )


def write_text(
    store: IndexStore,
    embedder: Embedder,
    page_id: str,
    text: str,
    lines: list[TextLine] | Callable[[PageRecord], list[TextLine]],
    *,
    policy: WriteBack,
) -> bool:
    """Replace a page's text with a model's reading that already stands, when the policy allows it.

    Args:
        store: the index. embedder: the text model that built it.
        page_id: the page. text: the reading. lines: the reading's line boxes (or a function of the
            stored page giving them).
        policy: see the module docstring.
    Returns:
        True when the page was rewritten.
    """
    pages = store.get_pages([page_id], with_vectors=True)
    if not pages or not text.strip() or not wanted(policy, pages[0]):
        return False
    page = pages[0]
    if text == page.text and page.text_source == MODEL_SOURCE:
        return False  # read the same again: nothing to do
    keep_prior = page.prior_text_source == ""  # the first replaced text is the audit, not later readings
    updated = replace(
        page,
        text=text,
        lines=lines(page) if callable(lines) else lines,
        text_source=MODEL_SOURCE,
        text_vec=embedder.embed([text])[0],
        prior_text=page.text if keep_prior else page.prior_text,
        prior_text_source=page.text_source if keep_prior else page.prior_text_source,
    )
    return store.replace_page_text(updated)
