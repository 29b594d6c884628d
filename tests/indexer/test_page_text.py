"""extract_text: the PDF text layer with line spans and boxes in points; OCR for scans and images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from indexer.documents import open_document
from indexer.ocr import Ocr, OcrLine
from indexer.page_text import PageText, _count_chars, _layer_usable, extract_text

LINES = [
    "The Harbour Lighthouse was built in 1871.",
    "Its keeper kept the light burning",
    "through the great storm of 1893.",
]


@pytest.fixture(scope="module")
def ocr() -> Ocr:
    return Ocr(threads=1)


def _check_spans(result: PageText, width: float, height: float) -> list[str]:
    """Spans slice back to the lines, in order, joined by newlines; boxes lie inside the page."""
    lines = [result.text[line.start : line.end] for line in result.lines]
    assert "\n".join(lines) == result.text
    for line in result.lines:
        x0, y0, x1, y1 = line.bbox
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    return lines


def _born_digital(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for i, text in enumerate(LINES):
        page.insert_text((72, 100 + 20 * i), text, fontname="tiro", fontsize=12)
    # Two runs drawn separately on one baseline, a word-space apart: one visual line.
    x = 72 + pymupdf.get_text_length("Split ", fontname="helv", fontsize=12)
    page.insert_text((72, 200), "Split", fontname="helv", fontsize=12)
    page.insert_text((x, 200), "line", fontname="helv", fontsize=12)
    # Two columns on one baseline stay two lines.
    page.insert_text((72, 240), "Left column", fontname="helv", fontsize=12)
    page.insert_text((340, 240), "Right column", fontname="helv", fontsize=12)
    page.insert_text((72, 280), "Runs   of  spaces  collapse", fontname="helv", fontsize=12)
    doc.save(path)
    return path


def test_pdf_text_layer_lines(tmp_path: Path) -> None:
    with open_document(_born_digital(tmp_path / "born.pdf")) as doc:
        page = doc.page(1)
        result = extract_text(page, None)
    assert result.source == "pdf"
    lines = _check_spans(result, page.width_pt, page.height_pt)
    assert lines == [*LINES, "Split line", "Left column", "Right column", "Runs of spaces collapse"]
    # The first line was drawn at baseline y = 100 pt from x = 72 pt, 12 pt type.
    x0, y0, x1, y1 = result.lines[0].bbox
    assert x0 == pytest.approx(72, abs=1) and y0 < 100 < y1 and y1 - y0 < 20
    assert result.lines[5].bbox[0] == pytest.approx(340, abs=1)


def test_rotated_page_boxes_follow_the_display(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=600, height=800)
    page.insert_text((100, 100), "Turned text on a landscape page", fontname="helv", fontsize=12)
    page.set_rotation(90)
    doc.save(tmp_path / "turned.pdf")
    with open_document(tmp_path / "turned.pdf") as src:
        turned = src.page(1)
        result = extract_text(turned, None)
        image = turned.render(dpi=72).convert("L")
    assert result.text == "Turned text on a landscape page"
    (line,) = result.lines
    _check_spans(result, turned.width_pt, turned.height_pt)
    # The ink in the rendered (turned) page lies inside the reported box.
    ink = Image.eval(image, lambda v: 255 if v < 128 else 0).getbbox()
    assert ink is not None
    x0, y0, x1, y1 = line.bbox
    assert x0 - 1 <= ink[0] and y0 - 1 <= ink[1] and ink[2] <= x1 + 1 and ink[3] <= y1 + 1


def test_thin_text_layer_needs_ocr(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Page 7", fontname="helv")
    doc.save(tmp_path / "thin.pdf")
    with open_document(tmp_path / "thin.pdf") as src:
        assert extract_text(src.page(1), None) == PageText("", [], "ocr")


def test_stamp_over_a_scan_needs_ocr(tmp_path: Path) -> None:
    """A scan carrying a one-line text stamp is OCR'd, not indexed as just the stamp."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_image(page.rect, pixmap=pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 60, 85), 0))
    page.insert_text((20, 830), "Scanned by ACME Document Services 2024", fontname="helv", fontsize=8)
    doc.save(tmp_path / "stamped.pdf")
    with open_document(tmp_path / "stamped.pdf") as src:
        assert extract_text(src.page(1), None).source == "ocr"


def test_text_quality_rule() -> None:
    assert _count_chars("Hello, world 42") == (12, 0, 13)
    assert _count_chars("\ufffd\ue000ab") == (2, 2, 4)  # replacement and private-use characters are bad
    page = pymupdf.open().new_page()
    box = (72.0, 72.0, 300.0, 90.0)
    real = "The lighthouse was built in 1871 on Gull Point."
    assert _layer_usable([(real, box)], page)
    assert not _layer_usable([("Fig. 3", box)], page)  # too little text
    assert not _layer_usable([(real + " \ufffd" * 8, box)], page)  # a font without a Unicode map
    soup = "#$%& '()* +,-./ :;<=>? @[]^_ {|}~ ab cd ef gh ij kl mn op qr st uv wx"
    assert not _layer_usable([(soup, box)], page)  # a broken encoding: mostly symbols


def _scanned_pdf(path: Path) -> Path:
    """An image-only page: text rendered to pixels, only the picture goes into the PDF."""
    src = pymupdf.open()
    page = src.new_page(width=300, height=200)
    page.insert_text((20, 50), "The lighthouse keeper", fontname="helv", fontsize=14)
    page.insert_text((20, 90), "was built in 1871", fontname="helv", fontsize=14)
    pix = page.get_pixmap(dpi=150)
    out = pymupdf.open()
    scan = out.new_page(width=300, height=200)
    scan.insert_image(scan.rect, stream=pix.tobytes("png"))
    out.save(path)
    return path


def test_scanned_pdf_goes_through_ocr(tmp_path: Path, ocr: Ocr) -> None:
    with open_document(_scanned_pdf(tmp_path / "scan.pdf")) as doc:
        page = doc.page(1)
        assert extract_text(page, None) == PageText("", [], "ocr")
        result = extract_text(page, ocr)
    assert result.source == "ocr"
    lines = _check_spans(result, page.width_pt, page.height_pt)
    words = result.text.lower().split()
    assert {"lighthouse", "keeper", "1871"} <= set(words)
    # Boxes are in points: the first line was drawn at baseline y = 50 pt, x = 20 pt.
    assert lines[0].lower().startswith("the lighthouse")
    x0, y0, x1, y1 = result.lines[0].bbox
    assert x0 == pytest.approx(20, abs=4) and y0 < 50 < y1 + 4 and y1 < 60


def test_image_page_goes_through_ocr(tmp_path: Path, ocr: Ocr) -> None:
    src = pymupdf.open()
    page = src.new_page(width=300, height=80)
    page.insert_text((20, 45), "Storm warning at the harbour", fontname="helv", fontsize=16)
    pix = page.get_pixmap(dpi=144)
    path = tmp_path / "notice.png"
    Image.frombytes("RGB", (pix.width, pix.height), pix.samples).save(path)
    with open_document(path) as doc:
        image_page = doc.page(1)
        result = extract_text(image_page, ocr)
    assert result.source == "ocr"
    assert "storm warning" in result.text.lower()
    _check_spans(result, image_page.width_pt, image_page.height_pt)  # image pages: 1 px = 1 pt


class _BlindOcr(Ocr):
    """An OCR engine that finds nothing (stands in for a page OCR cannot read)."""

    def read(self, image: Image.Image) -> list[OcrLine]:
        return []


def test_short_text_layer_kept_when_ocr_finds_nothing(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Chapter 3", fontname="helv")
    doc.save(tmp_path / "heading.pdf")
    with open_document(tmp_path / "heading.pdf") as src:
        result = extract_text(src.page(1), _BlindOcr())
    assert (result.text, result.source) == ("Chapter 3", "pdf")


@pytest.fixture(scope="module", autouse=True)
def _no_network() -> Iterator[None]:
    import socket

    with pytest.MonkeyPatch.context() as mp:

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("page text tried to use the network")

        mp.setattr(socket.socket, "connect", refuse)
        yield
