"""Ocr: bundled RapidOCR models, offline, lazy and picklable; lines in reading order."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from indexer.ocr import Ocr, OcrError, OcrLine, reading_order


@pytest.fixture(scope="module")
def ocr() -> Iterator[Ocr]:
    engine = Ocr(threads=1)
    # Nothing may touch the network: building the engine and reading must work with sockets refused.
    with pytest.MonkeyPatch.context() as mp:

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("OCR tried to use the network")

        mp.setattr(socket.socket, "connect", refuse)
        engine.read(Image.new("RGB", (64, 64), "white"))  # builds the engine
        yield engine


def _text_image(
    lines: list[tuple[tuple[float, float], str]], size: tuple[float, float] = (420, 160)
) -> Image.Image:
    """Render text at given points of a small page, at 144 dpi (2 px per point)."""
    doc = pymupdf.open()
    page = doc.new_page(width=size[0], height=size[1])
    for (x, y), text in lines:
        page.insert_text((x, y), text, fontname="helv", fontsize=13)
    pix = page.get_pixmap(dpi=144)
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)


def test_reads_lines_in_reading_order(ocr: Ocr) -> None:
    image = _text_image(
        [
            ((20, 40), "The harbour light"),
            ((20, 80), "Left column"),
            ((260, 80), "Right column"),
            ((20, 120), "was built in 1871"),
        ]
    )
    lines = ocr.read(image)
    texts = [line.text for line in lines]
    assert texts == ["The harbour light", "Left column", "Right column", "was built in 1871"]
    width, height = image.size
    for line in lines:
        x0, y0, x1, y1 = line.bbox
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert 0.5 <= line.score <= 1.0
    # "Right column" was drawn at x = 260 pt = 520 px, baseline y = 80 pt = 160 px
    right = lines[2].bbox
    assert 500 <= right[0] <= 540 and right[1] < 160 < right[3] + 10


def test_blank_image_has_no_lines(ocr: Ocr) -> None:
    assert ocr.read(Image.new("L", (300, 200), 255)) == []


def test_engine_is_lazy_and_stays_out_of_pickles(ocr: Ocr) -> None:
    fresh = Ocr(threads=1)
    assert fresh._engine is None  # nothing built until read()
    assert ocr._engine is not None
    clone = pickle.loads(pickle.dumps(ocr))
    assert clone._engine is None
    assert (clone.threads, clone.use_cls, clone.min_score) == (ocr.threads, ocr.use_cls, ocr.min_score)


def test_missing_models_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OcrError, match="OCR models not found"):
        Ocr(model_dir=tmp_path).read(Image.new("RGB", (10, 10)))


@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"min_score": 1.5}])
def test_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Ocr(**kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ reading order


def _piece(text: str, x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> OcrLine:
    return OcrLine(text, (x0, y0, x1, y1), score)


def test_reading_order_sorts_rows_then_columns() -> None:
    pieces = [
        _piece("C", 400, 52, 500, 70),
        _piece("D", 10, 100, 100, 120),
        _piece("A", 10, 10, 300, 30),
        _piece("B", 10, 50, 100, 69),  # a slightly different baseline from C: still the same row
    ]
    assert [p.text for p in reading_order(pieces)] == ["A", "B", "C", "D"]


def test_reading_order_joins_close_pieces_of_a_line() -> None:
    pieces = [_piece("world", 130, 11, 200, 31, 1.0), _piece("Hello", 10, 10, 120, 30, 0.5)]
    (line,) = reading_order(pieces)
    assert line.text == "Hello world"
    assert line.bbox == (10, 10, 200, 31)
    assert line.score == pytest.approx((0.5 * 5 + 1.0 * 5) / 10)


def test_reading_order_keeps_distant_pieces_apart() -> None:
    pieces = [_piece("Right cell", 300, 10, 400, 30), _piece("Left cell", 10, 10, 100, 30)]
    assert [p.text for p in reading_order(pieces)] == ["Left cell", "Right cell"]


def test_reading_order_of_nothing() -> None:
    assert reading_order([]) == []


def test_a_missing_rapidocr_is_an_ocr_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer fallback and page text handle OcrError; an ImportError would reach the user as a 500."""
    import sys

    monkeypatch.setitem(sys.modules, "rapidocr", None)  # import rapidocr -> ImportError
    with pytest.raises(OcrError, match="RapidOCR is not installed"):
        Ocr().read(Image.new("RGB", (64, 32), "white"))
