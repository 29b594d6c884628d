"""Service operations that need the vision model: a page decoded from its stored tokens, an image's vector.

Extraction (markdown, free OCR, figure, locate) from stored tokens, the query typeset as a page for the vision
leg, and the pooled vector for query-by-image. Kept apart from the facade so the lite profile never imports
them.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from api.client.schemas import ExtractBox, ExtractResult
from api.service.runtime import VisionRuntime
from decoder import prompts
from decoder.grounding import parse_grounding, strip_grounding
from indexer.pdf import pymupdf
from retriever.records import TEXT_ONLY, PageRecord
from retriever.store import IndexStore

TASKS = ("markdown", "free_ocr", "figure", "locate")
QUERY_PAGE_PT = (595.0, 842.0)  # A4: queries are typeset like a page, so they look like what was indexed
QUERY_DPI = 144


class NotIndexedWithVisionError(ValueError):
    """The page has no stored tokens (a lite index, or a page written before an encoder was configured)."""


def task_prompt(task: str, query: str | None = None) -> str:
    if task == "markdown":
        return prompts.MARKDOWN
    if task == "free_ocr":
        return prompts.FREE_OCR
    if task == "figure":
        return prompts.FIGURE
    if task == "locate":
        if not query:
            raise ValueError("task 'locate' needs the text to locate")
        return prompts.locate_prompt(query)
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def extract(
    store: IndexStore,
    vision: VisionRuntime,
    page_id: str,
    task: str,
    *,
    query: str | None = None,
    max_new_tokens: int = 2048,
) -> ExtractResult:
    """Decode one page from its stored tokens (no re-rendering, no re-encoding).

    Args:
        store: the index. vision: the loaded model.
        page_id: "doc_id:page_no". task: markdown | free_ocr | figure | locate. query: the text for locate.
        max_new_tokens: generation budget.
    Returns:
        the text with grounding markup stripped, the raw output, boxes in page points and pixels, the
        confidence (mean token log-prob) and whether the repetition guard fired.
    Raises:
        KeyError: unknown page. NotIndexedWithVisionError: the page has no stored tokens.
    """
    prompt = task_prompt(task, query)
    pages = store.get_pages([page_id])
    if not pages:
        raise KeyError(page_id)
    rows = store.get_tokens(pages).get(page_id)
    if rows is None:
        why = "it was compacted to its text" if pages[0].mode == TEXT_ONLY else "rebuild with --encoder"
        raise NotIndexedWithVisionError(f"page {page_id} has no stored vision tokens; {why}")
    out = vision.generator.generate([rows], prompt, max_new_tokens)
    return ExtractResult(
        page_id=page_id,
        task=task,
        text=strip_grounding(out.text),
        raw=out.text,
        confidence=out.confidence,
        guard_fired=out.guard_fired,
        vision_tokens=int(rows.shape[0]),
        boxes=grounded_boxes(out.text, pages[0]),
    )


def grounded_boxes(text: str, page: PageRecord) -> list[ExtractBox]:
    """Grounding boxes (0-999 scale) mapped onto the page: points, and pixels of the page raster."""
    scale = page.dpi / 72.0
    width_px, height_px = round(page.width * scale), round(page.height * scale)
    out = []
    for span in parse_grounding(text):
        for box in span.boxes:
            out.append(
                ExtractBox(
                    label=span.label,
                    points=box.to_points(width_px, height_px, page.dpi),
                    pixels=box.to_pixels(width_px, height_px),
                )
            )
    return out


def text_as_page(text: str, longest_px: int | None = None) -> Image.Image:
    """Typeset a query as a page image, so the vision encoder can place it among the indexed pages.

    longest_px: render straight at the size the encoder's global view takes (its longer side this many
    pixels) instead of at QUERY_DPI: the view then needs no resampling, which cost ~20 ms a query on a CPU
    core — a query is typeset here, so no source raster's pixels are there to be matched."""
    doc = pymupdf.open()
    page = doc.new_page(width=QUERY_PAGE_PT[0], height=QUERY_PAGE_PT[1])
    page.insert_textbox(
        pymupdf.Rect(56, 56, QUERY_PAGE_PT[0] - 56, QUERY_PAGE_PT[1] - 56), text, fontsize=14, fontname="helv"
    )
    scale = (QUERY_DPI if longest_px is None else 72.0 * longest_px / max(QUERY_PAGE_PT)) / 72.0
    pix = page.get_pixmap(matrix=pymupdf.Matrix(scale, scale))
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)


def pooled_vector(vision: VisionRuntime, image: Image.Image) -> list[float]:
    """The pooled, L2-normalised vision embedding of one image (what pages store as vision_vec)."""
    encoded: Any = vision.encoder.encode([image])[0]
    return [float(v) for v in encoded.pooled.float().tolist()]
