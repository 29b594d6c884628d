"""`--mode auto`: the mode chosen for constructed pages (a slide, dense text, a figure, a wide table), the
estimate, and bad targets refused (pure: real PDFs through the extraction workers' code, no index)."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from indexer.auto_mode import (
    FIGURE_INK,
    PageChoice,
    choose_mode,
    estimate_tokens,
)
from indexer.extract import extract_pages
from indexer.page_modes import page_modes

WORDS = [
    "harbour",
    "lighthouse",
    "keeper",
    "storm",
    "lamp",
    "gallery",
    "breakwater",
    "tide",
    "berth",
    "cargo",
    "vessel",
    "pilot",
]


def prose(n_words: int) -> str:
    return " ".join(WORDS[(i * 7) % len(WORDS)] for i in range(n_words))


def slide(path: Path) -> Path:
    """A 16:9 slide: a title and three short bullets in large type."""
    doc = pymupdf.open()
    page = doc.new_page(width=960, height=540)
    page.insert_text((60, 90), "Harbour operations 2026", fontsize=40)
    for k, line in enumerate(["Two new berths", "Pilot boats renewed", "Night tide schedule"]):
        page.insert_text((90, 200 + 70 * k), f"- {line}", fontsize=28)
    doc.save(path)
    return path


def dense_text(path: Path, fontsize: float = 5.5, n_words: int = 3000) -> Path:
    """An A4 page filled edge to edge with small prose."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    assert page.insert_textbox(pymupdf.Rect(20, 20, 575, 822), prose(n_words), fontsize=fontsize) >= 0
    doc.save(path)
    return path


def figure(path: Path) -> Path:
    """An A4 page that is mostly a chart (filled bars) with a one-line caption."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for k, h in enumerate([300, 180, 420, 260, 350]):
        page.draw_rect(
            pymupdf.Rect(80 + 90 * k, 600 - h, 140 + 90 * k, 600), color=(0, 0, 0), fill=(0.2, 0.3, 0.7)
        )
    page.insert_text((80, 640), "Figure 3: tonnage by berth.", fontsize=11)
    doc.save(path)
    return path


def wide_table(path: Path, rows: int = 60, cols: int = 16) -> Path:
    """A landscape page holding a ruled table of numbers, dense to the last row."""
    doc = pymupdf.open()
    page = doc.new_page(width=1190, height=600)
    cell_w, cell_h = 72, 9.4
    for r in range(rows):
        for c in range(cols):
            value = f"{(r * 37 + c * 101) % 90000 + 1000:,}.{(r + c) % 100:02d}"
            page.insert_text((20 + c * cell_w, 20 + (r + 1) * cell_h - 2), value, fontsize=6.5)
        page.draw_line((20, 20 + (r + 1) * cell_h), (20 + cols * cell_w, 20 + (r + 1) * cell_h), width=0.3)
    doc.save(path)
    return path


def choice(path: Path, max_compression: float = 10.0) -> tuple[str, int, float]:
    """(mode, estimated text tokens, figure ink) of the document's first page, as the build chooses it."""
    [page] = extract_pages(str(path), [1], ocr=False, figure_probe=True)
    assert page.figure_ink is not None
    [mode] = page_modes([page], "auto", None, max_compression)
    return mode.name, estimate_tokens(page.text), page.figure_ink


def test_constructed_pages_get_their_documented_modes(tmp_path: Path) -> None:
    found = {
        name: choice(make(tmp_path / f"{name}.pdf"))
        for name, make in [("slide", slide), ("dense", dense_text), ("figure", figure), ("table", wide_table)]
    }
    assert found["slide"][0] == "tiny"  # ~20 tokens: far under 64 x 10
    assert found["dense"][0] == "gundam" and found["dense"][1] > 400 * 10  # beyond Large, A4 is not square
    assert found["figure"][0] == "base" and found["figure"][2] >= FIGURE_INK  # little text, but a chart
    assert found["table"][0] == "gundam"  # a wide page of numbers needs more than Large


def test_the_target_moves_the_choice(tmp_path: Path) -> None:
    page = dense_text(tmp_path / "medium.pdf", fontsize=9, n_words=700)
    mode, tokens, ink = choice(page)
    assert ink < FIGURE_INK and 1000 < tokens <= 2560
    assert mode == "base"
    assert choice(page, max_compression=20)[0] == "small"  # 100 x 20 = 2000 tokens hold it
    assert choice(page, max_compression=2)[0] == "gundam"


def test_choose_mode_rules() -> None:
    assert choose_mode(0, 612, 792, figure=False) == PageChoice("tiny", 0, 0.0, False)
    assert choose_mode(640, 612, 792, figure=False).mode == "tiny"  # exactly 10x
    assert choose_mode(641, 612, 792, figure=False).mode == "small"
    assert choose_mode(5, 612, 792, figure=True).mode == "base"
    assert choose_mode(4001, 600, 600, figure=False).mode == "large"  # dense but square: no tiles
    assert choose_mode(4001, 612, 792, figure=False).mode == "gundam"
    for bad in (0, -1, 101, float("nan")):
        with pytest.raises(ValueError, match="max_compression"):
            choose_mode(10, 1, 1, figure=False, max_compression=bad)


def test_estimate() -> None:
    assert estimate_tokens("the lighthouse keeper") == 1 + 3 + 2
    assert estimate_tokens("12,345.67") == 5
    assert estimate_tokens("日本語のテキスト") == 6  # 8 characters x 0.7
    assert estimate_tokens(" \n\t") == 0
