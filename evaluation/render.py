"""Corpus records as pages: one-page PDFs with a text layer, image-only ("scanned") PDFs, or bare page images.

Every record becomes one A4 page set in DejaVu Sans 11 pt (a Unicode font, so accents and most scripts survive
the text layer; PDF base-14 Helvetica would drop them), falling back to Helvetica where DejaVu is missing. A
record that overflows the page is set smaller until it fits, and one still too long at 5 pt gets a taller
page. The file name is the record id, made safe for file systems (see `file_stem`), so a search hit's
`source` leads back to the record.

What the page carries is the ground truth for the OCR measures: `page_text` reads it back from the PDF's own
text layer, so a glyph the font cannot draw is not counted against the OCR engine.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from encoder.modes import get_mode, make_views
from indexer.pdf import pymupdf

PAGE_W, PAGE_H = 595.0, 842.0  # A4, points
MARGIN = 56.0
FONT_SIZE = 11.0
MIN_FONT_SIZE = 5.0
TITLE_GAP = 1.4  # the title line sits this many body line heights above the body
RENDER_VERSION = "2"  # bump when the layout changes: it is part of the evaluation cache key
_FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
)
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}")


def font_file() -> Path | None:
    """The DejaVu Sans file used to set pages, or None (Helvetica) when the machine has none."""
    return next((p for p in _FONT_FILES if p.is_file()), None)


def file_stem(record_id: str) -> str:
    """A file name for a record: the id itself when it is a safe name, else a readable prefix + a hash."""
    if _SAFE.fullmatch(record_id) and not record_id.endswith("."):
        return record_id
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", record_id)[:40].strip("_")
    return f"{prefix}-{hashlib.sha1(record_id.encode('utf-8')).hexdigest()[:16]}"


@dataclass(frozen=True)
class PageLayout:
    """How records are set: page size in points and the body font size (shrunk per page when needed)."""

    width: float = PAGE_W
    height: float = PAGE_H
    font_size: float = FONT_SIZE


def _text_page(doc: pymupdf.Document, text: str, title: str | None, layout: PageLayout) -> pymupdf.Page:
    page = doc.new_page(width=layout.width, height=layout.height)
    font = font_file()
    kw = {"fontname": "dejavu", "fontfile": str(font)} if font else {"fontname": "helv"}
    top = MARGIN
    size = layout.font_size
    height = layout.height
    while True:
        shape = page.new_shape()
        y = top
        if title:
            shape.insert_textbox(
                pymupdf.Rect(MARGIN, y, layout.width - MARGIN, y + 2 * size * 1.3), title,
                fontsize=size * 1.3, **kw,
            )  # fmt: skip
            y += size * 1.3 * TITLE_GAP + size
        rest = shape.insert_textbox(
            pymupdf.Rect(MARGIN, y, layout.width - MARGIN, height - MARGIN), text, fontsize=size, **kw
        )
        if rest >= 0:
            shape.commit()
            return page
        if size > MIN_FONT_SIZE:  # overflow: nothing was drawn yet (uncommitted), set smaller
            size = max(MIN_FONT_SIZE, size * 0.9)
        else:  # still too long at the smallest size (a manual's index page): a taller page, never a blank one
            height *= 1.25
            page.set_mediabox(pymupdf.Rect(0, 0, layout.width, height))


def write_pdf(path: Path, text: str, *, title: str | None = None, layout: PageLayout = PageLayout()) -> Path:
    """A one-page PDF with a text layer (born digital).

    Args:
        path: where to write.
        text: the body text.
        title: an optional heading above the body.
        layout: page size and font size.

    Returns:
        `path`.
    """
    doc = pymupdf.open()
    _text_page(doc, text, title, layout)
    _save(doc, path)
    return path


def page_image(text: str, *, title: str | None = None, long_side: int, layout: PageLayout = PageLayout()):
    """The page as an RGB image whose longer side is `long_side` pixels (what a scanner at that size gives).

    Returns:
        (PIL image, the text the page carries as read back from its text layer).
    """
    doc = pymupdf.open()
    page = _text_page(doc, text, title, layout)
    zoom = long_side / max(layout.width, layout.height)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False)
    image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    carried = page_text(page)
    doc.close()
    return image, carried


def mode_view(text: str, mode: str, *, title: str | None = None, layout: PageLayout = PageLayout()):
    """The page exactly as the vision encoder sees it in `mode` (resized or padded square global view).

    The page is rasterised at the official 144 dpi first and then cut to the mode's view, as the indexer does.

    Returns:
        (PIL image of mode.size x mode.size, the text the page carries).
    """
    m = get_mode(mode)
    side = round(max(layout.width, layout.height) * 2)  # 144 dpi
    image, carried = page_image(text, title=title, long_side=side, layout=layout)
    return make_views(image, m).global_view, carried


def write_scanned_pdf(
    path: Path,
    text: str,
    *,
    title: str | None = None,
    long_side: int = 1024,
    layout: PageLayout = PageLayout(),
) -> Path:
    """An image-only PDF: the page rasterised with `long_side` pixels on its longer side, and nothing else.

    Args:
        path: where to write.
        text: the body text.
        title: an optional heading.
        long_side: raster size (a mode's view size, e.g. 1024 for Base).
        layout: page size and font size.

    Returns:
        `path`.
    """
    image, _ = page_image(text, title=title, long_side=long_side, layout=layout)
    buf = io.BytesIO()
    image.convert("L").save(buf, format="PNG", optimize=True)
    doc = pymupdf.open()
    page = doc.new_page(width=layout.width, height=layout.height)
    page.insert_image(page.rect, stream=buf.getvalue())
    _save(doc, path)
    return path


def page_text(page: pymupdf.Page) -> str:
    """The text a page carries, whitespace collapsed to single spaces."""
    return " ".join(page.get_text("text").split())


def _save(doc: pymupdf.Document, path: Path) -> None:
    # No dates or random file ids: the same record renders to the same bytes, hence the same doc id.
    doc.set_metadata({})
    if font_file() is not None:
        doc.subset_fonts()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path, garbage=3, deflate=True, no_new_id=True)
    doc.close()
