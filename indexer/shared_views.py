"""Extracted pages' views from the worker processes to the build through shared memory, not the result pipe.

A Base page's views are 3 MB of pixels. Sent as a pickled result, the build process receives them in pieces,
joins and unpickles them under the interpreter lock, in the one interpreter that also feeds the GPU. Instead
a worker puts a task's views in one shared-memory segment and returns the pages with `SharedArray`
placeholders; the build copies them out (a copy that releases the lock) and unlinks the segment. A segment
whose result is never read (a build that stops) is unlinked by `discard`, or, for a killed build, by
multiprocessing's resource tracker. Measured on a 2-core VM: 1.3 ms a page less CPU in the build process
(docs/BENCHMARKS.md, fifth session).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from encoder.modes import ModeViews
from indexer.extract import ExtractedPage


@dataclass(frozen=True)
class SharedArray:
    """Where one uint8 view lies in its task's segment."""

    offset: int
    shape: tuple[int, ...]


# A task's result as it crosses the pipe: its pages and the segment holding their views (None: no views).
SharedPages = tuple[list[ExtractedPage], str | None]


def extract_pages_shared(extract: Callable[..., list[ExtractedPage]], *args: Any) -> SharedPages:
    """In a worker: `extract(*args)` (indexer.extract.extract_pages), with every view array moved to one new
    shared segment."""
    pages = extract(*args)
    views = [p.image for p in pages if isinstance(p.image, ModeViews)]
    size = sum(a.nbytes for v in views for a in (v.global_view, *v.tiles))  # type: ignore[union-attr]
    if not size:
        return pages, None
    segment = SharedMemory(create=True, size=size)
    try:
        data = np.ndarray((size,), dtype=np.uint8, buffer=segment.buf)
        offset = 0
        for page in pages:
            if isinstance(page.image, ModeViews):
                shared = []
                for array in (page.image.global_view, *page.image.tiles):
                    flat = np.ascontiguousarray(array, dtype=np.uint8).reshape(-1)
                    data[offset : offset + flat.size] = flat
                    shared.append(SharedArray(offset, tuple(np.shape(array))))
                    offset += flat.size
                # Placeholders in the views' fields until `receive` puts arrays back.
                placeholders: dict[str, Any] = {"global_view": shared[0], "tiles": shared[1:]}
                page.image = dataclasses.replace(page.image, **placeholders)
        del data  # the segment cannot close while an array maps it
    except BaseException:
        segment.close()
        segment.unlink()
        raise
    segment.close()  # the segment stays until the build unlinks it
    return pages, segment.name


def receive(result: SharedPages) -> list[ExtractedPage]:
    """In the build: the pages with their views copied out of the segment, which is then unlinked."""
    pages, name = result
    if name is None:
        return pages
    segment = SharedMemory(name=name)
    try:
        data = np.ndarray((segment.size,), dtype=np.uint8, buffer=segment.buf)
        for page in pages:
            views = page.image
            if isinstance(views, ModeViews) and isinstance(views.global_view, SharedArray):
                arrays = [_take(data, placed) for placed in (views.global_view, *views.tiles)]
                page.image = dataclasses.replace(views, global_view=arrays[0], tiles=arrays[1:])
        del data
    finally:
        segment.close()
        segment.unlink()
    return pages


def _take(data: np.ndarray, placed: SharedArray) -> np.ndarray:
    out = np.empty(placed.shape, dtype=np.uint8)
    out.reshape(-1)[...] = data[placed.offset : placed.offset + out.size]  # numpy copies without the GIL
    return out


def discard(future: Future[SharedPages]) -> None:
    """Unlink the segment of a result that will not be read, once it is there (a done-callback)."""
    if future.cancelled() or future.exception() is not None:
        return
    _, name = future.result()
    if name is not None:
        with contextlib.suppress(FileNotFoundError):
            segment = SharedMemory(name=name)
            segment.close()
            segment.unlink()
