"""Extracted views through shared memory (indexer/shared_views.py): the build gets the same arrays, and no
segment outlives its task, whether its result is read or not."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from encoder.modes import ModeViews, get_mode
from indexer import extract_stream
from indexer.build_state import Planned
from indexer.extract import extract_pages
from indexer.shared_views import discard, extract_pages_shared, receive
from tests.conftest import make_pdf

SHM = Path("/dev/shm")
TEXT = "Tide tables of the northern harbour, with the keeper's notes on every storm."


def segments() -> set[str]:
    return {p.name for p in SHM.glob("psm_*")}


@pytest.mark.parametrize("mode", ["base", "gundam"])
def test_views_come_back_equal_and_the_segment_is_unlinked(tmp_path: Path, mode: str) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", [TEXT] * 3)
    args = (str(pdf), [1, 3], False, True, get_mode(mode), False)
    pages, name = extract_pages_shared(extract_pages, *args)
    assert name is not None and name in segments()
    received = receive((pages, name))
    assert name not in segments()
    for got, want in zip(received, extract_pages(*args), strict=True):
        assert isinstance(got.image, ModeViews) and isinstance(want.image, ModeViews)
        assert (got.page_no, got.text, got.image.grid) == (want.page_no, want.text, want.image.grid)
        assert len(got.image.tiles) == len(want.image.tiles) and (mode == "base") == (not got.image.tiles)
        for a, b in zip(
            (got.image.global_view, *got.image.tiles),
            (want.image.global_view, *want.image.tiles),
            strict=True,
        ):
            assert isinstance(a, np.ndarray) and a.dtype == np.uint8 and np.array_equal(a, b)


def test_pages_without_views_use_no_segment(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", [TEXT])
    before = segments()
    pages, name = extract_pages_shared(extract_pages, str(pdf), [1], False, False, None, False)
    assert name is None and receive((pages, name))[0].text and segments() == before


def test_a_stream_closed_early_unlinks_the_segments_of_results_it_never_read(tmp_path: Path) -> None:
    pdfs = [make_pdf(tmp_path / f"doc{d}.pdf", [TEXT] * 8) for d in range(4)]
    plan = [Planned(p, f"id{d}", 8, p.stat().st_size, list(range(1, 9))) for d, p in enumerate(pdfs)]
    task = extract_stream.ExtractTask(False, True, get_mode("base"), False)
    before = segments()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        stream = extract_stream.extracted_documents(plan, task, pool, workers=2)
        _, pages = next(stream)
        first = next(pages)  # the first task's result read; the look-ahead window has submitted the rest
        assert isinstance(first.image, ModeViews) and isinstance(first.image.global_view, np.ndarray)
        stream.close()  # the build stops here
        pages.close()
    assert segments() == before


def test_discard_ignores_failed_tasks() -> None:
    with ProcessPoolExecutor(1) as pool:
        future = pool.submit(
            extract_pages_shared, extract_pages, "/nonexistent.pdf", [1], False, True, None, False
        )
        future.add_done_callback(discard)
        with pytest.raises(Exception, match="nonexistent"):
            future.result()
