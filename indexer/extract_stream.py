"""The pages of a build's planned documents, extracted by the worker pool in plan order.

Workers run ahead by a bounded window, across document boundaries, so small documents keep them busy; the
build sees each document with a lazy stream of its pages, and a document whose pages cannot be extracted
gets a stream that raises (failing that document, not the job).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from encoder.modes import Mode
from indexer.build_state import Planned
from indexer.extract import ExtractedPage, extract_pages
from indexer.shared_views import SharedPages, discard, extract_pages_shared, receive

PAGES_PER_TASK = 8  # pages a worker extracts per task: large enough to amortise IPC, small enough to balance


@dataclass(frozen=True)
class ExtractTask:
    """What every page's extraction does besides the text (`extract_pages`' arguments)."""

    ocr: bool
    with_image: bool
    view_mode: Mode | None
    figure_probe: bool


def extracted_documents(
    plan: list[Planned], task: ExtractTask, pool: ProcessPoolExecutor | None, workers: int
) -> Iterator[tuple[Planned, Iterator[ExtractedPage]]]:
    """Each planned document with a lazy stream of its extracted pages, in plan order (in this process when
    `pool` is None)."""
    tasks = [(i, chunk) for i, p in enumerate(plan) for chunk in _chunks(p.todo, PAGES_PER_TASK)]
    groups = itertools.groupby(_task_results(plan, tasks, task, pool, workers), key=lambda result: result[0])
    current = next(groups, None)
    for i, planned in enumerate(plan):
        if current is not None and current[0] == i:
            yield planned, _pages(item for _, item in current[1])
            current = next(groups, None)  # groupby skips what a failed document left unread
        elif not planned.todo:
            yield planned, iter(())  # nothing left to extract: a resumed, fully written document
        else:  # the stream ended early: never let such a document pass as complete with no pages
            yield planned, _pages([RuntimeError("page extraction stopped before this document")])


def _task_results(
    plan: list[Planned],
    tasks: list[tuple[int, list[int]]],
    task: ExtractTask,
    pool: ProcessPoolExecutor | None,
    workers: int,
) -> Iterator[tuple[int, list[ExtractedPage] | Exception]]:
    args = [
        (str(plan[i].path), chunk, task.ocr, task.with_image, task.view_mode, task.figure_probe)
        for i, chunk in tasks
    ]
    window = max(2, 2 * workers)
    futures: dict[int, Future[SharedPages]] = {}
    try:
        for k, (i, _) in enumerate(tasks):
            try:
                if pool is not None:
                    for ahead in range(k, min(k + window, len(tasks))):
                        if ahead not in futures:
                            # Views come back through shared memory (indexer/shared_views.py).
                            futures[ahead] = pool.submit(extract_pages_shared, extract_pages, *args[ahead])
                result = receive(futures.pop(k).result()) if pool is not None else extract_pages(*args[k])
            except Exception as exc:  # an unreadable page, or a broken pool, fails documents, not the job
                futures.pop(k, None)
                yield i, exc
                continue
            yield i, result
    finally:  # the build stopped early: results still coming are never read, their segments unlinked
        for future in futures.values():
            future.add_done_callback(discard)


def _pages(results: Iterable[list[ExtractedPage] | Exception]) -> Iterator[ExtractedPage]:
    for item in results:
        if isinstance(item, Exception):
            raise item
        yield from item


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
