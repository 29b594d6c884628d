"""Optical forgetting (issue 18): cold pages are re-rendered from their sources and re-encoded in a smaller
mode, or keep only their text; the store swaps each page's token rows crash-safely (retriever/token_sets).

Resolution is a budget: DeepSeek-OCR reads ~97% of a page back below 10x text-to-vision compression, ~60%
at 20x, so a page nobody reads can live on in Small (100 tokens) or Tiny (64) instead of Base (256+), or as
text alone. `plan` picks the pages (cold by last read, old by indexing time, or named documents; larger
than the target) and prices the change; `Compactor.run` does it in batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from encoder.modes import get_mode, token_rows
from indexer.documents import open_document
from indexer.errors import SourceError
from indexer.sources import file_sha256
from retriever.records import LOSSLESS, TEXT_ONLY, PageRecord
from retriever.store import IndexStore
from retriever.token_quant import check_token_codec, payload_size
from retriever.token_sets import Swap, current_set, next_set

TARGETS = ("small", "tiny", TEXT_ONLY)
# Modes by how many vision tokens they spend on a page: a page is compacted only to a smaller one.
SIZE_RANK = {
    TEXT_ONLY: 0, "tiny": 1, "small": 2, "base": 3, "large": 4, "ocr2": 4, "gundam": 5, "gundam-m": 6,
}  # fmt: skip
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}


@dataclass(frozen=True)
class Selection:
    """Which pages may be compacted: every condition given must hold (None / empty: not a condition).

    not_read_for: seconds since the page was last read (a page never read: since its document was indexed).
    older_than: seconds since its document was indexed. doc_ids: only these documents. everything: no
    condition at all (a compaction must name at least one condition or ask for everything).
    """

    not_read_for: float | None = None
    older_than: float | None = None
    doc_ids: tuple[str, ...] = ()
    everything: bool = False

    def check(self) -> None:
        if self.not_read_for is None and self.older_than is None and not self.doc_ids and not self.everything:
            raise ValueError("say which pages: --not-read-for, --older-than, --doc, or --all")


@dataclass
class Candidate:
    page_id: str
    doc_id: str
    mode: str
    n_tokens: int
    token_bytes: int
    bytes_after: int
    last_read: float


@dataclass
class CompactPlan:
    """What a compaction would do: the pages (coldest first), bytes now and after, and why others stay."""

    target: str
    token_codec: str
    pages: list[Candidate] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_now(self) -> int:
        return sum(c.token_bytes for c in self.pages)

    @property
    def bytes_after(self) -> int:
        return sum(c.bytes_after for c in self.pages)

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "token_codec": self.token_codec,
            "pages": len(self.pages),
            "bytes_now": self.bytes_now,
            "bytes_after": self.bytes_after,
            "skipped": dict(sorted(self.skipped.items())),
        }


def check_target(store: IndexStore, target: str, token_codec: str) -> None:
    """Refuse a compaction this index cannot have, with what to do instead."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    check_token_codec(token_codec)
    config = store.config
    if config.encoder is None:
        raise ValueError("this index stores no vision tokens (built without --encoder): nothing to compact")
    if target != TEXT_ONLY and config.encoder != "deepseek-ocr":
        raise ValueError(f"{config.encoder} has one fixed resolution: compact its pages --to text")


def plan(
    store: IndexStore, selection: Selection, target: str, token_codec: str | None = None, *, limit: int = 0,
    now: float | None = None,
) -> CompactPlan:  # fmt: skip
    """The pages `selection` picks that are larger than `target`, coldest first, at most `limit` (0: all).

    Raises:
        ValueError: no condition, an unknown target or codec, an index that cannot be compacted so, or an
            unknown document id.
    """
    selection.check()
    codec = token_codec or store.config.token_codec
    check_target(store, target, codec)
    now = time.time() if now is None else now
    docs = {d.doc_id: d for d in store.list_docs("complete")}
    unknown = [d for d in selection.doc_ids if d not in docs]
    if unknown:
        raise ValueError(f"no complete document {unknown[0]} in this index")
    if selection.doc_ids:
        docs = {d: docs[d] for d in selection.doc_ids}
    out = CompactPlan(target, codec)
    if selection.older_than is not None:
        docs = {d: r for d, r in docs.items() if now - r.indexed_at >= selection.older_than}
    summaries = store.token_sets().page_summaries(sorted(docs))
    reads = store.reads().last_read(s["page_id"] for s in summaries) if selection.not_read_for else {}
    row_bytes = _row_bytes(store, codec)
    for s in summaries:
        last = reads.get(s["page_id"], docs[s["doc_id"]].indexed_at)
        if selection.not_read_for is not None and now - last < selection.not_read_for:
            out.skipped["read recently"] = out.skipped.get("read recently", 0) + 1
        elif SIZE_RANK.get(s["mode"], 9) <= SIZE_RANK[target]:
            key = f"already {target} or smaller"
            out.skipped[key] = out.skipped.get(key, 0) + 1
        else:
            after = 0 if target == TEXT_ONLY else row_bytes(_rows_after(target, s, store.config.max_tiles))
            out.pages.append(
                Candidate(s["page_id"], s["doc_id"], s["mode"], s["n_tokens"], s["token_bytes"], after, last)
            )
    out.pages.sort(key=lambda c: (c.last_read, c.page_id))
    if limit and len(out.pages) > limit:
        out.skipped["over --limit"] = len(out.pages) - limit
        out.pages = out.pages[:limit]
    return out


def _rows_after(target: str, summary: dict[str, Any], max_tiles: int | None) -> int:
    """Rows the page will have in `target`: its rows now scaled by the two modes' row counts at its size
    (exact for the released model; a model with other grids, like the tiny test ones, scales alike)."""
    scale = float(summary["dpi"]) / 72.0
    width, height = round(float(summary["width"]) * scale), round(float(summary["height"]) * scale)
    now_mode = get_mode(summary["mode"], max_tiles) if summary["mode"] in SIZE_RANK else get_mode("base")
    ratio = token_rows(get_mode(target), width, height) / token_rows(now_mode, width, height)
    return max(1, round(int(summary["n_tokens"]) * ratio))


def _row_bytes(store: IndexStore, codec: str) -> Callable[[int], int]:
    """Bytes `rows` token rows will take in `codec`, at the row width and dtype of the index's stored rows."""
    dtype, dim = store.token_sets().stored_layout() or ("bfloat16", int(store.config.vision_dim or 0))
    if codec != LOSSLESS:
        return lambda rows: payload_size(codec, (rows, dim))
    return lambda rows: rows * dim * DTYPE_BYTES.get(dtype, 2)


@dataclass
class CompactReport:
    target: str
    token_codec: str
    compacted: int = 0
    failed: int = 0
    swept: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_event(self) -> dict[str, Any]:
        rate = self.compacted / self.seconds if self.seconds > 0 else 0.0
        return {"event": "done", **asdict(self), "pages_per_s": round(rate, 2)}


class Compactor:
    """Carries out a plan: per document, check its source is the indexed one, then per batch of pages render,
    encode in the target mode (the model the index was built with) and swap their token sets."""

    def __init__(
        self,
        store: IndexStore,
        encoder: Any,
        *,
        batch_pages: int = 8,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder  # None is enough for --to text
        self.batch_pages = max(1, batch_pages)
        self.emit = on_event or (lambda event: None)

    def run(self, compaction: CompactPlan) -> CompactReport:
        started = time.perf_counter()
        report = CompactReport(compaction.target, compaction.token_codec)
        if compaction.target != TEXT_ONLY and compaction.pages and self.encoder is None:
            raise ValueError("compacting to a smaller mode re-encodes pages: give --encoder and --weights")
        report.swept = self.store.token_sets().sweep()  # what a killed compaction left, before anything new
        by_doc: dict[str, list[Candidate]] = {}
        for c in compaction.pages:
            by_doc.setdefault(c.doc_id, []).append(c)
        for doc_id, cands in by_doc.items():
            done = 0
            try:
                if compaction.target != TEXT_ONLY:
                    self._check_source(doc_id)
                for start in range(0, len(cands), self.batch_pages):
                    self._batch(cands[start : start + self.batch_pages], compaction, report)
                    done = start + self.batch_pages
            except (SourceError, OSError, ValueError) as exc:
                message = exc.message if isinstance(exc, SourceError) else str(exc)
                report.failed += len(cands) - done  # the document's other batches would fail the same way
                report.errors.append({"doc_id": doc_id, "error": message})
                self.emit({"event": "failed", "doc_id": doc_id, "pages": len(cands) - done, "error": message})
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _check_source(self, doc_id: str) -> None:
        doc = self.store.get_doc(doc_id)
        source = Path(doc.source) if doc is not None else None
        if source is None or not source.is_file() or file_sha256(source) != doc_id:
            raise ValueError(f"{source}: the file is gone or changed since it was indexed; cannot re-render")

    def _batch(self, batch: Sequence[Candidate], compaction: CompactPlan, report: CompactReport) -> None:
        target = compaction.target
        pages = self.store.get_pages([c.page_id for c in batch], with_vectors=True)
        pages = [p for p in pages if SIZE_RANK.get(p.mode, 9) > SIZE_RANK[target]]  # as they are now
        if not pages:
            return
        if target == TEXT_ONLY:
            rows: list[Any] = [None] * len(pages)
            new_pages = [replace(p, mode=TEXT_ONLY, n_tokens=0, token_set="") for p in pages]
        else:
            rows, new_pages = self._encoded(pages, target)
        swaps = [Swap(n, r, current_set(p)) for p, n, r in zip(pages, new_pages, rows, strict=True)]

        def stage(name: str) -> None:
            self.emit({"event": "stage", "stage": name, "doc_id": pages[0].doc_id, "pages": len(pages)})

        sizes = self.store.token_sets().swap(swaps, compaction.token_codec, on_stage=stage)
        report.compacted += len(pages)
        report.bytes_before += sum(c.token_bytes for c in batch if c.page_id in sizes)
        report.bytes_after += sum(sizes.values())

    def _encoded(self, pages: list[PageRecord], target: str) -> tuple[list[Any], list[PageRecord]]:
        with open_document(Path(pages[0].source)) as doc:
            images = [doc.page(p.page_no).render() for p in pages]
        encoded = self.encoder.encode(images, get_mode(target))
        rows = [e.rows for e in encoded]
        new_pages = [
            replace(p, mode=target, n_tokens=int(e.rows.shape[0]), vision_vec=e.pooled.float().tolist(),
                    token_set=next_set(p))
            for p, e in zip(pages, encoded, strict=True)
        ]  # fmt: skip
        return rows, new_pages
