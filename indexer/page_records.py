"""A build batch's pages made into what the store takes: page records and token rows, per document.

A batch holds pages of several consecutive documents (small files share one embed and one encode call);
the store writes one document at a time, so the rows are grouped back by document here, in batch order.
"""

from __future__ import annotations

from typing import Any

from encoder.modes import Mode, token_rows
from indexer.extract import ExtractedPage
from retriever.records import PageRecord


def records_by_document(
    batch: list[tuple[Any, ExtractedPage]],
    vectors: Any,
    pooled: list[list[float] | None],
    modes: list[Mode],
    rows: list[Any],
) -> list[tuple[Any, list[PageRecord], dict[int, Any] | None]]:
    """(document, its page records, page_no → token rows or None without an encoder) for each document of
    `batch` ((document, page) pairs; a document has `doc_id` and `source`), with the batch's text vectors,
    pooled vectors, modes and rows."""
    out: dict[int, tuple[Any, list[PageRecord], dict[int, Any] | None]] = {}
    for (doc, page), vec, pv, mode, r in zip(batch, vectors, pooled, modes, rows, strict=True):
        _, records, tokens = out.setdefault(id(doc), (doc, [], None if r is None else {}))
        if tokens is not None:
            tokens[page.page_no] = r
        records.append(
            PageRecord(
                doc_id=doc.doc_id,
                page_no=page.page_no,
                source=doc.source,
                mode=mode.name,
                n_tokens=n_tokens(page, r, mode),
                text=page.text,
                text_source=page.text_source,
                width=page.width,
                height=page.height,
                dpi=page.dpi,
                lines=page.lines,
                text_vec=vec.tolist(),
                vision_vec=pv,
            )
        )
    return list(out.values())


def n_tokens(page: ExtractedPage, rows: Any, mode: Mode) -> int:
    """The page's stored rows, or without an encoder the rows it would take in its mode at its raster size."""
    if rows is not None:
        return int(rows.shape[0])
    scale = page.dpi / 72.0
    return token_rows(mode, round(page.width * scale), round(page.height * scale))
