"""Read-only views over a whole index: sizes for `index status`, and a consistency audit."""

from __future__ import annotations

from collections import Counter
from typing import Any

from retriever import manifest
from retriever.connection import Connection
from retriever.filters import Filter, field_equals, field_not_in
from retriever.pages import stored_token_set
from retriever.records import LOSSLESS, TEXT_ONLY
from retriever.schema import CollectionNames
from retriever.token_sets import split_set_id

TEXT_SOURCES = ("pdf", "ocr")
NO_TOKENS = "none"  # the codec group of pages stored without token rows (the lite profile)
MILLION = 1_000_000


def _group() -> dict[str, int]:
    return {"pages": 0, "text_bytes": 0, "token_bytes": 0, "bytes_per_million_pages": 0}


def token_codec_of(row_codec: str) -> str:
    """The token codec (records.TOKEN_CODECS) a token row's `codec` field names: "int8+zstd-planes" → "int8";
    the lossless packings ("raw", "zstd-planes") → "lossless"."""
    quant, _, _ = row_codec.rpartition("+")
    return quant or LOSSLESS


def _page_codecs(conn: Connection, names: CollectionNames) -> dict[str, str]:
    # Chunk 0 of each token set names its codec; payloads are never read. A page with two sets (a swap cut
    # by a kill, until the next compaction sweeps it) counts with its newest.
    newest: dict[str, tuple[int, str]] = {}
    for r in conn.query_all(names.tokens, field_equals("chunk", 0), ["page_id", "codec"]):
        page_id, gen = split_set_id(str(r["page_id"]))
        if gen >= newest.get(page_id, (-1, ""))[0]:
            newest[page_id] = (gen, token_codec_of(str(r["codec"])))
    return {page_id: codec for page_id, (_, codec) in newest.items()}


def index_stats(conn: Connection, names: CollectionNames) -> dict[str, Any]:
    """Sizes of the searchable part of the index (complete documents only), with the accounting by group.

    Bytes: "text" is the UTF-8 size of stored page text, "tokens" the size of the token payloads in their
    codec (lossless: the raw tensor bytes; int8/fp8-e4m3: row scales + codes), before zstd and base64.

    Returns:
        {"documents": n, "pages": n, "pages_by_text_source": {"pdf": n, "ocr": n, ...},
         "bytes": {"sources": file bytes, "text": n, "tokens": n},
         "by_mode" / "by_codec" / "by_text_source": {group: {"pages", "text_bytes", "token_bytes",
             "bytes_per_million_pages"}} (codec "none": pages without token rows),
         "projected_bytes_per_million_pages": {"text", "tokens", "total"} at the index's mean page}.
    """
    complete = {d.doc_id: d for d in manifest.iter_docs(conn, names.docs, field_equals("status", "complete"))}
    hidden = manifest.hidden_doc_ids(conn, names.docs)
    codecs = _page_codecs(conn, names)
    by_source: Counter[str] = Counter({s: 0 for s in TEXT_SOURCES})
    groups: dict[str, dict[str, dict[str, int]]] = {"by_mode": {}, "by_codec": {}, "by_text_source": {}}
    n_pages = text_bytes = token_bytes = 0
    fields = ["page_id", "doc_id", "mode", "text_source", "text_bytes", "token_bytes"]
    for row in conn.query_all(names.pages, field_not_in("doc_id", sorted(hidden)), fields):
        if row["doc_id"] not in complete:
            continue  # a page without a manifest row is an orphan, not part of the index
        n_pages += 1
        by_source[str(row["text_source"])] += 1
        text, tokens = int(row["text_bytes"]), int(row["token_bytes"])
        text_bytes += text
        token_bytes += tokens
        keys = {
            "by_mode": str(row["mode"]),
            "by_codec": codecs.get(str(row["page_id"]), NO_TOKENS) if tokens else NO_TOKENS,
            "by_text_source": str(row["text_source"]),
        }
        for kind_name, key in keys.items():
            group = groups[kind_name].setdefault(key, _group())
            group["pages"] += 1
            group["text_bytes"] += text
            group["token_bytes"] += tokens
    for by_key in groups.values():
        for group in by_key.values():
            group["bytes_per_million_pages"] = _per_million(
                group["text_bytes"] + group["token_bytes"], group["pages"]
            )
    return {
        "documents": len(complete),
        "pages": n_pages,
        "pages_by_text_source": dict(by_source),
        "bytes": {
            "sources": sum(d.bytes for d in complete.values()),
            "text": text_bytes,
            "tokens": token_bytes,
        },
        **{kind: dict(sorted(g.items())) for kind, g in groups.items()},
        "projected_bytes_per_million_pages": {
            "text": _per_million(text_bytes, n_pages),
            "tokens": _per_million(token_bytes, n_pages),
            "total": _per_million(text_bytes + token_bytes, n_pages),
        },
    }


def _per_million(total: int, pages: int) -> int:
    """Bytes a million pages like these would take (0 for no pages)."""
    return round(total * MILLION / pages) if pages else 0


def index_audit(conn: Connection, names: CollectionNames) -> dict[str, int]:
    """Consistency counts over the whole index, incomplete documents included (for checks and tests).

    Returns:
        {"page_rows", "distinct_pages", "orphan_pages" (page rows with no manifest row),
         "token_rows", "orphan_token_rows" (token chunks of a set no page row names: a page that has no
         row, a text-only page, or a set a compaction replaced)}.
    """
    docs = {d.doc_id for d in manifest.iter_docs(conn, names.docs, Filter())}
    page_ids: list[str] = []
    current: set[str] = set()  # the token set each page row names (retriever/token_sets.py)
    orphan_pages = 0
    for row in conn.query_all(names.pages, Filter(), ["page_id", "doc_id", "mode", "lines"]):
        page_ids.append(str(row["page_id"]))
        orphan_pages += row["doc_id"] not in docs
        if row["mode"] != TEXT_ONLY:
            current.add(stored_token_set(row["lines"]) or str(row["page_id"]))
    token_rows = orphan_tokens = 0
    for row in conn.query_all(names.tokens, Filter(), ["page_id"]):
        token_rows += 1
        orphan_tokens += row["page_id"] not in current
    return {
        "page_rows": len(page_ids),
        "distinct_pages": len(set(page_ids)),
        "orphan_pages": orphan_pages,
        "token_rows": token_rows,
        "orphan_token_rows": orphan_tokens,
    }
