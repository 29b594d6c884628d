"""Read-only views over a whole index: sizes for `index status`, and a consistency audit."""

from __future__ import annotations

from collections import Counter
from typing import Any

from retriever import manifest
from retriever.connection import Connection
from retriever.filters import Filter, field_equals, field_not_in
from retriever.schema import CollectionNames

TEXT_SOURCES = ("pdf", "ocr")


def index_stats(conn: Connection, names: CollectionNames) -> dict[str, Any]:
    """Sizes of the searchable part of the index (complete documents only).

    Returns:
        {"documents": n, "pages": n, "pages_by_text_source": {"pdf": n, "ocr": n, ...},
         "bytes": {"sources": file bytes, "text": UTF-8 bytes of stored page text,
                   "tokens": raw bytes of stored token tensors}}.
    """
    complete = {d.doc_id: d for d in manifest.iter_docs(conn, names.docs, field_equals("status", "complete"))}
    hidden = manifest.hidden_doc_ids(conn, names.docs)
    by_source: Counter[str] = Counter({s: 0 for s in TEXT_SOURCES})
    n_pages = text_bytes = token_bytes = 0
    fields = ["doc_id", "text_source", "text_bytes", "token_bytes"]
    for row in conn.query_all(names.pages, field_not_in("doc_id", sorted(hidden)), fields):
        if row["doc_id"] not in complete:
            continue  # a page without a manifest row is an orphan, not part of the index
        n_pages += 1
        by_source[str(row["text_source"])] += 1
        text_bytes += int(row["text_bytes"])
        token_bytes += int(row["token_bytes"])
    return {
        "documents": len(complete),
        "pages": n_pages,
        "pages_by_text_source": dict(by_source),
        "bytes": {
            "sources": sum(d.bytes for d in complete.values()),
            "text": text_bytes,
            "tokens": token_bytes,
        },
    }


def index_audit(conn: Connection, names: CollectionNames) -> dict[str, int]:
    """Consistency counts over the whole index, incomplete documents included (for checks and tests).

    Returns:
        {"page_rows", "distinct_pages", "orphan_pages" (page rows with no manifest row),
         "token_rows", "orphan_token_rows" (token chunks of pages that have no page row)}.
    """
    docs = {d.doc_id for d in manifest.iter_docs(conn, names.docs, Filter())}
    page_ids: list[str] = []
    orphan_pages = 0
    for row in conn.query_all(names.pages, Filter(), ["page_id", "doc_id"]):
        page_ids.append(str(row["page_id"]))
        orphan_pages += row["doc_id"] not in docs
    known = set(page_ids)
    token_rows = orphan_tokens = 0
    for row in conn.query_all(names.tokens, Filter(), ["page_id"]):
        token_rows += 1
        orphan_tokens += row["page_id"] not in known
    return {
        "page_rows": len(page_ids),
        "distinct_pages": len(known),
        "orphan_pages": orphan_pages,
        "token_rows": token_rows,
        "orphan_token_rows": orphan_tokens,
    }
