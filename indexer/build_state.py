"""What a build keeps track of: its options, each planned document, and each document being written."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from indexer.auto_mode import DEFAULT_MAX_COMPRESSION
from retriever.records import DocRecord


@dataclass
class BuildOptions:
    mode: str = "base"  # or "auto": a mode per page (indexer/auto_mode.py)
    max_tiles: int | None = None  # tile cap of a tiled mode (None: the mode's default)
    max_compression: float = DEFAULT_MAX_COMPRESSION  # auto: most text tokens per vision token
    workers: int = 1
    batch_pages: int = 32
    write_threads: int = 1  # batches written at once (while the next is prepared)
    write_processes: int = 0  # processes that pack and send vision tokens (0: the writer threads do)
    ocr: bool = True
    shard: tuple[int, int] = (0, 1)  # (k, n): this run takes the files whose path hashes to k modulo n


def default_write_threads(vision: bool, cpus: int | None = None) -> int:
    """Writer threads when the settings name none: 2 for a text-only build (its page rows are small); for a
    vision build, whose token rows are most of what it writes (~0.7 MB a Base page), half the cores between
    2 and 8. On the H100 machine's 16 cores a compiled build ran 228.2 / 191.0 pages/s with 8 threads against
    186.6 / 179.2 with 4 (two calls, one machine), its 4 writers busy all the time (docs/BENCHMARKS.md)."""
    if not vision:
        return 2
    cpus = cpus or os.cpu_count() or 1
    return max(2, min(8, cpus // 2))


@dataclass
class Planned:
    """A document the build will (re)write: its pages still to write (`todo`), in plan order."""

    path: Path
    doc_id: str
    n_pages: int
    size: int
    todo: list[int] = field(default_factory=list)
    fresh: bool = True  # no manifest row existed: no earlier token rows can linger, nothing to replace


@dataclass(eq=False)
class Writing:
    """A document being written: its manifest record, pages not yet written, and its error once failed."""

    planned: Planned
    record: DocRecord
    left: int
    error: str | None = None
    begun: bool = False  # its manifest row ("indexing") is stored

    @classmethod
    def of(cls, planned: Planned, mode: str) -> Writing:
        """The document as its writing begins: manifest record "indexing", every page still to write."""
        record = DocRecord(
            doc_id=planned.doc_id,
            source=str(planned.path),
            pages=planned.n_pages,
            status="indexing",
            bytes=planned.size,
            mode=mode,
            indexed_at=time.time(),
        )
        return cls(planned, record, left=len(planned.todo))

    @property
    def doc_id(self) -> str:
        return self.planned.doc_id

    @property
    def source(self) -> str:
        return self.record.source
