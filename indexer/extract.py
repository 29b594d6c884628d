"""Per-page work that runs in worker processes: open the document, pull each page's text, optionally render.

Kept apart from the job so a worker pickles only plain data: (path, page numbers) in, ExtractedPage out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.documents import open_document
from indexer.ocr import Ocr
from indexer.page_text import extract_text
from retriever.records import TextLine

_OCR: Ocr | None = None  # one engine per worker process, built on first use


@dataclass
class ExtractedPage:
    page_no: int
    width: float  # PDF points
    height: float
    dpi: float
    text: str
    lines: list[TextLine]
    text_source: str
    image: object | None = field(default=None, repr=False)  # PIL image at `dpi`, only when asked for


def _ocr_engine(enabled: bool) -> Ocr | None:
    global _OCR
    if not enabled:
        return None
    if _OCR is None:
        _OCR = Ocr()
    return _OCR


def extract_pages(
    path: str, page_nos: Sequence[int], ocr: bool = True, with_image: bool = False
) -> list[ExtractedPage]:
    """Text (and optionally the raster) of some pages of one document.

    Args:
        path: the document file.
        page_nos: 1-based page numbers, in the order wanted.
        ocr: allow the OCR fallback for pages without a usable text layer.
        with_image: also return each page's raster (for a vision encoder).
    Returns:
        one ExtractedPage per requested page, same order.
    """
    # Worker processes share the machine with the embedder: one BLAS thread each keeps them from thrashing.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out: list[ExtractedPage] = []
    with open_document(Path(path)) as doc:
        for page_no in page_nos:
            page = doc.page(page_no)
            text = extract_text(page, _ocr_engine(ocr))
            out.append(
                ExtractedPage(
                    page_no=page.page_no,
                    width=page.width_pt,
                    height=page.height_pt,
                    dpi=page.dpi,
                    text=text.text,
                    lines=list(text.lines),
                    text_source=text.source,
                    image=page.render() if with_image else None,
                )
            )
    return out
