"""One page read out (POST /v1/extract, the MCP tool extract_page): markdown, free OCR, a figure, or a phrase.

With a decoder configured this is the Service's extraction from the page's stored tokens (no re-rendering).
In the lite profile the index already holds each page's text with line boxes (text layer or OCR at build
time): markdown and free_ocr return it, locate returns the lines that contain the phrase, and figure parsing
needs the model.
"""

from __future__ import annotations

import threading

from api.client.schemas import ExtractBox, ExtractRequest, ExtractResponse
from api.service.facade import Service


class ExtractUnavailableError(ValueError):
    """The task needs the vision model, or the page has no stored tokens to decode."""


def extract_page(
    service: Service, request: ExtractRequest, *, model_lock: threading.Lock, default_max_new_tokens: int
) -> ExtractResponse:
    """Run one extraction task on one stored page.

    Raises:
        KeyError: no such page. ExtractUnavailableError: see the class. ValueError: locate without a query.
    """
    if request.task == "locate" and not request.query:
        raise ValueError("task 'locate' needs 'query': the text to find on the page")
    doc = service.store().get_doc(request.page_id.split(":", 1)[0])
    if doc is None or doc.status != "complete":  # pages of a document still being indexed are not served
        raise KeyError(request.page_id)
    vision = service.vision
    if vision is not None:
        from api.service.vision_ops import (
            NotIndexedWithVisionError,  # the model is loaded: its imports are paid
        )

        with model_lock:
            try:
                result = service.extract(
                    request.page_id,
                    request.task,
                    query=request.query,
                    max_new_tokens=request.max_new_tokens or default_max_new_tokens,
                )
            except NotIndexedWithVisionError as exc:  # a page built before an encoder was configured
                raise ExtractUnavailableError(str(exc)) from None
        return ExtractResponse(**result.model_dump(exclude={"raw"}), engine=vision.name)
    if request.task == "figure":
        raise ExtractUnavailableError(
            "task 'figure' needs a vision model: set VTRAG_ENCODER and VTRAG_WEIGHTS_DIR"
        )
    pages = service.store().get_pages([request.page_id])
    if not pages:
        raise KeyError(request.page_id)
    page = pages[0]
    scale = page.dpi / 72.0
    lines = [(page.text[ln.start : ln.end], ln.bbox) for ln in page.lines]
    if request.task == "locate":
        needle = " ".join((request.query or "").split()).casefold()
        lines = [(text, box) for text, box in lines if needle in " ".join(text.split()).casefold()]
        text = "\n".join(t for t, _ in lines)
    else:
        text = page.text
    boxes = [
        ExtractBox(
            label=t, points=box, pixels=(box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale)
        )
        for t, box in lines
    ]
    return ExtractResponse(page_id=page.page_id, task=request.task, text=text, boxes=boxes, engine="index")
