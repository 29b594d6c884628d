"""Page rows of `<name>_pages`: PageRecord ↔ row, size limits, and the page read/write calls."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from retriever.connection import Connection
from retriever.filters import field_equals, field_in
from retriever.records import IndexConfig, PageRecord, TextLine, Vector
from retriever.schema import (
    JSON_MAX_BYTES,
    PAGE_SCALAR_FIELDS,
    SOURCE_MAX_BYTES,
    VARCHAR_MAX_BYTES,
    check_fits,
)

# Line boxes are kept to 1/100 pt (0.0035 mm): finer digits only cost JSON bytes.
BBOX_DECIMALS = 2
# Rows per upsert request sized as if each page were this big (text + lines + vectors, generous).
PAGE_ROW_BYTES = 256 * 1024
# Earlier text a written-back page keeps for audit, at most: JSON escapes can triple it (é is \u00e9), and
# the field holds 64 KiB with the lines.
PRIOR_TEXT_MAX_BYTES = 16 * 1024
# Page ids per read query: keeps the "in [...]" list and the response (≤ ~128 KiB/page) modest.
READ_BATCH_PAGES = 256


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut `text` so its UTF-8 encoding fits in `max_bytes`, never splitting a character.

    Args:
        text: any string.
        max_bytes: byte budget.

    Returns:
        The longest prefix of `text` whose UTF-8 size is ≤ max_bytes.
    """
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    # errors="ignore" drops the partial trailing character the byte cut may have made.
    return raw[:max_bytes].decode("utf-8", errors="ignore")


def encode_lines(
    lines: Sequence[TextLine], text_len: int, max_bytes: int = JSON_MAX_BYTES
) -> list[list[float]]:
    """Compact line boxes `[[start, end, x0, y0, x1, y1], ...]` for the JSON field.

    Lines that end past `text_len` (cut off by truncation) are dropped; if the JSON would exceed
    `max_bytes`, trailing lines are dropped too (their text stays searchable, only its boxes go).

    Args:
        lines: the page's lines, in reading order.
        text_len: length (in characters) of the stored text.
        max_bytes: JSON size budget.

    Returns:
        The list to store.
    """
    items: list[list[float]] = [
        [line.start, line.end, *(round(float(v), BBOX_DECIMALS) for v in line.bbox)]
        for line in lines
        if line.end <= text_len  # otherwise its text was cut off by truncation
    ]
    if len(json.dumps(items, separators=(",", ":"))) <= max_bytes:
        return items  # the usual page: one dumps, not one per line (a build writes hundreds of pages/s)
    out: list[list[float]] = []
    size = 2  # the enclosing "[]"
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":"))) + 1  # + the separating comma
        if size + item_size > max_bytes:
            break
        out.append(item)
        size += item_size
    return out


def decode_lines(raw: Any) -> list[TextLine]:
    """Inverse of `encode_lines`.

    Args:
        raw: the stored JSON value (a list, or its JSON text).

    Returns:
        The TextLines.
    """
    if isinstance(raw, (str, bytes)):
        raw = json.loads(raw)
    return [
        TextLine(int(s), int(e), (float(x0), float(y0), float(x1), float(y1)))
        for s, e, x0, y0, x1, y1 in raw or []
    ]


def _vector(vec: Vector | None, dim: int, what: str, page_id: str) -> list[float]:
    if vec is None:
        raise ValueError(f"page {page_id}: {what} is required by this index")
    arr = np.asarray(vec, dtype=np.float32).reshape(-1)
    if arr.shape[0] != dim:
        raise ValueError(f"page {page_id}: {what} has dim {arr.shape[0]}, the index expects {dim}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"page {page_id}: {what} contains NaN or inf")
    return arr.tolist()  # Python floats, as float(x) of each would give (~20x faster)


def _lines_value(page: PageRecord, text_len: int) -> Any:
    """The `lines` JSON: the line list, or an object that also keeps the earlier text of a written-back
    page (audit) and the token set of a compacted one — in the same field, so indexes need no new schema."""
    if not page.prior_text_source and not page.token_set:
        return encode_lines(page.lines, text_len)
    extra: dict[str, Any] = {}
    if page.prior_text_source:
        prior_text = truncate_utf8(page.prior_text, PRIOR_TEXT_MAX_BYTES)
        extra["prior"] = {"text": prior_text, "text_source": page.prior_text_source}
    if page.token_set:
        extra["tokens"] = page.token_set
    budget = JSON_MAX_BYTES - len(json.dumps(extra)) - 32  # the object's keys and braces
    return {"lines": encode_lines(page.lines, text_len, budget), **extra}


def page_to_row(page: PageRecord, config: IndexConfig, token_bytes: int) -> dict[str, Any]:
    """Build the `<name>_pages` row of a page, fitting text and lines into Milvus' limits.

    Args:
        page: the page.
        config: the index config (vector dims, whether vision_vec exists).
        token_bytes: raw size of the page's stored token tensor (0 when none).

    Returns:
        The row (without `sparse`: Milvus computes it from `text` with the BM25 function).

    Raises:
        ValueError: a vector is missing or has the wrong dim.
    """
    check_fits(page.source, SOURCE_MAX_BYTES, "source path")
    text = truncate_utf8(page.text, VARCHAR_MAX_BYTES)
    row: dict[str, Any] = {
        "page_id": page.page_id,
        "doc_id": page.doc_id,
        "page_no": int(page.page_no),
        "source": page.source,
        "mode": page.mode,
        "n_tokens": int(page.n_tokens),
        "text_source": page.text_source,
        "width": float(page.width),
        "height": float(page.height),
        "dpi": float(page.dpi),
        "text": text,
        "lines": _lines_value(page, len(text)),
        "text_bytes": len(text.encode("utf-8")),
        "token_bytes": int(token_bytes),
        "text_vec": _vector(page.text_vec, config.text_dim, "text_vec", page.page_id),
    }
    if config.vision_dim is not None:
        row["vision_vec"] = _vector(page.vision_vec, config.vision_dim, "vision_vec", page.page_id)
    return row


def stored_token_set(lines: Any) -> str:
    """The token set a page row's `lines` value names ("" for the page's own: see `_lines_value`)."""
    if isinstance(lines, (str, bytes)):
        lines = json.loads(lines)
    return str(lines.get("tokens") or "") if isinstance(lines, dict) else ""


def row_to_page(row: Mapping[str, Any]) -> PageRecord:
    """Build a PageRecord (vectors set only if the row has them).

    Args:
        row: a query/search row with at least PAGE_SCALAR_FIELDS.

    Returns:
        The PageRecord.
    """
    text_vec = row.get("text_vec")
    vision_vec = row.get("vision_vec")
    lines: Any = row["lines"]
    prior: dict[str, Any] = {}
    if isinstance(lines, (str, bytes)):
        lines = json.loads(lines)
    token_set = stored_token_set(lines)
    if isinstance(lines, dict):  # written back (the audit of its earlier text) or compacted (its token set)
        prior, lines = lines.get("prior") or {}, lines.get("lines", [])
    return PageRecord(
        doc_id=str(row["doc_id"]),
        page_no=int(row["page_no"]),
        source=str(row["source"]),
        mode=str(row["mode"]),
        n_tokens=int(row["n_tokens"]),
        text=str(row["text"]),
        text_source=str(row["text_source"]),
        width=float(row["width"]),
        height=float(row["height"]),
        dpi=float(row["dpi"]),
        lines=decode_lines(lines),
        text_vec=None if text_vec is None else [float(x) for x in text_vec],
        vision_vec=None if vision_vec is None else [float(x) for x in vision_vec],
        prior_text=str(prior.get("text", "")),
        prior_text_source=str(prior.get("text_source", "")),
        token_set=token_set,
    )


def replace_text(conn: Connection, collection: str, config: IndexConfig, page: PageRecord) -> bool:
    """Upsert an existing page row with new text (Milvus recomputes its BM25 terms from `text`), keeping its
    token_bytes; `page` must carry every vector the index has (its vision vector as read), and flush.

    Returns:
        False when there is no such page (nothing written).

    Raises:
        ValueError: a vector is missing or has the wrong dim (nothing written).
    """
    rows = conn.query(collection, field_in("page_id", [page.page_id]), ["page_id", "token_bytes"])
    if not rows:
        return False
    row = page_to_row(page, config, int(rows[0]["token_bytes"]))
    conn.upsert(collection, [row], row_bytes=PAGE_ROW_BYTES)
    conn.flush(collection)
    return True


def upsert_pages(conn: Connection, collection: str, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert page rows (a rerun replaces, never duplicates).

    Args:
        conn: open connection.
        collection: the pages collection.
        rows: rows from `page_to_row`.
    """
    if not rows:
        return
    # As columns: pymilvus' row path checks and packs each field of each row in Python, ~0.45 ms a page
    # holding the GIL in a GPU build (bench/gil_top.py).
    columns = {field: [row[field] for row in rows] for field in rows[0]}
    conn.upsert_columns(collection, columns, row_bytes=PAGE_ROW_BYTES)


def page_numbers(conn: Connection, collection: str, doc_id: str) -> set[int]:
    """Page numbers of a document that have a page row.

    Args:
        conn: open connection.
        collection: the pages collection.
        doc_id: the document.

    Returns:
        The set of 1-based page numbers.
    """
    return {
        int(r["page_no"]) for r in conn.query_all(collection, field_equals("doc_id", doc_id), ["page_no"])
    }


def read_pages(
    conn: Connection, collection: str, page_ids: Sequence[str], vector_fields: Iterable[str] = ()
) -> dict[str, PageRecord]:
    """Fetch pages by id.

    Args:
        conn: open connection.
        collection: the pages collection.
        page_ids: pages to read.
        vector_fields: vector fields to include ("text_vec", "vision_vec").

    Returns:
        page_id → PageRecord for the ids that exist.
    """
    wanted = list(dict.fromkeys(page_ids))
    fields = [*PAGE_SCALAR_FIELDS, *vector_fields]
    out: dict[str, PageRecord] = {}
    for start in range(0, len(wanted), READ_BATCH_PAGES):
        batch = wanted[start : start + READ_BATCH_PAGES]
        for row in conn.query(collection, field_in("page_id", batch), fields):
            out[str(row["page_id"])] = row_to_page(row)
    return out


def delete_doc_pages(conn: Connection, collection: str, doc_id: str) -> None:
    """Delete every page row of a document.

    Args:
        conn: open connection.
        collection: the pages collection.
        doc_id: the document.
    """
    conn.delete(collection, field_equals("doc_id", doc_id))
