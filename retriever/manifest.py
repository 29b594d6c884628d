"""The document manifest `<name>_docs`: DocRecord ↔ row and its reads/writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from retriever.connection import Connection
from retriever.filters import Filter, field_equals, field_in, field_not_in
from retriever.pages import truncate_utf8
from retriever.records import DOC_STATUSES, DocRecord
from retriever.schema import (
    DOC_FIELDS,
    DUMMY_VECTOR,
    ERROR_MAX_BYTES,
    ID_MAX_BYTES,
    SHORT_MAX_BYTES,
    SOURCE_MAX_BYTES,
    check_fits,
)

COMPLETE: Final = "complete"
# Doc ids per "in [...]" query.
READ_BATCH_DOCS = 1024
# Hidden documents fetched by one plain query before falling back to an iterator (Milvus caps a plain
# query's offset + limit at 16384).
HIDDEN_QUERY_LIMIT = 1024
# Rows of the documents of READ_BATCH_DOCS sources fetched by one plain query (a source has a few versions).
SOURCE_QUERY_LIMIT = 16384


def doc_to_row(doc: DocRecord) -> dict[str, Any]:
    """Build the manifest row of a document.

    Args:
        doc: the record.

    Returns:
        The row; an over-long error message is cut (it is only read by people).

    Raises:
        ValueError: unknown status, or an id/source/mode the schema cannot hold.
    """
    if doc.status not in DOC_STATUSES:
        raise ValueError(f"unknown document status {doc.status!r}; expected one of {DOC_STATUSES}")
    check_fits(doc.doc_id, ID_MAX_BYTES, "doc_id")
    check_fits(doc.source, SOURCE_MAX_BYTES, "source path")
    check_fits(doc.mode, SHORT_MAX_BYTES, "mode")
    return {
        "doc_id": doc.doc_id,
        "source": doc.source,
        "pages": int(doc.pages),
        "status": doc.status,
        "bytes": int(doc.bytes),
        "mode": doc.mode,
        "error": truncate_utf8(doc.error, ERROR_MAX_BYTES),
        "indexed_at": float(doc.indexed_at),
        "dummy_vec": DUMMY_VECTOR,
    }


def row_to_doc(row: Mapping[str, Any]) -> DocRecord:
    """Inverse of `doc_to_row`.

    Args:
        row: a manifest row with DOC_FIELDS.

    Returns:
        The DocRecord.
    """
    return DocRecord(
        doc_id=str(row["doc_id"]),
        source=str(row["source"]),
        pages=int(row["pages"]),
        status=row["status"],
        bytes=int(row["bytes"]),
        mode=str(row["mode"]),
        error=str(row["error"]),
        indexed_at=float(row["indexed_at"]),
    )


def put_doc(conn: Connection, collection: str, doc: DocRecord) -> None:
    """Insert or replace a manifest row.

    Args:
        conn: open connection.
        collection: the docs collection.
        doc: the record.
    """
    put_docs(conn, collection, [doc])


def put_docs(conn: Connection, collection: str, docs: Sequence[DocRecord]) -> None:
    """Insert or replace manifest rows in one upsert."""
    conn.upsert(collection, [doc_to_row(doc) for doc in docs])


def get_docs(conn: Connection, collection: str, doc_ids: Iterable[str]) -> dict[str, DocRecord]:
    """Fetch manifest rows by id.

    Args:
        conn: open connection.
        collection: the docs collection.
        doc_ids: ids to look up.

    Returns:
        doc_id → DocRecord for the ids that exist.
    """
    wanted = list(dict.fromkeys(doc_ids))
    out: dict[str, DocRecord] = {}
    for start in range(0, len(wanted), READ_BATCH_DOCS):
        batch = wanted[start : start + READ_BATCH_DOCS]
        for row in conn.query(collection, field_in("doc_id", batch), DOC_FIELDS):
            out[str(row["doc_id"])] = row_to_doc(row)
    return out


def iter_docs(conn: Connection, collection: str, flt: Filter) -> Iterator[DocRecord]:
    """Every manifest row matching `flt`.

    Args:
        conn: open connection.
        collection: the docs collection.
        flt: filter ("" for all).

    Returns:
        An iterator of DocRecords.
    """
    for row in conn.query_all(collection, flt, DOC_FIELDS):
        yield row_to_doc(row)


def docs_with_sources(
    conn: Connection, collection: str, sources: Iterable[str]
) -> dict[str, list[DocRecord]]:
    """Manifest rows indexed from each of `sources`.

    One plain query per READ_BATCH_DOCS sources: a build completing a batch of documents asks this for all of
    them at once, where a query iterator per document cost ~17 ms of round trips each (bench/build_host.py
    --profile). An iterator is only the fallback when a query's rows reach the plain query's cap.

    Args:
        conn: open connection.
        collection: the docs collection.
        sources: the paths as recorded.

    Returns:
        source → its records (a path can hold different contents over time, hence several); every source
        asked is a key, with an empty list when nothing was indexed from it.
    """
    wanted = list(dict.fromkeys(sources))
    out: dict[str, list[DocRecord]] = {source: [] for source in wanted}
    for start in range(0, len(wanted), READ_BATCH_DOCS):
        flt = field_in("source", wanted[start : start + READ_BATCH_DOCS])
        rows = conn.query(collection, flt, DOC_FIELDS, limit=SOURCE_QUERY_LIMIT)
        docs = (
            [row_to_doc(r) for r in rows]
            if len(rows) < SOURCE_QUERY_LIMIT
            else list(iter_docs(conn, collection, flt))
        )
        for doc in docs:
            out[doc.source].append(doc)
    return out


def hidden_doc_ids(conn: Connection, collection: str) -> set[str]:
    """Ids of documents search must not show: every status but "complete".

    Args:
        conn: open connection.
        collection: the docs collection.

    Returns:
        The set of ids (normally small: documents being indexed, deleted, or that failed).
    """
    flt = field_not_in("status", [COMPLETE])
    # One plain query answers the usual case (a few hidden documents) in one round trip; a query iterator
    # costs several (~8 ms of a 40 ms search at 100k pages), so it is only the fallback for a long list.
    rows = conn.query(collection, flt, ["doc_id"], limit=HIDDEN_QUERY_LIMIT)
    if len(rows) < HIDDEN_QUERY_LIMIT:
        return {str(r["doc_id"]) for r in rows}
    return {d.doc_id for d in iter_docs(conn, collection, flt)}


def complete_doc_ids(conn: Connection, collection: str, doc_ids: Iterable[str]) -> set[str]:
    """Which of `doc_ids` are complete (visible to search), reading only their status.

    Args:
        conn: open connection.
        collection: the docs collection.
        doc_ids: ids to check.

    Returns:
        The complete ones.
    """
    wanted = list(dict.fromkeys(doc_ids))
    out: set[str] = set()
    for start in range(0, len(wanted), READ_BATCH_DOCS):
        batch = wanted[start : start + READ_BATCH_DOCS]
        rows = conn.query(collection, field_in("doc_id", batch), ["doc_id", "status"])
        out.update(str(r["doc_id"]) for r in rows if r["status"] == COMPLETE)
    return out


def delete_doc_row(conn: Connection, collection: str, doc_id: str) -> None:
    """Delete one manifest row.

    Args:
        conn: open connection.
        collection: the docs collection.
        doc_id: the document.
    """
    conn.delete(collection, field_equals("doc_id", doc_id))
