"""Per-page work that runs in worker processes: open the document, pull each page's text, optionally render.

Kept apart from the job so a worker pickles only plain data: (path, page numbers) in, ExtractedPage out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from encoder.modes import Mode, make_views
from indexer.auto_mode import figure_ink, probe_dpi
from indexer.documents import SourcePage, open_document
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
    # Only when asked for (`--mode auto`): the share of the page that is ink outside its text lines.
    figure_ink: float | None = None
    # Only when asked for: the PIL raster at `dpi`, or the views the vision encoder sees (modes.ModeViews).
    image: object | None = field(default=None, repr=False)


def _ocr_engine(enabled: bool) -> Ocr | None:
    global _OCR
    if not enabled:
        return None
    if _OCR is None:
        _OCR = Ocr()
    return _OCR


def extract_pages(
    path: str,
    page_nos: Sequence[int],
    ocr: bool = True,
    with_image: bool = False,
    view_mode: Mode | None = None,
    figure_probe: bool = False,
) -> list[ExtractedPage]:
    """Text (and optionally the raster) of some pages of one document.

    Args:
        path: the document file.
        page_nos: 1-based page numbers, in the order wanted.
        ocr: allow the OCR fallback for pages without a usable text layer.
        with_image: also return each page's raster (for a vision encoder).
        view_mode: with `with_image`, return the page already cut into this mode's views instead of the
            raster, as arrays (`ModeViews.as_arrays`): the resizing runs here in parallel, and a Base view
            crosses the process pipe in 3 MB instead of the 11.6 MB of an A4 raster at 144 dpi.
        figure_probe: also measure `figure_ink` on a small render (auto mode, indexer/auto_mode.py).
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
                    figure_ink=_figure_ink(page, text.lines) if figure_probe else None,
                    image=_image(page.render(), view_mode) if with_image else None,
                )
            )
    return out


def _figure_ink(page: SourcePage, lines: Sequence[TextLine]) -> float:
    return figure_ink(page.render(probe_dpi(page.width_pt, page.height_pt)), lines, page.width_pt)


def _image(raster: object, view_mode: Mode | None) -> object:
    if view_mode is None:
        return raster
    return make_views(raster, view_mode).as_arrays()  # type: ignore[arg-type]
