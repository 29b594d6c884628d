"""Page text for the lite profile: the PDF text layer when it is usable, OCR otherwise.

A PDF page's text layer is used when it holds real text: at least MIN_TEXT_CHARS letters/digits, few
undecodable characters (U+FFFD, private-use glyphs: a font without a Unicode map) and mostly letters/digits
rather than symbols (a broken encoding). Invisible text counts: it is usually an OCR layer over a scan.
A thin layer over a page that is mostly image (a scan carrying only a stamp or a header as text) is OCR'd.
Images always go through OCR. Text is kept faithful: whitespace is collapsed within a line, ligatures are
expanded, control and zero-width characters dropped, nothing is de-hyphenated.

Lines keep their geometry in PDF points (`pt = px * 72 / dpi` for OCR boxes), in the page as displayed
(PDF rotation applied), so a citation box drawn on `page.render()` lands on the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from indexer.documents import SourcePage
from indexer.ocr import Ocr
from indexer.pdf import pymupdf
from retriever.records import TextLine

MIN_TEXT_CHARS = 20  # letters/digits a text layer needs before it is trusted over OCR
MAX_BAD_FRACTION = 0.1  # undecodable characters tolerated, as a fraction of non-space characters
MIN_ALNUM_FRACTION = 0.5  # below this share of letters/digits the layer is symbol soup from a broken encoding
THIN_TEXT_CHARS = 200  # a layer this thin over a mostly-image page is taken for a scan's stamp/header
SCAN_COVERAGE = 0.5  # share of the page area covered by images that makes a page "mostly image"
SAME_LINE = 0.5  # line fragments whose centres differ by less than this x the smaller height share a line
JOIN_GAP = 0.8  # ...and are joined when the gap between them is below this x the line height

# Ligatures expanded (no PRESERVE_LIGATURES), text outside the page's box dropped (MEDIABOX_CLIP).
_WORD_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
_DROP_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")

TextSource = Literal["pdf", "ocr"]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PageText:
    """A page's text; `text[line.start:line.end]` is each line, lines joined by "\\n" in reading order."""

    text: str
    lines: list[TextLine] = field(default_factory=list)
    source: TextSource = "pdf"


def extract_text(page: SourcePage, ocr: Ocr | None) -> PageText:
    """The text of one page, from the PDF text layer or by OCR.

    Args:
        page: a page from `open_document`.
        ocr: the OCR engine; None turns OCR off (pages that need it come back empty with source "ocr").
    Returns:
        PageText with line spans and boxes in points; source "pdf" (text layer) or "ocr".
    """
    layer: list[tuple[str, Box]] = []
    if page.pdf_page is not None:
        layer = pdf_lines(page.pdf_page)
        if _layer_usable(layer, page.pdf_page):
            return _assemble(layer, "pdf")
    if ocr is None:
        return PageText("", [], "ocr")
    image = page.render()
    # Exact raster-to-page scale: the raster size was rounded from points * dpi / 72.
    sx, sy = page.width_pt / image.width, page.height_pt / image.height
    found = [
        (line.text, (line.bbox[0] * sx, line.bbox[1] * sy, line.bbox[2] * sx, line.bbox[3] * sy))
        for line in ocr.read(image)
    ]
    if not found and _count_chars(" ".join(t for t, _ in layer))[0] > 0:
        # OCR saw nothing, but a short text layer (a heading, a page number) is better than nothing.
        return _assemble(layer, "pdf")
    return _assemble(_clamp(found, page.width_pt, page.height_pt), "ocr")


def pdf_lines(pdf_page: pymupdf.Page) -> list[tuple[str, Box]]:
    """Lines of a PDF page's text layer in reading order, with boxes in points of the displayed page.

    MuPDF's blocks and lines (content order, which authoring tools write in reading order) are kept; fragments
    that MuPDF splits off the same visual line (separately positioned runs) are joined back when close.
    """
    try:
        words_found = pdf_page.get_text("words", flags=_WORD_FLAGS)
    except (RuntimeError, ValueError):  # a broken content stream: no usable layer; OCR of the render decides
        words_found = []
    grouped: dict[tuple[int, int], tuple[list[str], list[float]]] = {}
    for x0, y0, x1, y1, word, block, line, _ in words_found:
        word = _clean(word)
        if word:
            words, b = grouped.setdefault((block, line), ([], [x0, y0, x1, y1]))
            words.append(word)
            b[0], b[1], b[2], b[3] = min(b[0], x0), min(b[1], y0), max(b[2], x1), max(b[3], y1)
    # Joined in the unrotated page, where the text runs left to right; then turned as displayed.
    lines: list[tuple[str, Box]] = []
    for words, b in grouped.values():  # dicts keep MuPDF's order
        text, box = " ".join(words), (b[0], b[1], b[2], b[3])
        if lines and _continues(lines[-1][1], box):
            prev_text, prev = lines[-1]
            lines[-1] = (
                f"{prev_text} {text}",
                (min(prev[0], box[0]), min(prev[1], box[1]), max(prev[2], box[2]), max(prev[3], box[3])),
            )
        else:
            lines.append((text, box))
    if pdf_page.rotation:
        turn = pdf_page.rotation_matrix
        lines = [(text, tuple(pymupdf.Rect(box) * turn)) for text, box in lines]  # type: ignore[misc]
    rect = pdf_page.rect
    return _clamp(lines, rect.width, rect.height)


def _continues(prev: Box, box: Box) -> bool:
    """`box` sits on the same visual line as `prev`, just to its right."""
    h = min(prev[3] - prev[1], box[3] - box[1])
    if h <= 0:
        return False
    same_line = abs((prev[1] + prev[3]) / 2 - (box[1] + box[3]) / 2) <= SAME_LINE * h
    gap = box[0] - prev[2]
    return same_line and -0.5 * h <= gap <= JOIN_GAP * max(prev[3] - prev[1], box[3] - box[1])


def _clean(text: str) -> str:
    return " ".join(_DROP_CHARS.sub("", text).split())


def _clamp(lines: Iterable[tuple[str, Box]], width: float, height: float) -> list[tuple[str, Box]]:
    out = []
    for text, (x0, y0, x1, y1) in lines:
        x0, x1 = max(0.0, min(x0, width)), max(0.0, min(x1, width))
        y0, y1 = max(0.0, min(y0, height)), max(0.0, min(y1, height))
        text = _clean(text)
        if text and x1 > x0 and y1 > y0:
            out.append((text, (x0, y0, x1, y1)))
    return out


def _count_chars(text: str) -> tuple[int, int, int]:
    """(letters/digits, undecodable characters, non-space characters) of a text."""
    good = bad = total = 0
    for ch in text:
        if ch.isspace():
            continue
        total += 1
        if ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cn", "Cs"):
            bad += 1
        elif ch.isalnum():
            good += 1
    return good, bad, total


def _layer_usable(lines: list[tuple[str, Box]], pdf_page: pymupdf.Page) -> bool:
    good, bad, total = _count_chars(" ".join(text for text, _ in lines))
    if good < MIN_TEXT_CHARS or bad > MAX_BAD_FRACTION * total or good < MIN_ALNUM_FRACTION * total:
        return False
    return good >= THIN_TEXT_CHARS or _image_coverage(pdf_page) < SCAN_COVERAGE


def _image_coverage(pdf_page: pymupdf.Page) -> float:
    """Share of the page area under images (overlaps counted once per image, capped at 1)."""
    box = pdf_page.cropbox  # image boxes come unrotated, like words
    rect = pymupdf.Rect(0, 0, box.width, box.height)
    area = rect.width * rect.height
    if area <= 0:
        return 0.0
    covered = 0.0
    for info in pdf_page.get_image_info():
        r = pymupdf.Rect(info["bbox"]) & rect
        if not r.is_empty:
            covered += r.width * r.height
    return min(1.0, covered / area)


def _assemble(lines: list[tuple[str, Box]], source: TextSource) -> PageText:
    spans: list[TextLine] = []
    pos = 0
    for text, box in lines:
        spans.append(TextLine(pos, pos + len(text), box))
        pos += len(text) + 1
    return PageText("\n".join(text for text, _ in lines), spans, source)
