"""Optical forgetting as the CLI and REST run it: plan the compaction, and unless it is a dry run, carry it
out with the model the index was built with (indexer/compact.py does the work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from api.client.compaction_schemas import CompactRequest, CompactResult, duration_seconds
from api.service.read_tracker import ReadTracker
from indexer.compact import Compactor, Selection, plan
from retriever.records import TEXT_ONLY
from retriever.store import IndexStore

if TYPE_CHECKING:
    from api.service.runtime import VisionRuntime


def selection_of(request: CompactRequest) -> Selection:
    """The pages a request names. Raises ValueError for bad durations or no condition at all."""
    selection = Selection(
        not_read_for=duration_seconds(request.not_read_for) if request.not_read_for else None,
        older_than=duration_seconds(request.older_than) if request.older_than else None,
        doc_ids=tuple(request.doc_ids),
        everything=request.all,
    )
    selection.check()
    return selection


def compact(
    store: IndexStore,
    request: CompactRequest,
    vision: Callable[[], VisionRuntime | None],
    reads: ReadTracker,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> CompactResult:
    """Plan, then (not a dry run) compact with the model `vision()` loads (only when pages need it).

    Raises:
        ValueError: for what the index or the settings cannot do (nothing changed then).
    """
    emit = on_event or (lambda event: None)
    reads.flush(store)  # this process's own recent reads count
    compaction = plan(store, selection_of(request), request.to, request.token_codec, limit=request.limit)
    summary = compaction.summary()
    emit({"event": "plan", **summary})
    if request.dry_run:
        return CompactResult(dry_run=True, **summary)
    encoder = None
    if request.to != TEXT_ONLY and compaction.pages:
        model = vision()
        if model is None or model.name != store.config.encoder:
            raise ValueError(
                f"compacting --to {request.to} re-encodes pages with the model that built the index "
                f"({store.config.encoder}): give --encoder {store.config.encoder} and --weights"
            )
        encoder = model.encoder
    report = Compactor(store, encoder, batch_pages=request.batch_pages, on_event=emit).run(compaction)
    done = report.as_event()
    emit(done)
    done.pop("event")
    return CompactResult(dry_run=False, **{**summary, **done})
