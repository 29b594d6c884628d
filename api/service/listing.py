"""A manifest record as the surfaces show it (REST's document routes, the MCP tool list_documents)."""

from __future__ import annotations

from collections.abc import Callable

from api.client.schemas import DocumentResponse
from retriever.records import DocRecord


def document_response(
    doc: DocRecord, *, display: Callable[[str], str], filename: Callable[[str], str | None]
) -> DocumentResponse:
    """One document for a listing.

    Args:
        doc: the manifest record.
        display: what to show for its stored source (a server shows an uploaded file's name).
        filename: doc id -> the name it was uploaded under, or None.
    """
    return DocumentResponse(
        doc_id=doc.doc_id,
        source=display(doc.source),
        filename=filename(doc.doc_id),
        pages=doc.pages,
        status=doc.status,
        bytes=doc.bytes,
        mode=doc.mode,
        error=doc.error,
        indexed_at=doc.indexed_at,
    )
